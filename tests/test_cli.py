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
from webdnn.errors import ShapeError, WebDNNError


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
    r = CliRunner().invoke(main, ["convert", squeezenet, "-o", str(tmp_path / "o2"), "--input-shape", "input"])
    assert r.exit_code != 0 and "expected NAME=D1,D2" in r.output
    r = CliRunner().invoke(main, ["convert", squeezenet, "-o", str(tmp_path / "o2"),
                                  "--input-shape", "input=1,3,2.5,9"])
    assert r.exit_code != 0 and "dim '2.5' is not a non-negative integer" in r.output
    # a name is a dynamic dim: the rank is still checked against the model
    r = CliRunner().invoke(main, ["convert", squeezenet, "-o", str(tmp_path / "o2"), "--input-shape", "input=1,x"])
    assert r.exit_code != 0 and "rank 2 given, the model says rank 4" in r.output


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


# --- inputs are checked against the model's declared shape and dtype --------------------------------


@pytest.fixture(scope="module")
def nchw_model(tmp_path_factory) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """(the .onnx, its conversion): input 'image' float32 [1, 3, 4, 4]."""
    d = tmp_path_factory.mktemp("nchw")
    onnx_path = str(d / "m.onnx")
    onnx.save(make_model([helper.make_node("Relu", ["image"], ["y"])], [("image", F32, [1, 3, 4, 4])], ["y"]),
              onnx_path)
    from webdnn.convert import convert

    convert(onnx_path, d / "out")
    return onnx_path, str(d / "out")


def test_run_refuses_an_nhwc_image_for_an_nchw_model_before_starting_a_browser(
        nchw_model: tuple[str, str], tmp_path: Path) -> None:
    _, out = nchw_model
    np.save(tmp_path / "x.npy", np.zeros((1, 4, 4, 3), np.float32))
    r = CliRunner().invoke(main, ["run", out, "--input", f"image={tmp_path / 'x.npy'}", "-o", str(tmp_path / "y.npz")])
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert f"error: input 'image' has shape [1, 4, 4, 3] (float32), but {out} expects shape [1, 3, 4, 4] float32" \
        in r.output and "a.transpose(0, 3, 1, 2)" in r.output
    np.save(tmp_path / "x64.npy", np.zeros((1, 3, 4, 4)))
    r = CliRunner().invoke(main, ["run", out, "--node", "--input", f"image={tmp_path / 'x64.npy'}", "-o",
                                  str(tmp_path / "y.npz")])
    assert r.exit_code == 2 and "input 'image' is float64 (shape [1, 3, 4, 4])" in r.output
    assert "expects shape [1, 3, 4, 4] float32" in r.output and "a.astype(np.float32)" in r.output
    assert not (tmp_path / "y.npz").exists()


def test_verify_with_a_wrong_shaped_input_is_one_clear_line(nchw_model: tuple[str, str], tmp_path: Path) -> None:
    onnx_path, _ = nchw_model
    np.save(tmp_path / "x.npy", np.zeros((1, 4, 4, 3), np.float32))
    r = CliRunner().invoke(main, ["verify", onnx_path, "--input", f"image={tmp_path / 'x.npy'}"])
    assert r.exit_code == 2 and r.exception is not None and isinstance(r.exception, SystemExit), r.exception
    assert "error: input 'image' has shape [1, 4, 4, 3] (float32), but m.onnx expects shape [1, 3, 4, 4]" in r.output
    r = CliRunner().invoke(main, ["verify", onnx_path, "--input", f"img={tmp_path / 'x.npy'}"])
    assert r.exit_code == 2 and "error: inputs ['image'] not given" in r.output


def test_python_api_checks_inputs_the_same_way(nchw_model: tuple[str, str]) -> None:
    from webdnn.browser.driver import Browser
    from webdnn.browser.node import run_model_node

    _, out = nchw_model
    nhwc = {"image": np.zeros((1, 4, 4, 3), np.float32)}
    with pytest.raises(ShapeError, match=r"input 'image' has shape \[1, 4, 4, 3\] \(float32\), but .* expects shape "
                                         r"\[1, 3, 4, 4\] float32 \(an NHWC image"):
        run_model_node(out, nhwc)
    with pytest.raises(ShapeError, match=r"expects shape \[1, 3, 4, 4\] float32"):
        Browser().run_model(out, nhwc)  # refused before a browser is started
    with pytest.raises(WebDNNError, match=r"input 'image' is int64 .* expects shape \[1, 3, 4, 4\] float32"):
        run_model_node(out, {"image": np.zeros((1, 3, 4, 4), np.int64)})
    with pytest.raises(WebDNNError, match=r"unknown input\(s\) \['x'\] .*inputs are: 'image' float32 \[1, 3, 4, 4\]"):
        Browser().run_model(out, {"image": np.zeros((1, 3, 4, 4), np.float32), "x": np.zeros(1, np.float32)})
    with pytest.raises(WebDNNError, match=r"missing input 'image' .* expects shape \[1, 3, 4, 4\] float32"):
        run_model_node(out, {})


