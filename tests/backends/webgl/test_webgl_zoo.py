"""Every zoo model on the webgl backend in headless Chromium (SwiftShader) vs onnxruntime.

fp32 tolerance: |ours - ref| <= 1e-4 * max(1, |ref|). SwiftShader emulates the GPU on the
CPU, so the big models run once (their time is mostly the run itself); HED runs at 64x96
and MiniLM with 2 layers, like the other backends' zoo tests.
"""

from __future__ import annotations

import pytest

from tests.zoo_cases import assert_matches, prepare

SMALL = ["squeezenet1_1", "mobilenet_v2", "minilm"]
BIG = ["hed", "resnet50", "inception_v3", "vgg16"]
BUILD_ARGS: dict[str, dict[str, int]] = {"minilm": {"layers": 2}, "hed": {"height": 64, "width": 96}}


# The biggest models take minutes each on a software GPU: `make test` runs them, `make test-quick` does not.
HEAVY = {"inception_v3", "vgg16"}
CASES = [pytest.param(n, marks=pytest.mark.software_gpu_heavy) if n in HEAVY else n for n in SMALL + BIG]


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("name", CASES)
def test_zoo_model_on_webgl(name: str, browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out, inputs, ref = prepare(name, str(tmp_path), ["webgl"], BUILD_ARGS.get(name))
    r = browser.run_model(out, inputs, ["webgl"], repeat=0 if name in BIG else 1)
    assert r.backend == "webgl"
    assert_matches(ref, r.outputs, f"{name}/")
