"""float16 and float64 models computed in float32 behind their typed interface
(frontend/float_compute.py): converted for fallback and wasm, run in Node, against onnxruntime.

The reference for a float16 model is onnxruntime on its float32 twin (the same weights, widened
exactly), rounded to float16 at the end: WebDNN computes in float32 and rounds only the outputs,
so each output element must be that reference's float16 value or its neighbour (one float16 ulp,
2^-10 relative, for the two roundings of values near a rounding boundary)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from webdnn.browser.node import run_model_node
from webdnn.convert import convert
from webdnn.frontend.float_compute import promote
from webdnn.verify import reference_outputs

RNG = np.random.default_rng(16)


def _classifier(dtype: int) -> onnx.ModelProto:
    """Conv -> Relu -> GlobalAveragePool -> Flatten -> MatMul + bias -> LayerNorm -> Softmax, with a
    Cast to the model's own type in the middle (as mixed-precision exports write) and a second output."""
    np_t = helper.tensor_dtype_to_np_dtype(dtype)

    def init(name: str, *shape: int) -> onnx.TensorProto:
        return numpy_helper.from_array((RNG.standard_normal(shape) * 0.3).astype(np_t), name)

    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Cast", ["f"], ["fc"], to=dtype),
        helper.make_node("MatMul", ["fc", "m"], ["mm"]),
        helper.make_node("Add", ["mm", "mb"], ["logits"]),
        helper.make_node("LayerNormalization", ["logits", "g", "beta"], ["ln"], axis=-1),
        helper.make_node("Softmax", ["ln"], ["prob"], axis=-1),
    ]
    g = helper.make_graph(nodes, "fp", [helper.make_tensor_value_info("x", dtype, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info("prob", dtype, [1, 10]),
                           helper.make_tensor_value_info("logits", dtype, [1, 10])],
                          [init("w", 8, 3, 3, 3), init("b", 8), init("m", 8, 10), init("mb", 10),
                           init("g", 10), init("beta", 10)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _widened(model: onnx.ModelProto) -> onnx.ModelProto:
    """The float32 twin of a float16 model: the same graph with every float16 widened exactly."""
    twin = onnx.ModelProto()
    twin.CopyFrom(model)
    g = twin.graph
    for init in g.initializer:
        init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float32), init.name))
    for vi in list(g.input) + list(g.output):
        vi.type.tensor_type.elem_type = TensorProto.FLOAT
    for n in g.node:
        for a in n.attribute:
            if n.op_type == "Cast" and a.name == "to":
                a.i = TensorProto.FLOAT
    return twin


@pytest.mark.node
@pytest.mark.parametrize("backend", ["fallback", "wasm"])
def test_float16_model_runs_in_float32(tmp_path: Path, backend: str) -> None:
    model = _classifier(TensorProto.FLOAT16)
    x = RNG.standard_normal((1, 3, 8, 8)).astype(np.float16)
    convert(model, tmp_path / "m", [backend])
    got = run_model_node(str(tmp_path / "m"), {"x": x}, (backend,)).outputs
    ref = reference_outputs(_widened(model), {"x": x.astype(np.float32)})
    for name in ("prob", "logits"):
        assert got[name].dtype == np.float16, name
        want = ref[name].astype(np.float16).astype(np.float32)
        np.testing.assert_allclose(got[name].astype(np.float32), want, rtol=2.0**-10, atol=2.0**-24, err_msg=name)


@pytest.mark.node
def test_float64_model_runs_in_float32(tmp_path: Path) -> None:
    model = _classifier(TensorProto.DOUBLE)
    x = RNG.standard_normal((1, 3, 8, 8))
    convert(model, tmp_path / "m", ["fallback"])
    got = run_model_node(str(tmp_path / "m"), {"x": x}, ("fallback",)).outputs
    from onnx.reference import ReferenceEvaluator  # onnxruntime has no float64 Conv

    ref = dict(zip(("prob", "logits"), ReferenceEvaluator(model).run(None, {"x": x}), strict=True))
    for name in ("prob", "logits"):
        assert got[name].dtype == np.float64, name
        np.testing.assert_allclose(got[name], ref[name], rtol=1e-5, atol=1e-6, err_msg=name)


def test_interface_keeps_its_types_and_the_inside_is_float32() -> None:
    model = _classifier(TensorProto.FLOAT16)
    out = promote(model)
    g = out.graph
    assert [i.type.tensor_type.elem_type for i in g.input] == [TensorProto.FLOAT16]
    assert [o.type.tensor_type.elem_type for o in g.output] == [TensorProto.FLOAT16] * 2
    assert {i.data_type for i in g.initializer} == {TensorProto.FLOAT}
    casts = [(n.input[0], n.output[0], n.attribute[0].i) for n in g.node if n.op_type == "Cast"]
    assert ("x", "x__float32", TensorProto.FLOAT) in casts  # the input, widened on arrival
    assert ("f", "fc", TensorProto.FLOAT) in casts  # the model's own Cast now targets float32
    assert ("prob__float32", "prob", TensorProto.FLOAT16) in casts  # the outputs, rounded on leaving
    assert ("logits__float32", "logits", TensorProto.FLOAT16) in casts
    assert model.graph.initializer[0].data_type == TensorProto.FLOAT16  # the caller's model is untouched


def test_nested_graphs_are_promoted() -> None:
    half = TensorProto.FLOAT16
    branch = helper.make_graph(
        [helper.make_node("Constant", [], ["k"], value=numpy_helper.from_array(np.ones((2, 2), np.float16))),
         helper.make_node("MatMul", ["x", "k"], ["y"])], "then", [], [helper.make_tensor_value_info("y", half, [2, 2])])
    other = helper.make_graph([helper.make_node("Identity", ["x"], ["z"])], "else", [],
                              [helper.make_tensor_value_info("z", half, [2, 2])])
    g = helper.make_graph([helper.make_node("If", ["c"], ["out"], then_branch=branch, else_branch=other)], "g",
                          [helper.make_tensor_value_info("c", TensorProto.BOOL, []),
                           helper.make_tensor_value_info("x", half, [2, 2])],
                          [helper.make_tensor_value_info("out", half, [2, 2])])
    out = promote(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    if_node = next(n for n in out.graph.node if n.op_type == "If")
    then = next(a.g for a in if_node.attribute if a.name == "then_branch")
    assert then.node[0].attribute[0].t.data_type == TensorProto.FLOAT
    assert then.node[1].input[:] == ["x__float32", "k"]  # the outer input, read through its widened copy
    assert then.output[0].type.tensor_type.elem_type == TensorProto.FLOAT


def test_elementwise_float16_graph_is_left_as_it_is() -> None:
    g = helper.make_graph([helper.make_node("Add", ["a", "a"], ["y"])], "g",
                          [helper.make_tensor_value_info("a", TensorProto.FLOAT16, [3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [3])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    assert promote(model) is model  # no float32-only op: float16 rounding stays exact
