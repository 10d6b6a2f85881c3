"""The wasm backend under the page's policies, in headless Chromium.

A backend that cannot start under a page's Content-Security-Policy is unavailable there: load()
goes on to the next one of backendOrder and `runner.backendInfo.skipped` says why. Where only the
worker threads cannot start (workers blocked, Trusted Types refusing the worker's script URL, no
cross-origin isolation) the wasm backend runs single-threaded and `backendInfo.threadsNote` says
why. Every variant must give the right outputs (numpy) and raise no CSP violation other than the
one its policy implies.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest
from onnx import helper

from tests.conftest import F32, make_model
from webdnn.browser.paths import runtime_dist
from webdnn.browser.server import STRICT_CSP, StaticServer
from webdnn.convert import convert

BASE = "default-src 'self'; worker-src 'self'; connect-src 'self'"
NO_WASM_EVAL = f"{BASE}; script-src 'self'"
TRUSTED_TYPES = f"{STRICT_CSP}; require-trusted-types-for 'script'"
TRUSTED_TYPES_NO_POLICY = f"{TRUSTED_TYPES}; trusted-types 'none'"
TRUSTED_TYPES_WEBDNN = f"{TRUSTED_TYPES}; trusted-types webdnn"
NO_WORKERS = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'none'; connect-src 'self'"

PAGE_JS = """
import * as WebDNN from "/runtime/webdnn.mjs";
const violations = [];
document.addEventListener("securitypolicyviolation",
  (e) => violations.push(`${e.effectiveDirective}: ${e.blockedURI}`));
globalThis.go = async ({ order, options, x }) => {
  const result = { violations };
  try {
    const runner = await WebDNN.load("/model/", { backendOrder: order, backendOptions: options });
    const out = await runner.run({ x: new Float32Array(x) });
    Object.assign(result, { backend: runner.backend, info: runner.backendInfo, y: Array.from(out.y.data) });
    runner.dispose();
  } catch (e) {
    result.error = `${e.name}: ${e.message}`;
  }
  await new Promise((r) => setTimeout(r, 200)); // violation events are dispatched asynchronously
  return { ...result, violations: [...violations], isolated: crossOriginIsolated };
};
document.title = "ready";
"""
PAGE_HTML = "<!doctype html><meta charset='utf-8'><script type='module' src='/t/page.mjs'></script>"


@pytest.fixture(scope="module")
def model(tmp_path_factory):  # type: ignore[no-untyped-def]
    """A Gemm + Relu model converted for wasm, webgl and fallback; its input and numpy's output."""
    rng = np.random.default_rng(7)
    w = rng.standard_normal((16, 32)).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    m = make_model([helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1), helper.make_node("Relu", ["h"], ["y"])],
                   [("x", F32, [4, 32])], ["y"], {"w": w, "b": b})
    root = tmp_path_factory.mktemp("policies")
    convert(m, str(root / "m"), backends=["wasm", "webgl", "fallback"])
    (root / "t").mkdir()
    (root / "t" / "page.mjs").write_text(PAGE_JS)
    x = rng.standard_normal((4, 32)).astype(np.float32)
    return str(root), x, np.maximum(x @ w.T + b, 0)


def _run(browser, model, csp: str | None, order: list[str], isolate: bool = True,  # type: ignore[no-untyped-def]
         options: dict[str, Any] | None = None) -> dict[str, Any]:
    root, x, ref = model
    mounts = {"/runtime/": runtime_dist(), "/model/": os.path.join(root, "m"), "/t/": os.path.join(root, "t")}
    with StaticServer(mounts, csp=csp, isolate=isolate, pages={"/p.html": PAGE_HTML}) as srv:
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            page.goto(srv.url + "/p.html")
            page.wait_for_function("document.title === 'ready'", timeout=30_000)
            r: dict[str, Any] = page.evaluate("a => go(a)", {"order": order, "options": options or {},
                                                             "x": x.ravel().tolist()})
        finally:
            page.close()
    assert not errors, errors
    assert "error" not in r, r["error"]
    np.testing.assert_allclose(np.array(r["y"], np.float32).reshape(ref.shape), ref, rtol=1e-5, atol=1e-5)
    return r


