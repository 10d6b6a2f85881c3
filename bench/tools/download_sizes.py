"""Download bytes per backend and weight encoding for the benchmark models (docs/benchmarks.md, "Download
size"): each zoo model (seeded weights) is written as ONNX and converted once per encoding for every backend;
a backend's bytes are its descriptor and weight files, what a browser fetches for it.

    python3 bench/tools/download_sizes.py [MODEL ...]   # prints the markdown table
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

from webdnn import zoo
from webdnn.bench.models import MODELS
from webdnn.convert import convert

BACKENDS = ["fallback", "wasm", "webgl", "webgpu"]
ENCODINGS = ["fp32", "fp16", "int8"]


def sizes(name: str, work: str) -> tuple[int, dict[tuple[str, str], int]]:
    model = zoo.build(name, seed=0, opset=17)
    path = os.path.join(work, f"{name}.onnx")
    zoo.save(model, path)
    onnx_bytes = sum(os.path.getsize(os.path.join(work, f)) for f in os.listdir(work) if f.startswith(name))
    out: dict[tuple[str, str], int] = {}
    for enc in ENCODINGS:
        d = os.path.join(work, f"{name}-{enc}")
        r = convert(path, d, None, weights=enc)
        for b in BACKENDS:
            if b in r.backends:
                out[(b, enc)] = int(r.backends[b]["byteLength"])
        shutil.rmtree(d)
    return onnx_bytes, out


def main(names: list[str]) -> None:
    print("| model | ONNX | " + " | ".join(f"{b} {e}" for b in BACKENDS for e in ENCODINGS) + " |")
    print("|---|--:|" + "--:|" * (len(BACKENDS) * len(ENCODINGS)))
    for name in names or MODELS:
        with tempfile.TemporaryDirectory(prefix="webdnn-sizes-") as work:
            onnx_bytes, got = sizes(name, work)
        cells = []
        for b in BACKENDS:
            for e in ENCODINGS:
                v = got.get((b, e))
                cells.append("–" if v is None else f"{v / 1e6:.1f} ({v / onnx_bytes:.2f}×)")
        print(f"| {name} | {onnx_bytes / 1e6:.1f} MB | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
