"""Zoo models on the webgpu backend in headless Chromium (SwiftShader) vs onnxruntime.

fp32 tolerance: |ours - ref| <= 1e-4 * max(1, |ref|). SwiftShader emulates the GPU on
the CPU, so these take seconds to tens of seconds each; ResNet50 runs only with
WEBDNN_WEBGPU_BIG=1.
"""

from __future__ import annotations

import os

import pytest

from tests.zoo_cases import assert_matches, prepare

MODELS = ["squeezenet1_1", "mobilenet_v2", "minilm"]
if os.environ.get("WEBDNN_WEBGPU_BIG"):
    MODELS.append("resnet50")
BUILD_ARGS: dict[str, dict[str, int]] = {"minilm": {"layers": 2}}


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("name", MODELS)
def test_zoo_model_on_webgpu(name: str, gpu_browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out, inputs, ref = prepare(name, str(tmp_path), ["webgpu"], BUILD_ARGS.get(name))
    r = gpu_browser.run_model(out, inputs, ["webgpu"], repeat=2)
    assert r.backend == "webgpu"
    assert_matches(ref, r.outputs, f"{name}/")
