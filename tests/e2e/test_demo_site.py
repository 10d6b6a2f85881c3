"""The demo site's image recognition page in headless Chromium, served as the static files `webdnn demo-site`
writes, under the strict CSP (script-src 'self' 'wasm-unsafe-eval') and COOP/COEP.

* For each backend (wasm, fallback, and webgl/webgpu on SwiftShader): the page, opened with that backend picked,
  labels scikit-image's cat photo with onnxruntime's top-1 class on the same model and the Python-preprocessed
  input, with its probability; the backend that ran is the one picked; the bars are drawn (non-zero width), the
  preview canvas and the screenshot (build/screenshots/recognition-<backend>.png) are not blank; no CSP violation.
* A second visit in the same browser profile fetches no model bytes: under /models/ only the manifest and the
  labels are revalidated, answered 304 (the runtime's cache option + the page's labels); a damaged cached weight
  file is evicted and fetched again; after "Clear cache" the model is downloaded again.
* WebDNN.image.toTensor on the photo's pixels in Node gives exactly imagenet_preprocess's tensor.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.e2e.demo_site_pages import assert_asked_again, assert_only_revalidated, open_page, screenshot_std
from webdnn.browser.paths import REPO_ROOT, runtime_dist
from webdnn.browser.server import STRICT_CSP, StaticServer
from webdnn.zoo import pretrained

SCREENSHOTS = Path(REPO_ROOT) / "build" / "screenshots"
MODEL_PREFIX = "/models/efficientnet_lite0/"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from webdnn.demo_site import build_site

    tmp = tmp_path_factory.mktemp("demo-site")
    try:
        return build_site(str(tmp / "site"), str(tmp / "cache"))
    except pretrained.PretrainedUnavailableError as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def reference(site: Path) -> tuple[str, float]:
    """onnxruntime's top-1 label and probability on the converted model's ONNX and imagenet_preprocess(chelsea)."""
    import onnxruntime as ort

    model = pretrained.build_efficientnet_lite0_pretrained()
    x = pretrained.imagenet_preprocess(pretrained.load_rgb(pretrained.sample_photo("chelsea.png")))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    logits = sess.run(None, {"input": x})[0]
    labels = json.loads((site / "models" / "efficientnet_lite0" / "labels.json").read_text())
    assert labels == pretrained.imagenet_labels()
    return pretrained.top_k(logits, labels, 1)[0]


@pytest.fixture
def server(site: Path) -> Iterator[StaticServer]:
    with StaticServer({"/": str(site)}, csp=STRICT_CSP, log_requests=True) as srv:
        yield srv






@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["wasm", "fallback", "webgl", "webgpu"])
def test_page_labels_the_cat_on_each_backend(backend: str, server: StaticServer, reference: tuple[str, float],
                                             browser: Any) -> None:
    page = browser.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    try:
        state = open_page(page, f"{server.url}/recognition/?backend={backend}&photo=chelsea.png")
        message = page.inner_text("#message")
        assert state == "done", f"the page failed on {backend}: {message}"
        assert page.get_attribute("#backend-info", "data-backend") == backend
        assert f"backend: {backend}" in page.inner_text("#backend-info")
        rows = page.query_selector_all("#top5 li")
        assert len(rows) == 5
        label, p = reference
        assert rows[0].get_attribute("data-label") == label == "Egyptian cat"
        shown = float(rows[0].inner_text().split()[-1].rstrip("%"))
        assert abs(shown - 100 * p) <= 0.2, f"{backend}: {shown}% vs onnxruntime's {100 * p:.2f}%"
        widths = [float(page.eval_on_selector(f"#top5 li:nth-child({i}) .fill", "e => e.getBoundingClientRect().width"))
                  for i in range(1, 6)]
        assert widths[0] > 50 and widths == sorted(widths, reverse=True), widths
        assert "ms" in page.inner_text("#time") and float(str(page.get_attribute("#time", "data-ms"))) > 0
        assert screenshot_std(page.locator("#preview").screenshot()) > 10, "the photo was not drawn"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shot = page.screenshot(path=str(SCREENSHOTS / f"recognition-{backend}.png"), full_page=True)
        assert screenshot_std(page.locator("#top5").screenshot()) > 5 and screenshot_std(shot) > 5
        assert page.evaluate("() => globalThis.__cspViolations") == []
        assert not [m for m in console if "Content Security Policy" in m], console
        assert message == ""
    finally:
        page.close()


def _model_requests(server: StaticServer) -> list[tuple[str, str, int]]:
    return [r for r in server.requests if r[1].startswith(MODEL_PREFIX)]


@pytest.mark.browser
@pytest.mark.slow
def test_second_visit_loads_the_model_from_the_cache(server: StaticServer, site: Path, browser: Any) -> None:
    # this test's server has a port of its own: a new origin, whose Cache Storage is empty
    weights = sum(f.stat().st_size for f in (site / "models" / "efficientnet_lite0" / "wasm").rglob("*.bin"))
    page = browser.new_page()
    try:
        url = f"{server.url}/recognition/?backend=wasm&photo=chelsea.png"
        assert open_page(page, url) == "done"
        first = _model_requests(server)
        assert sum(n for _, _, n in first) >= weights > 10 * 2**20  # manifest, descriptor, weights, labels
        assert page.get_attribute("#bytes", "data-cached-bytes") == "0"

        server.requests.clear()
        page.close()
        page = browser.new_page()
        assert open_page(page, url) == "done"
        assert_only_revalidated(server.requests, MODEL_PREFIX)
        assert page.get_attribute("#top5 li:first-child", "data-label") == "Egyptian cat"
        assert int(str(page.get_attribute("#bytes", "data-cached-bytes"))) >= weights
        assert "from the cache" in page.inner_text("#bytes")
        assert [r for r in server.requests if r[1].startswith("/runtime/webdnn.mjs")]  # the server was asked

        # a damaged cache entry (a weight file whose CRC-32 no longer matches): the runtime evicts what it read
        # from the cache, loads from the network again and caches the good files
        shard = next(p for _, p, n in first if p.endswith(".bin") and "/wasm/" in p)
        page.evaluate("async ([name, url]) => (await caches.open(name)).put(url, new Response(new Uint8Array(64)))",
                      ["webdnn-demo-models", server.url + shard])
        server.requests.clear()
        page.close()
        page = browser.new_page()
        assert open_page(page, url) == "done", page.inner_text("#message")
        assert page.get_attribute("#top5 li:first-child", "data-label") == "Egyptian cat"
        assert_asked_again(server.requests, site, "efficientnet_lite0")
        server.requests.clear()
        page.close()
        page = browser.new_page()
        assert open_page(page, url) == "done"
        assert_only_revalidated(server.requests, MODEL_PREFIX)

        page.click("#clear-cache")
        page.wait_for_selector("#message:has-text('Cache cleared')")
        server.requests.clear()
        page.close()
        page = browser.new_page()
        assert open_page(page, url) == "done"
        assert_asked_again(server.requests, site, "efficientnet_lite0")
    finally:
        page.close()


@pytest.mark.node
def test_totensor_in_node_is_the_python_preprocessing(tmp_path: Path) -> None:
    """The page's preprocessing (WebDNN.image.toTensor with the page's options) on chelsea's pixels, in Node,
    is bit for bit imagenet_preprocess (Pillow's bicubic resize, the centre crop, float32 mean/std)."""
    rgb = pretrained.load_rgb(pretrained.sample_photo("chelsea.png"))
    h, w = rgb.shape[:2]
    rgba = np.concatenate([rgb, np.full((h, w, 1), 255, np.uint8)], axis=2)
    (tmp_path / "rgba.bin").write_bytes(rgba.tobytes())
    script = f"""
import {{ image }} from {json.dumps((Path(runtime_dist()) / "webdnn.mjs").as_uri())};
import {{ readFileSync, writeFileSync }} from "node:fs";
const data = new Uint8Array(readFileSync({json.dumps(str(tmp_path / "rgba.bin"))}));
const t = image.toTensor({{ data, width: {w}, height: {h} }}, {{ resize: 256, crop: 224, interpolation: "bicubic",
  mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] }});
writeFileSync({json.dumps(str(tmp_path / "x.bin"))}, new Uint8Array(t.data.buffer));
console.log(JSON.stringify(t.dims));
"""
    r = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True, timeout=120,
                       env={**os.environ})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [1, 3, 224, 224]
    got = np.frombuffer((tmp_path / "x.bin").read_bytes(), np.float32).reshape(1, 3, 224, 224)
    want = pretrained.imagenet_preprocess(rgb)
    assert np.array_equal(got, want), f"max abs diff {np.abs(got - want).max()}"


