"""Compare WebDNN's outputs with onnxruntime's on the same model and inputs.

Tolerance (fp32): |ours - ref| <= 1e-4 * max(1, |ref|) elementwise; integer and bool
outputs must match exactly.
"""

from __future__ import annotations

import functools
import os
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


# Ops whose onnxruntime CPU kernels multiply uint8 by int8. On a CPU without VNNI (AVX2 only) onnxruntime sums
# pairs of those products in saturating int16 (vpmaddubsw), so its answer depends on the machine and can be far
# from the spec's exact integer arithmetic (its quantizer's reduce_range exists for this). Where this CPU's
# onnxruntime is inexact, models with them are run by ONNX's reference evaluator instead.
INTEGER_PRODUCT_OPS = frozenset({"MatMulInteger", "ConvInteger", "QLinearConv", "QLinearMatMul", "QGemm"})


@functools.lru_cache(maxsize=1)
def onnxruntime_u8s8_is_exact() -> bool:
    """Whether this CPU's onnxruntime computes 255*127 + 255*127 (a uint8 x int8 MatMulInteger) exactly."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    g = helper.make_graph([helper.make_node("MatMulInteger", ["a", "b"], ["y"])], "probe",
                          [helper.make_tensor_value_info("a", TensorProto.UINT8, [1, 32])],
                          [helper.make_tensor_value_info("y", TensorProto.INT32, [1, 1])],
                          [numpy_helper.from_array(np.full((32, 1), 127, np.int8), "b")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    y = sess.run(None, {"a": np.full((1, 32), 255, np.uint8)})[0]
    return int(y[0, 0]) == 32 * 255 * 127


def reference_outputs(model: onnx.ModelProto | str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run the original model in onnxruntime (CPU). Where this CPU's onnxruntime is inexact for uint8 x int8
    products (onnxruntime_u8s8_is_exact): a model with DequantizeLinear without graph optimizations (no QDQ pattern
    fused into such a kernel), and a model with an integer-product op (INTEGER_PRODUCT_OPS) by ONNX's reference
    evaluator."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    src = model if isinstance(model, str) else model.SerializeToString()
    if not onnxruntime_u8s8_is_exact():
        ops = _op_types(model)
        if ops & INTEGER_PRODUCT_OPS:
            return exact_reference_outputs(onnx.load(model) if isinstance(model, str) else model, inputs)
        if "DequantizeLinear" in ops:
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, dict(inputs)), strict=True))


def _op_types(model: onnx.ModelProto | str) -> frozenset[str]:
    """The main graph's op types; a file's are read once per version of it (the zoo's files are large)."""
    if not isinstance(model, str):
        return frozenset(n.op_type for n in model.graph.node)
    st = os.stat(model)
    return _file_op_types(model, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=64)
def _file_op_types(path: str, _mtime_ns: int, _size: int) -> frozenset[str]:
    return frozenset(n.op_type for n in onnx.load(path, load_external_data=False).graph.node)


def exact_reference_outputs(model: onnx.ModelProto, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """ONNX's reference evaluator (exact integer arithmetic), com.microsoft ops written out as standard ones."""
    from onnx.reference import ReferenceEvaluator

    from webdnn.frontend.contrib_ops import expand_contrib_ops

    model = expand_contrib_ops(model)
    names = [o.name for o in model.graph.output]
    return dict(zip(names, ReferenceEvaluator(model, new_ops=[_dequantize_linear_op()]).run(None, dict(inputs)),
                    strict=True))


def _dequantize_linear_op() -> type:
    """DequantizeLinear for opsets 10-18 in the reference evaluator, which has it from 19 on only (19 and later
    added types and attributes with defaults, not semantics): its newest version, for the default domain."""
    from onnx.reference.ops import op_dequantize_linear as dq

    newest = max((c for c in vars(dq) if c.startswith("DequantizeLinear_")), key=lambda c: int(c.rsplit("_", 1)[1]))
    return type("DequantizeLinear", (getattr(dq, newest),), {"op_domain": ""})




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
