"""Run a handful of ONNX node conformance cases of basic ops on the fallback backend (a few seconds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from webdnn.browser.driver import Browser, RunResult
from webdnn.conformance.batch import ModelJob
from webdnn.conformance.cases import load_cases
from webdnn.conformance.results import PASSED, Report
from webdnn.conformance.run import run_conformance, select_cases
from webdnn.convert import convert

BASIC = ["test_relu", "test_add", "test_add_bcast", "test_basic_conv_with_padding", "test_conv_with_strides_padding",
         "test_matmul_2d", "test_sigmoid", "test_concat_2d_axis_1"]


def _assert_all_pass(report: Report) -> None:
    results = {r.name: r for r in report.results}
    assert sorted(results) == sorted(BASIC)
    failing = {n: f"{r.status}: {r.detail}" for n, r in results.items() if r.status != PASSED}
    assert not failing, failing


@pytest.mark.browser
def test_basic_cases_pass_in_chromium(browser: Browser) -> None:
    _assert_all_pass(run_conformance("fallback", "chromium", patterns=BASIC, browser=browser))


@pytest.mark.node
def test_basic_cases_pass_in_node() -> None:
    _assert_all_pass(run_conformance("fallback", "node", patterns=BASIC))


@pytest.mark.browser
def test_a_broken_job_does_not_stop_the_batch(browser: Browser, tmp_path: Path) -> None:
    from webdnn.conformance.chromium_batch import run_models_chromium

    case = select_cases(load_cases(), patterns=["test_relu"])[0]
    convert(case.model_path, tmp_path / "relu")
    jobs = [ModelJob(str(tmp_path / "missing"), {"x": np.zeros(1, np.float32)}),
            ModelJob(str(tmp_path / "relu"), case.input_arrays())]
    missing, ok = list(run_models_chromium(browser, jobs, timeout_s=10))
    assert isinstance(missing, Exception) and "manifest.json" in str(missing)
    assert isinstance(ok, RunResult)
    np.testing.assert_array_equal(ok.outputs["y"], case.expected_outputs()["y"])
