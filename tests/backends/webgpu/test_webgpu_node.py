"""The webgpu backend in Node through the npm `webgpu` package (Dawn) on Chromium's SwiftShader
Vulkan driver (runtime/tools/run-node.mjs injects it as backendOptions.webgpu.gpu), vs onnxruntime:
a zoo model, and the bool, Pad, Conv, ConvTranspose and pooling kernels."""

from __future__ import annotations

import os

import pytest

from tests.backends.webgpu.test_webgpu_kernels import FAMILIES, OPSETS, family
from tests.zoo_cases import assert_matches, prepare
from webdnn.backends.webgpu.node import swiftshader_env
from webdnn.browser.node import run_model_node
from webdnn.browser.paths import REPO_ROOT
from webdnn.convert import convert
from webdnn.verify import reference_outputs

ENV = swiftshader_env()
pytestmark = pytest.mark.skipif(
    ENV is None or not os.path.isdir(os.path.join(REPO_ROOT, "runtime", "node_modules", "webgpu")),
    reason="needs Chromium's SwiftShader ICD (apt-get install chromium) and runtime/node_modules/webgpu (npm ci)",
)


@pytest.mark.slow
def test_zoo_model_on_webgpu_in_node(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # MiniLM (2 layers): ~15 s; the CNNs take a minute here, mostly Dawn compiling pipelines on SwiftShader
    name = "minilm"
    out, inputs, ref = prepare(name, str(tmp_path), ["webgpu"], {"layers": 2})
    r = run_model_node(out, inputs, ["webgpu"], repeat=1, env=ENV)
    assert r.backend == "webgpu"
    assert_matches(ref, r.outputs, f"node/{name}/")


def test_kernels_in_node(tmp_path) -> None:  # type: ignore[no-untyped-def]
    fams = ("logic", "pad", "conv", "conv_transpose", "pool")
    model, inputs = family({k: v for f in fams for k, v in FAMILIES[f]().items()}, opset=OPSETS["pad"])
    convert(model, tmp_path / "out", ["webgpu"])
    r = run_model_node(str(tmp_path / "out"), inputs, ["webgpu"], env=ENV)
    assert r.backend == "webgpu"
    assert_matches(reference_outputs(model, inputs), r.outputs, "node/")
