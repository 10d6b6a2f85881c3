"""`pip install webdnn` outside the repository: the wheel `make dist` builds carries the runtime, and its CLI
converts, runs and verifies a model from any directory (issue: distribution)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.slow, pytest.mark.node, pytest.mark.browser]


def test_installed_wheel_runs_from_anywhere(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import build_wheel
    finally:
        sys.path.pop(0)
    wheel = build_wheel.main(str(tmp_path / "dist"))
    names = zipfile.ZipFile(wheel).namelist()
    for f in ("webdnn-kernels-simd128.wasm", "webdnn-kernels-relaxed-mt.wasm", "webdnn-wasm-worker.js", "webdnn.mjs"):
        assert f"webdnn/_runtime/dist/{f}" in names
    assert "webdnn/_runtime/tools/run-node.mjs" in names and not any(n.endswith(".map") for n in names)
    assert os.path.getsize(wheel) < 3e6  # about 1 MB: the converter's Python and the runtime (JS + 4 wasm)
    # A venv of its own with the installed dependencies (onnx, onnxruntime, ...) but this package from the wheel.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-deps", wheel], check=True)
    work = tmp_path / "app"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "WEBDNN_RUNTIME_DIST")}
    py, cli = str(venv / "bin" / "python"), str(venv / "bin" / "webdnn")

    def run(*args: str) -> str:
        p = subprocess.run(list(args), cwd=work, env=env, capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
        return p.stdout

    where = run(py, "-c", "import webdnn, webdnn.browser.paths as p; print(webdnn.__file__); print(p.runtime_dist())")
    assert all(line.startswith(str(venv)) for line in where.split()), where  # not the checkout's copy
    run(cli, "zoo", "squeezenet1_1", "-o", "sq.onnx")
    run(cli, "convert", "sq.onnx", "-o", "out", "--backends", "fallback,wasm", "-q")
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    np.save(work / "x.npy", x)
    run(cli, "run", "out", "--backend", "wasm", "--node", "--input", "input=x.npy", "-o", "node.npz")
    run(cli, "run", "out", "--backend", "wasm", "--input", "input=x.npy", "-o", "chromium.npz")
    import onnxruntime as ort

    want = ort.InferenceSession(str(work / "sq.onnx")).run(None, {"input": x})[0]
    for f in ("node.npz", "chromium.npz"):
        got = np.load(work / f)["output"]
        assert np.abs(got - want).max() <= 1e-4 * max(1.0, float(np.abs(want).max())), f
    assert "PASS" in run(cli, "verify", "sq.onnx", "--backends", "fallback,wasm", "--node", "--repeat", "1")
