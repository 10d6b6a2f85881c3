"""Output checks of a conformance case, saying which tolerance was needed.

Two rules, elementwise, for floating outputs:
  webdnn: |got - ref| <= 1e-4 * max(1, |ref|)        (webdnn.verify, the project's rule)
  onnx:   |got - ref| <= atol + rtol * |ref|         (ONNX's backend test runner, rtol 1e-3, atol 1e-7)
A case passes when every element is within the larger of the two bounds; the result says
"webdnn" when the project's rule alone holds and "onnx" when ONNX's looser rtol was needed.
Integer and bool outputs must match exactly; dtypes and shapes must match.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from webdnn.verify import DEFAULT_TOLERANCE, compare

WEBDNN = "webdnn"
ONNX = "onnx"


@dataclass
class Check:
    ok: bool
    tolerance: str | None  # WEBDNN or ONNX when ok
    max_abs_err: float
    max_rel_err: float
    detail: str  # what failed, per output


def check_outputs(
    expected: Mapping[str, np.ndarray], got: Mapping[str, np.ndarray], rtol: float, atol: float
) -> Check:
    tolerance = WEBDNN
    max_abs = max_rel = 0.0
    problems: list[str] = []
    for name, ref in expected.items():
        out = got.get(name)
        if out is not None and out.dtype != ref.dtype:
            problems.append(f"{name}: dtype {out.dtype} != expected {ref.dtype}")
            continue
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf where both are inf
            c = compare(name, ref, out, DEFAULT_TOLERANCE)
        if c.ok:
            max_abs, max_rel = max(max_abs, c.max_abs_err), max(max_rel, c.max_rel_err)
            continue
        if out is None or out.shape != ref.shape or not np.issubdtype(ref.dtype, np.floating):
            problems.append(f"{name}: {c.detail or f'max abs err {c.max_abs_err:.3g}'}")
            continue
        max_abs, max_rel = max(max_abs, c.max_abs_err), max(max_rel, c.max_rel_err)
        bad = _outside_onnx_bound(ref, out, rtol, atol)
        if bad:
            problems.append(
                f"{name}: {bad} of {ref.size} elements off, max abs err {c.max_abs_err:.3g}, "
                f"max rel err {c.max_rel_err:.3g}"
            )
        else:
            tolerance = ONNX
    if problems:
        return Check(False, None, max_abs, max_rel, "; ".join(problems))
    return Check(True, tolerance, max_abs, max_rel, "")


def _outside_onnx_bound(ref: np.ndarray, got: np.ndarray, rtol: float, atol: float) -> int:
    """How many elements are outside max(webdnn bound, ONNX bound); NaN matches NaN, inf matches itself."""
    r = ref.astype(np.float64)
    g = got.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        return _count_outside(r, g, rtol, atol)


def _count_outside(r: np.ndarray, g: np.ndarray, rtol: float, atol: float) -> int:
    same_special = (np.isnan(r) & np.isnan(g)) | (np.isinf(r) & (r == g))
    diff = np.where(same_special, 0.0, np.abs(r - g))
    diff = np.where(np.isnan(diff), np.inf, diff)
    finite_ref = np.abs(np.where(np.isfinite(r), r, 0.0))
    bound = np.maximum(DEFAULT_TOLERANCE * np.maximum(1.0, finite_ref), atol + rtol * finite_ref)
    return int(np.count_nonzero(diff > bound))
