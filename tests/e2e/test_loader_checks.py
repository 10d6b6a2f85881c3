"""load() checks what it can before downloading a backend's weights (Node, webgpu on Dawn/SwiftShader).

A webgpu model beyond the adapter's maxBufferSize is found to be so from its descriptor alone: the
weights are never fetched (here they do not even exist), webgpu is skipped with the sizes and the
limit in backendInfo.skipped, and the next backend of backendOrder runs the model.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from onnx import helper

from tests.conftest import F32, make_model
from webdnn.backends.webgpu.node import swiftshader_env
from webdnn.convert import convert

HUGE_ARENA = 2**45  # past any adapter's maxBufferSize, yet a safe integer


@pytest.mark.node
def test_webgpu_limits_are_checked_before_the_weights_are_downloaded(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from webdnn.browser.node import run_model_node

    env = swiftshader_env()
    if env is None:
        pytest.skip("no SwiftShader Vulkan driver (install chromium)")
    rng = np.random.default_rng(5)
    w = rng.standard_normal((4, 8)).astype(np.float32)
    m = make_model([helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"])],
                   [("x", F32, [2, 4])], ["y"], {"w": w})
    out = tmp_path / "m"
    convert(m, str(out), backends=["webgpu", "fallback"])
    p = out / "webgpu" / "descriptor.json"
    desc = json.loads(p.read_text())
    desc["arena"]["byteLength"] = HUGE_ARENA
    p.write_text(json.dumps(desc))
    for f in desc["weights"]["files"]:
        os.remove(out / "webgpu" / f["path"])  # fetching them would fail the load with a LoadError
    x = rng.standard_normal((2, 4)).astype(np.float32)
    r = run_model_node(str(out), {"x": x}, ["webgpu", "fallback"], env=env)
    assert r.backend == "fallback"
    (skip,) = r.backend_info["skipped"]
    assert skip["backend"] == "webgpu"
    assert f"{HUGE_ARENA} bytes" in skip["reason"] and "maxBufferSize" in skip["reason"]
    np.testing.assert_allclose(r.outputs["y"], np.maximum(x @ w, 0), rtol=1e-5, atol=1e-6)