@pytest.mark.browser
def test_landing_page_links_the_demos_and_shows_the_benchmark_chart(server: StaticServer, browser: Any) -> None:
    page = browser.new_page()
    try:
        page.goto(server.url + "/")
        links = page.evaluate("() => [...document.querySelectorAll('a')].map((a) => a.getAttribute('href'))")
        assert {"recognition/", "style/", "edges/", "similarity/"} <= set(links), links
        page.wait_for_function("document.getElementById('chart').complete", timeout=30_000)
        width = page.evaluate("() => document.getElementById('chart').naturalWidth")
        assert width > 100, "the benchmark chart did not load"
    finally:
        page.close()



def _write_y4m(path: Path, rgb: np.ndarray, frames: int = 4) -> None:
    """A still video of `rgb` (even width and height) as YUV4MPEG2, 4:2:0, full-range BT.601 (C420jpeg): what
    Chromium's fake camera plays (--use-file-for-fake-video-capture)."""
    x = rgb.astype(np.float64)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    u = (b - y) / 1.772 + 128
    v = (r - y) / 1.402 + 128

    def sub(c: np.ndarray) -> np.ndarray:  # 2x2 means: the 4:2:0 chroma planes
        return (c[0::2, 0::2] + c[1::2, 0::2] + c[0::2, 1::2] + c[1::2, 1::2]) / 4

    planes = b"".join(np.clip(np.round(p), 0, 255).astype(np.uint8).tobytes() for p in (y, sub(u), sub(v)))
    h, w = rgb.shape[:2]
    header = f"YUV4MPEG2 W{w} H{h} F10:1 Ip A1:1 C420jpeg\n".encode()
    path.write_bytes(header + b"".join(b"FRAME\n" + planes for _ in range(frames)))


