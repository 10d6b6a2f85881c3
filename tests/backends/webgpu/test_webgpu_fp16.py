"""The webgpu-fp16 descriptor (f16 storage, f32 math; src/webdnn/backends/webgpu/fp16.py).

Run in Node through the npm `webgpu` package (Dawn) on Mesa's lavapipe, the CPU Vulkan driver
that offers `shader-f16` (tools/install-lavapipe.sh, run by `make setup`), against onnxruntime.

Tolerance: |err| <= 1e-2 * max(1, max |ref|) per output (values beyond f16's 65504 are expected
as infinities; the kernel-family test compares against onnxruntime fed the f16-rounded inputs its
kernels see). Every stored value is rounded to f16
(unit roundoff 2^-11 = 4.9e-4) and a model rounds at each of its tensors; the zoo models measured
5e-4 (MobileNetV2), 8e-4 (SqueezeNet) and 1.6e-3 (MiniLM) of max |ref|, so 1e-2 leaves room while
any wrong kernel (errors of the order of the values themselves) still fails.
"""

from __future__ import annotations

import json
import os

import numpy as np
import onnx
import pytest
from onnx import helper

from tests.backends.webgpu.test_webgpu_kernels import FAMILIES, OPSETS, family
from tests.conftest import F32, make_model
from tests.zoo_cases import prepare
from webdnn.backends.webgpu.fp16 import F16_MAX
from webdnn.backends.webgpu.node import lavapipe_env, swiftshader_env
from webdnn.backends.webgpu.wgsl import _half_access
from webdnn.browser.node import run_model_node
from webdnn.browser.paths import REPO_ROOT
from webdnn.convert import convert
from webdnn.verify import reference_outputs

LAVAPIPE = lavapipe_env()
HAS_DAWN = os.path.isdir(os.path.join(REPO_ROOT, "runtime", "node_modules", "webgpu"))
needs_lavapipe = pytest.mark.skipif(
    LAVAPIPE is None or not HAS_DAWN,
    reason="needs Mesa's lavapipe Vulkan driver (tools/install-lavapipe.sh) and runtime/node_modules/webgpu (npm ci)",
)
TOL = 1e-2


def assert_close_f16(ref: dict[str, np.ndarray], got: dict[str, np.ndarray], label: str = "") -> None:
    for k, want in ref.items():
        if want.dtype.kind != "f":  # f16 inputs may flip an argmax or a comparison: floats only
            continue
        g = got[k].astype(np.float64)
        w = want.astype(np.float64)
        # a value beyond f16's range is stored as an infinity of its sign (fp16.py)
        w = np.where(np.abs(w) > F16_MAX, np.copysign(np.inf, w), w)
        finite = np.isfinite(w)
        assert np.array_equal(np.isfinite(g), finite), f"{label}{k}: non-finite values differ"
        err = float(np.abs(g[finite] - w[finite]).max()) if finite.any() else 0.0
        scale = max(1.0, float(np.abs(w[finite]).max())) if finite.any() else 1.0
        assert err <= TOL * scale, f"{label}{k}: max abs err {err:.3g} > {TOL} * {scale:.3g}"


def _conv_model() -> onnx.ModelProto:
    rng = np.random.default_rng(3)
    w = rng.standard_normal((6, 3, 3, 3)).astype(np.float32)
    big = np.array([-3.0e38], np.float32)  # beyond f16: stays float32
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["h"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("Min", ["r", "big_neg"], ["m"]),
        helper.make_node("GlobalAveragePool", ["r"], ["y"]),
    ]
    return make_model(nodes, [("x", F32, [1, 3, 9, 7])], ["y", "m"],
                      {"w": w, "big_neg": big})


