"""Every zoo model on the webgpu backend in headless Chromium (SwiftShader) vs onnxruntime.

fp32 tolerance: |ours - ref| <= 1e-4 * max(1, |ref|). SwiftShader emulates the GPU on the
CPU: measured on a 2-core machine, one run takes about 1 s (SqueezeNet, MobileNetV2, MiniLM
2 layers), 13 s (HED at 64x96), 23 s (ResNet50), 26 s (Inception-v3) and 87 s (VGG16), so
the big ones run once and the small ones twice (the second run reuses the arena).
"""

from __future__ import annotations

import pytest

from tests.zoo_cases import assert_matches, prepare

SMALL = ["squeezenet1_1", "mobilenet_v2", "minilm"]
BIG = ["hed", "resnet50", "inception_v3", "vgg16"]
BUILD_ARGS: dict[str, dict[str, int]] = {"minilm": {"layers": 2}, "hed": {"height": 64, "width": 96}}


# The biggest models take minutes each on a software GPU: `make test` runs them, `make test-quick` does not.
HEAVY = {"vgg16"}
CASES = [pytest.param(n, marks=pytest.mark.software_gpu_heavy) if n in HEAVY else n for n in SMALL + BIG]


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("name", CASES)
def test_zoo_model_on_webgpu(name: str, gpu_browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out, inputs, ref = prepare(name, str(tmp_path), ["webgpu"], BUILD_ARGS.get(name))
    r = gpu_browser.run_model(out, inputs, ["webgpu"], repeat=0 if name in BIG else 1)
    assert r.backend == "webgpu"
    assert_matches(ref, r.outputs, f"{name}/")
