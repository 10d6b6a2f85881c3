"""The whole ONNX node conformance suite on webgpu in headless Chromium (~80 s on SwiftShader).

The webgpu backend may fail only cases that fail on fallback too (tests/conformance/known_failures.txt),
and it must pass at least as many as it did when this test was written (coverage only grows).
"""

from __future__ import annotations

import pytest

from tests.conformance.test_full_suite import known_failures
from webdnn.conformance.results import CONVERSION_ERROR, FAILED, PASSED
from webdnn.conformance.run import run_conformance
from webdnn.conformance.summary import format_failures

MIN_PASSED = 950  # 2026-11: 958 of 1884 (fallback: 975); 434 before bool tensors, Pad, ConvTranspose, ...


@pytest.mark.slow
@pytest.mark.browser
def test_webgpu_conformance(gpu_browser: object) -> None:
    report = run_conformance("webgpu", "chromium", browser=gpu_browser)  # type: ignore[arg-type]
    failing = {r.name for r in report.results if r.status in (FAILED, CONVERSION_ERROR)}
    new = failing - known_failures()
    assert not new, f"{len(new)} webgpu conformance failures: {sorted(new)}\n{format_failures(report)}"
    passed = sum(r.status == PASSED for r in report.results)
    assert passed >= MIN_PASSED, f"only {passed} cases pass on webgpu (expected >= {MIN_PASSED})"
