"""The main demo: build MobileNetV2 with seeded weights, convert it, run it in headless
Chromium, compare with onnxruntime, and print the result and its timing.

    python -m webdnn.demo [--model mobilenet_v2] [--backend wasm] [--out build/demo]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from webdnn import zoo
from webdnn.browser.driver import Browser
from webdnn.convert import convert
from webdnn.verify import compare, reference_outputs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="mobilenet_v2", choices=sorted(zoo.BUILDERS))
    ap.add_argument("--backend", default="wasm", help="wasm (threads, SIMD), webgpu, webgl or fallback")
    ap.add_argument("--out", default="build/demo")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()

    def say(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", flush=True)

    os.makedirs(args.out, exist_ok=True)
    onnx_path = os.path.join(args.out, f"{args.model}.onnx")
    say(f"building {args.model} with seeded random weights -> {onnx_path}")
    model = zoo.build(args.model)
    zoo.save(model, onnx_path)
    out_dir = os.path.join(args.out, args.model)
    result = convert(onnx_path, out_dir, [args.backend], progress=lambda m: say(f"convert: {m}"))
    info = result.backends[args.backend]
    say(
        f"converted: {result.passes.nodes_before} ONNX nodes -> {info['kernels']} kernels; memory plan arena "
        f"{info['arena_bytes'] / 2**20:.1f} MiB instead of {info['naive_bytes'] / 2**20:.1f} MiB"
    )
    inputs = zoo.default_inputs(args.model, model)
    say("running in headless Chromium")
    with Browser() as browser:
        r = browser.run_model(out_dir, inputs, [args.backend], warmup=1, repeat=5)
    ref = reference_outputs(onnx_path, inputs)
    ok = True
    for name, want in ref.items():
        got = r.outputs[name]
        c = compare(name, want, got)
        ok &= c.ok
        flat = got.reshape(-1)
        top = np.argsort(-flat)[:5] if flat.size > 1 else [0]
        print(f"  output '{name}' {list(got.shape)}: top-5 indices {list(map(int, top))}, "
              f"values {[round(float(flat[i]), 4) for i in top]}")
        print(f"    vs onnxruntime: max abs error {c.max_abs_err:.2e} -> {'OK' if c.ok else 'MISMATCH'}")
    info_txt = ", ".join(f"{k} {v}" for k, v in r.backend_info.items() if k in ("threads", "simd", "adapter"))
    print(f"  backend {r.backend}{f' ({info_txt})' if info_txt else ''} in Chromium: load {r.load_ms:.0f} ms, "
          f"first run {r.first_run_ms:.1f} ms, median of {len(r.times_ms)} runs {r.median_ms:.1f} ms")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
