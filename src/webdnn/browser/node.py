"""Run a converted model in Node with the built runtime (runtime/tools/run-node.mjs)."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from webdnn.browser.driver import RunResult
from webdnn.browser.io import check_inputs, from_bytes, model_inputs, write_inputs
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
        spec_path = os.path.join(tmp, "spec.json")
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        cmd = ["node", "--max-old-space-size=8192", runtime_tool("run-node.mjs"), spec_path]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           env={**os.environ, **env} if env else None)
        if p.returncode != 0:
            raise WebDNNError(f"running {model_dir} in Node failed:\n{p.stderr.strip()[-2000:]}")
        r = json.loads(p.stdout.strip().splitlines()[-1])
        outputs = {}
        for o in r["outputs"]:
            with open(o["path"], "rb") as f:
                outputs[o["name"]] = from_bytes(f.read(), o["dtype"], o["dims"])
    return RunResult(r["backend"], r["loadMs"], r["firstRunMs"], r["times"], outputs,
                     backend_info=r.get("backendInfo") or {})
