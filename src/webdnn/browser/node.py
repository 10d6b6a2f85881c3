"""Run a converted model in Node with the built runtime (runtime/tools/run-node.mjs)."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from webdnn.browser.driver import RunResult, SizeRun
from webdnn.browser.io import check_inputs, from_bytes, model_inputs, typed_outputs, write_inputs
from webdnn.browser.paths import runtime_dist, runtime_tool
from webdnn.errors import WebDNNError


def run_model_node(
    model_dir: str,
    inputs: Mapping[str, np.ndarray],
    backend_order: Sequence[str] = ("fallback",),
    warmup: int = 0,
    repeat: int = 1,
    timeout: float = 900,
    env: Mapping[str, str] | None = None,
    backend_options: Mapping[str, Any] | None = None,
) -> RunResult:
    """`env`: extra environment variables for Node (e.g. webdnn.backends.webgpu.node.swiftshader_env())."""
    check_inputs(inputs, model_inputs(model_dir), model_dir)
    runtime_dist()  # fails clearly when the runtime is not built
    with tempfile.TemporaryDirectory(prefix="webdnn-node-") as tmp:
        spec = {
            "model": os.path.abspath(model_dir), "backendOrder": list(backend_order),
            "backendOptions": dict(backend_options or {}),
            "inputs": write_inputs(inputs, tmp), "warmup": warmup, "repeat": repeat, "outDir": tmp,
        }
        r = _run_spec(spec, tmp, model_dir, timeout, env)
        outputs = typed_outputs(model_dir, _read_outputs(r["outputs"]))
    return RunResult(r["backend"], r["loadMs"], r["firstRunMs"], r["times"], outputs,
                     backend_info=r.get("backendInfo") or {})


def run_model_node_sizes(
    model_dir: str,
    input_sets: Sequence[Mapping[str, np.ndarray]],
    backend_order: Sequence[str] = ("fallback",),
    warmup: int = 0,
    repeat: int = 1,
    alternate: int = 0,
    timeout: float = 900,
    env: Mapping[str, str] | None = None,
    backend_options: Mapping[str, Any] | None = None,
) -> tuple[str, dict[str, Any], list[SizeRun]]:
    """Run a model with symbolic dims at several input sizes in one load (in Node): each set of
    inputs in turn, then, with `alternate`, the sets in turn that many more times (a, b, a, b, ...).
    Returns (backend, backendInfo, one SizeRun per set)."""
    specs = model_inputs(model_dir)
    for inputs in input_sets:
        check_inputs(inputs, specs, model_dir)
    runtime_dist()
    with tempfile.TemporaryDirectory(prefix="webdnn-node-") as tmp:
        sets = []
        for k, inputs in enumerate(input_sets):
            d = os.path.join(tmp, f"in{k}")
            os.makedirs(d)
            sets.append(write_inputs(inputs, d))
        spec = {
            "model": os.path.abspath(model_dir), "backendOrder": list(backend_order),
            "backendOptions": dict(backend_options or {}), "sets": sets, "warmup": warmup, "repeat": repeat,
            "alternate": alternate, "outDir": tmp,
        }
        r = _run_spec(spec, tmp, model_dir, timeout, env)
        runs = []
        for s in r["sets"]:
            runs.append(SizeRun(s["firstRunMs"], s["times"], s.get("alternateTimes", []), _read_outputs(s["outputs"])))
    return r["backend"], r.get("backendInfo") or {}, runs


def _run_spec(spec: dict[str, Any], tmp: str, model_dir: str, timeout: float,
              env: Mapping[str, str] | None) -> dict[str, Any]:
    """Run runtime/tools/run-node.mjs on `spec` (written into `tmp`); its one-line JSON result."""
    spec_path = os.path.join(tmp, "spec.json")
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    cmd = ["node", "--max-old-space-size=8192", runtime_tool("run-node.mjs"), spec_path]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **env} if env else None)
    if p.returncode != 0:
        raise WebDNNError(f"running {model_dir} in Node failed:\n{p.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(p.stdout.strip().splitlines()[-1])
    return result


def _read_outputs(refs: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    outputs = {}
    for o in refs:
        with open(o["path"], "rb") as f:
            outputs[o["name"]] = from_bytes(f.read(), o["dtype"], o["dims"])
    return outputs
