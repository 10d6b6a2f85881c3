"""The unary op table (src/webdnn/ops/unary_ops.py) against onnxruntime: each op's one
definition, evaluated by the numpy reference of its expression, on random inputs in the op's
domain and on the special values. Every backend prints these same expressions, so an error
here would be an error everywhere."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.ops.single_node import infer_ir_node, run_in_onnxruntime
from tests.ops.unary_cases import SPECIALS, UNARY_CASES, UnaryCase, case_input
from webdnn.backends.common.expr_attrs import cpu_attrs
from webdnn.ops import expr as E
from webdnn.ops.unary_ops import EPILOGUE_PRIMITIVES, UNARY, unary_expr
from webdnn.passes.fuse_activation import activation_spec


def test_every_op_has_a_case() -> None:
    assert sorted(set(UNARY) - {c.op for c in UNARY_CASES}) == []


def _reference_and_ours(case: UnaryCase, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref = run_in_onnxruntime(case.op, [x], dict(case.attrs), case.opset, (), 1)[0]
    _, node = infer_ir_node(case.op, [x], dict(case.attrs), case.opset, (), 1)
    with np.errstate(over="ignore"):
        ours = E.evaluate(unary_expr(case.op, node.attrs), x).astype(np.float32)
    return ref, ours


@pytest.mark.parametrize("case", UNARY_CASES, ids=lambda c: c.name)
def test_definition_matches_onnxruntime(case: UnaryCase) -> None:
    x = np.concatenate([case_input(case, np.random.default_rng(7), (64,)), SPECIALS])
    ref, ours = _reference_and_ours(case, x)
    bad = ~(np.isclose(ours, ref, rtol=case.tol, atol=case.tol, equal_nan=True)
            | ((ours == ref) & np.isinf(ref)))
    assert not bad.any(), f"{case.name}: x={x[bad]} ours={ours[bad]} onnxruntime={ref[bad]}"


def test_program_round_trips_through_json() -> None:
    for op, u in UNARY.items():
        prog = E.program(u.expr({}))
        assert json.loads(json.dumps(prog, allow_nan=False)) == prog, op
        for k, ins in enumerate(prog):
            assert ins[0] in E.PRIMITIVES
            assert all(isinstance(a, int) and a < k for a in ins[1:]) or ins[0] in ("x", "c")


def test_clip_bounds_print_only_finite_ones() -> None:
    assert E.program(unary_expr("Clip", {"min": float("-inf"), "max": 6.0})) == [["x", 0], ["c", 6.0], ["min", 0, 1]]
    assert E.program(unary_expr("Clip", {"min": float("-inf"), "max": float("inf")})) == [["x", 0]]


def test_equal_subtrees_are_computed_once() -> None:
    x = E.x()
    e = E.exp(x) * E.exp(x)
    assert [i[0] for i in E.program(e)] == ["x", "exp", "mul"]


def test_fusable_activations_are_those_built_from_epilogue_primitives() -> None:
    from webdnn.ir.dtypes import DType
    from webdnn.ir.graph import Graph

    for op, u in UNARY.items():
        g = Graph("t", 18)
        xv = g.new_value("x", DType.FLOAT32, (2,))
        y = g.new_value("y", DType.FLOAT32, (2,))
        attrs = {k: d for k, d in u.defaults.items()}
        node = g.add_node(op, [xv], [y], attrs)
        spec = activation_spec(node)
        fusable = op != "Identity" and E.primitives_of(u.expr(attrs)) <= EPILOGUE_PRIMITIVES
        assert (spec is not None) == fusable, op
        if spec is not None:
            assert spec["type"] == op and "expr" not in spec  # the IR keeps the record; backends print it


def test_cpu_attrs_carry_programs() -> None:
    x = np.linspace(-2, 2, 5, dtype=np.float32)
    _, node = infer_ir_node("Elu", [x], {"alpha": 0.5}, 18, (), 1)
    attrs = cpu_attrs(node)
    assert attrs["expr"] == E.program(unary_expr("Elu", {"alpha": 0.5}))
    assert "expr" not in node.attrs  # the IR node is left as it was
    _, node = infer_ir_node("Relu", [np.array([1, -2], np.int32)], {}, 18, (), 1)
    assert "expr" not in cpu_attrs(node)  # integer tensors keep their own kernels
