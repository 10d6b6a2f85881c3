"""`make dist`: the webdnn wheel, with the built runtime inside it.

    python3 tools/build_wheel.py OUT_DIR

Stages the runtime the browser and Node load (runtime/dist: webdnn.mjs, the wasm worker, the four kernel
variants, the harness page script, the type declarations; not the source maps) and the Node runner
(runtime/tools/run-node.mjs) into src/webdnn/_runtime/ (package data, git-ignored, rewritten on every
build), then builds the wheel into OUT_DIR with `pip wheel`. An installed wheel finds its runtime there
(webdnn/browser/paths.py), so `webdnn convert/run/verify/serve/zoo` work from any directory. Prints the
wheel's path and size.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
STAGE = os.path.join(ROOT, "src", "webdnn", "_runtime")
NODE_TOOLS = ["run-node.mjs"]


def stage() -> None:
    dist = os.path.join(ROOT, "runtime", "dist")
    if not os.path.isfile(os.path.join(dist, "webdnn.mjs")):
        raise SystemExit(f"{dist}/webdnn.mjs is missing: run `make runtime` first")
    shutil.rmtree(STAGE, ignore_errors=True)
    shutil.copytree(dist, os.path.join(STAGE, "dist"), ignore=shutil.ignore_patterns("*.map"))
    os.makedirs(os.path.join(STAGE, "tools"))
    for name in NODE_TOOLS:
        shutil.copy2(os.path.join(ROOT, "runtime", "tools", name), os.path.join(STAGE, "tools", name))
    with open(os.path.join(STAGE, "README"), "w") as f:
        f.write("Built by tools/build_wheel.py from runtime/dist and runtime/tools; do not edit.\n")


def _have_setuptools() -> bool:
    """setuptools >= 68 here: build without an isolated environment (no download)."""
    try:
        import setuptools
    except ImportError:
        return False
    return int(setuptools.__version__.split(".")[0]) >= 68


def main(out: str) -> str:
    stage()
    os.makedirs(out, exist_ok=True)
    for old in glob.glob(os.path.join(out, "webdnn-*.whl")):
        os.remove(old)
    isolation = ["--no-build-isolation"] if _have_setuptools() else []
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *isolation, "-w", out, ROOT], check=True)
    (wheel,) = glob.glob(os.path.join(out, "webdnn-*.whl"))
    print(f"{wheel} ({os.path.getsize(wheel) / 1e6:.2f} MB)")
    return wheel


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "dist"))
