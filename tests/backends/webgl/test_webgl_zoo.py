"""Zoo models on the webgl backend in headless Chromium (SwiftShader) vs onnxruntime.

fp32 tolerance: |ours - ref| <= 1e-4 * max(1, |ref|). ResNet50 takes about a minute per
run on a software GPU: set WEBDNN_WEBGL_BIG=1 to include it.
"""

from __future__ import annotations

import os

import pytest

from tests.zoo_cases import assert_matches, prepare

MODELS = ["squeezenet1_1", "mobilenet_v2", "minilm"]
if os.environ.get("WEBDNN_WEBGL_BIG"):
    MODELS.append("resnet50")
BUILD_ARGS: dict[str, dict[str, int]] = {"minilm": {"layers": 2}}


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("name", MODELS)
def test_zoo_model_on_webgl(name: str, browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out, inputs, ref = prepare(name, str(tmp_path), ["webgl"], BUILD_ARGS.get(name))
    r = browser.run_model(out, inputs, ["webgl"])
    assert r.backend == "webgl"
    assert_matches(ref, r.outputs, f"{name}/")
