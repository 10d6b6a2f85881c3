"""Package and page-download sizes (docs/benchmarks.md, "Package sizes"): the wheel `make dist` builds, the
tarball `npm pack` makes, and what a page running the wasm backend downloads (gzipped, as a server sends it),
next to the same for ONNX Runtime Web and TensorFlow.js from bench/node_modules (the versions the
benchmark pages load).

    python3 bench/tools/package_sizes.py [--write]

prints the measurements; --write records them in bench/results/package-sizes.json and renders
docs/benchmarks.md again (its other sections from the recorded runs, unchanged).
"""

from __future__ import annotations

import datetime
import gzip
import json
import os
import subprocess
import sys
import tempfile
from typing import Any

from webdnn.bench.cli import rerender_doc
from webdnn.bench.report import PACKAGE_SIZES_JSON

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NM = os.path.join(ROOT, "bench", "node_modules")

# What each runtime's page fetches to run a model on wasm with threads: its module and its threaded
# SIMD wasm (WebDNN picks the relaxed-SIMD variant where the browser has it; the SIMD128 one is smaller).
PAGES: dict[str, tuple[str, list[str]]] = {
    "WebDNN": (os.path.join(ROOT, "runtime", "dist"),
               ["webdnn.min.mjs", "webdnn-wasm-worker.js", "webdnn-kernels-relaxed-mt.wasm"]),
    "ONNX Runtime Web": (os.path.join(NM, "onnxruntime-web", "dist"),
                         ["ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"]),
    "TensorFlow.js": (NM, ["@tensorflow/tfjs/dist/tf.min.js",
                           "@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.min.js",
                           "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm"]),
}
VERSIONS = {"ONNX Runtime Web": "onnxruntime-web", "TensorFlow.js": "@tensorflow/tfjs"}


def _version(package: str) -> str:
    with open(os.path.join(NM, package, "package.json")) as f:
        return str(json.load(f)["version"])


def page(name: str) -> dict[str, Any]:
    base, files = PAGES[name]
    sizes = {}
    for f in files:
        with open(os.path.join(base, f), "rb") as fh:
            data = fh.read()
        sizes[os.path.basename(f)] = {"bytes": len(data), "gzip": len(gzip.compress(data, 9))}
    version = _version(VERSIONS[name]) if name in VERSIONS else _webdnn_version()
    return {"runtime": name, "version": version, "files": sizes,
            "gzip": sum(s["gzip"] for s in sizes.values()), "bytes": sum(s["bytes"] for s in sizes.values())}


def _webdnn_version() -> str:
    with open(os.path.join(ROOT, "runtime", "package.json")) as f:
        return str(json.load(f)["version"])


def packages() -> dict[str, int]:
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import build_wheel

    with tempfile.TemporaryDirectory(prefix="webdnn-sizes-") as work:
        wheel = build_wheel.main(work)
        out = subprocess.run(["npm", "pack", "--silent", "--pack-destination", work], cwd=os.path.join(ROOT, "runtime"),
                             capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        return {"wheel": os.path.getsize(wheel), "npm_tarball": os.path.getsize(os.path.join(work, out))}


def main(argv: list[str]) -> None:
    got = {"packages": packages(), "pages": [page(n) for n in PAGES]}
    print(json.dumps(got, indent=1))
    if "--write" not in argv:
        return
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    if subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout:
        commit += "+dirty"  # measured from a working tree with uncommitted changes
    with open(PACKAGE_SIZES_JSON, "w") as f:
        json.dump({"date": datetime.date.today().isoformat(), "git_commit": commit, **got}, f, indent=1)
    rerender_doc()


if __name__ == "__main__":
    main(sys.argv[1:])
