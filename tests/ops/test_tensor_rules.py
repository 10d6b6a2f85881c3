"""Shape/type rules of the tensor family against onnxruntime on single-node models, with
the canonical attributes they leave for the kernels."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from onnx import TensorProto, helper

from tests.ops.single_node import assert_same_types, infer_ir_node, run_in_onnxruntime
from webdnn.errors import ShapeError
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Node
from webdnn.ops.registry import infer_node

rng = np.random.default_rng(1)
I64_MAX = np.iinfo(np.int64).max


def f32(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def i64(*values: int) -> np.ndarray:
    return np.array(values, np.int64)


def run_both(
    op: str,
    inputs: list[np.ndarray | None],
    attrs: dict[str, Any] | None = None,
    opset: int = 17,
    consts: tuple[int, ...] = (),
    n_out: int = 1,
) -> Node:
    """Infer `op` on an IR node and run it in onnxruntime; assert equal output dtypes/shapes.

    Inputs listed in `consts` are initializers in ONNX and constant Values in the IR.
    """
    attrs = attrs or {}
    expected = run_in_onnxruntime(op, inputs, attrs, opset, consts, n_out)
    graph, node = infer_ir_node(op, inputs, attrs, opset, consts, n_out)
    assert_same_types(op, node, expected, all_outputs=True)
    # Canonical nodes keep only data inputs, and re-running the rule changes nothing.
    if op not in CONVERSION_ONLY | KEEPS_CONST_DATA:
        assert not any(v is not None and v.is_const for v in node.inputs), node.inputs
    before = dict(node.attrs)
    infer_node(node, graph)
    assert node.attrs == before, op
    return node


CONVERSION_ONLY = {"Shape", "Size", "ConstantOfShape", "Range"}
KEEPS_CONST_DATA = {"Gather", "GatherElements", "GatherND", "ScatterND", "Concat", "Where"}


# --- reshape family ----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(0, -1), (-1,), (3, 0, 4, 1), (2, -1, 4)], ids=str)
def test_reshape(shape: tuple[int, ...]) -> None:
    node = run_both("Reshape", [f32(3, 2, 4), np.array(shape, np.int64)], opset=13, consts=(1,))
    assert node.attrs["shape"] == list(node.outputs[0].shape) and len(node.inputs) == 1
    assert node.attrs["allowzero"] == 0


def test_reshape_allowzero() -> None:
    node = run_both("Reshape", [f32(0, 3), i64(3, 0)], {"allowzero": 1}, opset=14, consts=(1,))
    assert node.attrs["shape"] == [3, 0]


def test_reshape_needs_constant_shape() -> None:
    g = Graph("t", 13)
    x, s = g.new_value("x", DType.FLOAT32, (4,)), g.new_value("s", DType.INT64, (1,))
    with pytest.raises(ShapeError, match="constant"):
        infer_node(g.add_node("Reshape", [x, s], [g.new_value("y")]), g)


@pytest.mark.parametrize("axis", [0, 1, -1, 3, -3])
def test_flatten(axis: int) -> None:
    node = run_both("Flatten", [f32(2, 3, 4)], {"axis": axis}, opset=13)
    assert node.attrs["axis"] == (axis + 3 if axis < 0 else axis)


@pytest.mark.parametrize("opset", [11, 13, 18, 21])
def test_squeeze_unsqueeze(opset: int) -> None:
    x = f32(1, 3, 1, 2)
    if opset < 13:
        node = run_both("Squeeze", [x], {"axes": [-2, 0]}, opset=opset)
        u = run_both("Unsqueeze", [f32(3, 2)], {"axes": [-1, 0]}, opset=opset)
    else:
        node = run_both("Squeeze", [x, i64(-2, 0)], opset=opset, consts=(1,))
        u = run_both("Unsqueeze", [f32(3, 2), i64(-1, 0)], opset=opset, consts=(1,))
    assert node.attrs["axes"] == [0, 2] and u.attrs["axes"] == [0, 3]
    assert run_both("Squeeze", [x], opset=opset).attrs["axes"] == [0, 2]


def test_transpose() -> None:
    assert run_both("Transpose", [f32(2, 3, 4)]).attrs["perm"] == [2, 1, 0]
    run_both("Transpose", [f32(2, 3, 4, 5)], {"perm": [0, 2, 3, 1]})


def test_concat() -> None:
    node = run_both("Concat", [f32(2, 1, 3), f32(2, 4, 3), f32(2, 0, 3)], {"axis": -2}, opset=13)
    assert node.attrs["axis"] == 1
    run_both("Concat", [i64(1, 2), i64(3)], {"axis": 0}, opset=11)


@pytest.mark.parametrize("opset", [11, 13, 18])
def test_split(opset: int) -> None:
    x = f32(2, 7)
    if opset < 13:
        node = run_both("Split", [x], {"axis": -1, "split": [2, 5]}, opset=opset, n_out=2)
    else:
        node = run_both("Split", [x, i64(2, 5)], {"axis": -1}, opset=opset, consts=(1,), n_out=2)
    assert node.attrs == {"axis": 1, "split": [2, 5]}
    even = {"num_outputs": 3} if opset >= 18 else {}
    assert run_both("Split", [f32(6, 2)], even, opset=opset, n_out=3).attrs["split"] == [2, 2, 2]


def test_split_num_outputs() -> None:
    node = run_both("Split", [f32(7)], {"num_outputs": 3}, opset=18, n_out=3)
    assert node.attrs == {"axis": 0, "split": [3, 3, 1]}
    node = run_both("Split", [f32(2, 3)], {"num_outputs": 3, "axis": 0}, opset=18, n_out=3)
    assert node.attrs["split"] == [1, 1, 0]


SLICES = [
    # starts, ends, axes, steps
    ([1], [-1], None, None),
    ([0, 1], [I64_MAX, 3], [2, 0], None),
    ([-1], [-I64_MAX], [1], [-1]),
    ([4, 10], [0, -100], [2, 1], [-2, -3]),
    ([5], [1], [0], [1]),
    ([-10], [10], [-1], [2]),
]


@pytest.mark.parametrize("opset", [10, 11, 13, 18])
@pytest.mark.parametrize("case", SLICES, ids=str)
def test_slice_inputs(opset: int, case: tuple[list[int], ...]) -> None:
    starts, ends, axes, steps = case
    if steps is not None and opset < 10:
        return
    ins: list[np.ndarray | None] = [f32(4, 5, 6), np.array(starts, np.int64), np.array(ends, np.int64)]
    ins.append(None if axes is None else np.array(axes, np.int64))
    if steps is not None:
        ins.append(np.array(steps, np.int64))
    node = run_both("Slice", ins, opset=opset, consts=tuple(range(1, len(ins))))
    assert len(node.inputs) == 1 and len(node.attrs["starts"]) == 3 and node.attrs["axes"] == [0, 1, 2]


def test_slice_canonical_values() -> None:
    node = run_both(
        "Slice", [f32(4, 5), i64(-1), i64(-I64_MAX), i64(1), i64(-2)], opset=13, consts=(1, 2, 3, 4)
    )
    # output[i] = input[start + i * step]: rows all, columns 4, 2, 0
    assert node.attrs["starts"] == [0, 4] and node.attrs["steps"] == [1, -2] and node.attrs["ends"] == [4, -6]


def test_slice_opset1_attrs_and_int32() -> None:
    node = run_both("Slice", [f32(4, 5)], {"starts": [1, -3], "ends": [3, 1000]}, opset=9)
    assert node.attrs["starts"] == [1, 2] and node.attrs["ends"] == [3, 5]
    run_both("Slice", [f32(4, 5), np.array([1], np.int32), np.array([3], np.int32)], opset=13, consts=(1, 2))


# --- indexing ------------------------------------------------------------------------------------


def test_gather() -> None:
    assert run_both("Gather", [f32(3, 4, 5), i64(-1, 0)], {"axis": -2}, opset=13).attrs["axis"] == 1
    run_both("Gather", [f32(3, 4), np.array(2, np.int64)], opset=13)
    run_both("Gather", [f32(3, 4), np.array([[0, -1], [1, 2]], np.int32)], {"axis": 1}, opset=11)
    run_both("Gather", [i64(5, 6, 7), np.array([[2]], np.int64)], opset=13, consts=(1,))


def test_gather_elements_nd_scatter() -> None:
    idx = np.array([[0, -1, 2], [1, 0, 0]], np.int64)
    assert run_both("GatherElements", [f32(2, 3), idx], {"axis": -1}, opset=13).attrs["axis"] == 1
    run_both("GatherND", [f32(2, 3, 4), np.array([[1, 2], [0, -1]], np.int64)], opset=13)
    run_both("GatherND", [f32(2, 3, 4), np.array([[1], [0]], np.int64)], {"batch_dims": 1}, opset=13)
    node = run_both("ScatterND", [f32(4, 3), np.array([[1], [3]], np.int64), f32(2, 3)], opset=13)
    assert node.attrs["reduction"] == "none"
    run_both("ScatterND", [f32(4, 3), np.array([[1, 2]], np.int64), f32(1)], {"reduction": "add"}, opset=16)


def test_scatter_elements() -> None:
    idx = np.array([[1, 0, 2], [0, 2, 1]], np.int64)
    node = run_both("ScatterElements", [f32(3, 3), idx, f32(2, 3)], {"axis": 0}, opset=13)
    assert node.attrs["reduction"] == "none"
    node = run_both("ScatterElements", [f32(2, 4), np.array([[3, -1]], np.int64), f32(1, 2)],
                    {"axis": -1, "reduction": "max"}, opset=18)
    assert node.attrs["axis"] == 1
    node = run_both("Scatter", [f32(3, 3), idx, f32(2, 3)], opset=9)  # the old name
    assert node.op_type == "ScatterElements"
    with pytest.raises(ShapeError, match="one shape"):
        infer_ir_node("ScatterElements", [f32(3, 3), idx, f32(2, 2)], {}, 13, (), 1)


def test_one_hot() -> None:
    node = run_both(
        "OneHot",
        [np.array([0, 2, -1], np.int32), np.array(4.0, np.float32), np.array([0.0, 1.0], np.float32)],
        opset=11,
        consts=(1, 2),
    )
    assert node.attrs == {"axis": 1, "depth": 4, "values": [0.0, 1.0]} and len(node.inputs) == 1
    node = run_both(
        "OneHot",
        [np.array([[1, 0]], np.int64), np.array([3], np.int64), i64(-1, 7)],
        {"axis": 0},
        opset=11,
        consts=(1, 2),
    )
    assert node.attrs["values"] == [-1, 7] and node.outputs[0].dtype == DType.INT64


def test_trilu_cumsum() -> None:
    assert run_both("Trilu", [f32(2, 3, 4)], opset=14).attrs == {"upper": 1, "k": 0}
    node = run_both("Trilu", [f32(3, 4), np.array(-1, np.int64)], {"upper": 0}, opset=14, consts=(1,))
    assert node.attrs == {"upper": 0, "k": -1}
    node = run_both("CumSum", [f32(2, 3), np.array(-1, np.int32)], {"reverse": 1}, opset=14, consts=(1,))
    assert node.attrs == {"axis": 1, "exclusive": 0, "reverse": 1}


# --- expand / tile / pad -----------------------------------------------------------------------


def test_expand_tile() -> None:
    node = run_both("Expand", [f32(3, 1), i64(2, 1, 4)], opset=13, consts=(1,))
    assert node.attrs["shape"] == [2, 3, 4]
    run_both("Expand", [f32(3, 1), i64(1)], opset=13, consts=(1,))
    assert run_both("Tile", [f32(2, 3), i64(2, 1)], opset=13, consts=(1,)).attrs["repeats"] == [2, 1]


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
@pytest.mark.parametrize("opset", [2, 11, 13, 18])
def test_pad(mode: str, opset: int) -> None:
    x = f32(3, 4)
    if opset < 11:
        node = run_both("Pad", [x], {"pads": [1, 2, 0, 1], "mode": mode, "value": 1.5}, opset=opset)
        assert node.attrs["value"] == (1.5 if mode == "constant" else 1.5)
    elif opset < 18:
        node = run_both(
            "Pad", [x, i64(1, 2, 0, 1), np.array(1.5, np.float32)], {"mode": mode}, opset=opset, consts=(1, 2)
        )
    else:
        node = run_both("Pad", [x, i64(2, 1), None, i64(-1)], {"mode": mode}, opset=opset, consts=(1, 3))
        assert node.attrs["pads"] == [0, 2, 0, 1] and node.attrs["value"] == 0.0
        return
    assert node.attrs["pads"] == [1, 2, 0, 1] and node.attrs["mode"] == mode and len(node.inputs) == 1


def test_pad_negative_wrap_and_int() -> None:
    run_both("Pad", [f32(3, 4), i64(-1, 1, 0, -2)], opset=13, consts=(1,))
    run_both("Pad", [f32(3, 4), i64(1, 3, 2, 2)], {"mode": "wrap"}, opset=19, consts=(1,))
    node = run_both("Pad", [i64(1, 2, 3), i64(2, 1), np.array(-7, np.int64)], opset=13, consts=(1, 2))
    assert node.attrs["value"] == -7 and isinstance(node.attrs["value"], int)


# --- conversion-time ops -----------------------------------------------------------------------


def test_conversion_time_ops() -> None:
    run_both("Shape", [f32(2, 3, 4)], opset=13)
    run_both("Shape", [f32(2, 3, 4)], {"start": 1, "end": -1}, opset=15)
    run_both("Shape", [f32(2, 3, 4)], {"start": -10}, opset=15)
    run_both("Size", [f32(2, 3, 4)], opset=13)
    run_both("ConstantOfShape", [i64(2, 3)], opset=13, consts=(0,))
    value = helper.make_tensor("v", TensorProto.INT64, [1], [7])
    node = run_both("ConstantOfShape", [i64(4)], {"value": value}, opset=13, consts=(0,))
    assert node.outputs[0].dtype == DType.INT64
    run_both(
        "Range",
        [np.array(1.0, np.float32), np.array(2.5, np.float32), np.array(0.4, np.float32)],
        opset=13,
        consts=(0, 1, 2),
    )
    run_both(
        "Range",
        [i64(10)[0:1].reshape(()), np.array(1, np.int64), np.array(-3, np.int64)],
        opset=13,
        consts=(0, 1, 2),
    )


# --- reductions ----------------------------------------------------------------------------------

REDUCE = [
    "ReduceMean",
    "ReduceSum",
    "ReduceMax",
    "ReduceMin",
    "ReduceProd",
    "ReduceL1",
    "ReduceL2",
    "ReduceSumSquare",
    "ReduceLogSum",
    "ReduceLogSumExp",
]


def _axes_as_input(op: str, opset: int) -> bool:
    return opset >= (13 if op == "ReduceSum" else 18)


@pytest.mark.parametrize("op", REDUCE)
@pytest.mark.parametrize("opset", [11, 13, 18])
@pytest.mark.parametrize("keepdims", [0, 1])
def test_reduce(op: str, opset: int, keepdims: int) -> None:
    x = np.abs(f32(2, 3, 4)) + 0.5
    if _axes_as_input(op, opset):
        node = run_both(op, [x, i64(-1, 0)], {"keepdims": keepdims}, opset=opset, consts=(1,))
    else:
        node = run_both(op, [x], {"axes": [-1, 0], "keepdims": keepdims}, opset=opset)
    assert node.attrs["axes"] == [0, 2] and node.attrs["keepdims"] == keepdims and len(node.inputs) == 1
    assert run_both(op, [x], {"keepdims": keepdims}, opset=opset).attrs["axes"] == [0, 1, 2]


@pytest.mark.parametrize("op", REDUCE)
def test_reduce_noop_with_empty_axes(op: str) -> None:
    node = run_both(op, [np.abs(f32(2, 3)) + 0.5], {"noop_with_empty_axes": 1}, opset=18)
    assert node.attrs["axes"] == []
    node = run_both(op, [np.abs(f32(2, 3)) + 0.5, np.zeros(0, np.int64)], opset=18, consts=(1,))
    assert node.attrs["axes"] == [0, 1] and node.attrs["noop_with_empty_axes"] == 0


def test_reduce_integer() -> None:
    run_both("ReduceSum", [i64(1, 2, 3)], {"keepdims": 0}, opset=13)
    run_both("ReduceMax", [np.array([[1, 2]], np.int32)], {"axes": [1]}, opset=13)


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
def test_arg(op: str) -> None:
    node = run_both(op, [f32(2, 3, 4)], {"axis": -1, "keepdims": 0}, opset=13)
    assert node.attrs == {"axis": 2, "keepdims": 0, "select_last_index": 0}
    run_both(op, [f32(2, 3, 4)], opset=11)
    run_both(op, [i64(1, 3, 3)], {"select_last_index": 1}, opset=12)
