"""Ifs decided at run time (passes/runtime_control.py, runtime/src/control.ts): the program the model is
cut into, and the converted model run for fallback and wasm in Node against onnxruntime with the
condition true and false: a nested If, a branch passing an outer value through, a branch returning a
constant, two Ifs in sequence with nodes after them that do not depend on them, and the errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.conftest import F32
from webdnn.convert import convert
from webdnn.errors import UnsupportedOperatorError
from webdnn.frontend.onnx import from_onnx
from webdnn.passes.pipeline import optimize
from webdnn.passes.runtime_control import has_runtime_control, stage
from webdnn.verify import reference_outputs

RNG = np.random.default_rng(14)


def _graph(nodes: list[Any], outputs: list[tuple[str, list[int]]], name: str) -> onnx.GraphProto:
    return helper.make_graph(nodes, name, [], [helper.make_tensor_value_info(o, F32, s) for o, s in outputs])


def _model() -> onnx.ModelProto:
    """y = If(sum(x) > 0): then relu(x) @ w, or If(mean(x) < -1, nested): x passed through @ w ... ; z = the
    outer 'k' or a constant (with inf, -inf and NaN, which JSON writes as strings); after it, u = If(flag):
    y * 2 or y - 1; and v = x + 1, independent of both."""
    w = numpy_helper.from_array(RNG.standard_normal((4, 4)).astype(np.float32), "w")
    nested = helper.make_node(
        "If", ["small"], ["e_y"],
        then_branch=_graph([helper.make_node("MatMul", ["x", "w"], ["n_y"])], [("n_y", [2, 4])], "n_then"),
        else_branch=_graph([helper.make_node("Sigmoid", ["x"], ["n_s"]),
                            helper.make_node("MatMul", ["n_s", "w"], ["n_e"])], [("n_e", [2, 4])], "n_else"))
    then = _graph([helper.make_node("Relu", ["x"], ["t_r"]), helper.make_node("MatMul", ["t_r", "w"], ["t_y"]),
                   helper.make_node("Identity", ["k"], ["t_z"])], [("t_y", [2, 4]), ("t_z", [4])], "then")
    other = _graph([helper.make_node("ReduceMean", ["x"], ["mean"], keepdims=0),
                    helper.make_node("Less", ["mean", "minus1"], ["small"]), nested,
                    helper.make_node("Constant", [], ["e_z"],
                                     value=numpy_helper.from_array(np.array([0, np.inf, -np.inf, np.nan],
                                                                            np.float32)))],
                   [("e_y", [2, 4]), ("e_z", [4])], "else")
    nodes = [
        helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
        helper.make_node("Greater", ["s", "zero"], ["c"]),
        helper.make_node("If", ["c"], ["y", "z"], then_branch=then, else_branch=other),
        helper.make_node("If", ["flag"], ["u"],
                         then_branch=_graph([helper.make_node("Mul", ["y", "two"], ["u_t"])], [("u_t", [2, 4])],
                                            "u_then"),
                         else_branch=_graph([helper.make_node("Sub", ["y", "one"], ["u_e"])], [("u_e", [2, 4])],
                                            "u_else")),
        helper.make_node("Add", ["x", "one"], ["v"]),
    ]
    consts = {"zero": 0.0, "minus1": -1.0, "two": 2.0, "one": 1.0}
    inits = [w, *(numpy_helper.from_array(np.array(v, np.float32), k) for k, v in consts.items())]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", F32, [2, 4]),
                                       helper.make_tensor_value_info("k", F32, [4]),
                                       helper.make_tensor_value_info("flag", TensorProto.BOOL, [])],
                          [helper.make_tensor_value_info(o, F32, None) for o in ("y", "z", "u", "v")], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _feeds(kind: str, flag: bool) -> dict[str, np.ndarray]:
    x = RNG.standard_normal((2, 4)).astype(np.float32)
    x = {"positive": np.abs(x) + 0.1, "negative": -np.abs(x) * 0.1, "very negative": -np.abs(x) - 2.0}[kind]
    return {"x": x.astype(np.float32), "k": RNG.standard_normal(4).astype(np.float32), "flag": np.array(flag)}


def test_the_program_cuts_around_each_if() -> None:
    g = from_onnx(_model())
    optimize(g)
    assert has_runtime_control(g)
    plan = stage(g)
    kinds = [next(iter(s)) for s in plan.steps]
    assert kinds[:2] == ["run", "if"] and "if" in kinds[2:]  # head, the first If, ..., the second If
    first = plan.steps[1]
    assert any("copy" in s for s in first["else"])  # the nested If's result becomes the outer If's
    assert any("const" in s for s in first["else"])  # [0, inf, -inf, nan]
    assert any("if" in s for s in first["else"])  # the nested If on mean(x)
    assert all(not has_runtime_control(s) for s in plan.stages)


@pytest.mark.node
@pytest.mark.parametrize("backend", ["fallback", "wasm"])
def test_runs_every_path_like_onnxruntime(tmp_path: Path, backend: str) -> None:
    from webdnn.browser.node import run_model_node

    model = _model()
    convert(model, tmp_path / "m", [backend])
    convert(model, tmp_path / "m", [backend])  # again into the same directory: the stages are its files
    for kind in ("positive", "negative", "very negative"):
        for flag in (True, False):
            feeds = _feeds(kind, flag)
            got = run_model_node(str(tmp_path / "m"), feeds, (backend,)).outputs
            for k, want in reference_outputs(model, feeds).items():
                np.testing.assert_allclose(got[k], want, rtol=1e-5, atol=1e-6, err_msg=f"{kind} {flag} {k}")


def test_branches_of_different_shapes_are_refused() -> None:
    then = _graph([helper.make_node("Identity", ["x"], ["a"])], [("a", [2, 4])], "t")
    other = _graph([helper.make_node("ReduceSum", ["x"], ["b"], keepdims=0)], [("b", [])], "e")
    g = helper.make_graph([helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)], "g",
                          [helper.make_tensor_value_info("c", TensorProto.BOOL, []),
                           helper.make_tensor_value_info("x", F32, [2, 4])],
                          [helper.make_tensor_value_info("y", F32, None)])
    with pytest.raises(UnsupportedOperatorError, match=r"output 0 \('y'\) is float32 \[2, 4\] in then_branch but "
                                                       r"float32 \[\] in else_branch"):
        optimize(from_onnx(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])))


def test_symbolic_dims_are_refused_clearly() -> None:
    then = _graph([helper.make_node("Relu", ["x"], ["a"])], [("a", None)], "t")  # type: ignore[list-item]
    other = _graph([helper.make_node("Neg", ["x"], ["b"])], [("b", None)], "e")  # type: ignore[list-item]
    g = helper.make_graph([helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)], "g",
                          [helper.make_tensor_value_info("c", TensorProto.BOOL, []),
                           helper.make_tensor_value_info("x", F32, ["n"])],
                          [helper.make_tensor_value_info("y", F32, None)])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(UnsupportedOperatorError, match="symbolic dims cannot do yet; fix the input dims"):
        optimize(from_onnx(model, dynamic=True))
