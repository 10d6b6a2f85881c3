"""The benchmark harness must not rot: `webdnn bench --quick` on SqueezeNet, JSON schema, small errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from webdnn.bench.models import flop_count
from webdnn.bench.page import bench_node_modules
from webdnn.bench.report import markdown

RESULT_KEYS = {"model", "runtime", "backend", "threads", "median_ms", "min_ms", "max_ms", "cold_start_ms",
               "max_abs_err", "runs", "status", "gflops", "peak_fraction", "vs_ort_wasm_2t", "software_gpu"}


def test_flop_count_conv_gemm() -> None:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    from webdnn.frontend.onnx import from_onnx
    from webdnn.passes.pipeline import optimize

    w = numpy_helper.from_array(np.zeros((8, 3, 3, 3), np.float32), "w")
    g = numpy_helper.from_array(np.zeros((8 * 4 * 4, 10), np.float32), "g")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3]),
         helper.make_node("Flatten", ["c"], ["f"]), helper.make_node("Gemm", ["f", "g"], ["y"])],
        "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], [w, g])
    ir = from_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), None)
    optimize(ir)
    assert flop_count(ir) == 2 * (8 * 4 * 4) * (3 * 3 * 3) + 2 * 10 * 128


def test_markdown_renders_every_status() -> None:
    rows = [
        {"model": "m", "runtime": "onnxruntime-web", "backend": "wasm", "threads": 2, "status": "ok", "median_ms": 2.0,
         "min_ms": 1.5, "max_ms": 3.0, "runs": 10, "cold_start_ms": 100.0, "max_abs_err": 1e-6, "flops": 10**9,
         "gflops": 500.0, "peak_fraction": 0.5, "vs_ort_wasm_2t": 1.0, "software_gpu": False, "note": ""},
        {"model": "m", "runtime": "webdnn", "backend": "webgpu", "threads": None, "status": "unsupported",
         "median_ms": None, "min_ms": None, "max_ms": None, "runs": 0, "cold_start_ms": None, "max_abs_err": None,
         "flops": 10**9, "gflops": None, "peak_fraction": None, "vs_ort_wasm_2t": None, "software_gpu": True,
         "note": "unsupported: op X | y"},
    ]
    md = markdown({"machine": {"wasm_simd_peak_gflops": {"fma": {"1": 60.0, "2": 120.0, "accumulators": 10}}},
                   "results": rows}, "webdnn bench")
    assert "| m | webdnn | webgpu ⚠ |" in md and "**unsupported**" in md and "op X \\| y" in md
    assert "| f32x4.relaxed_madd (relaxed SIMD) | 10 | 60.0 | 120.0 |" in md


@pytest.mark.browser
def test_bench_quick_json() -> None:
    if bench_node_modules() is None:
        pytest.skip("bench/node_modules is absent: the peers are installed by `cd bench && npm ci` (make bench-deps)")
    cmd = [sys.executable, "-m", "webdnn.cli", "bench", "--quick", "--json", "-q", "--models", "squeezenet1_1",
           "--runtimes", "webdnn,onnxruntime-web,onnxruntime-native", "--backends", "fallback,wasm,cpu",
           "--threads", "2", "--repeat", "3", "--warmup", "1"]
    src = os.path.join(os.path.dirname(__file__), "..", "..", "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=170, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    report = json.loads(p.stdout)  # exactly one JSON object on stdout
    assert set(report) == {"machine", "results"}
    m = report["machine"]
    assert m["versions"]["onnxruntime-web"] and m["browser"]
    peak = m["wasm_simd_peak_gflops"]
    assert peak["muladd"]["1"] > 1 and peak["fma"]["2"] > 1
    rows = {(r["runtime"], r["backend"]): r for r in report["results"]}
    required = {("webdnn", "fallback"), ("onnxruntime-web", "wasm"), ("onnxruntime-native", "cpu")}
    assert required <= set(rows)
    # WebDNN backends other than fallback appear as they are registered; their own tests judge them.
    assert {k[0] for k in set(rows) - required} <= {"webdnn"}
    for key, r in rows.items():
        assert RESULT_KEYS <= set(r), RESULT_KEYS - set(r)
        assert r["model"] == "squeezenet1_1" and r["status"] in ("ok", "unsupported", "error"), r
        if key not in required and r["status"] != "ok":
            assert r["note"] and r["median_ms"] is None
            continue
        assert r["status"] == "ok", r
        assert r["runs"] == 3 and 0 < r["min_ms"] <= r["median_ms"] <= r["max_ms"]
        assert r["cold_start_ms"] > 0 and r["gflops"] > 0
        assert r["max_abs_err"] is not None and r["max_abs_err"] < 1e-3, r
    assert rows[("onnxruntime-web", "wasm")]["threads"] == 2  # cross-origin isolated: threads work
    assert rows[("onnxruntime-web", "wasm")]["vs_ort_wasm_2t"] == pytest.approx(1.0)
    assert rows[("webdnn", "fallback")]["peak_fraction"] > 0
