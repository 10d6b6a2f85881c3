"""The `webdnn` command line: convert, run, verify --json, ops, zoo."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import helper

from tests.conftest import F32, make_model
from webdnn.cli import main


@pytest.fixture(scope="module")
def squeezenet(tmp_path_factory) -> str:  # type: ignore[no-untyped-def]
    path = str(tmp_path_factory.mktemp("cli") / "sq.onnx")
    r = CliRunner().invoke(main, ["zoo", "squeezenet1_1", "-o", path])
    assert r.exit_code == 0, r.output
    return path


def test_convert_reports_plan_and_rejects_bad_shape_spec(squeezenet: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = CliRunner().invoke(main, ["convert", squeezenet, "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    assert "saved" in r.output and (tmp_path / "out" / "manifest.json").exists()
    r = CliRunner().invoke(main, ["convert", squeezenet, "-o", str(tmp_path / "o2"), "--input-shape", "input=1,x"])
    assert r.exit_code != 0 and "expected NAME=D1,D2" in r.output


def test_convert_error_is_one_clear_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx at all")
    r = CliRunner().invoke(main, ["convert", str(bad), "-o", str(tmp_path / "out")])
    assert r.exit_code == 2 and "error:" in r.output and "bad.onnx" in r.output
    assert not (tmp_path / "out").exists()


@pytest.mark.node
def test_run_in_node_writes_npz(squeezenet: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = str(tmp_path / "out")
    assert CliRunner().invoke(main, ["convert", squeezenet, "-o", out, "-q"]).exit_code == 0
    np.save(tmp_path / "x.npy", np.zeros((1, 3, 224, 224), np.float32))
    r = CliRunner().invoke(main, ["run", out, "--node", "--input", f"input={tmp_path / 'x.npy'}", "-o",
                                  str(tmp_path / "y.npz")])
    assert r.exit_code == 0, r.output
    assert np.load(tmp_path / "y.npz")["output"].shape == (1, 1000)


@pytest.mark.browser
def test_verify_json(squeezenet: str) -> None:
    # A subprocess: Playwright's sync API allows one session per thread, and the tests' shared
    # `browser` fixture may hold it.
    cmd = [sys.executable, "-m", "webdnn.cli", "verify", squeezenet, "--backends", "fallback", "--json",
           "--repeat", "1"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(r.stdout.strip().splitlines()[-1])
    (res,) = report["results"]
    assert report["model"] == "sq.onnx"
    assert res["backend"] == "fallback" and res["ok"] is True and res["max_abs_err"] < 1e-3 and res["ms"] > 0


def test_ops_lists_fallback_ops() -> None:
    r = CliRunner().invoke(main, ["ops"])
    assert r.exit_code == 0 and "Conv" in r.output.split()


def _relu_onnx(path: Path) -> str:
    onnx.save(make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", F32, [1, 3, 4, 4])], ["y"]), path)
    return str(path)


def test_convert_refuses_a_web_apps_public_directory(tmp_path: Path) -> None:
    public = tmp_path / "w" / "public"
    (public / "js").mkdir(parents=True)
    (public / "manifest.json").write_text('{"name": "PWA"}')
    (public / "index.html").write_text("x")
    r = CliRunner().invoke(main, ["convert", _relu_onnx(tmp_path / "m.onnx"), "-o", str(public), "-q"])
    assert r.exit_code == 2 and "error:" in r.output and str(public) in r.output and "Traceback" not in r.output
    assert sorted(os.listdir(public)) == ["index.html", "js", "manifest.json"]
    assert (public / "manifest.json").read_text() == '{"name": "PWA"}'


def test_convert_under_a_file_is_one_clear_line(tmp_path: Path) -> None:
    model = _relu_onnx(tmp_path / "m.onnx")
    r = CliRunner().invoke(main, ["convert", model, "-o", str(tmp_path / "m.onnx" / "out"), "-q"])
    assert r.exit_code == 2 and f"error: cannot create output directory {tmp_path / 'm.onnx' / 'out'}" in r.output
    assert "is a file, not a directory" in r.output


def _without_root_powers() -> list[str]:
    """A command prefix under which permission bits apply (root ignores them)."""
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: permission bits cannot be tested")
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}"]


def test_convert_into_an_unwritable_directory_is_one_clear_line(tmp_path: Path) -> None:
    model = _relu_onnx(tmp_path / "m.onnx")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        for out in (locked, locked / "sub"):
            cmd = [*_without_root_powers(), sys.executable, "-m", "webdnn.cli", "convert", model, "-o", str(out), "-q"]
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            assert r.returncode == 2, r.stdout + r.stderr
            assert "Traceback" not in r.stderr and "not writable (permission denied)" in r.stderr
            assert str(out) in r.stderr
        assert os.listdir(locked) == []
    finally:
        locked.chmod(0o755)


def test_zoo_and_convert_outputs_are_world_readable(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        model = tmp_path / "sq.onnx"
        assert CliRunner().invoke(main, ["zoo", "squeezenet1_1", "-o", str(model)]).exit_code == 0
        out = tmp_path / "out"
        r = CliRunner().invoke(main, ["convert", str(model), "-o", str(out), "-q", "--backends", "fallback"])
        assert r.exit_code == 0, r.output
    finally:
        os.umask(old)
    assert sorted(os.listdir(tmp_path)) == ["out", "sq.onnx"]  # no temporary file left
    assert stat.S_IMODE(model.stat().st_mode) == 0o644
    for p in [out, *out.rglob("*")]:
        assert stat.S_IMODE(p.stat().st_mode) == (0o755 if p.is_dir() else 0o644), p
