"""Every op we claim is covered by ONNX node conformance cases, or says why not (fast)."""

from __future__ import annotations

from webdnn.conformance.cases import load_cases
from webdnn.conformance.coverage import NO_CONFORMANCE_CASES, ops_with_cases, uncovered
from webdnn.ops.registry import supported_ops


def test_every_claimed_op_has_a_case_or_is_listed() -> None:
    missing = uncovered(supported_ops(), load_cases())
    assert not missing, (
        f"ops with a shape rule but no ONNX node conformance case: {missing}; "
        "add them to NO_CONFORMANCE_CASES in webdnn/conformance/coverage.py with the reason"
    )


def test_listed_ops_really_lack_cases() -> None:
    stale = sorted(set(NO_CONFORMANCE_CASES) & ops_with_cases(load_cases()))
    assert not stale, f"NO_CONFORMANCE_CASES lists ops that do have cases: {stale}"


def test_cases_know_the_op_under_test() -> None:
    cases = {c.name: c for c in load_cases()}
    assert len(cases) > 1000
    assert cases["test_conv_with_strides_padding"].op == "Conv"
    relu = cases["test_relu_expanded_ver18"]
    assert relu.op == "Relu" and relu.expanded and "Max" in relu.op_types
    assert cases["test_relu"].input_arrays()["x"].shape == cases["test_relu"].expected_outputs()["y"].shape
