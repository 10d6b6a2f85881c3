"""Bad descriptors, corrupted weights and bad inputs give clear errors (Chromium + Node)."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from onnx import helper

from tests.conftest import F32, make_model
from webdnn.convert import convert
from webdnn.errors import ConversionError, UnsupportedOperatorError, WebDNNError


def _small_model_dir(tmp_path) -> str:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    m = make_model(
        [helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1), helper.make_node("Relu", ["h"], ["y"])],
        [("x", F32, [2, 8])],
        ["y"],
        {"w": rng.standard_normal((4, 8)).astype(np.float32), "b": rng.standard_normal(4).astype(np.float32)},
    )
    out = str(tmp_path / "m")
    convert(m, out)
    return out


def _run_node(model_dir: str, x: np.ndarray) -> np.ndarray:
    from webdnn.browser.node import run_model_node

    return run_model_node(model_dir, {"x": x}).outputs["y"]


@pytest.mark.node
def test_corrupted_weights_are_detected(tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = _small_model_dir(tmp_path)
    x = np.ones((2, 8), np.float32)
    assert _run_node(d, x).shape == (2, 4)
    w = os.path.join(d, "fallback", "weights-0.bin")
    data = bytearray(open(w, "rb").read())
    data[5] ^= 0xFF
    open(w, "wb").write(bytes(data))
    with pytest.raises(WebDNNError, match="weights-0.bin is corrupted: CRC-32"):
        _run_node(d, x)
    open(w, "wb").write(bytes(data[:-3]))
    with pytest.raises(WebDNNError, match="truncated"):
        _run_node(d, x)


@pytest.mark.node
def test_out_of_range_offset_is_rejected(tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = _small_model_dir(tmp_path)
    p = os.path.join(d, "fallback", "descriptor.json")
    desc = json.load(open(p))
    desc["tensors"][0]["offset"] = desc["arena"]["byteLength"] + 64
    json.dump(desc, open(p, "w"))
    with pytest.raises(WebDNNError, match=r"tensors\[0\].*outside the arena"):
        _run_node(d, np.ones((2, 8), np.float32))
    desc["version"] = 99
    json.dump(desc, open(p, "w"))
    with pytest.raises(WebDNNError, match="format version 99"):
        _run_node(d, np.ones((2, 8), np.float32))


@pytest.mark.node
def test_input_shape_mismatch_is_reported(tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = _small_model_dir(tmp_path)
    # checked in Python against the manifest before Node starts (the runtime checks the dims it is given too)
    with pytest.raises(WebDNNError, match=r"input 'x' has shape \[3, 4\] \(float32\), .* expects shape \[2, 8\]"):
        _run_node(d, np.ones((3, 4), np.float32))
    with pytest.raises(WebDNNError, match=r"input 'x' is float64 .* expects shape \[2, 8\] float32"):
        _run_node(d, np.ones((2, 8), np.float64))


def test_failed_conversion_leaves_nothing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    m = make_model([helper.make_node("Relu", ["x"], ["h"]), helper.make_node("NoSuchOp", ["h"], ["y"], name="bad1")],
                   [("x", F32, [2])], ["y"])
    out = tmp_path / "out"
    msg = r"node 'bad1' \(NoSuchOp opset 17\): operator is not supported. See docs/operators.md"
    with pytest.raises(UnsupportedOperatorError, match=msg):
        convert(m, out)
    assert not out.exists()
    assert os.listdir(tmp_path) == []


def test_refuses_to_overwrite_foreign_directory(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "precious.txt").write_text("keep")
    m = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", F32, [2])], ["y"])
    with pytest.raises(ConversionError, match="holds no WebDNN model"):
        convert(m, tmp_path / "out")
    assert (tmp_path / "out" / "precious.txt").read_text() == "keep"
    shutil.rmtree(tmp_path / "out")


@pytest.mark.browser
def test_strict_csp_and_cross_origin_isolation(tmp_path, browser) -> None:  # type: ignore[no-untyped-def]
    d = _small_model_dir(tmp_path)
    x = np.random.default_rng(1).standard_normal((2, 8)).astype(np.float32)
    r = browser.run_model(d, {"x": x}, ["fallback"], csp=True)
    assert r.csp_violations == []
    assert r.cross_origin_isolated
    assert np.allclose(r.outputs["y"], _run_node(d, x), atol=1e-6)
    r2 = browser.run_model(d, {"x": x}, ["fallback"], isolate=False)
    assert not r2.cross_origin_isolated
    np.testing.assert_array_equal(r.outputs["y"], r2.outputs["y"])


@pytest.mark.browser
def test_script_tag_build_defines_global(browser) -> None:  # type: ignore[no-untyped-def]
    from webdnn.browser.paths import runtime_dist
    from webdnn.browser.server import STRICT_CSP, StaticServer

    page_html = "<!doctype html><script src='/runtime/webdnn.js'></script>"
    with StaticServer({"/runtime/": runtime_dist()}, csp=STRICT_CSP, pages={"/p.html": page_html}) as srv:
        page = browser.new_page()
        try:
            page.goto(srv.url + "/p.html")
            assert page.evaluate("typeof WebDNN.load") == "function"
            assert "fallback" in page.evaluate("Object.keys(WebDNN.BACKENDS)")
        finally:
            page.close()


@pytest.mark.node
def test_backend_order_falls_back_and_reports_why(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from webdnn.browser.node import run_model_node

    d = _small_model_dir(tmp_path)
    x = np.ones((2, 8), np.float32)
    assert run_model_node(d, {"x": x}, ["webgl", "nosuch", "fallback"]).backend == "fallback"
    with pytest.raises(WebDNNError, match=r"no backend of \[nosuch\].*nosuch: not in this runtime"):
        run_model_node(d, {"x": x}, ["nosuch"])


@pytest.mark.browser
def test_load_reports_progress(tmp_path, browser) -> None:  # type: ignore[no-untyped-def]
    d = _small_model_dir(tmp_path)
    r = browser.run_model(d, {"x": np.ones((2, 8), np.float32)}, ["fallback"])
    phases = [p["phase"] for p in r.progress]
    assert phases[0] == "manifest" and phases[-1] == "ready"
    assert phases.index("descriptor") < phases.index("weights") < phases.index("compile")
    last = r.progress[-1]
    assert last["loadedBytes"] == last["totalBytes"] > 0