def test_check_inputs_rules() -> None:
    from webdnn.browser.io import check_inputs

    specs = [{"name": "ids", "dtype": "int64", "shape": [2, 3]}, {"name": "s", "dtype": "float32", "shape": []}]
    check_inputs({"ids": np.zeros((2, 3), np.int32), "s": np.float32(1)}, specs, "m")  # int32 for int64; a scalar
    check_inputs({"ids": np.zeros((2, 3), ">i8"), "s": np.ones((), np.float32)}, specs, "m")  # any byte order
    with pytest.raises(ShapeError, match=r"has shape \[6\] \(int64\), .*the same number of elements: reshape"):
        check_inputs({"ids": np.zeros(6, np.int64), "s": np.ones((), np.float32)}, specs, "m")
    with pytest.raises(ShapeError, match=r"input 's' has shape \[1\]"):
        check_inputs({"ids": np.zeros((2, 3), np.int64), "s": np.ones(1, np.float32)}, specs, "m")
    with pytest.raises(WebDNNError, match=r"input 'ids' for m is a list, not a numpy array"):
        check_inputs({"ids": [[0, 0, 0], [0, 0, 0]], "s": np.ones((), np.float32)}, specs, "m")


@pytest.mark.node
def test_run_node_passes_dims_to_the_runtime(nchw_model: tuple[str, str], tmp_path: Path) -> None:
    """The spec's dims reach runner.run, which checks them itself (for callers that bypass the Python check)."""
    from webdnn.browser.io import write_inputs
    from webdnn.browser.paths import runtime_tool

    _, out = nchw_model
    refs = write_inputs({"image": np.zeros((1, 4, 4, 3), np.float32)}, str(tmp_path))
    assert refs[0]["dims"] == [1, 4, 4, 3]
    spec = {"model": out, "backendOrder": ["fallback"], "inputs": refs, "warmup": 0, "repeat": 0,
            "outDir": str(tmp_path)}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    p = subprocess.run(["node", runtime_tool("run-node.mjs"), str(tmp_path / "spec.json")], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode != 0 and "input 'image' has dims [1, 4, 4, 3], the model expects [1, 3, 4, 4]" in p.stderr


@pytest.mark.browser
def test_harness_passes_dims_to_the_runtime(nchw_model: tuple[str, str], tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]
    from webdnn.browser.driver import HARNESS_HTML
    from webdnn.browser.io import write_inputs
    from webdnn.browser.paths import runtime_dist
    from webdnn.browser.server import StaticServer

    _, out = nchw_model
    refs = write_inputs({"image": np.zeros((1, 4, 4, 3), np.float32)}, str(tmp_path), url_prefix="/data/")
    mounts = {"/runtime/": runtime_dist(), "/model/": out, "/data/": str(tmp_path)}
    with StaticServer(mounts, pages={"/harness.html": HARNESS_HTML}) as srv:
        page = browser.new_page()
        try:
            page.goto(srv.url + "/harness.html")
            page.wait_for_function("document.title === 'webdnn-harness-ready'", timeout=30_000)
            args = {"model": "/model/", "backendOrder": ["fallback"], "inputs": refs, "warmup": 0, "repeat": 0,
                    "uploadPrefix": "/upload/out"}
            with pytest.raises(Exception, match=r"input 'image' has dims \[1, 4, 4, 3\], the model expects"):
                page.evaluate("args => globalThis.__webdnn.runModel(args)", args)
        finally:
            page.close()


@pytest.mark.node
def test_verify_runs_a_dynamic_model_at_the_given_inputs_shape(tmp_path: Path) -> None:
    path = tmp_path / "dyn.onnx"
    onnx.save(make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", F32, ["N", 4])], ["y"]), path)
    np.save(tmp_path / "x.npy", np.arange(-6, 6, dtype=np.float32).reshape(3, 4))
    r = CliRunner().invoke(main, ["verify", str(path), "--node", "--json", "--repeat", "1", "--input",
                                  f"x={tmp_path / 'x.npy'}"])
    assert r.exit_code == 0, r.output
    (res,) = json.loads(r.output.strip().splitlines()[-1])["results"]
    assert res["ok"] and res["outputs"][0]["max_abs_err"] == 0.0


@pytest.mark.node
def test_convert_keeps_a_models_dynamic_dims_unless_fixed(tmp_path: Path) -> None:
    """The model's dim_params stay symbols by default (one conversion, any batch); --fixed fixes them to 1."""
    from webdnn.browser.node import run_model_node

    path = tmp_path / "dyn.onnx"
    w = np.arange(12, dtype=np.float32).reshape(4, 3) / 7
    onnx.save(make_model([helper.make_node("MatMul", ["x", "w"], ["y"])], [("x", F32, ["batch", 4])], ["y"],
                         {"w": w}), path)
    r = CliRunner().invoke(main, ["convert", str(path), "-o", str(tmp_path / "dyn"), "--backends", "fallback,wasm"])
    assert r.exit_code == 0, r.output
    assert "dynamic dims kept: x [batch, 4]" in r.output
    manifest = json.loads((tmp_path / "dyn" / "manifest.json").read_text())
    assert [s["name"] for s in manifest["symbols"]] == ["batch"]
    for n in (1, 3):
        x = np.linspace(-1, 1, 4 * n, dtype=np.float32).reshape(n, 4)
        for b in ("fallback", "wasm"):
            y = run_model_node(str(tmp_path / "dyn"), {"x": x}, [b]).outputs["y"]
            np.testing.assert_allclose(y, x @ w, rtol=1e-6, atol=1e-6)
    r = CliRunner().invoke(main, ["convert", str(path), "-o", str(tmp_path / "fixed"), "--fixed",
                                  "--backends", "fallback"])
    assert r.exit_code == 0, r.output
    manifest = json.loads((tmp_path / "fixed" / "manifest.json").read_text())
    assert "symbols" not in manifest and manifest["inputs"][0]["shape"] == [1, 4]


@pytest.mark.parametrize("spec, why", [("image=-1,3,4,4", "dim '-1' is not a non-negative integer"),
                                       ("image=1,3,4.5,4", "dim '4.5' is not a non-negative integer")])
def test_convert_refuses_a_negative_or_non_integer_input_shape(nchw_model: tuple[str, str], tmp_path: Path,
                                                               spec: str, why: str) -> None:
    onnx_path, _ = nchw_model
    r = CliRunner().invoke(main, ["convert", onnx_path, "-o", str(tmp_path / "out"), "--input-shape", spec])
    assert r.exit_code == 2 and why in r.output and "Traceback" not in r.output, r.output
    assert not (tmp_path / "out").exists()


def test_convert_refuses_an_opset_onnx_does_not_know(tmp_path: Path) -> None:
    path = tmp_path / "future.onnx"
    onnx.save(make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", F32, [4])], ["y"], opset=40), path)
    r = CliRunner().invoke(main, ["convert", str(path), "-o", str(tmp_path / "out")])
    assert r.exit_code == 2 and "error: the model imports ONNX opset 40" in r.output, r.output
    assert f"newest opset known here is {onnx.defs.onnx_opset_version()}" in r.output
    assert not (tmp_path / "out").exists()


def test_demo_site_command_writes_a_static_site_and_reuses_the_conversion(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from webdnn.zoo.pretrained import PretrainedUnavailableError, imagenet_labels

    try:
        imagenet_labels()
    except PretrainedUnavailableError as e:
        pytest.skip(str(e))
    site, cache = str(tmp_path / "site"), str(tmp_path / "cache")
    r = CliRunner().invoke(main, ["demo-site", "-o", site, "--cache", cache])
    assert r.exit_code == 0, r.output
    assert "converted for wasm, webgpu, webgl, fallback" in r.output and "demo site written to" in r.output
    assert f"webdnn serve {site}" in r.output
    for f in ["index.html", "style.css", "recognition/index.html", "recognition/recognition.js", "runtime/webdnn.mjs",
              "runtime/webdnn-wasm-worker.js", "models/efficientnet_lite0/manifest.json",
              "models/efficientnet_lite0/labels.json", "photos/photos.json", "photos/chelsea.png"]:
        assert os.path.isfile(os.path.join(site, f)), f
    html = open(os.path.join(site, "recognition", "index.html")).read()
    assert "<script type=\"module\" src=\"recognition.js\"></script>" in html and "<style" not in html
    assert "style=" not in html and "onclick" not in html  # nothing inline: the page runs under the strict CSP
    r = CliRunner().invoke(main, ["demo-site", "-o", site, "--cache", cache])
    assert r.exit_code == 0 and "reusing" in r.output and "converted for" not in r.output, r.output
