"""Every zoo model on the fallback backend, in headless Chromium and in Node, vs onnxruntime.

fp32 tolerance: |ours - ref| <= 1e-4 * max(1, |ref|) elementwise.
"""

from __future__ import annotations

import pytest

from tests.zoo_cases import Prepared, assert_matches, prepare

MODELS = ["squeezenet1_1", "mobilenet_v2", "resnet50", "inception_v3", "vgg16", "minilm", "hed"]
# HED at 160x240 instead of its 320x480 default: the same graph at a quarter of the work.
BUILD_ARGS: dict[str, dict[str, int]] = {"hed": {"height": 160, "width": 240}}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):  # type: ignore[no-untyped-def]
    cache: dict[str, Prepared] = {}

    def get(name: str) -> Prepared:
        if name not in cache:
            cache[name] = prepare(name, str(tmp_path_factory.mktemp(name)), ["fallback"], BUILD_ARGS.get(name))
        return cache[name]

    return get


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("name", MODELS)
def test_zoo_model_in_chromium(name: str, converted, browser) -> None:  # type: ignore[no-untyped-def]
    out, inputs, ref = converted(name)
    r = browser.run_model(out, inputs, ["fallback"])
    assert r.backend == "fallback"
    assert_matches(ref, r.outputs)


@pytest.mark.slow
@pytest.mark.node
@pytest.mark.parametrize("name", MODELS)
def test_zoo_model_in_node(name: str, converted) -> None:  # type: ignore[no-untyped-def]
    from webdnn.browser.node import run_model_node

    out, inputs, ref = converted(name)
    assert_matches(ref, run_model_node(out, inputs).outputs)
