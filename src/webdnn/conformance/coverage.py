"""Which claimed ops the ONNX node conformance suite covers.

Every op with a shape rule should have ONNX node cases (as the op under test). An op
that has none must be listed here with the reason, so that gap is a decision, not an
accident; tests/conformance checks it and docs/operators.md lists them.
"""

from __future__ import annotations

from collections.abc import Iterable

from webdnn.conformance.cases import Case

# op -> why the ONNX node suite has no case for it (and what tests it instead)
NO_CONFORMANCE_CASES: dict[str, str] = {
    "QLinearAdd": "a com.microsoft op (no ONNX suite case): the frontend expands it and passes/fuse_qdq.py folds "
                  "QDQ Adds into it; tests/frontend/test_contrib_ops.py and tests/backends/wasm/test_wasm_quantized.py "
                  "check it against onnxruntime",
}


def ops_with_cases(cases: Iterable[Case]) -> set[str]:
    return {c.op for c in cases}


def uncovered(claimed: Iterable[str], cases: Iterable[Case]) -> list[str]:
    """Claimed ops with no conformance case that are not listed in NO_CONFORMANCE_CASES."""
    have = ops_with_cases(cases)
    return sorted(op for op in claimed if op not in have and op not in NO_CONFORMANCE_CASES)
