"""Compare WebDNN's outputs with onnxruntime's on the same model and inputs.

Tolerance (fp32): |ours - ref| <= 1e-4 * max(1, |ref|) elementwise; integer and bool
outputs must match exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx

from webdnn.ir.dtypes import DType

DEFAULT_TOLERANCE = 1e-4


def random_inputs(
    model: onnx.ModelProto, shapes: Mapping[str, tuple[int, ...]], seed: int = 0
) -> dict[str, np.ndarray]:
    """Seeded inputs for the model's (non-initializer) inputs at the given static shapes.

    Floats are N(0, 1); integers are 0 or 1 (valid as indices and masks); bools random.
    """
    rng = np.random.default_rng(seed)
    init = {i.name for i in model.graph.initializer}
    out: dict[str, np.ndarray] = {}
    for inp in model.graph.input:
        if inp.name in init:
            continue
        dt = DType.from_onnx(inp.type.tensor_type.elem_type).numpy
        shape = shapes[inp.name]
        if np.issubdtype(dt, np.floating):
            out[inp.name] = rng.standard_normal(shape).astype(dt)
        elif dt == np.bool_:
            out[inp.name] = rng.integers(0, 2, shape).astype(bool)
        else:
            out[inp.name] = rng.integers(0, 2, shape).astype(dt)
    return out


def reference_outputs(model: onnx.ModelProto | str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run the original model in onnxruntime (CPU)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    src = model if isinstance(model, str) else model.SerializeToString()
    sess = ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, dict(inputs)), strict=True))


@dataclass
class Comparison:
    name: str
    max_abs_err: float
    max_rel_err: float
    ok: bool
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "max_abs_err": self.max_abs_err, "max_rel_err": self.max_rel_err, "ok": self.ok,
                "detail": self.detail}


def compare(name: str, ref: np.ndarray, got: np.ndarray | None, tol: float = DEFAULT_TOLERANCE) -> Comparison:
    if got is None:
        return Comparison(name, float("inf"), float("inf"), False, "output missing")
    if ref.shape != got.shape:
        return Comparison(name, float("inf"), float("inf"), False, f"shape {got.shape} != reference {ref.shape}")
    if ref.size == 0:
        return Comparison(name, 0.0, 0.0, True)
    if not np.issubdtype(ref.dtype, np.floating):
        bad = int(np.count_nonzero(ref != got))
        err = float(np.max(np.abs(ref.astype(np.float64) - got.astype(np.float64))))
        return Comparison(name, err, err, bad == 0, f"{bad} elements differ" if bad else "")
    r = ref.astype(np.float64)
    g = got.astype(np.float64)
    same_special = (np.isnan(r) & np.isnan(g)) | (np.isinf(r) & (r == g))
    diff = np.where(same_special, 0.0, np.abs(r - g))
    diff = np.where(np.isnan(diff), np.inf, diff)
    scale = np.maximum(1.0, np.abs(np.where(np.isfinite(r), r, 0.0)))
    max_abs = float(diff.max())
    max_rel = float((diff / np.maximum(np.abs(np.where(np.isfinite(r), r, 0.0)), 1e-12)).max())
    ok = bool(np.all(diff <= tol * scale))
    return Comparison(name, max_abs, max_rel, ok)
