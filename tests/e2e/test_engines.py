"""Every browser engine, not only Chromium: Firefox (Gecko, Debian's firefox-esr over WebDriver BiDi) and
WebKit (WebKitGTK's MiniBrowser over WebDriver), each on a private Xvfb display, run SqueezeNet, MobileNetV2
and MiniLM on every backend the engine offers and the rest of the zoo on wasm and fallback, against onnxruntime
with the fp32 rule.

What each engine offers here (measured, and asserted so that a change either way is noticed):
- Firefox 153 ESR: fallback; wasm with relaxed SIMD and 2 threads; WebGL2 (Mesa llvmpipe on the display);
  WebGPU on a software fallback adapter.
- WebKitGTK 2.50: fallback; wasm with SIMD128 single-threaded (the page is cross-origin isolated and makes
  shared memories, but WebKitGTK cannot post them to a worker: the runtime detects that and says so);
  WebGL2 on a document canvas (not on OffscreenCanvas); no WebGPU.
An engine that is not installed is skipped with the reason (`make setup` installs both).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.zoo_cases import BACKEND_RUNS, BIG_MODELS, Conversions, Prepared, assert_matches
from webdnn.errors import WebDNNError

pytestmark = [pytest.mark.slow, pytest.mark.browser]

BACKENDS = ["fallback", "wasm", "webgl", "webgpu"]
UNAVAILABLE = {("webkit", "webgpu"): "navigator.gpu is missing"}
MODELS = ["squeezenet1_1", "mobilenet_v2", "minilm"]


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Any:
    conversions = Conversions(tmp_path_factory, keep=len(MODELS))

    def get(name: str) -> Prepared:
        return conversions.get(name, name, BACKENDS)

    yield get
    conversions.close()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", MODELS)
def test_zoo_model_on_every_backend(engine: Any, converted: Any, name: str, backend: str) -> None:
    out, inputs, ref = converted(name)
    why = UNAVAILABLE.get((engine.engine, backend))
    if why:  # the runtime must say so, and which backend and why
        with pytest.raises(WebDNNError, match=f"{backend}: .*{why}"):
            engine.run_model(out, inputs, [backend])
        return
    r = engine.run_model(out, inputs, [backend], repeat=2)
    assert r.backend == backend
    assert_matches(ref, r.outputs, f"{name} on {backend} in {engine.version}: ")
    if backend == "wasm":
        info = r.backend_info
        if engine.engine == "webkit":
            assert info["threads"] == 1 and "cannot send a shared WebAssembly.Memory" in info["threadsNote"], info
        else:
            assert info["threads"] == 2 and info["simd"] == "relaxed", info


@pytest.fixture(scope="module")
def converted_for_cpu(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Kept for both engines (about 1.6 GB, VGG16 most of it): converting twice would cost minutes. At the sizes
    the CPU backends run them at in test_zoo_matrix.py (HED at 160x240: the same graph at a quarter of the work of
    its 320x480 default, which took 80 s a run on fallback here)."""
    conversions = Conversions(tmp_path_factory, keep=len(BIG_MODELS))

    def get(name: str) -> Prepared:
        return conversions.get(name, name, ["fallback", "wasm"], BACKEND_RUNS["fallback"].build_args.get(name))

    yield get
    conversions.close()


@pytest.mark.parametrize("backend", ["wasm", "fallback"])
@pytest.mark.parametrize("name", sorted(BIG_MODELS))
def test_big_zoo_model_on_the_cpu_backends(engine: Any, converted_for_cpu: Any, name: str, backend: str) -> None:
    """The rest of the zoo (HED, ResNet50, Inception-v3, VGG16) on wasm and fallback: with the three models
    above, every zoo model runs on both CPU backends in every engine."""
    out, inputs, ref = converted_for_cpu(name)
    r = engine.run_model(out, inputs, [backend])
    assert r.backend == backend
    assert_matches(ref, r.outputs, f"{name} on {backend} in {engine.version}: ")


@pytest.mark.parametrize("backend", ["fallback", "wasm"])
def test_strict_csp_and_no_isolation(engine: Any, converted: Any, backend: str) -> None:
    """Under the strict CSP (script-src 'self' 'wasm-unsafe-eval') nothing is refused, and without COOP/COEP
    the wasm backend runs single-threaded with the same outputs."""
    out, inputs, ref = converted("squeezenet1_1")
    strict = engine.run_model(out, inputs, [backend], csp=True)
    assert strict.backend == backend and strict.csp_violations == []
    assert_matches(ref, strict.outputs, f"strict CSP, {backend} in {engine.version}: ")
    plain = engine.run_model(out, inputs, [backend], isolate=False)
    assert not plain.cross_origin_isolated
    if backend == "wasm":
        assert plain.backend_info["threads"] == 1 and "not cross-origin isolated" in plain.backend_info["threadsNote"]
    assert_matches(ref, plain.outputs, f"no COOP/COEP, {backend} in {engine.version}: ")


def _recorded(engine: str) -> dict[str, Any]:
    import json

    from webdnn.browser.support_matrix import RECORD

    with open(RECORD) as f:
        rows = {r["engine"]: r for r in json.load(f)["engines"]}
    assert engine in rows, f"docs/browser-support.md has no {engine} column (python -m webdnn.browser.support_matrix)"
    return rows[engine]


def test_support_matrix_is_what_the_engine_says(engine: Any) -> None:
    """docs/browser-support.md (generated from bench/results/browser-support.json) against the live answer."""
    from webdnn.browser.support_matrix import probe, summary

    assert summary(probe(engine)) == summary(_recorded(engine.engine)), \
        "this engine's support changed: regenerate with `python -m webdnn.browser.support_matrix --write`"


def test_support_matrix_is_what_chromium_says(browser: Any) -> None:
    from webdnn.browser.support_matrix import probe, summary

    assert summary(probe(browser)) == summary(_recorded("chromium")), \
        "Chromium's support changed: regenerate with `python -m webdnn.browser.support_matrix --write`"
