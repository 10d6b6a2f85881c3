"""Zoo models on the webgl backend in headless Chromium (SwiftShader) vs onnxruntime.

fp32 tolerance: |ours - ref| <= 1e-4 * max(1, |ref|). ResNet50 takes about a minute per
run on a software GPU: set WEBDNN_WEBGL_BIG=1 to include it.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from webdnn import zoo
from webdnn.convert import convert
from webdnn.verify import compare, reference_outputs

MODELS = ["squeezenet1_1", "mobilenet_v2", "minilm"]
if os.environ.get("WEBDNN_WEBGL_BIG"):
    MODELS.append("resnet50")
BUILD_ARGS: dict[str, dict[str, int]] = {"minilm": {"layers": 2}}


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("name", MODELS)
def test_zoo_model_on_webgl(name: str, browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    model = zoo.build(name, **BUILD_ARGS.get(name, {}))
    inputs = zoo.default_inputs(name, model)
    out = os.path.join(tmp_path, "out")
    convert(model, out, ["webgl"], {k: v.shape for k, v in inputs.items()})
    ref = reference_outputs(model, inputs)
    r = browser.run_model(out, inputs, ["webgl"])
    assert r.backend == "webgl"
    for k, want in ref.items():
        c = compare(k, want, r.outputs.get(k))
        assert c.ok, f"{name}/{k}: max abs err {c.max_abs_err:.3g} {c.detail}"
        assert np.all(np.isfinite(r.outputs[k]))