_GRAB_FRAME = """() => {
  const v = document.getElementById("video");
  const c = document.createElement("canvas");
  c.width = v.videoWidth;
  c.height = v.videoHeight;
  const g = c.getContext("2d");
  g.drawImage(v, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  let s = "";
  for (let i = 0; i < d.length; i += 8192) s += String.fromCharCode(...d.subarray(i, i + 8192));
  return [c.width, c.height, btoa(s)];
}"""


@pytest.mark.browser
def test_camera_input_is_classified_like_onnxruntime(server: StaticServer, tmp_path: Path, browser: Any) -> None:
    """The camera button in a browser whose camera films the cat photo (Chromium's fake capture device playing a
    still video of it, permission granted): the page classifies the live frames, and its top-5 is onnxruntime's on
    the frame the camera delivers (read back from the video element; the photo went through 4:2:0 YUV, so the
    probabilities are not the PNG's). Stop ends it. A browser without a camera gets a message saying so, and the
    page keeps working."""
    import base64

    import onnxruntime as ort

    rgb = pretrained.load_rgb(pretrained.sample_photo("chelsea.png"))
    h, w = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
    video = tmp_path / "chelsea.y4m"
    _write_y4m(video, np.ascontiguousarray(rgb[:h, :w]))
    fake_camera = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                   f"--use-file-for-fake-video-capture={video}"]
    url = f"{server.url}/recognition/?backend=wasm&photo=coffee.png"  # not the cat: the camera must bring it
    ctx = browser.other_context(fake_camera, str(tmp_path / "profile"))  # one Playwright session per process
    try:
        page = ctx.new_page()
        assert open_page(page, url) == "done", page.inner_text("#message")
        assert "cat" not in page.get_attribute("#top5 li:first-child", "data-label")
        page.click("#camera")
        page.wait_for_selector("#camera:has-text('Stop the camera')", timeout=60_000)
        page.wait_for_selector("#top5 li[data-label='Egyptian cat']", timeout=120_000)  # a camera frame classified
        fw, fh, b64 = page.evaluate(_GRAB_FRAME)
        assert (fw, fh) == (w, h)
        frame = np.frombuffer(base64.b64decode(b64), np.uint8).reshape(fh, fw, 4)[:, :, :3]
        sess = ort.InferenceSession(pretrained.build_efficientnet_lite0_pretrained().SerializeToString(),
                                    providers=["CPUExecutionProvider"])
        logits = sess.run(None, {"input": pretrained.imagenet_preprocess(np.ascontiguousarray(frame))})[0]
        want = [label for label, _ in pretrained.top_k(logits, pretrained.imagenet_labels(), 5)]
        got = [li.get_attribute("data-label") for li in page.query_selector_all("#top5 li")]
        assert got == want, f"the page's top-5 on the camera frame {got}, onnxruntime's {want}"
        assert page.is_visible("#video") and page.inner_text("#message") == ""
        assert "inference" in page.inner_text("#time")
        assert screenshot_std(page.locator("#preview").screenshot()) > 10, "the camera frame was not drawn"
        page.click("#camera")
        page.wait_for_selector("#camera:has-text('Use the camera')", timeout=30_000)
        assert not page.is_visible("#video")
    finally:
        ctx.close()
    page = browser.new_page()  # no camera device: getUserMedia fails
    try:
        assert open_page(page, url) == "done"
        page.click("#camera")
        page.wait_for_selector("#message:has-text('camera is not available')", timeout=60_000)
        assert page.get_attribute("#top5 li:first-child", "data-label")
    finally:
        page.close()
