"""webgpu: elementwise chains folded into the Conv / MatMul / Gemm store (fuse_epilogues).

In Chromium (SwiftShader) vs onnxruntime: residual Adds, broadcast operands, GELU and SiLU chains
on odd shapes, vec4 stores, zero-copy Concat slices; without a browser: which kernels remain and
that each condition (single consumer, not a graph output, same shape, float32, binding limit) holds.
"""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np
import pytest
from onnx import TensorProto

from tests.backends.webgpu.helpers import check_in_browser, convert_cases, ops
from tests.backends.webgpu.test_webgpu_kernels import Case, family, n, rnd
from webdnn.backends.webgpu import expr_wgsl
from webdnn.backends.webgpu.wgsl import MAX_BINDINGS
from webdnn.convert import convert
from webdnn.ops.unary_ops import unary_expr


def _erf_gelu(x: str, out: str = "y") -> list[Any]:
    """GELU as exporters write it: x * 0.5 * (1 + erf(x / sqrt 2))."""
    return [n("Div", [x, "sqrt2"], ["gd"]), n("Erf", ["gd"], ["ge"]), n("Add", ["ge", "one"], ["gf"]),
            n("Mul", [x, "gf"], ["gm"]), n("Mul", ["gm", "half"], [out])]


def epilogue_cases() -> dict[str, Case]:
    k = lambda x: np.array(x, np.float32)  # noqa: E731
    gelu_k = {"sqrt2": k(np.sqrt(2.0)), "one": k(1.0), "half": k(0.5)}
    c: dict[str, Case] = {}
    # ResNet's block end: Conv (bias) -> Add(skip) -> Relu, 3x3 padded, odd spatial size
    c["conv_res_relu"] = ([n("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]), n("Add", ["c", "skip"], ["s"]),
                           n("Relu", ["s"])],
                          {"x": rnd(1, 6, 5, 7), "skip": rnd(1, 8, 5, 7)}, {"w": rnd(8, 6, 3, 3), "b": rnd(8)})
    # odd channel counts, stride 2, no bias; a broadcast per-channel Add then a per-column Mul
    c["conv_odd_bcast"] = ([n("Conv", ["x", "w"], ["c"], strides=[2, 2], pads=[1, 0, 1, 0]),
                            n("Add", ["c", "cb"], ["s"]), n("Mul", ["s", "col"])],
                           {"x": rnd(2, 3, 9, 7)}, {"w": rnd(5, 3, 3, 3), "cb": rnd(5, 1, 1), "col": rnd(3)})
    # grouped conv (2 groups, batch 2): the store's base walks image and group
    c["conv_grouped"] = ([n("Conv", ["x", "w", "b"], ["c"], group=2, pads=[0, 1, 0, 1]), n("Add", ["c", "cb"], ["s"]),
                          n("Relu", ["s"])],
                         {"x": rnd(2, 4, 3, 5)}, {"w": rnd(6, 2, 2, 3), "b": rnd(6), "cb": rnd(6, 1, 1)})
    # pointwise conv with vec4 loads and stores (N = 16) whose residual is its own input: x read as f32
    c["conv1x1_self_res"] = ([n("Conv", ["x", "w", "b"], ["c"]), n("Add", ["c", "x"])],
                             {"x": rnd(1, 8, 4, 4)}, {"w": rnd(8, 8, 1, 1), "b": rnd(8)})
    # depthwise conv (a thread per element) with a fused Clip activation, then a residual Add
    c["dw_relu6_res"] = ([n("Conv", ["x", "w"], ["c"], group=5, pads=[1, 1, 1, 1]), n("Clip", ["c", "lo", "hi"], ["r"]),
                          n("Add", ["r", "skip"])],
                         {"x": rnd(1, 5, 6, 3), "skip": rnd(1, 5, 6, 3)},
                         {"w": rnd(5, 1, 3, 3), "lo": k(0.0), "hi": k(6.0)})
    # BERT's FFN: batched MatMul with odd K and N, Add(bias), erf-GELU (becomes one Gelu op)
    c["matmul_bias_gelu"] = ([n("MatMul", ["a", "w"], ["mm"]), n("Add", ["mm", "bias"], ["h"]), *_erf_gelu("h")],
                             {"a": rnd(2, 5, 7)}, {"w": rnd(7, 9), "bias": rnd(9), **gelu_k})
    # batched MatMul of two activations with a Div -> Erf chain the Gelu pattern does not match
    c["matmul_erf_chain"] = ([n("MatMul", ["a", "b"], ["mm"]), n("Div", ["mm", "r"], ["d"]), n("Erf", ["d"], ["e"]),
                              n("Mul", ["e", "mm"])], {"a": rnd(3, 5, 11), "b": rnd(3, 11, 6)}, {"r": k(1.7)})
    # MatMul -> Add(bias) -> Add(residual) on a vec4 output (N = 8)
    c["matmul_bias_res"] = ([n("MatMul", ["a", "w"], ["mm"]), n("Add", ["mm", "bias"], ["h"]), n("Add", ["res", "h"])],
                            {"a": rnd(1, 6, 12), "res": rnd(1, 6, 8)}, {"w": rnd(12, 8), "bias": rnd(8)})
    # vector-matrix product (1-D A): the output drops the row axis
    c["vecmat_bias"] = ([n("MatMul", ["a", "w"], ["mm"]), n("Sub", ["mm", "bias"])],
                        {"a": rnd(7)}, {"w": rnd(7, 5), "bias": rnd(5)})
    # SiLU after a Gemm: y * Sigmoid(y), y read twice
    c["gemm_silu"] = ([n("Gemm", ["a", "w", "b"], ["g"], transB=1), n("Sigmoid", ["g"], ["s"]), n("Mul", ["g", "s"])],
                      {"a": rnd(3, 10)}, {"w": rnd(7, 10), "b": rnd(7)})
    # a Gemm with alpha/beta and a fused Relu activation, then a residual Add: act before the chain
    c["gemm_relu_res"] = ([n("Gemm", ["a", "w", "b"], ["g"], alpha=0.5, beta=2.0), n("Relu", ["g"], ["r"]),
                           n("Add", ["r", "res"])], {"a": rnd(4, 6), "res": rnd(4, 8)}, {"w": rnd(6, 8), "b": rnd(8)})
    return c


def concat_cases() -> dict[str, Case]:
    """Epilogue outputs written straight into a Concat's output (zero-copy), off the 256-byte boundary."""
    c: dict[str, Case] = {}
    # the second slice starts 60 bytes in: scalar stores, shifted window
    c["cat_odd"] = ([n("Conv", ["x", "w1"], ["p"]), n("Conv", ["x", "w2"], ["q"]), n("Add", ["q", "skip"], ["r"]),
                     n("Relu", ["r"], ["s"]), n("Concat", ["p", "s"], axis=1)],
                    {"x": rnd(1, 4, 3, 5), "skip": rnd(1, 2, 3, 5)}, {"w1": rnd(1, 4, 1, 1), "w2": rnd(2, 4, 1, 1)})
    # the second slice starts 64 bytes in: vec4 stores shifted by 4 vec4s
    c["cat_vec4"] = ([n("Conv", ["x", "w1"], ["p"]), n("Conv", ["x", "w2", "b2"], ["q"]), n("Mul", ["q", "sc"], ["r"]),
                      n("Concat", ["p", "r"], axis=1)],
                     {"x": rnd(1, 4, 4, 4)}, {"w1": rnd(1, 4, 1, 1), "w2": rnd(3, 4, 1, 1), "b2": rnd(3),
                                              "sc": rnd(1, 3, 1, 1)})
    return c


def shared_cases() -> dict[str, Case]:
    """Chains that must not (entirely) join the kernel's store."""
    c: dict[str, Case] = {}
    # the conv output is also read by a Softmax: it is stored and Add -> Relu stays a group
    c["shared_out"] = ([n("Conv", ["x", "w"], ["c"]), n("Add", ["c", "skip"], ["s"]), n("Relu", ["s"], ["r"]),
                        n("Softmax", ["c"], ["m"], axis=-1), n("Add", ["r", "m"])],
                       {"x": rnd(1, 3, 4, 5), "skip": rnd(1, 4, 4, 5)}, {"w": rnd(4, 3, 1, 1)})
    # the chain's intermediate is also read by a Softmax: the Add joins the MatMul, the Relu does not
    c["shared_mid"] = ([n("MatMul", ["a", "w"], ["mm"]), n("Add", ["mm", "bias"], ["h"]), n("Relu", ["h"], ["r"]),
                        n("Softmax", ["h"], ["m"], axis=-1), n("Mul", ["r", "m"])],
                       {"a": rnd(5, 6)}, {"w": rnd(6, 3), "bias": rnd(3)})
    return c


@pytest.mark.browser
def test_epilogues_match_onnxruntime(gpu_browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    model, inputs = family({**epilogue_cases(), **concat_cases(), **shared_cases()})
    out = os.path.join(tmp_path, "out")
    convert(model, out, ["webgpu"])
    kinds = ops(out)
    # every chain above joined its kernel (the shared cases keep one group each)
    assert kinds.count("FusedElementwise") == 2 and not {"Add", "Mul", "Concat"} & set(kinds), kinds
    check_in_browser(gpu_browser, model, inputs, out)


# ---------------------------------------------------------------- lowering (no browser)


def _bound(d: dict[str, Any], name: str, side: str) -> list[str]:
    """The tensor names kernel `name` binds as `side` ("inputs" or "outputs")."""
    (k,) = [k for k in d["kernels"] if k["name"] == name]
    return [d["tensors"][i]["name"] for i in k[side]]


def _code(d: dict[str, Any], name: str) -> str:
    (k,) = [k for k in d["kernels"] if k["name"] == name]
    code: str = d["shaders"][k["attrs"]["shader"]]["code"]
    return code


def test_each_chain_joins_its_kernel(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cases = epilogue_cases()
    d = convert_cases(cases, tmp_path)
    got = sorted((k["op"], k["name"]) for k in d["kernels"])
    want = sorted((nodes[0].op_type, f"{name}_{nodes[0].op_type}") for name, (nodes, _, _) in cases.items())
    assert got == want  # one dispatch per case: the host kernel, keeping its op and name
    tensors = {t["name"] for t in d["tensors"]}
    # neither the host's own output nor the chain's intermediates reach memory
    assert not {"conv_res_relu_c", "conv_res_relu_s", "matmul_bias_gelu_mm", "matmul_bias_gelu_h",
                "gemm_silu_g", "gemm_silu_s", "dw_relu6_res_c"} & tensors
    for k in d["kernels"]:
        assert len(k["inputs"]) + len(k["outputs"]) <= MAX_BINDINGS
    # the residual is bound next to the conv's operands; the activation comes before the chain
    res = _bound(d, "conv_res_relu_Conv", "inputs")
    assert len(res) == 4 and "conv_res_relu_skip" in res
    assert _bound(d, "conv_res_relu_Conv", "outputs") == ["conv_res_relu_y"]
    code = _code(d, "gemm_relu_res_Gemm")
    relu, relu_text = expr_wgsl.function(unary_expr("Relu", {}))
    assert re.search(r"let x = act\(", code) and f"fn act(x: f32) -> f32 {{ return {relu}(x); }}" in code
    assert relu_text in code


def test_epilogue_operands_broadcast_by_index(tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = convert_cases({"conv_odd_bcast": epilogue_cases()["conv_odd_bcast"]}, tmp_path)
    code = _code(d, "conv_odd_bcast_Conv")
    # output (2, 5, 5, 3): the (5, 1, 1) operand is read by channel, the (3,) one by column
    reads = dict(re.findall(r"let (a\d) = (in\d\[[^;]*\]);", code))
    assert any("/ 15u) % 5u" in r for r in reads.values()), reads
    assert any(re.fullmatch(r"in\d\[\(\(.*\) % 3u\)\]", r) for r in reads.values()), reads


def test_vec4_stores_run_the_epilogue_per_lane(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cases = epilogue_cases()
    d = convert_cases({k: cases[k] for k in ("conv1x1_self_res", "matmul_bias_res")}, tmp_path)
    for name in ("conv1x1_self_res_Conv", "matmul_bias_res_MatMul"):
        code = _code(d, name)
        assert "vec4<f32>(epi(z, v[0], m, n + 0u), epi(z, v[1], m, n + 1u)" in code, name
    # x is both the conv's operand and the residual: bound once, as f32 (no vec4 loads of it)
    code = _code(d, "conv1x1_self_res_Conv")
    ins = _bound(d, "conv1x1_self_res_Conv", "inputs")
    assert ins.count("conv1x1_self_res_x") == 1
    j = ins.index("conv1x1_self_res_x")
    assert f"var<storage, read_write> in{j}: array<f32>;" in code


def test_epilogue_writes_a_zero_copy_concat_slice(tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = convert_cases(concat_cases(), tmp_path)
    assert sorted(k["op"] for k in d["kernels"]) == ["Conv"] * 4  # no Concat, no Add/Relu/Mul dispatch
    windows = {t["name"] for t in d["tensors"] if "@-" in t["name"]}
    assert windows == {"cat_odd_s@-60", "cat_vec4_r@-64"}, windows
    odd = _code(d, "cat_odd_Conv1")  # scalar stores shifted by 15 floats
    assert "out0[15u + (" in odd and "var<storage, read_write> out0: array<f32>" in odd
    vec = _code(d, "cat_vec4_Conv1")
    assert "out0[4u + (" in vec and "var<storage, read_write> out0: array<vec4<f32>>" in vec


def test_fusion_stops_at_shared_values(tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = convert_cases(shared_cases(), tmp_path)
    ops = {k["name"]: k["op"] for k in d["kernels"]}
    tensors = {t["name"] for t in d["tensors"]}
    # the conv output is read twice: stored, and Add -> Relu -> Add stays a group of its own
    assert ops["shared_out_Conv"] == "Conv" and ops["shared_out_Add4"] == "FusedElementwise"
    assert "shared_out_c" in tensors
    # h is read twice: its Add joins the MatMul (which now writes h), Relu -> Mul stays a group
    assert ops["shared_mid_MatMul"] == "MatMul" and ops["shared_mid_Mul"] == "FusedElementwise"
    assert "shared_mid_h" in tensors and "shared_mid_mm" not in tensors
    assert _bound(d, "shared_mid_MatMul", "outputs") == ["shared_mid_h"]
    assert sorted(ops.values()) == ["Conv", "FusedElementwise", "FusedElementwise", "MatMul", "Softmax", "Softmax"]


def test_conditions_are_respected(tmp_path) -> None:  # type: ignore[no-untyped-def]
    k = lambda x: np.array(x, np.float32)  # noqa: E731
    conv = n("Conv", ["x", "w", "b"], ["c"])
    cw = {"w": rnd(4, 3, 1, 1), "b": rnd(4)}
    many = {f"e{j}": rnd(1, 4, 2, 2) for j in range(MAX_BINDINGS - 2)}
    chain = [n("Add", ["c", "e0"], ["s0"])] + [n("Add", [f"s{j - 1}", f"e{j}"], [f"s{j}"]) for j in range(1, len(many))]
    chain[-1].output[:] = ["y"]
    cases: dict[str, Case] = {
        # the host's output is a graph output: stored, the Add stays its own kernel
        "graph_out": ([conv, n("Add", ["c", "s"])], {"x": rnd(1, 3, 2, 2), "s": rnd(1, 4, 2, 2)}, cw),
        # the chain broadcasts the output to a larger shape: not the host's store
        "grows": ([conv, n("Add", ["c", "s"])], {"x": rnd(1, 3, 2, 2), "s": rnd(2, 4, 2, 2)}, cw),
        # an int32 result: not a float32 store
        "to_int": ([conv, n("Cast", ["c"], to=TensorProto.INT32)], {"x": rnd(1, 3, 2, 2)}, cw),
        # within the limit as a group (MAX_BINDINGS), beyond it with the conv's x, w and b
        "bindings": ([conv, *chain], {"x": rnd(1, 3, 2, 2), **many}, cw),
        # a fitting one for contrast
        "fits": ([conv, n("Mul", ["c", "h"])], {"x": rnd(1, 3, 2, 2)}, {**cw, "h": k(0.5)}),
    }
    d = convert_cases(cases, tmp_path, extra_outputs=("graph_out_c",))
    ops = sorted((k["name"], k["op"]) for k in d["kernels"])
    assert ops == [("bindings_Add6", "FusedElementwise"), ("bindings_Conv", "Conv"), ("fits_Conv", "Conv"),
                   ("graph_out_Add", "Add"), ("graph_out_Conv", "Conv"), ("grows_Add", "Add"),
                   ("grows_Conv", "Conv"), ("to_int_Cast", "Cast"), ("to_int_Conv", "Conv")], ops
