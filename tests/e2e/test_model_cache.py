"""load(url, {cache}) in headless Chromium: what a page gets from the model cache when the model at that URL stays,
is converted again, or the network is gone.

A page loads a small model (Gemm + Relu, converted for wasm and fallback) with the cache option and runs it:
- the second visit reads the model from the cache: the only model request is the manifest's revalidation, answered
  304 with no body (zero model bytes from the network);
- the model converted again at the same URL (other weights, same shapes and file names): the next visit runs the
  new weights (numpy reference) and caches them; before the manifest was revalidated it ran the old ones forever;
- offline (the browser context's network cut), the cached model still loads and runs on fallback; on wasm the
  load fails on the runtime's own kernel file, and the cached model is not evicted for it;
- a side file read with WebDNN.fetchCached (labels, a vocabulary) follows the new version too, and offline comes
  from the cache.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from onnx import helper

from tests.conftest import F32, make_model
from webdnn.browser.paths import runtime_dist
from webdnn.browser.server import StaticServer
from webdnn.convert import convert

PAGE_HTML = "<!doctype html><meta charset='utf-8'><script type='module' src='/t/page.mjs'></script>"
PAGE_JS = """
import * as WebDNN from "/runtime/webdnn.mjs";
globalThis.go = async ({ backend, x }) => {
  const runner = await WebDNN.load("/model/", { backendOrder: [backend], cache: "test-models" });
  const { y } = await runner.run({ x: new Float32Array(x) });
  runner.dispose();
  const side = await (await WebDNN.fetchCached("/side/labels.json", "test-models")).json();
  return { y: Array.from(y.data), side };
};
document.title = "ready";
"""
X = np.random.default_rng(5).standard_normal((2, 6)).astype(np.float32)


def _write_model(root: Path, seed: int) -> Callable[[np.ndarray], np.ndarray]:
    """Convert a Gemm + Relu with weights of `seed` into root/model (replacing what is there) and write a side file
    root/side/labels.json; returns the numpy reference."""
    rng = np.random.default_rng(seed)
    w, b = rng.standard_normal((4, 6)).astype(np.float32), rng.standard_normal(4).astype(np.float32)
    m = make_model([helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1), helper.make_node("Relu", ["h"], ["y"])],
                   [("x", F32, [2, 6])], ["y"], {"w": w, "b": b})
    convert(m, str(root / "model"), backends=["wasm", "fallback"])
    (root / "side").mkdir(exist_ok=True)
    (root / "side" / "labels.json").write_text(f'["version {seed}"]\n')
    return lambda x: np.maximum(x @ w.T + b, 0)


def _visit(browser: Any, srv: StaticServer, backend: str, offline: bool = False) -> dict[str, Any]:
    page = browser.new_page()
    try:
        page.goto(srv.url + "/p.html")
        page.wait_for_function("document.title === 'ready'", timeout=30_000)
        srv.requests.clear()
        if offline:
            page.context.set_offline(True)
        try:
            return dict(page.evaluate("a => go(a)", {"backend": backend, "x": X.ravel().tolist()}))
        finally:
            page.context.set_offline(False)
    finally:
        page.close()


def _model_bytes(srv: StaticServer) -> int:
    return sum(n for _, p, n in srv.requests if p.startswith(("/model/", "/side/")))


@pytest.mark.browser
@pytest.mark.parametrize("backend", ["wasm", "fallback"])
def test_cached_model_follows_a_new_conversion_and_loads_offline(backend: str, tmp_path: Path, browser: Any) -> None:
    first = _write_model(tmp_path, 1)
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "page.mjs").write_text(PAGE_JS)
    mounts = {"/runtime/": runtime_dist(), "/model/": str(tmp_path / "model"), "/side/": str(tmp_path / "side"),
              "/t/": str(tmp_path / "t")}
    with StaticServer(mounts, pages={"/p.html": PAGE_HTML}, log_requests=True) as srv:
        r = _visit(browser, srv, backend)
        np.testing.assert_allclose(np.reshape(r["y"], (2, 4)), first(X), rtol=1e-5, atol=1e-5)
        assert r["side"] == ["version 1"] and _model_bytes(srv) > 0

        # the same model: only the manifest (and the side file) revalidated, no body
        r = _visit(browser, srv, backend)
        np.testing.assert_allclose(np.reshape(r["y"], (2, 4)), first(X), rtol=1e-5, atol=1e-5)
        assert _model_bytes(srv) == 0, srv.requests
        assert {p for _, p, _ in srv.requests if p.startswith(("/model/", "/side/"))} == \
            {"/model/manifest.json", "/side/labels.json"}

        # converted again at the same URL: the new weights run, then are the cached ones
        second = _write_model(tmp_path, 2)
        assert not np.allclose(first(X), second(X))
        r = _visit(browser, srv, backend)
        np.testing.assert_allclose(np.reshape(r["y"], (2, 4)), second(X), rtol=1e-5, atol=1e-5)
        assert r["side"] == ["version 2"]
        assert any(p.endswith(".bin") and n > 0 for _, p, n in srv.requests), "the new weights were not downloaded"
        r = _visit(browser, srv, backend)
        np.testing.assert_allclose(np.reshape(r["y"], (2, 4)), second(X), rtol=1e-5, atol=1e-5)
        assert _model_bytes(srv) == 0, srv.requests

        # offline (the browser context's network cut): the fallback backend needs nothing but the model, which
        # loads from the cache; the wasm backend also fetches its kernels (the app's to cache, e.g. a service
        # worker), so it fails with that said, and the cached model is kept for the next visit
        if backend == "fallback":
            r = _visit(browser, srv, backend, offline=True)
            np.testing.assert_allclose(np.reshape(r["y"], (2, 4)), second(X), rtol=1e-5, atol=1e-5)
            assert r["side"] == ["version 2"]
        else:
            with pytest.raises(Exception, match="kernels"):
                _visit(browser, srv, backend, offline=True)
        assert srv.requests == []
        r = _visit(browser, srv, backend)
        np.testing.assert_allclose(np.reshape(r["y"], (2, 4)), second(X), rtol=1e-5, atol=1e-5)
        assert _model_bytes(srv) == 0, srv.requests
