"""Output checks of a conformance case, saying which tolerance was needed.

Two rules, elementwise, for floating outputs:
  webdnn: |got - ref| <= 1e-4 * max(1, |ref|)        (webdnn.verify, the project's rule)
  onnx:   |got - ref| <= atol + rtol * |ref|         (ONNX's backend test runner, rtol 1e-3, atol 1e-7)
A case passes when every element is within the larger of the two bounds; the result says
"webdnn" when the project's rule alone holds and "onnx" when ONNX's looser rtol was needed.
Integer and bool outputs must match exactly; dtypes and shapes must match.

A backend that stores tensors in a narrower type has its own rule instead of ONNX's
(BACKEND_RULES): webgpu-fp16 stores every float32 weight and intermediate as f16 (unit
roundoff 2^-11 = 4.9e-4, finite range +-65504; src/webdnn/backends/webgpu/fp16.py), so
rounding a weight, or each intermediate of a multi-node case, already costs ~5e-4 relative,
beyond both rules above. Its rule is the one tests/backends/webgpu/test_webgpu_fp16.py uses:
  fp16:   |got - ref| <= 1e-2 * max(1, max |ref|)        (per output; max over its finite elements)
where a reference value beyond 65504 may also come back as the infinity of its sign (an f16
intermediate overflowed; a float32 output computed from f16 inputs stays finite, also fine).
1e-2 leaves room for a few roundings (the zoo models measured 5e-4 to 1.6e-3 of max |ref|)
while a wrong kernel (errors of the order of the values) still fails. ONNX's bound is never
the larger one there (1e-7 + 1e-3 |ref| < 1e-2 max(1, max |ref|)). The result says "webdnn"
when the fp32 rule holds anyway and "fp16" when the fp16 rule was needed. Integer and bool
outputs must still be exact: an integer result of f16-rounded floats (ArgMax, a comparison)
can differ; such a failure is f16 rounding, not a wrong kernel, but it is still reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from webdnn.verify import DEFAULT_TOLERANCE, compare

WEBDNN = "webdnn"
ONNX = "onnx"
FP16 = "fp16"
FP16_TOLERANCE = 1e-2  # relative to max(1, max |ref|) of the output (see above)
F16_MAX = 65504.0  # the largest finite f16 (as webdnn.backends.webgpu.fp16.F16_MAX)
# backend -> its rule when not webdnn's fp32 rule with ONNX's rtol (see above)
BACKEND_RULES: dict[str, str] = {"webgpu-fp16": FP16}


def rule_for(backend: str) -> str:
    """The tolerance rule the conformance runner applies to `backend`'s outputs: ONNX or FP16."""
    return BACKEND_RULES.get(backend, ONNX)


@dataclass
class Check:
    ok: bool
    tolerance: str | None  # WEBDNN or ONNX when ok
    max_abs_err: float
    max_rel_err: float
    detail: str  # what failed, per output


def check_outputs(
    expected: Mapping[str, np.ndarray], got: Mapping[str, np.ndarray], rtol: float, atol: float,
    rule: str = ONNX,
) -> Check:
    """`rtol`, `atol`: ONNX's tolerance of the case; `rule`: the looser rule tried where the fp32
    one fails (rule_for(backend): ONNX's bound, or FP16's)."""
    if rule not in (ONNX, FP16):
        raise ValueError(f"unknown tolerance rule {rule!r}")
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
        bad = _outside_fp16_bound(ref, out) if rule == FP16 else _outside_onnx_bound(ref, out, rtol, atol)
        if bad:
            problems.append(
                f"{name}: {bad} of {ref.size} elements off, max abs err {c.max_abs_err:.3g}, "
                f"max rel err {c.max_rel_err:.3g}"
            )
        else:
            tolerance = rule
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


def _outside_fp16_bound(ref: np.ndarray, got: np.ndarray) -> int:
    """How many elements are outside the fp16 rule: 1e-2 * max(1, max |finite ref|); NaN matches
    NaN, inf matches itself, and a reference beyond f16's range also matches the infinity of its sign."""
    r = ref.astype(np.float64)
    g = got.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        finite = np.isfinite(r)
        scale = max(1.0, float(np.abs(r[finite]).max())) if finite.any() else 1.0
        overflowed = finite & (np.abs(r) > F16_MAX) & np.isinf(g) & (np.sign(g) == np.sign(r))
        same_special = (np.isnan(r) & np.isnan(g)) | (np.isinf(r) & (r == g)) | overflowed
        diff = np.where(same_special, 0.0, np.abs(r - g))
        diff = np.where(np.isnan(diff), np.inf, diff)
        return int(np.count_nonzero(diff > FP16_TOLERANCE * scale))
