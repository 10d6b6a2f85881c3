"""Every zoo model on the fallback backend, in headless Chromium and in Node, vs onnxruntime.

fp32 tolerance: |ours - ref| <= 1e-4 * max(1, |ref|) elementwise.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from webdnn import zoo
from webdnn.convert import convert
from webdnn.verify import compare, reference_outputs

MODELS = ["squeezenet1_1", "mobilenet_v2", "resnet50", "inception_v3", "vgg16", "minilm", "hed"]
# HED at 160x240 instead of its 320x480 default: the same graph at a quarter of the work.
BUILD_ARGS: dict[str, dict[str, int]] = {"hed": {"height": 160, "width": 240}}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):  # type: ignore[no-untyped-def]
    cache: dict[str, tuple[str, dict[str, np.ndarray], dict[str, np.ndarray]]] = {}

    def get(name: str) -> tuple[str, dict[str, np.ndarray], dict[str, np.ndarray]]:
        if name not in cache:
            d = tmp_path_factory.mktemp(name)
            model = zoo.build(name, **BUILD_ARGS.get(name, {}))
            path = os.path.join(d, f"{name}.onnx")
            zoo.save(model, path)
            inputs = zoo.default_inputs(name, model)
            shapes = {k: v.shape for k, v in inputs.items()}
            convert(path, os.path.join(d, "out"), ["fallback"], shapes)
            cache[name] = (os.path.join(d, "out"), inputs, reference_outputs(path, inputs))
        return cache[name]

    return get


def _check(ref: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> None:
    for name, want in ref.items():
        c = compare(name, want, got.get(name))
        assert c.ok, f"{name}: max abs err {c.max_abs_err:.3g} {c.detail}"


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("name", MODELS)
def test_zoo_model_in_chromium(name: str, converted, browser) -> None:  # type: ignore[no-untyped-def]
    out, inputs, ref = converted(name)
    r = browser.run_model(out, inputs, ["fallback"])
    assert r.backend == "fallback"
    _check(ref, r.outputs)


@pytest.mark.slow
@pytest.mark.node
@pytest.mark.parametrize("name", MODELS)
def test_zoo_model_in_node(name: str, converted) -> None:  # type: ignore[no-untyped-def]
    from webdnn.browser.node import run_model_node

    out, inputs, ref = converted(name)
    _check(ref, run_model_node(out, inputs).outputs)
