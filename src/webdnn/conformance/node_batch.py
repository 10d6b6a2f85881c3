"""Run many converted models in one Node process (node_batch.mjs), with a per-job timeout.

One process for the whole batch instead of one per model (webdnn.browser.node) saves
Node's start-up per case. A job that hangs or crashes Node is reported, the process is
killed and a new one continues with the next job.

WebGPU runs through the npm `webgpu` package (Dawn, node_batch.mjs) on a CPU Vulkan driver
(node_env): Mesa's lavapipe for webgpu-fp16 (the only driver here with `shader-f16`),
Chromium's SwiftShader for webgpu, as in the project's other Node WebGPU tests.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import IO, Any

from webdnn.browser.driver import RunResult
from webdnn.browser.io import from_bytes, write_inputs
from webdnn.browser.paths import runtime_dist
from webdnn.conformance.batch import ModelJob, Outcome
from webdnn.errors import WebDNNError

SCRIPT = os.path.join(os.path.dirname(__file__), "node_batch.mjs")


def node_env(backend_order: Sequence[str]) -> dict[str, str] | None:
    """Extra environment for Node running `backend_order`: the Vulkan driver Dawn should use."""
    from webdnn.backends.webgpu.node import lavapipe_env, swiftshader_env

    if "webgpu-fp16" in backend_order:
        env = lavapipe_env()
        if env is None:
            raise WebDNNError("webgpu-fp16 in Node needs Mesa's lavapipe Vulkan driver (shader-f16): "
                              "run tools/install-lavapipe.sh")
        return env
    if any(b.startswith("webgpu") for b in backend_order):
        return swiftshader_env()  # None: the system's Vulkan driver
    return None


def run_models_node(
    jobs: Sequence[ModelJob], backend_order: Sequence[str] = ("fallback",), timeout_s: float = 30.0,
    env: Mapping[str, str] | None = None,
) -> Iterator[Outcome]:
    """Yields a RunResult or a WebDNNError per job, in job order. `env`: extra environment for Node
    (default: node_env(backend_order))."""
    env = node_env(backend_order) if env is None else env
    module = os.path.join(runtime_dist(), "webdnn.mjs")
    with tempfile.TemporaryDirectory(prefix="webdnn-node-batch-") as tmp:
        spec_jobs: list[dict[str, Any]] = []
        out_dirs: list[str] = []
        for i, job in enumerate(jobs):
            d = os.path.join(tmp, str(i))
            os.makedirs(d)
            out_dirs.append(d)
            spec_jobs.append({"model": os.path.abspath(job.model_dir), "inputs": write_inputs(job.inputs, d),
                              "outDir": d})
        spec_path = os.path.join(tmp, "spec.json")
        with open(spec_path, "w") as f:
            json.dump({"backendOrder": list(backend_order), "jobs": spec_jobs}, f)
        i = 0
        while i < len(jobs):
            proc = subprocess.Popen(["node", SCRIPT, module, spec_path, str(i)], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, env={**os.environ, **env} if env else None)
            lines: queue.Queue[str | None] = queue.Queue()
            err: list[str] = []
            threading.Thread(target=_pump, args=(proc.stdout, lines.put, True), daemon=True).start()
            threading.Thread(target=_pump, args=(proc.stderr, err.append, False), daemon=True).start()
            try:
                while i < len(jobs):
                    try:
                        line = lines.get(timeout=timeout_s)
                    except queue.Empty:
                        yield WebDNNError(f"running {jobs[i].model_dir} in Node: no result within {timeout_s:g} s")
                        i += 1
                        break
                    if line is None:  # Node died on this job
                        rc = proc.wait()
                        tail = "".join(err).strip()[-1500:]
                        yield WebDNNError(f"running {jobs[i].model_dir} in Node: exited with {rc}: {tail}")
                        i += 1
                        break
                    r = _parse(line)
                    if r is None or r.get("i") != i:
                        continue  # not one of our lines (a kernel's stray console.log)
                    yield _result(r)
                    shutil.rmtree(out_dirs[i], ignore_errors=True)
                    i += 1
            finally:
                if proc.poll() is None:
                    proc.kill()
                proc.wait()


def _result(r: dict[str, Any]) -> Outcome:
    if not r["ok"]:
        return WebDNNError(r["error"])
    outputs = {}
    for o in r["outputs"]:
        with open(o["path"], "rb") as f:
            outputs[o["name"]] = from_bytes(f.read(), o["dtype"], o["dims"])
    return RunResult(r["backend"], 0.0, 0.0, [], outputs)


def _parse(line: str) -> dict[str, Any] | None:
    try:
        r = json.loads(line)
    except ValueError:
        return None
    return r if isinstance(r, dict) else None


def _pump(stream: IO[str] | None, put: Callable[[Any], None], end_with_none: bool) -> None:
    assert stream is not None
    for line in stream:
        put(line)
    if end_with_none:
        put(None)
