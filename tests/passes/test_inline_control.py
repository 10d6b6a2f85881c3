"""If with a condition known at conversion (frontend/subgraphs.py, passes/inline_control.py): the chosen
branch replaces it, reading outer values, its own initializers and Constants, nested Ifs included;
against onnxruntime on the same model. An If decided at run time is kept for the runtime
(test_runtime_control.py)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.conftest import F32
from tests.passes.ir_onnx import run_ir
from webdnn.frontend.onnx import from_onnx
from webdnn.passes.pipeline import optimize
from webdnn.passes.runtime_control import has_runtime_control, is_runtime_loop
from webdnn.verify import reference_outputs

I64 = TensorProto.INT64


def _branch(name: str, nodes: list[onnx.NodeProto], out: str,
            inits: dict[str, np.ndarray] | None = None) -> onnx.GraphProto:
    return helper.make_graph(nodes, name, [], [helper.make_empty_tensor_value_info(out)],
                             [numpy_helper.from_array(v, k) for k, v in (inits or {}).items()])


def _shape_is(x: str, axis: int, n: int, out: str) -> list[onnx.NodeProto]:
    """out = (shape(x)[axis] == n): known once the input shapes are."""
    return [
        helper.make_node("Constant", [], [f"{out}_i"], value=numpy_helper.from_array(np.array(axis, np.int64))),
        helper.make_node("Constant", [], [f"{out}_n"], value=numpy_helper.from_array(np.array(n, np.int64))),
        helper.make_node("Shape", [x], [f"{out}_s"]),
        helper.make_node("Gather", [f"{out}_s", f"{out}_i"], [f"{out}_d"], axis=0),
        helper.make_node("Equal", [f"{out}_d", f"{out}_n"], [out]),
    ]


def _model(cond_nodes: list[onnx.NodeProto], then_b: onnx.GraphProto, else_b: onnx.GraphProto,
           inputs: list[tuple[str, int, list[int | str]]]) -> onnx.ModelProto:
    nodes = [helper.make_node("Constant", [], ["k"], value=numpy_helper.from_array(np.float32(3.0))),
             *sorted(cond_nodes, key=lambda n: n.op_type != "Constant"),  # (a test's own lists: constants last)
             helper.make_node("If", ["cond"], ["y"], then_branch=then_b, else_branch=else_b)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, t, d) for n, t, d in inputs],
                          [helper.make_empty_tensor_value_info("y")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _check(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> None:
    g = from_onnx(model, {k: v.shape for k, v in feeds.items()})
    optimize(g)
    assert "If" not in {n.op_type for n in g.nodes}
    assert [v.name for v in g.outputs] == ["y"]
    np.testing.assert_allclose(run_ir(g, feeds)["y"], reference_outputs(model, feeds)["y"], rtol=1e-6)


def _branches() -> tuple[onnx.GraphProto, onnx.GraphProto]:
    then_b = _branch("then", [helper.make_node("Mul", ["x", "k"], ["t0"]),  # outer x and k
                              helper.make_node("Add", ["t0", "w"], ["t"])], "t", {"w": np.float32([1, 2, 3, 4])})
    else_b = _branch("else", [helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(np.float32(-1))),
                              helper.make_node("Sub", ["x", "c"], ["e"])], "e")
    return then_b, else_b


@pytest.mark.parametrize("batch", [2, 5])
def test_condition_from_the_input_shape(batch: int) -> None:
    then_b, else_b = _branches()
    model = _model(_shape_is("x", 0, 2, "cond"), then_b, else_b, [("x", F32, ["n", 4])])
    _check(model, {"x": np.random.default_rng(0).standard_normal((batch, 4)).astype(np.float32)})


def test_nested_if_and_constant_branch() -> None:
    inner_then = _branch("it", [helper.make_node("Relu", ["x"], ["r"])], "r")
    inner_else = _branch("ie", [helper.make_node("Neg", ["x"], ["q"])], "q")
    then_b = _branch("then", [*_shape_is("x", 1, 4, "c2"),
                              helper.make_node("If", ["c2"], ["z"], then_branch=inner_then, else_branch=inner_else),
                              helper.make_node("Mul", ["z", "k"], ["t"])], "t")
    else_b = _branch("else", [helper.make_node("Constant", [], ["e"], value=numpy_helper.from_array(
        np.zeros((3, 4), np.float32)))], "e")
    model = _model(_shape_is("x", 0, 3, "cond"), then_b, else_b, [("x", F32, [3, 4])])
    _check(model, {"x": np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)})
    # the else branch's constant becomes the output
    model = _model(_shape_is("x", 0, 1, "cond"), then_b, else_b, [("x", F32, [3, 4])])
    g = from_onnx(model)
    optimize(g)
    assert g.outputs[0].const is not None and not g.nodes


def test_run_time_condition_is_left_to_the_runtime() -> None:
    from webdnn.passes.runtime_control import has_runtime_control

    then_b, else_b = _branches()
    sr16 = numpy_helper.from_array(np.array(16000, np.int64))
    model = _model([helper.make_node("Equal", ["sr", "sr16"], ["cond"]),
                    helper.make_node("Constant", [], ["sr16"], value=sr16)],
                   then_b, else_b, [("x", F32, [2, 4]), ("sr", I64, [])])
    g = from_onnx(model)
    optimize(g)
    assert has_runtime_control(g)


def test_branch_reading_an_undefined_name_is_malformed() -> None:
    from webdnn.errors import ModelLoadError

    then_b = _branch("then", [helper.make_node("Relu", ["nowhere"], ["t"])], "t")
    _, else_b = _branches()
    model = _model(_shape_is("x", 0, 2, "cond"), then_b, else_b, [("x", F32, [2, 4])])
    with pytest.raises(ModelLoadError, match="reads 'nowhere'"):
        from_onnx(model)


# ---- Loop and Scan, unrolled --------------------------------------------------------------------------


def _body(nodes: list[onnx.NodeProto], inputs: list[tuple[str, int, list[int]]], outputs: list[str]) -> onnx.GraphProto:
    return helper.make_graph(nodes, "body", [helper.make_tensor_value_info(n, t, d) for n, t, d in inputs],
                             [helper.make_empty_tensor_value_info(o) for o in outputs])


def _run_both(model: onnx.ModelProto, feeds: dict[str, np.ndarray], gone: str) -> None:
    g = from_onnx(model, {k: v.shape for k, v in feeds.items()})
    optimize(g)
    assert gone not in {n.op_type for n in g.nodes}
    ref = reference_outputs(model, feeds)
    got = run_ir(g, feeds)
    for k, v in ref.items():
        np.testing.assert_allclose(got[k], v, rtol=1e-6, atol=1e-6, err_msg=k)


def test_loop_with_a_trip_count() -> None:
    # acc = acc * w + i (the iteration number, cast), scan output: acc each iteration; w from outside
    body = _body([helper.make_node("Cast", ["i"], ["fi"], to=TensorProto.FLOAT),
                  helper.make_node("Mul", ["acc_in", "w"], ["m"]),
                  helper.make_node("Add", ["m", "fi"], ["acc_out"]),
                  helper.make_node("Identity", ["cond_in"], ["cond_out"]),
                  helper.make_node("Identity", ["acc_out"], ["scan"])],
                 [("i", I64, []), ("cond_in", TensorProto.BOOL, []), ("acc_in", F32, [2, 3])],
                 ["cond_out", "acc_out", "scan"])
    nodes = [helper.make_node("Constant", [], ["n"], value=numpy_helper.from_array(np.array(4, np.int64))),
             helper.make_node("Constant", [], ["t"], value=numpy_helper.from_array(np.array(True))),
             helper.make_node("Loop", ["n", "t", "x"], ["y", "ys"], body=body)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", F32, [2, 3])],
                          [helper.make_empty_tensor_value_info("y"), helper.make_empty_tensor_value_info("ys")],
                          [numpy_helper.from_array(np.float32([0.5, -1.0, 2.0]), "w")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    _run_both(model, {"x": np.random.default_rng(2).standard_normal((2, 3)).astype(np.float32)}, "Loop")


def test_loop_stopped_by_a_folded_condition() -> None:
    # cond_out = i < 2: known each iteration, so three iterations of the eight allowed
    body = _body([helper.make_node("Constant", [], ["two"], value=numpy_helper.from_array(np.array(2, np.int64))),
                  helper.make_node("Less", ["i", "two"], ["cond_out"]),
                  helper.make_node("Add", ["v_in", "v_in"], ["v_out"])],
                 [("i", I64, []), ("cond_in", TensorProto.BOOL, []), ("v_in", F32, [3])], ["cond_out", "v_out"])
    nodes = [helper.make_node("Constant", [], ["n"], value=numpy_helper.from_array(np.array(8, np.int64))),
             helper.make_node("Loop", ["n", "", "x"], ["y"], body=body)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", F32, [3])],
                          [helper.make_empty_tensor_value_info("y")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    _run_both(model, {"x": np.float32([1, 2, 3])}, "Loop")


def test_loop_with_a_run_time_trip_count_is_left_to_the_runtime() -> None:
    """(Run against onnxruntime in tests/passes/test_runtime_loop.py.)"""
    body = _body([helper.make_node("Identity", ["cond_in"], ["cond_out"]),
                  helper.make_node("Neg", ["v_in"], ["v_out"])],
                 [("i", I64, []), ("cond_in", TensorProto.BOOL, []), ("v_in", F32, [3])], ["cond_out", "v_out"])
    g = helper.make_graph([helper.make_node("Loop", ["n", "", "x"], ["y"], body=body)], "g",
                          [helper.make_tensor_value_info("x", F32, [3]), helper.make_tensor_value_info("n", I64, [])],
                          [helper.make_empty_tensor_value_info("y")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    graph = from_onnx(model)
    optimize(graph)
    loops = [n for n in graph.nodes if n.op_type == "Loop"]
    assert len(loops) == 1 and is_runtime_loop(loops[0]) and has_runtime_control(graph)


@pytest.mark.parametrize(("axes", "dirs", "out_axes"), [([0], [0], [0]), ([1], [1], [1])])
def test_scan_running_sum(axes: list[int], dirs: list[int], out_axes: list[int]) -> None:
    # state += x_t (a [2] row), scan output: the state after each step
    body = _body([helper.make_node("Add", ["s_in", "x_t"], ["s_out"]), helper.make_node("Identity", ["s_out"], ["o"])],
                 [("s_in", F32, [2]), ("x_t", F32, [2])], ["s_out", "o"])
    xs = [5, 2] if axes == [0] else [2, 5]
    node = helper.make_node("Scan", ["s0", "x"], ["s", "os"], body=body, num_scan_inputs=1, scan_input_axes=axes,
                            scan_input_directions=dirs, scan_output_axes=out_axes)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("s0", F32, [2]),
                                        helper.make_tensor_value_info("x", F32, xs)],
                          [helper.make_empty_tensor_value_info("s"), helper.make_empty_tensor_value_info("os")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    rng = np.random.default_rng(3)
    _run_both(model, {"s0": rng.standard_normal(2).astype(np.float32),
                      "x": rng.standard_normal(xs).astype(np.float32)}, "Scan")
