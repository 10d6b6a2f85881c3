"""Native onnxruntime (Python, CPU execution provider): the native line of the table."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from webdnn.bench.models import PreparedModel


def run_native(pm: PreparedModel, threads: int, warmup: int, repeat: int) -> dict[str, Any]:
    """Time native onnxruntime with intra_op_num_threads=`threads` (inter-op 1, sequential execution)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    t0 = time.perf_counter()
    sess = ort.InferenceSession(pm.onnx_path, so, providers=["CPUExecutionProvider"])
    load_ms = (time.perf_counter() - t0) * 1e3
    names = [o.name for o in sess.get_outputs()]
    outs = sess.run(names, pm.inputs)
    cold_ms = (time.perf_counter() - t0) * 1e3
    for _ in range(warmup):
        sess.run(names, pm.inputs)
    times = []
    for _ in range(repeat):
        s = time.perf_counter()
        outs = sess.run(names, pm.inputs)
        times.append((time.perf_counter() - s) * 1e3)
    return {
        "load_ms": load_ms, "cold_start_ms": cold_ms, "times": times, "threads": threads,
        "outputs": dict(zip(names, outs, strict=True)), "version": ort.__version__,
    }


def max_abs_err(reference: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> float | None:
    """Largest |out - ref| over every output (matched by name); None when an output is missing or misshaped."""
    worst = 0.0
    for name, ref in reference.items():
        got = outputs.get(name)
        if got is None or got.size != ref.size:
            return None
        diff = np.abs(np.asarray(got, np.float64).reshape(ref.shape) - np.asarray(ref, np.float64))
        worst = max(worst, float(np.max(diff)) if diff.size else 0.0)
    return worst
