"""webgl runtime lifecycle in headless Chromium: dispose() frees every GL object it made,
and a run after the context is lost (WEBGL_lose_context) fails with an error that says to
load the model again. The model runs on a canvas the page owns
(backendOptions.webgl.canvas), whose context the test instruments and loses."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import pytest
from onnx import helper

from tests.conftest import F32, make_model
from webdnn.browser.driver import HARNESS_HTML
from webdnn.browser.paths import runtime_dist
from webdnn.browser.server import StaticServer
from webdnn.convert import convert

# Counts live GL objects per kind on the page's own context, runs the model, disposes it,
# loads it again, loses the context and runs once more.
SCRIPT = """
async (x) => {
  const W = globalThis.__webdnn.WebDNN;
  const canvas = new OffscreenCanvas(1, 1);
  const gl = canvas.getContext("webgl2");
  const live = {};
  for (const kind of ["Texture", "Framebuffer", "Program", "Shader", "VertexArray"]) {
    live[kind] = new Set();
    const create = gl["create" + kind].bind(gl), del = gl["delete" + kind].bind(gl);
    gl["create" + kind] = (...a) => { const o = create(...a); live[kind].add(o); return o; };
    gl["delete" + kind] = (o) => { live[kind].delete(o); del(o); };
  }
  const counts = () => Object.fromEntries(Object.entries(live).map(([k, s]) => [k, s.size]));
  const opts = { backendOrder: ["webgl"], backendOptions: { webgl: { canvas } } };
  const input = { x: new Float32Array(x) };
  let r = await W.load("/model/", opts);
  const y1 = Array.from((await r.run(input)).y.data);
  const loaded = counts();
  r.dispose();
  const disposed = counts();
  r = await W.load("/model/", opts);
  const y2 = Array.from((await r.run(input)).y.data);
  gl.getExtension("WEBGL_lose_context").loseContext();
  await new Promise((res) => setTimeout(res, 50));
  let error = null;
  try { await r.run(input); } catch (e) { error = { name: e.name, message: e.message }; }
  r.dispose();  // after a loss: must not throw
  return { backend: r.backend, y1, y2, loaded, disposed, error, contextLost: gl.isContextLost() };
}
"""


@pytest.mark.browser
def test_dispose_frees_everything_and_context_loss_says_reload(browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    w = np.random.default_rng(3).standard_normal((4, 3, 3, 3)).astype(np.float32)
    model = make_model([helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
                        helper.make_node("Relu", ["c"], ["y"])], [("x", F32, [1, 3, 5, 6])], ["y"], {"w": w})
    out = os.path.join(tmp_path, "out")
    convert(model, out, ["webgl"])
    x = np.random.default_rng(4).standard_normal((1, 3, 5, 6)).astype(np.float32)
    with StaticServer({"/runtime/": runtime_dist(), "/model/": out}, isolate=True,
                      pages={"/harness.html": HARNESS_HTML}) as srv:
        page = browser.new_page()
        try:
            page.goto(srv.url + "/harness.html")
            page.wait_for_function("document.title === 'webdnn-harness-ready'", timeout=30_000)
            r: dict[str, Any] = page.evaluate(SCRIPT, x.ravel().tolist())
        finally:
            page.close()
    assert r["backend"] == "webgl"
    ref = np.maximum(0, _conv(x, w)).ravel()
    np.testing.assert_allclose(r["y1"], ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(r["y2"], ref, rtol=1e-4, atol=1e-4)
    # loaded: textures (x, w, y), a framebuffer, two programs (Conv+Relu fused: one), shaders, a VAO
    assert r["loaded"]["Texture"] >= 3 and r["loaded"]["Program"] >= 1 and r["loaded"]["Framebuffer"] >= 1
    assert r["loaded"]["Shader"] >= 2 and r["loaded"]["VertexArray"] == 1
    assert r["disposed"] == {"Texture": 0, "Framebuffer": 0, "Program": 0, "Shader": 0, "VertexArray": 0}
    assert r["contextLost"] is True
    assert r["error"] is not None, "a run after context loss must fail"
    assert r["error"]["name"] == "WebGLContextLostError"
    assert "context was lost" in r["error"]["message"] and "load the model again" in r["error"]["message"]


def _conv(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Plain numpy 3x3 convolution, pad 1 (the reference of the test model)."""
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    n, _, h, wd = x.shape
    y = np.zeros((n, w.shape[0], h, wd), np.float64)
    for i in range(3):
        for j in range(3):
            y += np.einsum("nchw,mc->nmhw", xp[:, :, i:i + h, j:j + wd], w[:, :, i, j])
    return y.astype(np.float32)


@pytest.mark.browser
def test_model_beyond_device_limits_falls_back_to_next_backend(browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A descriptor needing more render targets than the device has (here 16, edited in: WebGL2
    guarantees 4, SwiftShader has 8) makes createSession report the backend unavailable, so
    load() takes the next backend of backendOrder instead of failing."""
    w = np.random.default_rng(5).standard_normal((8, 3, 3, 3)).astype(np.float32)
    model = make_model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])],
                       [("x", F32, [1, 3, 5, 6])], ["y"], {"w": w})
    out = os.path.join(tmp_path, "out")
    convert(model, out, ["webgl", "fallback"])
    x = np.random.default_rng(6).standard_normal((1, 3, 5, 6)).astype(np.float32)
    ref = _conv(x, w)
    r = browser.run_model(out, {"x": x}, ["webgl", "fallback"])
    assert r.backend == "webgl"
    np.testing.assert_allclose(r.outputs["y"], ref, rtol=1e-4, atol=1e-4)

    path = os.path.join(out, "webgl", "descriptor.json")
    with open(path) as f:
        d = json.load(f)
    (k,) = [k for k in d["kernels"] if k["attrs"].get("targets") == 4]
    k["attrs"]["targets"] = 16
    d["webgl"]["textures"][k["attrs"]["textures"][-1]]["layers"] = 16  # one layer per target
    with open(path, "w") as f:
        json.dump(d, f)
    r = browser.run_model(out, {"x": x}, ["webgl", "fallback"])
    assert r.backend == "fallback"
    np.testing.assert_allclose(r.outputs["y"], ref, rtol=1e-4, atol=1e-4)
    with pytest.raises(Exception, match=r"webgl: a pass draws into 16 render targets, more than this device's"):
        browser.run_model(out, {"x": x}, ["webgl"])
