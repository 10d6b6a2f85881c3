"""CNNs quantized by onnxruntime's own static quantizer, in both of its formats: QOperator (QLinearConv,
com.microsoft QLinearConcat / QLinearAdd / QLinearGlobalAveragePool / QGemm, MaxPool on uint8) and QDQ
(QuantizeLinear/DequantizeLinear pairs around float ops), converted and run on every backend against
onnxruntime on the same quantized file.

Tolerance: the outputs are dequantized 8-bit values, so they lie on a grid of the output scale. Two
correct integer realizations differ wherever an intermediate value lands within float rounding of a
tie (x.5 steps): onnxruntime computes QLinearAdd and the QDQ-fused kernels with its own float/fixed-point
order, WebDNN as the ONNX reference does (dequantize, float op, divide, round half to even), and the
wasm backend's Winograd convolutions and WebGL's division round differently again. One flipped
activation early in the net moves what it feeds by a step, so a whole net's outputs differ by a few
steps; onnxruntime differs from itself by 2 steps on MobileNetV2 between its optimized and unoptimized
graphs. Bound: every output within 3 steps of onnxruntime's and a cosine similarity >= 0.999.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

from tests.shared_page import shared_page
from webdnn import zoo
from webdnn.browser.node import run_model_node
from webdnn.convert import convert
from webdnn.verify import reference_outputs

pytest.importorskip("onnxruntime.quantization")

# QOperator: squeezenet's QLinearConcat, uint8 MaxPool, QLinearGlobalAveragePool; mobilenet_v2's QLinearAdd, QGemm
MODELS = ["squeezenet1_1", "mobilenet_v2"]
FORMATS = ["QOperator", "QDQ"]


def _quantized(tmp: Path, name: str, fmt: str) -> tuple[Path, str, np.ndarray]:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    model = zoo.build(name, seed=0, opset=17)
    fp32 = tmp / f"{name}.onnx"
    zoo.save(model, str(fp32))
    x_name = model.graph.input[0].name
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    rng = np.random.default_rng(0)

    class Calibration(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{x_name: rng.standard_normal(shape).astype(np.float32)} for _ in range(4)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    path = tmp / f"{name}-{fmt}.onnx"
    quantize_static(str(fp32), str(path), Calibration(), quant_format=getattr(QuantFormat, fmt),
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True)
    return path, x_name, rng.standard_normal(shape).astype(np.float32)


def _check(want: np.ndarray, got: np.ndarray, where: str) -> None:
    grid = np.diff(np.unique(want))
    step = float(grid.min()) if grid.size else 1.0  # the output scale: dequantized values lie on its grid
    err = float(np.abs(got - want).max())
    cos = float(np.dot(got.ravel(), want.ravel()) / (np.linalg.norm(got) * np.linalg.norm(want)))
    assert err <= 3 * step + 1e-6 and cos >= 0.999, f"{where}: err {err:.4g} ({err / step:.2f} steps), cos {cos}"


@pytest.fixture(scope="module", params=[(m, f) for m in MODELS for f in FORMATS], ids=lambda p: f"{p[0]}-{p[1]}")
def quantized(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    name, fmt = request.param
    tmp = tmp_path_factory.mktemp(f"{name}-{fmt}")
    path, x_name, x = _quantized(tmp, name, fmt)
    ops = {(n.domain or "ai.onnx", n.op_type) for n in onnx.load(str(path)).graph.node}
    out = tmp / "out"
    convert(str(path), out, ["fallback", "wasm", "webgl", "webgpu"])
    yield {"name": f"{name} {fmt}", "out": str(out), "feeds": {x_name: x}, "ops": ops,
           "ref": reference_outputs(str(path), {x_name: x})}
    shutil.rmtree(tmp, ignore_errors=True)  # one model's files at a time on disk


def test_the_quantizer_wrote_the_ops_under_test(quantized: dict[str, Any]) -> None:
    ops = quantized["ops"]
    if quantized["name"].endswith("QOperator"):
        squeeze = quantized["name"].startswith("squeezenet")
        want = {("com.microsoft", op) for op in (("QLinearConcat", "QLinearGlobalAveragePool") if squeeze
                                                 else ("QLinearAdd", "QGemm"))}
        assert want <= ops and ("ai.onnx", "QLinearConv") in ops, ops
    else:
        assert {("ai.onnx", "QuantizeLinear"), ("ai.onnx", "DequantizeLinear")} <= ops, ops


@pytest.mark.node
@pytest.mark.parametrize("backend", ["fallback", "wasm"])
def test_quantized_cnn_in_node(quantized: dict[str, Any], backend: str) -> None:
    r = run_model_node(quantized["out"], quantized["feeds"], [backend])
    for k, want in quantized["ref"].items():
        _check(want, r.outputs[k], f"{quantized['name']} on {backend} in Node")


@pytest.fixture(scope="module")
def page(browser: Any) -> Iterator[Any]:
    """One harness page for the module's 24 runs (tests/shared_page.py): a page of its own cost each 0.6 s more."""
    with shared_page(browser) as p:
        yield p


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("backend", ["fallback", "wasm", "webgl", "webgpu"])
def test_quantized_cnn_in_chromium(quantized: dict[str, Any], backend: str, page: Any) -> None:
    r = page.run_model(quantized["out"], quantized["feeds"], [backend])
    assert r.backend == backend
    for k, want in quantized["ref"].items():
        _check(want, r.outputs[k], f"{quantized['name']} on {backend} in Chromium")


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("act", ["relu", "clip"])
def test_kept_activation_on_every_backend(tmp_path: Path, act: str, page: Any) -> None:
    """A Relu / Clip kept between a QDQ Conv and its QuantizeLinear (fuse_qdq: a Clip of the 8-bit result): the
    wasm convolution applies it in its requantization, the GPU backends clamp in float32 between Casts."""
    from tests.backends.wasm.test_wasm_quantized import _qdq_block

    model, feeds = _qdq_block(act)
    convert(model, tmp_path / "m", ["fallback", "wasm", "webgl", "webgpu"])
    want = reference_outputs(model, feeds)["y"]
    for backend in ("fallback", "wasm", "webgl", "webgpu"):
        r = page.run_model(str(tmp_path / "m"), feeds, [backend])
        assert r.backend == backend
        _check(want, r.outputs["y"], f"QDQ block with a {act} on {backend}")
