"""Inputs are copied (or uploaded) before run() returns its promise, on every backend.

runtime/test/input_copy_scenario.mjs calls run() and overwrites the input array at once, before
awaiting; issues runs back to back with one reused buffer. Each output must be the one of the data
the input held when run() was called (numpy reference), in Node (fallback, wasm, webgpu on Dawn
with SwiftShader) and in Chromium (every backend).
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import numpy as np
import pytest
from onnx import helper

from tests.conftest import F32, make_model
from webdnn.backends.webgpu.node import swiftshader_env
from webdnn.browser.paths import REPO_ROOT, runtime_dist
from webdnn.browser.server import StaticServer
from webdnn.convert import convert

BACKENDS = ["fallback", "wasm", "webgl", "webgpu"]
TEST_DIR = os.path.join(REPO_ROOT, "runtime", "test")
PAGE_JS = """
import * as WebDNN from "/runtime/webdnn.mjs";
import { scenario } from "/test/input_copy_scenario.mjs";
globalThis.go = (a) => scenario(WebDNN, "/model/", a.backend, {}, a.x);
document.title = "ready";
"""
PAGE_HTML = "<!doctype html><meta charset='utf-8'><script type='module' src='/t/page.mjs'></script>"


@pytest.fixture(scope="module")
def model(tmp_path_factory):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(11)
    w = rng.standard_normal((8, 16)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    m = make_model([helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1), helper.make_node("Relu", ["h"], ["y"])],
                   [("x", F32, [4, 16])], ["y"], {"w": w, "b": b})
    root = tmp_path_factory.mktemp("input_copy")
    convert(m, str(root / "m"), backends=BACKENDS)
    (root / "t").mkdir()
    (root / "t" / "page.mjs").write_text(PAGE_JS)
    x = rng.standard_normal((4, 16)).astype(np.float32)
    return str(root), x, lambda v: np.maximum(v @ w.T + b, 0)


def _check(r: dict[str, Any], backend: str, x: np.ndarray, f) -> None:  # type: ignore[no-untyped-def]
    assert r["backend"] == backend
    want = f(x)
    expected = {"idle": want, "dataDims": want, "first": want, "overwritten": f(np.full_like(x, -7)), "third": want}
    for case, ref in expected.items():
        got = np.array(r["outputs"][case], np.float32).reshape(ref.shape)
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5, err_msg=f"{backend}: {case}")


@pytest.mark.node
@pytest.mark.parametrize("backend", ["fallback", "wasm", "webgpu"])
def test_inputs_are_copied_at_call_time_in_node(model, backend: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    root, x, f = model
    runtime_dist()
    env = None
    if backend == "webgpu":
        env = swiftshader_env()
        if env is None:
            pytest.skip("no SwiftShader Vulkan driver (install chromium)")
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"model": os.path.join(root, "m"), "backend": backend, "x": x.ravel().tolist()}))
    p = subprocess.run(["node", os.path.join(TEST_DIR, "input_copy_node.mjs"), str(spec)], capture_output=True,
                       text=True, timeout=300, env={**os.environ, **env} if env else None)
    assert p.returncode == 0, p.stderr[-2000:]
    _check(json.loads(p.stdout.strip().splitlines()[-1]), backend, x, f)


@pytest.mark.browser
def test_inputs_are_copied_at_call_time_in_chromium(model, browser) -> None:  # type: ignore[no-untyped-def]
    root, x, f = model
    mounts = {"/runtime/": runtime_dist(), "/test/": TEST_DIR, "/model/": os.path.join(root, "m"),
              "/t/": os.path.join(root, "t")}
    with StaticServer(mounts, pages={"/p.html": PAGE_HTML}) as srv:
        page = browser.new_page()
        try:
            page.goto(srv.url + "/p.html")
            page.wait_for_function("document.title === 'ready'", timeout=30_000)
            for backend in BACKENDS:
                _check(page.evaluate("a => go(a)", {"backend": backend, "x": x.ravel().tolist()}), backend, x, f)
        finally:
            page.close()
