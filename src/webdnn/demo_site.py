"""The demo site: static files that any HTTP server (or a CDN) can serve.

    build/site/
      index.html, style.css                     the landing page (examples/site/)
      recognition/index.html, recognition.js    the image recognition page (examples/recognition/)
      runtime/                                  webdnn.mjs, its wasm kernels and worker (runtime/dist)
      models/efficientnet_lite0/                converted for webgpu, wasm, webgl and fallback, + labels.json
      photos/                                   scikit-image's sample photos + photos.json (their names)

Written by ``webdnn demo-site`` and at the end of ``make demo``; the converted model comes from the demo's cache
(webdnn.demo: converted again only when the model or the converter changed). Files are hard-linked from the cache
where the file system allows it. ``webdnn serve build/site`` serves it with COOP/COEP (wasm threads).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from webdnn.browser.paths import REPO_ROOT, runtime_dist
from webdnn.zoo import pretrained

SITE_BACKENDS = ["wasm", "webgpu", "webgl", "fallback"]
PHOTOS = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png"]
PAGES = {"examples/site": "", "examples/recognition": "recognition"}
RUNTIME_FILES = ("webdnn.mjs", "webdnn.mjs.map", "webdnn-wasm-worker.js", "webdnn-wasm-worker.js.map")


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _copy_tree(src: str | Path, dst: str | Path) -> None:
    shutil.copytree(src, dst, copy_function=_link_or_copy, dirs_exist_ok=True)


def build_site(
    site: str = "build/site",
    cache: str = "build/demo",
    reconvert: bool = False,
    say: Callable[[str], None] = lambda _msg: None,
) -> Path:
    """Write the demo site into `site` (emptied first); the converted model is taken from (or made in) `cache`."""
    from webdnn.demo import MODEL, convert_cached

    model = pretrained.build_efficientnet_lite0_pretrained()
    model_dir, _ = convert_cached(model, cache, SITE_BACKENDS, reconvert, say)
    labels = pretrained.imagenet_labels()
    dist = runtime_dist()

    out = Path(site)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for src, rel in PAGES.items():
        _copy_tree(Path(REPO_ROOT) / src, out / rel)
    (out / "runtime").mkdir()
    for name in sorted(os.listdir(dist)):
        if name in RUNTIME_FILES or (name.startswith("webdnn-kernels-") and name.endswith(".wasm")):
            _link_or_copy(os.path.join(dist, name), str(out / "runtime" / name))
    models = out / "models" / MODEL
    _copy_tree(model_dir, models)
    (models / "labels.json").write_text(json.dumps(labels) + "\n", encoding="utf-8")
    photos = out / "photos"
    photos.mkdir()
    names = []
    for name in PHOTOS:
        try:
            _link_or_copy(str(pretrained.sample_photo(name)), str(photos / name))
            names.append(name)
        except pretrained.PretrainedUnavailableError as e:
            say(f"skipping a sample photo: {e}")
    (photos / "photos.json").write_text(json.dumps(names) + "\n", encoding="utf-8")
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    say(f"demo site written to {out} ({size / 2**20:.0f} MiB: the model for {', '.join(SITE_BACKENDS)}, "
        f"{len(names)} sample photos, the runtime)")
    return out


def how_to_open(site: str | Path) -> str:
    return (f"Open the demo site: `webdnn serve {site}` (COOP/COEP for wasm threads; any static server works), then "
            "http://127.0.0.1:8000/recognition/ (the image recognition page).")
