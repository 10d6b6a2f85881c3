"""Benchmark harness: WebDNN's backends next to ONNX Runtime Web, TensorFlow.js and native onnxruntime.

    from webdnn.bench import BenchOptions, run_bench
    report = run_bench(BenchOptions.quick(models=["squeezenet1_1"]))

`webdnn bench` (cli.py) is the command; docs/benchmarks.md describes the method and holds the latest table.
"""

from __future__ import annotations

from webdnn.bench.models import MODELS
from webdnn.bench.run import ALL_BACKENDS, DEFAULT_BACKENDS, RUNTIMES, BenchOptions, run_bench

__all__ = ["ALL_BACKENDS", "DEFAULT_BACKENDS", "MODELS", "RUNTIMES", "BenchOptions", "run_bench"]
