"""`pip install webdnn` outside the repository: the wheel `make dist` builds carries the runtime, and its CLI
converts, runs and verifies a model from any directory (issue: distribution)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.slow, pytest.mark.node, pytest.mark.browser]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> str:
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import build_wheel
    finally:
        sys.path.pop(0)
    return str(build_wheel.main(str(tmp_path_factory.mktemp("dist"))))


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "WEBDNN_RUNTIME_DIST", "VIRTUAL_ENV")}


def test_installed_wheel_runs_from_anywhere(tmp_path: Path, wheel: str) -> None:
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
    env = _clean_env()
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


def _python(version: str) -> str | None:
    """An interpreter of that minor version: $WEBDNN_PYTHON_3_10 (and so on), a pyenv install, or on PATH
    (pyenv's shims are on PATH but fail for a version that is not selected: each candidate is tried)."""
    candidates = [os.environ.get("WEBDNN_PYTHON_" + version.replace(".", "_"), "")]
    candidates += [str(p) for p in sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}"))]
    candidates.append(shutil.which(f"python{version}") or "")
    for c in filter(None, candidates):
        if subprocess.run([c, "-c", "import venv"], capture_output=True).returncode == 0:
            return c
    return None


@pytest.mark.parametrize("version", ["3.10", "3.12", "3.13"])
def test_the_wheel_installs_with_its_dependencies_on_every_supported_python(
    tmp_path: Path, wheel: str, version: str
) -> None:
    """A clean venv (no system packages) on Python 3.10, 3.12 and 3.13 (3.11 runs everything else): pip
    resolves the wheel's own dependencies from the index, nothing optional comes along (no Playwright), and
    the converter and Node runs work; a Chromium run says which extra to install."""
    python = _python(version)
    if python is None:
        pytest.skip(f"no Python {version} here (set WEBDNN_PYTHON_{version.replace('.', '_')} to one)")
    venv = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", wheel],
                         capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, pip.stdout[-3000:] + pip.stderr[-3000:]
    site = next(venv.glob("lib/python*/site-packages"))
    sizes = {d.name: sum(f.stat().st_size for f in d.rglob("*") if f.is_file()) for d in site.iterdir() if d.is_dir()}
    print(f"Python {version}: base install {sum(sizes.values()) / 1e6:.0f} MB in site-packages; largest:",
          ", ".join(f"{k} {v / 1e6:.0f} MB" for k, v in sorted(sizes.items(), key=lambda kv: -kv[1])[:6]))
    assert not any(k.startswith("playwright") for k in sizes), "Playwright is an extra (webdnn[browser])"
    work = tmp_path / "app"
    work.mkdir()
    cli = str(venv / "bin" / "webdnn")

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        p = subprocess.run([cli, *args], cwd=work, env=_clean_env(), capture_output=True, text=True, timeout=600)
        assert (p.returncode == 0) == ok, p.stdout[-2000:] + p.stderr[-2000:]
        return p

    run("zoo", "squeezenet1_1", "-o", "sq.onnx")
    run("convert", "sq.onnx", "-o", "out", "--backends", "fallback,wasm", "-q")
    np.save(work / "x.npy", np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype(np.float32))
    run("run", "out", "--backend", "wasm", "--node", "--input", "input=x.npy", "-o", "node.npz")
    assert "PASS" in run("verify", "sq.onnx", "--backends", "wasm", "--node", "--repeat", "1").stdout
    refused = run("run", "out", "--backend", "wasm", "--input", "input=x.npy", "-o", "c.npz", ok=False)
    assert "webdnn[browser]" in refused.stdout + refused.stderr
