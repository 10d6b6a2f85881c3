"""Download bytes per backend and weight encoding for the benchmark models (docs/benchmarks.md, "Download
size"): each zoo model (seeded weights) is written as ONNX and converted once per encoding for every backend;
a backend's bytes are its descriptor and weight files, what a browser fetches for it.

    python3 bench/tools/download_sizes.py [--write] [MODEL ...]

prints the rows as they are measured; --write records them in bench/results/download-sizes.json and renders
docs/benchmarks.md again (its other sections from the recorded runs, unchanged).
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

from webdnn import zoo
from webdnn.bench.cli import rerender_doc
from webdnn.bench.models import MODELS
from webdnn.bench.report import SIZES_JSON
from webdnn.convert import convert

BACKENDS = ["fallback", "wasm", "webgl", "webgpu"]
ENCODINGS = ["fp32", "fp16", "int8"]


def measure(name: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="webdnn-sizes-") as work:
        model = zoo.build(name, seed=0, opset=17)
        path = os.path.join(work, f"{name}.onnx")
        zoo.save(model, path)
        onnx_bytes = sum(os.path.getsize(os.path.join(work, f)) for f in os.listdir(work) if f.startswith(name))
        got: dict[str, dict[str, int]] = {}
        for enc in ENCODINGS:
            d = os.path.join(work, f"{name}-{enc}")
            r = convert(path, d, BACKENDS, weights=enc)
            for b in BACKENDS:
                got.setdefault(b, {})[enc] = int(r.backends[b]["byteLength"])
            shutil.rmtree(d)
    return {"model": name, "onnx_bytes": onnx_bytes, "bytes": got}


def main(argv: list[str]) -> None:
    write = "--write" in argv
    names = [a for a in argv if a != "--write"] or MODELS
    rows = []
    for name in names:
        row = measure(name)
        rows.append(row)
        print(json.dumps(row), flush=True)
    if not write:
        return
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    with open(SIZES_JSON, "w") as f:
        json.dump({"date": datetime.date.today().isoformat(), "git_commit": commit, "backends": BACKENDS,
                   "encodings": ENCODINGS, "models": rows}, f, indent=1)
    rerender_doc()


if __name__ == "__main__":
    main(sys.argv[1:])