THREADS = {"wasm": {"threads": 2}}


@pytest.mark.browser
def test_strict_csp_with_wasm_unsafe_eval_runs_wasm_threads(browser, model) -> None:  # type: ignore[no-untyped-def]
    r = _run(browser, model, STRICT_CSP, ["wasm", "fallback"], options=THREADS)
    assert r["isolated"]
    assert r["backend"] == "wasm"
    assert r["info"]["threads"] == 2 and "threadsNote" not in r["info"]
    assert r["info"]["skipped"] == []
    assert r["violations"] == []


@pytest.mark.browser
def test_csp_without_wasm_unsafe_eval_skips_wasm_with_the_reason(browser, model) -> None:  # type: ignore[no-untyped-def]
    for order, taken in ((["wasm", "webgl", "fallback"], "webgl"), (["wasm", "fallback"], "fallback")):
        r = _run(browser, model, NO_WASM_EVAL, order, options=THREADS)
        assert r["backend"] == taken
        (skip,) = r["info"]["skipped"]
        assert skip["backend"] == "wasm"
        assert "Content-Security-Policy" in skip["reason"] and "'wasm-unsafe-eval'" in skip["reason"]
        # only the availability probe's compile is refused: no kernel file, no weights of wasm fetched
        assert r["violations"] == ["script-src: wasm-eval"]


@pytest.mark.browser
def test_trusted_types_keep_threads_through_the_webdnn_policy(browser, model) -> None:  # type: ignore[no-untyped-def]
    for csp in (TRUSTED_TYPES, TRUSTED_TYPES_WEBDNN):
        r = _run(browser, model, csp, ["wasm", "fallback"], options=THREADS)
        assert r["backend"] == "wasm"
        assert r["info"]["threads"] == 2 and "threadsNote" not in r["info"], r["info"]
        assert r["violations"] == []


@pytest.mark.browser
def test_trusted_types_without_the_policy_run_single_threaded(browser, model) -> None:  # type: ignore[no-untyped-def]
    r = _run(browser, model, TRUSTED_TYPES_NO_POLICY, ["wasm", "fallback"], options=THREADS)
    assert r["backend"] == "wasm"
    assert r["info"]["threads"] == 1
    note = r["info"]["threadsNote"]
    assert note.startswith("single-threaded: the worker threads could not start")
    assert "Trusted Types" in note and "'webdnn'" in note
    assert r["violations"]
    assert all(v.startswith(("trusted-types", "require-trusted-types-for")) for v in r["violations"]), r["violations"]


@pytest.mark.browser
def test_blocked_workers_run_single_threaded(browser, model) -> None:  # type: ignore[no-untyped-def]
    r = _run(browser, model, NO_WORKERS, ["wasm", "fallback"], options=THREADS)
    assert r["backend"] == "wasm"
    assert r["info"]["threads"] == 1
    assert "Content-Security-Policy (worker-src) blocks the worker script" in r["info"]["threadsNote"]
    (violation,) = r["violations"]
    assert violation.startswith("worker-src: ") and violation.endswith("/runtime/webdnn-wasm-worker.js")


@pytest.mark.browser
def test_no_cross_origin_isolation_runs_single_threaded(browser, model) -> None:  # type: ignore[no-untyped-def]
    r = _run(browser, model, STRICT_CSP, ["wasm", "fallback"], isolate=False, options=THREADS)
    assert not r["isolated"]
    assert r["backend"] == "wasm"
    assert r["info"]["threads"] == 1
    assert "cross-origin isolated" in r["info"]["threadsNote"]
    assert r["violations"] == []
