"""ONNX node conformance cases of the ops with float weights on webgpu-fp16 (f16 storage, f32 math)
in Node on Mesa's lavapipe, the CPU Vulkan driver here with `shader-f16` (~10 s; ~2 min on a busy
2-core machine).

The whole suite takes 1.5 to 3.5 min on lavapipe on 2 cores (`python -m webdnn.conformance --backend
webgpu-fp16 --runtime node --timeout 60`; docs/operators.md), so this runs the cases of the ops with
float weights. ONNX's node cases feed weights as graph inputs (which webgpu-fp16 keeps float32),
so they run with their float weight inputs frozen into constants (`freeze_weights`): the kernels
then read f16 weights, and the fp16 rule of conformance/check.py judges the outputs.
"""

from __future__ import annotations

import os

import pytest

from webdnn.backends.webgpu.node import lavapipe_env
from webdnn.browser.paths import REPO_ROOT
from webdnn.conformance.check import FP16
from webdnn.conformance.results import CONVERSION_ERROR, FAILED, PASSED
from webdnn.conformance.run import run_conformance

# ops whose ONNX cases have float weight inputs (Resize's cases have none: its X stays the input)
WEIGHT_OPS = ["Conv", "ConvTranspose", "Gemm", "MatMul", "BatchNormalization", "LayerNormalization",
              "InstanceNormalization", "Gather", "PRelu"]
HAS_DAWN = os.path.isdir(os.path.join(REPO_ROOT, "runtime", "node_modules", "webgpu"))


@pytest.mark.slow
@pytest.mark.node
@pytest.mark.skipif(
    lavapipe_env() is None or not HAS_DAWN,
    reason="needs Mesa's lavapipe Vulkan driver (tools/install-lavapipe.sh) and runtime/node_modules/webgpu (npm ci)",
)
def test_weight_cases_pass_on_webgpu_fp16_in_node() -> None:
    report = run_conformance("webgpu-fp16", "node", WEIGHT_OPS, freeze_weights=True, timeout_s=60)
    results = {r.name: r for r in report.results}
    failing = {n: f"{r.status}: {r.detail}" for n, r in results.items() if r.status in (FAILED, CONVERSION_ERROR)}
    assert not failing, failing
    passed = {n: r for n, r in results.items() if r.status == PASSED}
    assert len(passed) >= 85, sorted(passed)  # 2026-11: 85 pass, the rest are not supported (Einsum, ...)
    # the weights really were frozen (into f16 constants), and their rounding shows: the fp32
    # rule alone fails where the weights are not exactly representable in f16
    assert all(r.frozen for r in passed.values())
    needed_fp16 = {n for n, r in passed.items() if r.tolerance == FP16}
    assert {"test_gemm_default_matrix_bias", "test_matmul_2d", "test_batchnorm_example", "test_gather_0",
            "test_layer_normalization_4d_axis3_expanded", "test_prelu_broadcast"} <= needed_fp16, needed_fp16
