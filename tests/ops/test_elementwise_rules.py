"""Shape/type rules of the elementwise family against onnxruntime on single-node models."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto

from tests.ops.single_node import assert_same_types, infer_ir_node, run_in_onnxruntime
from webdnn.errors import ShapeError, UnsupportedOperatorError
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Node
from webdnn.ops.registry import infer_node

rng = np.random.default_rng(0)


def f32(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def i64(*shape: int) -> np.ndarray:
    return rng.integers(-5, 6, shape).astype(np.int64)


def b8(*shape: int) -> np.ndarray:
    return rng.integers(0, 2, shape).astype(bool)


def run_both(
    op: str,
    inputs: list[np.ndarray | None],
    attrs: dict[str, Any] | None = None,
    opset: int = 17,
    consts: tuple[int, ...] = (),
    n_out: int = 1,
) -> Node:
    """Infer `op` on an IR node and run it in onnxruntime; assert equal output dtypes/shapes."""
    attrs = attrs or {}
    expected = run_in_onnxruntime(op, inputs, attrs, opset, consts, n_out)
    graph, node = infer_ir_node(op, inputs, attrs, opset, consts, n_out)
    assert_same_types(op, node, expected, all_outputs=False)
    return node


BINARY = ["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean"]
SHAPES = [((2, 3, 4), (2, 3, 4)), ((2, 1, 4), (3, 1)), ((), (5, 2)), ((1,), (3, 1, 2)), ((4, 1), (1, 0))]


@pytest.mark.parametrize("op", BINARY)
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_binary_broadcast(op: str, shapes: tuple[tuple[int, ...], tuple[int, ...]]) -> None:
    a, b = shapes
    run_both(op, [f32(*a), f32(*b)], opset=13)


@pytest.mark.parametrize("op", ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"])
def test_comparison_is_bool(op: str) -> None:
    run_both(op, [f32(2, 1, 3), f32(4, 1)], opset=16)
    run_both(op, [i64(3), i64(2, 1)], opset=16)


@pytest.mark.parametrize("op", ["And", "Or", "Xor"])
def test_logical(op: str) -> None:
    run_both(op, [b8(3, 1), b8(4)], opset=13)


def test_not_where_and_variadic() -> None:
    run_both("Not", [b8(2, 3)])
    run_both("Where", [b8(3, 1, 1), f32(2, 1), i64(4).astype(np.float32)])
    run_both("Where", [b8(4), i64(2, 1), i64(1)])
    run_both("Max", [f32(2, 1), f32(3), f32(1, 1, 3)], opset=13)
    run_both("Sum", [f32(5)], opset=13)
    run_both("Mean", [f32(1, 3), f32(2, 1), f32(1)], opset=13)


def test_integer_arithmetic_and_mod() -> None:
    run_both("Div", [i64(3, 2), i64(2)], opset=14)
    node = run_both("Mod", [i64(3, 2), np.array([3, -2], np.int64)], opset=13)
    assert node.attrs["fmod"] == 0
    node = run_both("Mod", [f32(3, 2), f32(2)], {"fmod": 1}, opset=13)
    run_both("Pow", [f32(3), i64(3)], opset=15)
    run_both(
        "BitShift", [np.array([1, 2, 3], np.uint8), np.array([1], np.uint8)], {"direction": "LEFT"}, opset=11
    )


INT_TYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8]


@pytest.mark.parametrize("dt", INT_TYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("direction", ["LEFT", "RIGHT"])
def test_bitshift_takes_every_integer_type(dt: type, direction: str) -> None:
    # opset 28: signed types too (right shifts arithmetic); counts outside [0, width) are allowed
    x = np.array([[1, 2, 3], [4, 5, 6]], dt)
    node = run_both("BitShift", [x, np.array([0, 1, 9], dt)], {"direction": direction}, opset=28)
    assert node.outputs[0].dtype == DType.from_numpy(dt)


@pytest.mark.parametrize("dt", INT_TYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op", ["BitwiseAnd", "BitwiseOr", "BitwiseXor"])
def test_bitwise_binary(op: str, dt: type) -> None:
    node = run_both(op, [np.arange(6, dtype=dt).reshape(2, 1, 3), np.arange(12, dtype=dt).reshape(4, 3)], opset=18)
    assert node.outputs[0].dtype == DType.from_numpy(dt) and node.outputs[0].shape == (2, 4, 3)


@pytest.mark.parametrize("dt", INT_TYPES, ids=lambda d: np.dtype(d).name)
def test_bitwise_not(dt: type) -> None:
    node = run_both("BitwiseNot", [np.arange(6, dtype=dt).reshape(2, 3)], opset=18)
    assert node.outputs[0].dtype == DType.from_numpy(dt)


@pytest.mark.parametrize("op", ["BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot"])
@pytest.mark.parametrize("dt", [DType.FLOAT32, DType.BOOL])
def test_bitwise_ops_refuse_non_integers(op: str, dt: DType) -> None:
    g = Graph("t", 28)
    xs = [g.new_value(f"x{i}", dt, (3,)) for i in range(1 if op == "BitwiseNot" else 2)]
    node = g.add_node(op, xs, [g.new_value("y")], {"direction": "LEFT"} if op == "BitShift" else {})
    with pytest.raises(UnsupportedOperatorError, match="takes integer tensors"):
        infer_node(node, g)


def test_bitshift_operands_share_a_type() -> None:
    g = Graph("t", 28)
    a, b = g.new_value("a", DType.INT32, (3,)), g.new_value("b", DType.INT64, (3,))
    with pytest.raises(ShapeError, match="different element types"):
        infer_node(g.add_node("BitShift", [a, b], [g.new_value("y")], {"direction": "RIGHT"}), g)


def test_float_mod_needs_fmod() -> None:
    g = Graph("t", 13)
    a, b = g.new_value("a", DType.FLOAT32, (2,)), g.new_value("b", DType.FLOAT32, (2,))
    node = g.add_node("Mod", [a, b], [g.new_value("y")])
    with pytest.raises(UnsupportedOperatorError, match="fmod"):
        infer_node(node, g)


def test_prelu_unidirectional() -> None:
    run_both("PRelu", [f32(2, 3, 4, 5), f32(3, 1, 1)], opset=16)
    run_both("PRelu", [f32(2, 3), f32(1)], opset=9)
    g = Graph("t", 16)
    x, s = g.new_value("x", DType.FLOAT32, (2, 1)), g.new_value("s", DType.FLOAT32, (2, 3))
    with pytest.raises(ShapeError):
        infer_node(g.add_node("PRelu", [x, s], [g.new_value("y")]), g)


UNARY = [
    "Relu",
    "Sigmoid",
    "HardSwish",
    "Softplus",
    "Softsign",
    "Tanh",
    "Exp",
    "Log",
    "Sqrt",
    "Reciprocal",
    "Neg",
    "Abs",
    "Floor",
    "Ceil",
    "Round",
    "Sign",
    "Erf",
    "Mish",
    "Sin",
    "Cos",
    "Tan",
    "Asin",
    "Acos",
    "Atan",
    "Sinh",
    "Cosh",
    "Asinh",
    "Acosh",
    "Atanh",
    "IsNaN",
    "IsInf",
    "Identity",
    "Not",
]
UNARY_DEFAULTS = {
    "LeakyRelu": {"alpha": 0.01},
    "Elu": {"alpha": 1.0},
    "Selu": {"alpha": pytest.approx(1.6732632), "gamma": pytest.approx(1.0507010)},
    "Celu": {"alpha": 1.0},
    "HardSigmoid": {"alpha": 0.2, "beta": 0.5},
    "ThresholdedRelu": {"alpha": 1.0},
    "Shrink": {"bias": 0.0, "lambd": 0.5},
    "IsInf": {"detect_negative": 1, "detect_positive": 1},
}


@pytest.mark.parametrize("op", UNARY)
def test_unary_shape(op: str) -> None:
    x = b8(2, 3, 1) if op == "Not" else f32(2, 3, 1)
    run_both(op, [x], opset=18)


@pytest.mark.parametrize("op", sorted(UNARY_DEFAULTS))
def test_unary_defaults_filled(op: str) -> None:
    node = run_both(op, [f32(3, 2)], opset=13)
    for k, v in UNARY_DEFAULTS[op].items():
        assert node.attrs[k] == v


def test_gelu_opset20() -> None:
    assert run_both("Gelu", [f32(3, 4)], opset=20).attrs["approximate"] == "none"
    run_both("Gelu", [f32(3, 4)], {"approximate": "tanh"}, opset=20)


def test_integer_unary() -> None:
    for op in ("Relu", "Neg", "Abs", "Sign"):
        run_both(op, [np.array([-3, 0, 4], np.int32)], opset=14)


@pytest.mark.parametrize("opset", [6, 11, 13, 18])
def test_clip_forms(opset: int) -> None:
    x = f32(2, 3)
    if opset < 11:
        node = run_both("Clip", [x], {"min": -0.5}, opset=opset)
        assert node.attrs["min"] == -0.5 and node.attrs["max"] == pytest.approx(3.4028234663852886e38)
        return
    node = run_both("Clip", [x, np.array(-0.5, np.float32), None], opset=opset, consts=(1,))
    assert node.attrs == {"min": -0.5, "max": float("inf")} and len(node.inputs) == 1
    node = run_both("Clip", [x, None, np.array(0.5, np.float32)], opset=opset, consts=(2,))
    assert node.attrs == {"min": float("-inf"), "max": 0.5} and node.inputs[1:] == []
    node = run_both("Clip", [x], opset=opset)
    assert node.attrs == {"min": float("-inf"), "max": float("inf")}
    if opset < 12:
        return  # integer Clip came with opset 12
    xi = np.array([-9, 0, 9], np.int64)
    node = run_both("Clip", [xi, np.array(-2, np.int64), np.array(3, np.int64)], opset=opset, consts=(1, 2))
    assert node.attrs == {"min": -2, "max": 3} and isinstance(node.attrs["min"], int)


def test_clip_runtime_bounds_rejected() -> None:
    g = Graph("t", 13)
    x, lo = g.new_value("x", DType.FLOAT32, (2,)), g.new_value("lo", DType.FLOAT32, ())
    with pytest.raises(ShapeError, match="constant"):
        infer_node(g.add_node("Clip", [x, lo], [g.new_value("y")]), g)


@pytest.mark.parametrize(
    "to",
    [
        TensorProto.FLOAT,
        TensorProto.INT64,
        TensorProto.BOOL,
        TensorProto.UINT8,
        TensorProto.DOUBLE,
        TensorProto.INT32,
        TensorProto.FLOAT16,
    ],
)
def test_cast(to: int) -> None:
    node = run_both("Cast", [f32(2, 3)], {"to": to}, opset=13)
    assert node.attrs["saturate"] == 1


def test_castlike_drops_target() -> None:
    node = run_both("CastLike", [f32(2, 3), np.zeros(1, np.int32)], opset=15)
    assert node.attrs["to"] == TensorProto.INT32 and len(node.inputs) == 1
    infer_node(node, Graph("t", 15))  # canonical form is stable


@pytest.mark.parametrize("opset", [7, 11, 13, 18])
def test_dropout(opset: int) -> None:
    x = f32(2, 3)
    if opset >= 12:
        node = run_both(
            "Dropout", [x, np.array(0.3, np.float32), np.array(False)], opset=opset, consts=(1, 2), n_out=2
        )
        assert len(node.inputs) == 1
    else:
        node = run_both("Dropout", [x], {"ratio": 0.3}, opset=opset, n_out=2)
    assert len(node.outputs) == 2  # the mask is a graph output here: kept


def test_dropout_unused_mask_dropped() -> None:
    g = Graph("t", 13)
    x = g.new_value("x", DType.FLOAT32, (2,))
    y, mask = g.new_value("y"), g.new_value("mask")
    g.outputs.append(y)
    node = g.add_node("Dropout", [x], [y, mask])
    infer_node(node, g)
    assert node.outputs == [y] and mask.producer is None


def test_dropout_training_rejected() -> None:
    g = Graph("t", 13)
    x = g.new_value("x", DType.FLOAT32, (2,))
    train = g.const_value("t", np.array(True))
    with pytest.raises(UnsupportedOperatorError, match="training"):
        infer_node(g.add_node("Dropout", [x, None, train], [g.new_value("y")]), g)


def test_rules_are_idempotent() -> None:
    node = run_both("Clip", [f32(3), np.array(0.0, np.float32)], opset=13, consts=(1,))
    before = dict(node.attrs)
    infer_node(node, Graph("t", 13))
    assert node.attrs == before


def test_onnx_model_checker_agrees_on_ops() -> None:
    # Every op these tests cover exists in the ONNX schema at the opsets used.
    for op in [*BINARY, *UNARY, *UNARY_DEFAULTS]:
        assert onnx.defs.has(op), op