def test_descriptor_stores_float32_as_f16(tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = convert(_conv_model(), tmp_path / "out", ["webgpu", "webgpu-fp16"])
    d32 = json.loads((tmp_path / "out" / "webgpu" / "descriptor.json").read_text())
    d16 = json.loads((tmp_path / "out" / "webgpu-fp16" / "descriptor.json").read_text())
    assert d16["backend"] == "webgpu-fp16" and r.backends["webgpu-fp16"]["kernels"] == len(d16["kernels"])
    t16 = {t["name"]: t for t in d16["tensors"]}
    assert t16["x"]["dtype"] == "float32" and t16["y"]["dtype"] == "float32"  # the API is unchanged
    assert t16["w"]["dtype"] == "float16" and t16["w"]["byteLength"] == 6 * 3 * 3 * 3 * 2
    assert t16["r"]["dtype"] == "float16"  # an intermediate (the Conv's fused Relu output)
    assert t16["big_neg"]["dtype"] == "float32"  # -3e38 would become -inf in f16
    assert d16["weights"]["byteLength"] < d32["weights"]["byteLength"]
    assert all(s["code"].startswith("enable f16;") for s in d16["shaders"] if "array<f16>" in s["code"])
    assert any("array<f16>" in s["code"] for s in d16["shaders"])
    assert not any("f16" in s["code"] for s in d32["shaders"])
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert set(manifest["backends"]) == {"webgpu", "webgpu-fp16"}


def test_convert_all_backends_leaves_the_fp16_variant_out(tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = convert(_conv_model(), tmp_path / "out", None)
    assert "webgpu-fp16" not in r.backends and "webgpu" in r.backends


def test_half_access_converts_loads_and_stores() -> None:
    code = "let a = in0[i] + in0[in1[i]];\nout0[i * 2u] = a * in0[j];\nout0[k] += in0[0u];"
    got = _half_access(_half_access(code, "in0", "f32"), "out0", "f32")
    assert got == (
        "let a = f32(in0[i]) + f32(in0[in1[i]]);\n"
        "out0[i * 2u] = f16(a * f32(in0[j]));\n"
        "out0[k] = f16(f32(out0[k]) + (f32(in0[0u])));"
    )
    assert _half_access("if (in0[i] == x) { }", "in0", "vec4<f32>") == "if (vec4<f32>(in0[i]) == x) { }"


@pytest.mark.node
@needs_lavapipe
@pytest.mark.parametrize("name", ["squeezenet1_1", "mobilenet_v2", "minilm"])
def test_zoo_model_on_webgpu_fp16_in_node(name: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out, inputs, ref = prepare(name, str(tmp_path), ["webgpu-fp16"], {"layers": 2} if name == "minilm" else {})
    r = run_model_node(out, inputs, ["webgpu-fp16"], repeat=1, env=LAVAPIPE)
    assert r.backend == "webgpu-fp16" and r.backend_info.get("precision") == "fp16"
    assert_close_f16(ref, r.outputs, f"{name}/")


def _through_f16(model: onnx.ModelProto, inputs: dict[str, np.ndarray]) -> onnx.ModelProto:
    """Each float input of rank >= 2 reaches its case through two Transposes that cancel, and each
    output leaves through two more, so the case's own kernel reads and writes f16-stored tensors
    (the graph's inputs and outputs stay float32)."""
    g = model.graph
    ref = reference_outputs(model, inputs)
    before, after = [], []

    def twice(src: str, dst: str, r: int) -> list[onnx.NodeProto]:
        perm = list(range(r))[::-1]
        return [helper.make_node("Transpose", [src], [dst + "_t"], perm=perm),
                helper.make_node("Transpose", [dst + "_t"], [dst], perm=perm)]

    for name, x in inputs.items():
        if x.dtype == np.float32 and x.ndim >= 2:
            before += twice(name, name + "_h", x.ndim)
            for n in g.node:
                n.input[:] = [name + "_h" if s == name else s for s in n.input]
    for o in g.output:
        y = ref[o.name]
        if y.dtype == np.float32 and y.ndim >= 2:
            for n in g.node:
                n.output[:] = [o.name + "_h" if s == o.name else s for s in n.output]
            after += twice(o.name + "_h", o.name, y.ndim)
    nodes = [*before, *g.node, *after]
    del g.node[:]
    g.node.extend(nodes)
    return model


@pytest.mark.node
@needs_lavapipe
def test_kernel_families_on_webgpu_fp16_in_node(tmp_path) -> None:  # type: ignore[no-untyped-def]
    fams = ("matmul", "conv", "pool", "elementwise", "tensor", "reduce", "resize", "pad", "conv_transpose", "index")
    bad = []
    for fam in fams:
        model, inputs = family(FAMILIES[fam](), opset=OPSETS.get(fam, 17))
        model = _through_f16(model, inputs)
        out = str(tmp_path / fam)
        convert(model, out, ["webgpu-fp16"])
        desc = json.loads(open(os.path.join(out, "webgpu-fp16", "descriptor.json")).read())
        assert any(t["dtype"] == "float16" for t in desc["tensors"]), fam
        r = run_model_node(out, inputs, ["webgpu-fp16"], env=LAVAPIPE)
        assert r.backend == "webgpu-fp16"
        # the kernels see their float inputs rounded to f16 (stored so by the Transposes): so does
        # the reference, which leaves each kernel's own rounding to compare
        rounded = {k: v.astype(np.float16).astype(np.float32) if v.dtype == np.float32 else v
                   for k, v in inputs.items()}
        try:
            assert_close_f16(reference_outputs(model, rounded), r.outputs, f"{fam}/")
        except AssertionError as e:
            bad.append(str(e))
    assert not bad, "\n".join(bad)


@pytest.mark.node
@pytest.mark.skipif(swiftshader_env() is None or not HAS_DAWN, reason="needs Chromium's SwiftShader and npm webgpu")
def test_without_shader_f16_the_loader_falls_back_to_fp32(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model = _conv_model()
    convert(model, tmp_path / "out", ["webgpu-fp16", "webgpu"])
    inputs = {"x": np.random.default_rng(0).standard_normal((1, 3, 9, 7)).astype(np.float32)}
    r = run_model_node(str(tmp_path / "out"), inputs, ["webgpu-fp16", "webgpu"], env=swiftshader_env())
    assert r.backend == "webgpu" and r.backend_info.get("precision") == "fp32"  # SwiftShader has no shader-f16
    ref = reference_outputs(model, inputs)
    assert float(np.abs(r.outputs["y"] - ref["y"]).max()) <= 1e-4 * max(1.0, float(np.abs(ref["y"]).max()))
