"""The `webdnn` command line: convert, run, verify --json, ops, zoo."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

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
