"""webgpu runtime lifecycle, in Node (Dawn on SwiftShader) and in headless Chromium: the same steps
(runtime/test/webgpu_lifecycle_scenario.mjs) on two small models built here.

- GPU-resident I/O: model A's output kept as a GPUBuffer and fed to model B on a shared device
  (backendOptions.webgpu.device) gives onnxruntime's result, as the CPU path does; an app-made
  input buffer works; wrong size, usage, device, dims, dtype and a destroyed buffer each fail with
  their own message and leave the runner usable; the fallback backend refuses GPU buffers.
- dispose() destroys every buffer the runners created on the (instrumented) shared device and
  leaves that device alive; a device the runner created is destroyed.
- A run after device.destroy() (on a supplied device, and on the runner's own right after the
  call) fails with a WebGPUError that says the device was lost and to load the model again.
- A model whose arena exceeds the adapter's maxBufferSize makes webgpu unavailable for it (load()
  tries the next backend); one beyond a supplied device's fails at load; both name the sizes and
  the limit.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import helper

from tests.conftest import F32, make_model
from webdnn.backends.webgpu.node import swiftshader_env
from webdnn.browser.driver import HARNESS_HTML
from webdnn.browser.paths import REPO_ROOT, runtime_dist
from webdnn.browser.server import StaticServer
from webdnn.convert import convert
from webdnn.verify import reference_outputs

TEST_DIR = os.path.join(REPO_ROOT, "runtime", "test")
# Past any adapter's maxBufferSize (SwiftShader's is 1 GiB, real GPUs' a few GiB), yet a safe integer.
HUGE_ARENA = 2**45
# Past WebGPU's default device maxBufferSize (256 MiB) but within the adapter's.
MID_ARENA = 300 * 2**20


def _models() -> tuple[onnx.ModelProto, onnx.ModelProto, np.ndarray]:
    rng = np.random.default_rng(3)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    a = make_model([helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
                    helper.make_node("Relu", ["c"], ["y"])], [("x", F32, [1, 3, 5, 6])], ["y"], {"w": w})
    w2 = rng.standard_normal((2, 4, 1, 1)).astype(np.float32)
    b = make_model([helper.make_node("Conv", ["y", "w"], ["c"]), helper.make_node("Sigmoid", ["c"], ["z"])],
                   [("y", F32, [1, 4, 5, 6])], ["z"], {"w": w2})
    x = rng.standard_normal((1, 3, 5, 6)).astype(np.float32)
    return a, b, x


def _with_arena(src: Path, dst: Path, byte_length: int) -> None:
    """A copy of a converted model whose webgpu descriptor asks for a bigger arena (every tensor still fits)."""
    shutil.copytree(src, dst)
    p = dst / "webgpu" / "descriptor.json"
    desc = json.loads(p.read_text())
    desc["arena"]["byteLength"] = byte_length
    p.write_text(json.dumps(desc))


def _prepare(tmp: Path) -> tuple[dict[str, Path], np.ndarray, dict[str, np.ndarray]]:
    a, b, x = _models()
    dirs = {k: tmp / k for k in ("a", "b", "big", "mid")}
    convert(a, dirs["a"], ["webgpu", "fallback"])
    convert(b, dirs["b"], ["webgpu"])
    _with_arena(dirs["a"], dirs["big"], HUGE_ARENA)
    _with_arena(dirs["a"], dirs["mid"], MID_ARENA)
    y = reference_outputs(a, {"x": x})["y"]
    z = reference_outputs(b, {"y": y})["z"]
    return dirs, x, {"y": y.ravel(), "z": z.ravel()}


def _close(got: list[float], want: np.ndarray) -> None:
    np.testing.assert_allclose(np.asarray(got, np.float32), want, rtol=1e-4, atol=1e-4)


def _check(r: dict[str, Any], ref: dict[str, np.ndarray]) -> None:
    assert r["backend"] == "webgpu"
    assert r["sameDevice"] is True and r["info"]["deviceSupplied"] is True
    # CPU path and GPU chain agree with onnxruntime
    _close(r["cpu"]["y"], ref["y"])
    _close(r["cpu"]["z"], ref["z"])
    _close(r["gpuOut"]["read"], ref["y"])
    _close(r["chain"]["z"], ref["z"])
    _close(r["chain"]["zCpuOut"], ref["z"])
    np.testing.assert_array_equal(r["chain"]["z"], r["cpu"]["z"])  # same kernels, same bits
    _close(r["userInput"], ref["y"])
    _close(r["afterErrors"], ref["y"])
    _close(r["beforeLoss"], ref["y"])
    # the output buffer: the caller's, of the tensor's size, usable as storage and for copies
    assert r["gpuOut"]["size"] == r["gpuOut"]["byteLength"] == 4 * 4 * 5 * 6
    assert r["gpuOut"]["usage"] & 0x80 and r["gpuOut"]["usage"] & 0x4 and r["gpuOut"]["usage"] & 0x8
    assert r["gpuOut"]["dims"] == [1, 4, 5, 6] and r["gpuOut"]["dtype"] == "float32"

    e = r["errors"]
    assert e["size"]["name"] == "WebGPUError"
    assert "has 16 bytes, the model needs 360" in e["size"]["message"] and "'x'" in e["size"]["message"]
    assert e["usage"]["name"] == "WebGPUError" and "COPY_SRC" in e["usage"]["message"]
    assert e["device"]["name"] == "WebGPUError"
    assert "belongs to another device" in e["device"]["message"]
    assert "backendOptions.webgpu.device" in e["device"]["message"]
    assert e["destroyed"]["name"] == "WebGPUError" and "destroyed" in e["destroyed"]["message"]
    assert e["dims"]["name"] == "InputError" and "dims [3, 5, 6]" in e["dims"]["message"]
    assert e["dtype"]["name"] == "InputError" and "int32" in e["dtype"]["message"]
    assert e["outputLocation"]["name"] == "InputError"
    fb = r["fallback"]
    assert fb["backend"] == "fallback" and fb["gpuDevice"] is True
    for k in ("input", "output"):
        assert fb[k]["name"] == "InputError"
        assert "fallback backend" in fb[k]["message"] and "only the webgpu backend" in fb[k]["message"]

    # dispose: arena, weights and readback buffer of each runner, plus the two GPU outputs, were live
    assert r["liveBeforeDispose"] == 8 and r["liveOutputsFreed"] == 6
    assert r["created"] > 8 and r["liveAfterDispose"] == 0
    assert r["gpuDeviceAfterDispose"] is True and "disposed" in r["disposedRun"]["message"]
    assert r["userDeviceError"] is None and r["userDeviceAlive"] is True
    assert r["ownedDestroyed"] == "destroyed"

    for k in ("lossSupplied", "lossSuppliedGpu", "lossOwned"):
        assert r[k] is not None, f"{k}: a run after device loss must fail"
        assert r[k]["name"] == "WebGPUError", r[k]
        assert "device was lost" in r[k]["message"] and "destroyed" in r[k]["message"], r[k]
        assert "load the model again" in r[k]["message"], r[k]
    assert "new GPUDevice" in r["lossSupplied"]["message"]
    assert r["disposeAfterLoss"] is None

    # beyond the adapter: webgpu reports itself unavailable (load() would go on along backendOrder;
    # this one names webgpu alone, so the load fails and says why)
    la = r["limitAdapter"]
    assert la is not None and la["name"] == "BackendUnavailableError"
    assert "no backend of [webgpu]" in la["message"]
    assert f"{HUGE_ARENA} bytes" in la["message"] and "maxBufferSize" in la["message"]
    assert str(r["adapterMaxBufferSize"]) in la["message"]
    ld = r["limitDevice"]
    assert ld is not None and ld["name"] == "WebGPUError"
    assert f"{MID_ARENA} bytes" in ld["message"] and f"maxBufferSize = {r['deviceMaxBufferSize']}" in ld["message"]
    assert f"requiredLimits: {{ maxBufferSize: {MID_ARENA} }}" in ld["message"]


ENV = swiftshader_env()


@pytest.mark.node
@pytest.mark.skipif(
    ENV is None or not os.path.isdir(os.path.join(REPO_ROOT, "runtime", "node_modules", "webgpu")),
    reason="needs Chromium's SwiftShader ICD (apt-get install chromium) and runtime/node_modules/webgpu (npm ci)",
)
def test_webgpu_lifecycle_in_node(tmp_path: Path) -> None:
    runtime_dist()  # a clear error when the runtime is not built
    dirs, x, ref = _prepare(tmp_path)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({**{k: str(v) for k, v in dirs.items()}, "x": x.ravel().tolist()}))
    assert ENV is not None
    p = subprocess.run(["node", os.path.join(TEST_DIR, "webgpu_lifecycle_node.mjs"), str(spec)],
                       env={**os.environ, **ENV}, capture_output=True, text=True, timeout=300, cwd=TEST_DIR)
    assert p.returncode == 0, p.stderr[-4000:]
    _check(json.loads(p.stdout.strip().splitlines()[-1]), ref)


SCRIPT = """
async (m) => {
  const { scenario } = await import("/test/webgpu_lifecycle_scenario.mjs");
  return scenario(globalThis.__webdnn.WebDNN, navigator.gpu, m);
}
"""


@pytest.mark.browser
def test_webgpu_lifecycle_in_chromium(gpu_browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dirs, x, ref = _prepare(tmp_path)
    mounts = {"/runtime/": runtime_dist(), "/test/": TEST_DIR, **{f"/{k}/": str(v) for k, v in dirs.items()}}
    with StaticServer(mounts, isolate=True, pages={"/harness.html": HARNESS_HTML}) as srv:
        page = gpu_browser.new_page()
        try:
            page.goto(srv.url + "/harness.html")
            page.wait_for_function("document.title === 'webdnn-harness-ready'", timeout=30_000)
            r: dict[str, Any] = page.evaluate(SCRIPT, {**{k: f"/{k}/" for k in dirs}, "x": x.ravel().tolist()})
        finally:
            page.close()
    _check(r, ref)
