"""The wasm backend's IIFE build (the `<script>` tag runtime, no import.meta) under a strict CSP.
(The zoo models on wasm are in test_zoo_matrix.py.)"""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests.zoo_cases import assert_matches
from webdnn.convert import convert
from webdnn.verify import reference_outputs


@pytest.mark.browser
def test_wasm_script_tag_build_under_strict_csp(tmp_path, browser) -> None:  # type: ignore[no-untyped-def]
    """The IIFE build (no import.meta) finds webdnn-kernels.wasm next to its script, under a strict CSP."""
    from onnx import helper

    from tests.conftest import F32, make_model
    from webdnn.browser.paths import runtime_dist
    from webdnn.browser.server import STRICT_CSP, StaticServer

    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    model = make_model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], [("x", F32, [1, 3, 5, 5])],
                       ["y"], {"w": w})
    x = rng.standard_normal((1, 3, 5, 5)).astype(np.float32)
    out = os.path.join(tmp_path, "out")
    convert(model, out, ["wasm"], {"x": x.shape})
    ref = reference_outputs(model, {"x": x})["y"]
    page_html = "<!doctype html><script src='/runtime/webdnn.js'></script><script src='/page/page.js'></script>"
    page_js = (
        "window.go = async (x) => { const r = await WebDNN.load('/model/', {backendOrder: ['wasm']});"
        " const o = await r.run({x: new Float32Array(x)}); return {backend: r.backend, y: Array.from(o.y.data)}; };"
    )
    page_dir = os.path.join(tmp_path, "page")
    os.makedirs(page_dir)
    with open(os.path.join(page_dir, "page.js"), "w") as f:
        f.write(page_js)
    mounts = {"/runtime/": runtime_dist(), "/model/": out, "/page/": page_dir}
    with StaticServer(mounts, csp=STRICT_CSP, pages={"/p.html": page_html}) as srv:
        page = browser.new_page()
        try:
            page.goto(srv.url + "/p.html")
            r = page.evaluate("x => window.go(x)", x.reshape(-1).tolist())
        finally:
            page.close()
    assert r["backend"] == "wasm"
    got = np.array(r["y"], np.float32).reshape(ref.shape)
    assert_matches({"y": ref}, {"y": got})
