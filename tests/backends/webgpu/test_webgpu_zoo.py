"""Zoo models on the webgpu backend in headless Chromium (SwiftShader) vs onnxruntime.

fp32 tolerance: |ours - ref| <= 1e-4 * max(1, |ref|). SwiftShader emulates the GPU on
the CPU, so these take seconds to tens of seconds each; ResNet50 runs only with
WEBDNN_WEBGPU_BIG=1.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from webdnn import zoo
from webdnn.convert import convert
from webdnn.verify import compare, reference_outputs

MODELS = ["squeezenet1_1", "mobilenet_v2", "minilm"]
if os.environ.get("WEBDNN_WEBGPU_BIG"):
    MODELS.append("resnet50")
BUILD_ARGS: dict[str, dict[str, int]] = {"minilm": {"layers": 2}}


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("name", MODELS)
def test_zoo_model_on_webgpu(name: str, gpu_browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    model = zoo.build(name, **BUILD_ARGS.get(name, {}))
    inputs = zoo.default_inputs(name, model)
    out = os.path.join(tmp_path, "out")
    convert(model, out, ["webgpu"], {k: v.shape for k, v in inputs.items()})
    ref = reference_outputs(model, inputs)
    r = gpu_browser.run_model(out, inputs, ["webgpu"], repeat=2)
    assert r.backend == "webgpu"
    for k, want in ref.items():
        c = compare(k, want, r.outputs.get(k))
        assert c.ok, f"{name}/{k}: max abs err {c.max_abs_err:.3g} {c.detail}"
        assert np.all(np.isfinite(r.outputs[k]))
