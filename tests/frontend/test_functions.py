"""Ops without a rule written out as their ONNX function bodies (frontend/functions.py), converted for
the fallback backend and run in Node, against onnxruntime on the same model (ONNX's reference
evaluator for the opset-23 ops the installed onnxruntime lacks): a context-dependent body (Attention
with a mask, RotaryEmbedding), a fixed body whose attribute is left at its default
(MeanVarianceNormalization's axes), a body using another bodied op (SoftmaxCrossEntropyLoss ->
NegativeLogLikelihoodLoss), and a model-local function."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from tests.conftest import F32
from webdnn.browser.node import run_model_node
from webdnn.convert import convert
from webdnn.frontend.onnx import from_onnx
from webdnn.passes.pipeline import optimize
from webdnn.verify import reference_outputs

pytestmark = pytest.mark.node

RNG = np.random.default_rng(8)


def _model(nodes: list[Any], inputs: dict[str, tuple[int, list[int]]], outputs: list[str], opset: int,
           functions: list[onnx.FunctionProto] | None = None) -> onnx.ModelProto:
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(k, t, s) for k, (t, s) in inputs.items()],
                          [helper.make_empty_tensor_value_info(o) for o in outputs])
    imports = [helper.make_opsetid("", opset)] + ([helper.make_opsetid("local", 1)] if functions else [])
    return helper.make_model(g, opset_imports=imports, functions=functions or [])


def _reference(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    try:
        return reference_outputs(model, feeds)
    except Exception:  # noqa: BLE001 (an onnxruntime without the op)
        from onnx.reference import ReferenceEvaluator

        names = [o.name for o in model.graph.output]
        return dict(zip(names, ReferenceEvaluator(model).run(None, feeds), strict=True))


def _check(model: onnx.ModelProto, feeds: dict[str, np.ndarray], gone: str, tmp_path: Any) -> None:
    g = from_onnx(model)
    optimize(g)
    assert gone not in {n.op_type for n in g.nodes}
    convert(model, tmp_path / "m", ["fallback"])
    got = run_model_node(str(tmp_path / "m"), feeds, ("fallback",)).outputs
    for k, v in _reference(model, feeds).items():
        np.testing.assert_allclose(got[k], v, rtol=1e-4, atol=1e-5, err_msg=k)


def _f(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def test_attention_with_mask(tmp_path: Any) -> None:
    node = helper.make_node("Attention", ["q", "k", "v", "m"], ["y"], q_num_heads=2, kv_num_heads=2)
    model = _model([node], {"q": (F32, [2, 4, 8]), "k": (F32, [2, 6, 8]), "v": (F32, [2, 6, 8]),
                            "m": (F32, [4, 6])}, ["y"], 23)
    _check(model, {"q": _f(2, 4, 8), "k": _f(2, 6, 8), "v": _f(2, 6, 8), "m": _f(4, 6)}, "Attention", tmp_path)


@pytest.mark.parametrize("interleaved", [0, 1])
def test_rotary_embedding(interleaved: int, tmp_path: Any) -> None:
    node = helper.make_node("RotaryEmbedding", ["x", "cos", "sin", "pos"], ["y"], interleaved=interleaved)
    model = _model([node], {"x": (F32, [1, 3, 5, 8]), "cos": (F32, [10, 4]), "sin": (F32, [10, 4]),
                            "pos": (TensorProto.INT64, [1, 5])}, ["y"], 23)
    _check(model, {"x": _f(1, 3, 5, 8), "cos": _f(10, 4), "sin": _f(10, 4),
                   "pos": np.array([[0, 2, 4, 6, 9]], np.int64)}, "RotaryEmbedding", tmp_path)


def test_default_attribute_reaches_the_body(tmp_path: Any) -> None:
    node = helper.make_node("MeanVarianceNormalization", ["x"], ["y"])  # axes left at [0, 2, 3]
    model = _model([node], {"x": (F32, [2, 3, 4, 5])}, ["y"], 13)
    _check(model, {"x": _f(2, 3, 4, 5) * 3 + 1}, "MeanVarianceNormalization", tmp_path)


def test_body_using_another_bodied_op(tmp_path: Any) -> None:
    node = helper.make_node("SoftmaxCrossEntropyLoss", ["s", "l"], ["y"], reduction="mean")
    model = _model([node], {"s": (F32, [3, 5]), "l": (TensorProto.INT64, [3])}, ["y"], 13)
    _check(model, {"s": _f(3, 5), "l": np.array([0, 4, 2], np.int64)}, "SoftmaxCrossEntropyLoss", tmp_path)


def test_model_local_function(tmp_path: Any) -> None:
    body = helper.make_function("local", "AddRelu", ["a", "b"], ["c"],
                                [helper.make_node("Add", ["a", "b"], ["t"]), helper.make_node("Relu", ["t"], ["c"])],
                                [helper.make_opsetid("", 17)])
    node = helper.make_node("AddRelu", ["x", "z"], ["y"], domain="local")
    model = _model([node], {"x": (F32, [4]), "z": (F32, [4])}, ["y"], 17, [body])
    _check(model, {"x": _f(4), "z": _f(4)}, "AddRelu", tmp_path)


def test_layer_normalization_statistics_from_its_body(tmp_path: Any) -> None:
    """Asked for Mean and InvStdDev, LayerNormalization takes its function body, which computes them."""
    node = helper.make_node("LayerNormalization", ["x", "s", "b"], ["y", "mean", "inv"], axis=1)
    model = _model([node], {"x": (F32, [2, 3, 4]), "s": (F32, [3, 4]), "b": (F32, [3, 4])}, ["y", "mean", "inv"], 17)
    _check(model, {"x": _f(2, 3, 4), "s": _f(3, 4), "b": _f(3, 4)}, "LayerNormalization", tmp_path)


def test_layer_normalization_with_unread_statistics_keeps_its_kernel() -> None:
    node = helper.make_node("LayerNormalization", ["x", "s", "b"], ["y", "mean", "inv"], axis=1)
    model = _model([node], {"x": (F32, [2, 3, 4]), "s": (F32, [3, 4]), "b": (F32, [3, 4])}, ["y"], 17)
    g = from_onnx(model)
    optimize(g)
    assert [n.op_type for n in g.nodes] == ["LayerNormalization"]
