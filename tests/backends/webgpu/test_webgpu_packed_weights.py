"""`--weights int8|int4` on webgpu: the GEMM weights (Conv filters, MatMul/Gemm B) stay packed on the GPU and
are unpacked in the shader (backends/webgpu/packed_weights.py). The reference is onnxruntime on the model with
each weight replaced by exactly the values the encoding stores (quantized in the layout the webgpu kernel
reads: Gemm's transB weight transposed), so the outputs must agree to fp32 tolerance; a wrong byte, lane, word
or block scale would not."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

from tests.zoo_cases import assert_matches
from webdnn.backends.common.weight_encoding import INT8_BLOCK, decode, encode
from webdnn.backends.webgpu.node import swiftshader_env
from webdnn.browser.node import run_model_node
from webdnn.browser.paths import REPO_ROOT
from webdnn.convert import convert
from webdnn.verify import reference_outputs

ENV = swiftshader_env()
NODE_WEBGPU = ENV is not None and os.path.isdir(os.path.join(REPO_ROOT, "runtime", "node_modules", "webgpu"))


def _model() -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """Each loader shape once: a 3x3 Conv (one word per 4 weights), a grouped 3x3 Conv over 3 channels per
    group (K = 27: scalar loads), a MatMul with N = 40 (vec4), a batched MatMul with a 3-D constant B, a Gemm
    with transB and N = 30 (transposed at conversion, then scalar loads). Values of different ranges per
    block so a scale read from the wrong block shows."""
    rng = np.random.default_rng(8)

    def w(*shape: int) -> np.ndarray:
        x = rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))  # outputs of about unit size
        return (x * np.exp(rng.uniform(-2, 2, (shape[0],) + (1,) * (len(shape) - 1)))).astype(np.float32)

    inits = {"W": w(64, 16, 3, 3), "Wg": w(48, 3, 3, 3), "B": w(48 * 25, 40), "Bb": w(2, 20, 36), "G": w(30, 40),
             "s0": np.array([0], np.int64), "s1": np.array([48], np.int64), "s2": np.array([1], np.int64),
             "flat": np.array([1, -1], np.int64), "halves": np.array([2, 1, 20], np.int64)}
    nodes = [
        h.make_node("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1]),
        h.make_node("Relu", ["c"], ["r"]),
        h.make_node("Slice", ["r", "s0", "s1", "s2"], ["rs"]),
        h.make_node("Conv", ["rs", "Wg"], ["cg"], pads=[1, 1, 1, 1], group=16),
        h.make_node("Reshape", ["cg", "flat"], ["f"]),
        h.make_node("MatMul", ["f", "B"], ["m"]),
        h.make_node("Gemm", ["m", "G"], ["y"], transB=1),
        h.make_node("Reshape", ["m", "halves"], ["a3"]),
        h.make_node("MatMul", ["a3", "Bb"], ["z"]),
    ]
    g = h.make_graph(nodes, "q8", [h.make_tensor_value_info("x", T.FLOAT, [1, 16, 5, 5])],
                     [h.make_tensor_value_info("y", T.FLOAT, None), h.make_tensor_value_info("z", T.FLOAT, None)],
                     [nh.from_array(v, k) for k, v in inits.items()])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), {"x": rng.standard_normal((1, 16, 5, 5))
                                                                         .astype(np.float32)}


Converted = tuple[Path, dict[str, np.ndarray], str]


@pytest.fixture(scope="module", params=["int8", "int4"])
def converted(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Converted:
    model, x = _model()
    out = tmp_path_factory.mktemp(request.param) / "m"
    convert(model, out, ["fallback", "webgpu", "webgpu-fp16"], weights=request.param)
    return out, x, request.param


@pytest.mark.parametrize("backend", ["webgpu", "webgpu-fp16"])
def test_gemm_weights_travel_packed(converted: Converted, backend: str) -> None:
    out, _, enc = converted
    bits = {"int8": 8, "int4": 4}[enc]
    desc = json.loads((out / backend / "descriptor.json").read_text())
    weights = {t["name"]: t for t in desc["tensors"] if t.get("memory") == "weights"}
    packed = {k: t for k, t in weights.items() if k.endswith(f"_q{bits}")}
    assert {k.split("_")[0] for k in packed} == {"W", "Wg", "B", "Bb", "G"}, sorted(weights)
    assert not set(weights) & {"W", "Wg", "B", "Bb", "G"}, "a float32 copy travels too"
    for k, t in packed.items():
        count = {"W": 64 * 144, "Wg": 48 * 27, "B": 1200 * 40, "Bb": 2 * 720, "G": 1200}[k.split("_")[0]]
        blocks = -(-count // INT8_BLOCK)
        words = -(-blocks // 2) + -(-count // (32 // bits))
        assert t["dtype"] == "uint8" and t["byteLength"] == 4 * words, (k, t)
    assert "encoding" in desc["weights"]  # the rest (biases under 1024 elements stay raw) as before


def _stored_values(w: np.ndarray, enc: str) -> np.ndarray:
    kind, stored = encode(w, enc)
    assert kind == enc
    return decode(kind, stored, np.dtype(np.float32), w.size).reshape(w.shape)


def _reference(converted: Converted, gemm_transposed: bool) -> dict[str, np.ndarray]:
    """onnxruntime on the model with each weight replaced by the values `enc` stores, quantized in the
    backend's layout (webgpu reads Gemm's transB weight transposed, K x N)."""
    model, _ = _model()
    enc = converted[2]
    for init in model.graph.initializer:
        w = nh.to_array(init)
        if w.dtype == np.float32:
            transposed = gemm_transposed and init.name == "G"
            stored = _stored_values(w.T.copy(), enc).T if transposed else _stored_values(w, enc)
            init.CopyFrom(nh.from_array(np.ascontiguousarray(stored), init.name))
    return reference_outputs(model, converted[1])


@pytest.fixture(scope="module")
def reference(converted: Converted) -> dict[str, np.ndarray]:
    return _reference(converted, gemm_transposed=True)


@pytest.mark.skipif(not NODE_WEBGPU, reason="needs Chromium's SwiftShader ICD and runtime/node_modules/webgpu")
def test_unpacked_in_the_shader_in_node(converted: Converted, reference: dict[str, np.ndarray]) -> None:
    out, x, enc = converted
    got = run_model_node(str(out), x, ["webgpu"], env=ENV)
    assert got.backend == "webgpu"
    assert_matches(reference, got.outputs, f"webgpu {enc} in Node: ")


def test_decoded_at_load_on_the_fallback(converted: Converted) -> None:
    """The same encoding decoded by the runtime at load (runtime/src/weights.ts), in ONNX's layout."""
    out, x, enc = converted
    got = run_model_node(str(out), x, ["fallback"])
    assert_matches(_reference(converted, gemm_transposed=False), got.outputs, f"fallback {enc} in Node: ")


@pytest.mark.slow
@pytest.mark.browser
def test_unpacked_in_the_shader_in_chromium(converted: Converted, reference: dict[str, np.ndarray],
                                            browser: Any) -> None:
    out, x, enc = converted
    got = browser.run_model(str(out), x, ["webgpu"])
    assert got.backend == "webgpu"
    assert_matches(reference, got.outputs, f"webgpu {enc} in Chromium: ")
