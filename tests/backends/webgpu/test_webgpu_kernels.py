"""webgpu backend: kernels on odd shapes (sizes that fill neither a tile nor a vec4) in
headless Chromium (SwiftShader) vs onnxruntime, and the lowering's guarantees (no browser).

To keep the number of browser loads small, each op family is one model whose independent
branches each exercise one kernel configuration; every branch has its own output.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from webdnn.convert import convert
from webdnn.errors import UnsupportedOperatorError
from webdnn.verify import compare, reference_outputs

RNG = np.random.default_rng(11)
Case = tuple[list[onnx.NodeProto], dict[str, np.ndarray], dict[str, np.ndarray]]  # nodes, inputs, initializers


def rnd(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def n(op: str, ins: list[str], outs: list[str] | None = None, **attrs: Any) -> onnx.NodeProto:
    return helper.make_node(op, ins, outs or ["y"], **attrs)


def family(cases: dict[str, Case], opset: int = 17) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """One model holding every case; names are prefixed with the case name, output `<case>_y`."""
    nodes, inputs, inits, outs = [], {}, {}, []
    for name, (cnodes, cin, cinit) in cases.items():

        def p(s: str, name: str = name) -> str:
            return f"{name}_{s}" if s else s

        for nd in cnodes:
            c = onnx.NodeProto()
            c.CopyFrom(nd)
            c.name = f"{name}_{nd.op_type}"
            c.input[:] = [p(s) for s in nd.input]
            c.output[:] = [p(s) for s in nd.output]
            nodes.append(c)
        inputs.update({p(k): v for k, v in cin.items()})
        inits.update({p(k): v for k, v in cinit.items()})
        outs.append(p("y"))
    elem = {np.float32: TensorProto.FLOAT, np.int64: TensorProto.INT64, np.int32: TensorProto.INT32}
    g = helper.make_graph(
        nodes, "family",
        [helper.make_tensor_value_info(k, elem[v.dtype.type], list(v.shape)) for k, v in inputs.items()],
        [helper.make_empty_tensor_value_info(o) for o in outs],
        [numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)]), inputs


def matmul_cases() -> dict[str, Case]:
    return {
        "mm_odd": ([n("MatMul", ["a", "b"])], {"a": rnd(5, 7), "b": rnd(7, 3)}, {}),
        "mm_batch_bcast": ([n("MatMul", ["a", "b"])], {"a": rnd(2, 1, 5, 6), "b": rnd(3, 6, 9)}, {}),
        "mm_vec4_const": ([n("MatMul", ["a", "w"])], {"a": rnd(3, 12)}, {"w": rnd(12, 8)}),
        "mm_1d": ([n("MatMul", ["a", "b"])], {"a": rnd(7), "b": rnd(7, 5)}, {}),
        "mm_big_edges": ([n("MatMul", ["a", "b"])], {"a": rnd(70, 33), "b": rnd(33, 66)}, {}),
        "mm_relu_thin": ([n("MatMul", ["a", "w"], ["m"]), n("Relu", ["m"])], {"a": rnd(2, 20)}, {"w": rnd(20, 130)}),
        "gemm_transb_bias": ([n("Gemm", ["a", "w", "c"], transB=1, alpha=0.5, beta=2.0)], {"a": rnd(3, 10)},
                             {"w": rnd(6, 10), "c": rnd(6)}),
        "gemm_transa_col_bias": ([n("Gemm", ["a", "b", "c"], transA=1)], {"a": rnd(10, 3), "b": rnd(10, 6)},
                                 {"c": rnd(3, 1)}),
        "gemm_full_bias": ([n("Gemm", ["a", "b", "c"])], {"a": rnd(67, 9), "b": rnd(9, 65), "c": rnd(67, 65)}, {}),
        "gemm_runtime_transb": ([n("Gemm", ["a", "b"], transB=1)], {"a": rnd(4, 8), "b": rnd(5, 8)}, {}),
    }


ACTS: dict[str, tuple[list[onnx.NodeProto], dict[str, np.ndarray]]] = {
    "relu": ([n("Relu", ["c"])], {}),
    "clip": ([n("Clip", ["c", "lo", "hi"])], {"lo": np.array(-0.5, np.float32), "hi": np.array(0.7, np.float32)}),
    "leaky": ([n("LeakyRelu", ["c"], alpha=0.3)], {}),
    "sigmoid": ([n("Sigmoid", ["c"])], {}),
    "hardsigmoid": ([n("HardSigmoid", ["c"], alpha=0.3, beta=0.4)], {}),
    "hardswish": ([n("HardSwish", ["c"])], {}),
    "tanh": ([n("Tanh", ["c"])], {}),
}


def conv_cases() -> dict[str, Case]:
    c: dict[str, Case] = {}
    for name, (act, extra) in ACTS.items():
        c[f"conv_{name}"] = (
            [n("Conv", ["x", "w", "b"], ["c"], group=2, strides=[2, 1], pads=[1, 0, 2, 1], dilations=[2, 1]), *act],
            {"x": rnd(2, 6, 9, 7)}, {"w": rnd(4, 3, 3, 2), "b": rnd(4), **extra},
        )
    c["conv3x3_same"] = ([n("Conv", ["x", "w"], pads=[1, 1, 1, 1])], {"x": rnd(1, 3, 7, 7)}, {"w": rnd(5, 3, 3, 3)})
    c["conv1x1_vec4"] = ([n("Conv", ["x", "w", "b"])], {"x": rnd(1, 8, 4, 4)}, {"w": rnd(12, 8, 1, 1), "b": rnd(12)})
    c["conv1x1_odd"] = ([n("Conv", ["x", "w"])], {"x": rnd(2, 5, 3, 5)}, {"w": rnd(7, 5, 1, 1)})
    c["conv_big_tile"] = ([n("Conv", ["x", "w", "b"], pads=[1, 1, 1, 1])], {"x": rnd(1, 5, 9, 9)},
                          {"w": rnd(70, 5, 3, 3), "b": rnd(70)})
    c["depthwise"] = ([n("Conv", ["x", "w", "b"], ["c"], group=6, strides=[2, 2], pads=[1, 1, 1, 1]),
                       n("Clip", ["c", "lo", "hi"])], {"x": rnd(1, 6, 9, 11)},
                      {"w": rnd(6, 1, 3, 3), "b": rnd(6), "lo": np.array(0, np.float32), "hi": np.array(6, np.float32)})
    c["depthwise_mult2"] = ([n("Conv", ["x", "w"], group=3, dilations=[2, 1], pads=[2, 0, 1, 1])],
                            {"x": rnd(2, 3, 8, 5)}, {"w": rnd(6, 1, 3, 2)})
    c["conv1d"] = ([n("Conv", ["x", "w", "b"], strides=[2], pads=[1, 2])], {"x": rnd(1, 3, 11)},
                   {"w": rnd(4, 3, 3), "b": rnd(4)})
    return c


def pool_cases() -> dict[str, Case]:
    x = rnd(1, 3, 10, 11)
    return {
        "maxpool_ceil": ([n("MaxPool", ["x"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)], {"x": x}, {}),
        "maxpool_pads": ([n("MaxPool", ["x"], kernel_shape=[2, 3], pads=[1, 0, 1, 2], strides=[1, 2])], {"x": x}, {}),
        "avgpool_excl": ([n("AveragePool", ["x"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                            ceil_mode=1)], {"x": x}, {}),
        "avgpool_incl": ([n("AveragePool", ["x"], kernel_shape=[3, 2], strides=[2, 1], pads=[1, 1, 0, 1],
                            count_include_pad=1)], {"x": x}, {}),
        "gap": ([n("GlobalAveragePool", ["x"])], {"x": rnd(2, 5, 7, 3)}, {}),
        "gmp": ([n("GlobalMaxPool", ["x"])], {"x": rnd(1, 70, 9, 10)}, {}),
        "maxpool1d": ([n("MaxPool", ["x"], kernel_shape=[3], strides=[2], pads=[1, 1])], {"x": rnd(2, 3, 9)}, {}),
    }


def elementwise_cases() -> dict[str, Case]:
    a, b = rnd(2, 3, 1, 5), rnd(4, 1)
    c: dict[str, Case] = {}
    for op in ("Add", "Sub", "Mul", "Div", "Max", "Min"):
        c[f"bin_{op}"] = ([n(op, ["a", "b"])], {"a": a, "b": b if op != "Div" else np.abs(b) + 0.5}, {})
    c["add_scalar_const"] = ([n("Add", ["a", "k"])], {"a": rnd(3, 7)}, {"k": np.array(1.5, np.float32)})
    c["pow_square_neg"] = ([n("Pow", ["a", "k"])], {"a": rnd(3, 7)}, {"k": np.array(2.0, np.float32)})
    c["pow_cube_neg"] = ([n("Pow", ["a", "k"])], {"a": rnd(3, 7)}, {"k": np.array(3.0, np.float32)})
    c["pow_general"] = ([n("Pow", ["a", "b"])], {"a": np.abs(rnd(2, 5)) + 0.1, "b": rnd(5)}, {})
    c["max3"] = ([n("Max", ["a", "b", "d"])], {"a": rnd(3, 4), "b": rnd(4), "d": rnd(3, 1)}, {})
    c["mean3"] = ([n("Mean", ["a", "b", "d"])], {"a": rnd(3, 4), "b": rnd(4), "d": rnd(3, 1)}, {})
    c["prelu"] = ([n("PRelu", ["a", "s"])], {"a": rnd(2, 3, 5)}, {"s": rnd(3, 1)})
    x = rnd(3, 37) * 3
    for op in ("Relu", "Sigmoid", "Tanh", "Exp", "Neg", "Abs", "Floor", "Ceil", "Erf", "Softplus", "Softsign", "Sign",
               "HardSwish"):
        c[f"un_{op}"] = ([n(op, ["x"])], {"x": x}, {})
    c["un_Log"] = ([n("Log", ["x"])], {"x": np.abs(x) + 0.1}, {})
    c["un_Sqrt"] = ([n("Sqrt", ["x"])], {"x": np.abs(x)}, {})
    c["un_Reciprocal"] = ([n("Reciprocal", ["x"])], {"x": np.abs(x) + 0.5}, {})
    c["un_LeakyRelu"] = ([n("LeakyRelu", ["x"], alpha=0.2)], {"x": x}, {})
    c["un_Elu"] = ([n("Elu", ["x"], alpha=0.7)], {"x": x}, {})
    c["un_HardSigmoid"] = ([n("HardSigmoid", ["x"], alpha=0.25, beta=0.45)], {"x": x}, {})
    c["clip"] = ([n("Clip", ["x", "lo", "hi"])], {"x": x},
                 {"lo": np.array(-1, np.float32), "hi": np.array(2, np.float32)})
    c["clip_min_only"] = ([n("Clip", ["x", "lo"])], {"x": x}, {"lo": np.array(-1, np.float32)})
    c["cast_i64_f32"] = ([n("Cast", ["x"], to=TensorProto.FLOAT)],
                         {"x": np.array([[-3, 0, 7, -(2**40)], [2**33 + 5, 1, -1, 12]], np.int64)}, {})
    c["cast_f32_i64"] = ([n("Cast", ["x"], to=TensorProto.INT64)], {"x": x}, {})
    c["cast_f32_i32"] = ([n("Cast", ["x"], to=TensorProto.INT32)], {"x": x}, {})
    return c


def tensor_cases() -> dict[str, Case]:
    x = rnd(2, 3, 5, 7)
    idx = np.array([[0, -1, 2], [4, 1, -5]], np.int64)
    return {
        "transpose": ([n("Transpose", ["x"], perm=[0, 2, 3, 1])], {"x": x}, {}),
        "transpose_i64": ([n("Transpose", ["x"], perm=[1, 0])], {"x": np.arange(15, dtype=np.int64).reshape(3, 5)}, {}),
        "concat": ([n("Concat", ["a", "b", "c"], axis=1)], {"a": rnd(2, 3, 5), "b": rnd(2, 1, 5)}, {"c": rnd(2, 4, 5)}),
        "concat_last": ([n("Concat", ["a", "b"], axis=-1)], {"a": rnd(3, 5), "b": rnd(3, 2)}, {}),
        "slice_steps": ([n("Slice", ["x", "s", "e", "ax", "st"])], {"x": x},
                        {"s": np.array([1, -1, 0], np.int64), "e": np.array([5, -100, 7], np.int64),
                         "ax": np.array([2, 3, 1], np.int64), "st": np.array([2, -2, 2], np.int64)}),
        "gather_axis1_neg": ([n("Gather", ["x", "i"], axis=2)], {"x": x, "i": idx}, {}),
        "gather_embed": ([n("Gather", ["w", "i"])], {"i": idx}, {"w": rnd(6, 9)}),
        "gather_i32": ([n("Gather", ["x", "i"], axis=0)], {"x": rnd(4, 3), "i": np.array([3, 0, 3], np.int32)}, {}),
        "expand": ([n("Expand", ["x", "s"])], {"x": rnd(3, 1)}, {"s": np.array([2, 3, 5], np.int64)}),
        "expand_i64": ([n("Expand", ["x", "s"])], {"x": np.arange(3, dtype=np.int64).reshape(1, 3, 1)},
                       {"s": np.array([1, 3, 4], np.int64)}),
        "tile": ([n("Tile", ["x", "r"])], {"x": rnd(2, 3)}, {"r": np.array([2, 3], np.int64)}),
        "split": ([n("Split", ["x", "sp"], ["y", "z"], axis=1)], {"x": rnd(2, 5, 3)},
                  {"sp": np.array([2, 3], np.int64)}),
    }


def reduce_cases() -> dict[str, Case]:
    x = rnd(3, 5, 7)
    ax = lambda *a: np.array(a, np.int64)  # noqa: E731
    return {
        "rmean": ([n("ReduceMean", ["x", "a"], keepdims=0)], {"x": x}, {"a": ax(1)}),
        "rsum02": ([n("ReduceSum", ["x", "a"])], {"x": x}, {"a": ax(0, 2)}),
        "rmax_all": ([n("ReduceMax", ["x"], keepdims=0)], {"x": rnd(3, 70, 5)}, {}),
        "rl2": ([n("ReduceL2", ["x", "a"], keepdims=1)], {"x": x}, {"a": ax(-1)}),
        "rlse": ([n("ReduceLogSumExp", ["x", "a"])], {"x": x}, {"a": ax(1)}),
        "rprod": ([n("ReduceProd", ["x", "a"])], {"x": x}, {"a": ax(0)}),
        "softmax_mid": ([n("Softmax", ["x"], axis=1)], {"x": rnd(3, 70, 5) * 4}, {}),
        "softmax_last": ([n("Softmax", ["x"], axis=-1)], {"x": rnd(2, 3, 130) * 4}, {}),
        "logsoftmax": ([n("LogSoftmax", ["x"], axis=-1)], {"x": rnd(4, 9)}, {}),
        "layernorm": ([n("LayerNormalization", ["x", "s", "b"], axis=-1, epsilon=1e-3)], {"x": rnd(2, 3, 67) + 2},
                      {"s": rnd(67), "b": rnd(67)}),
        "layernorm_ax1": ([n("LayerNormalization", ["x", "s"], axis=1)], {"x": rnd(3, 4, 5)}, {"s": rnd(5)}),
    }


def resize_cases() -> dict[str, Case]:
    x = rnd(1, 2, 5, 7)
    empty = np.zeros(0, np.float32)
    sc = lambda *s: np.array(s, np.float32)  # noqa: E731
    return {
        "nearest_up": ([n("Resize", ["x", "", "s"], mode="nearest", coordinate_transformation_mode="asymmetric",
                          nearest_mode="floor")], {"x": x}, {"s": sc(1, 1, 2, 2)}),
        "nearest_down": ([n("Resize", ["x", "", "s"], mode="nearest")], {"x": x}, {"s": sc(1, 1, 0.6, 0.5)}),
        "linear_half_pixel": ([n("Resize", ["x", "", "s"], mode="linear")], {"x": x}, {"s": sc(1, 1, 1.5, 1.5)}),
        "linear_align": ([n("Resize", ["x", "r", "", "z"], mode="linear",
                            coordinate_transformation_mode="align_corners")], {"x": x},
                         {"r": empty, "z": np.array([1, 2, 9, 4], np.int64)}),
        "linear_pytorch": ([n("Resize", ["x", "", "s"], mode="linear",
                              coordinate_transformation_mode="pytorch_half_pixel")], {"x": x}, {"s": sc(1, 1, 2, 3)}),
    }


FAMILIES = {
    "matmul": matmul_cases, "conv": conv_cases, "pool": pool_cases, "elementwise": elementwise_cases,
    "tensor": tensor_cases, "reduce": reduce_cases, "resize": resize_cases,
}


@pytest.mark.browser
@pytest.mark.parametrize("fam", FAMILIES)
def test_webgpu_kernels_match_onnxruntime(fam: str, gpu_browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    model, inputs = family(FAMILIES[fam](), opset=18 if fam == "reduce" else 17)
    out = os.path.join(tmp_path, "out")
    convert(model, out, ["webgpu"])
    ref = reference_outputs(model, inputs)
    r = gpu_browser.run_model(out, inputs, ["webgpu"])
    assert r.backend == "webgpu"
    bad = []
    for k, want in ref.items():
        c = compare(k, want, r.outputs.get(k))
        if not c.ok:
            bad.append(f"{k}: max abs err {c.max_abs_err:.3g} {c.detail}")
    assert not bad, "\n".join(bad)


# ---------------------------------------------------------------- lowering (no browser)


def test_descriptor_fields_and_alignment(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model, _ = family(conv_cases())
    convert(model, tmp_path / "out", ["webgpu"])
    d = json.loads((tmp_path / "out" / "webgpu" / "descriptor.json").read_text())
    assert d["arena"]["alignment"] == 256 and d["weights"]["alignment"] == 256
    assert all(t["offset"] % 256 == 0 for t in d["tensors"])
    shaders = d["shaders"]
    assert len({s["code"] for s in shaders}) == len(shaders)  # deduplicated
    for k in d["kernels"]:
        s = shaders[k["attrs"]["shader"]]
        assert "@compute" in s["code"] and len(k["attrs"]["workgroups"]) == 3
        assert s["workgroupSize"][0] * s["workgroupSize"][1] * s["workgroupSize"][2] <= 256
        assert s["workgroupStorage"] <= 16384
        # one binding per input then output, declared in that order
        for i in range(len(k["inputs"]) + len(k["outputs"])):
            assert f"@binding({i})" in s["code"]
    # the fused activation went into the conv shaders
    assert any("fn act(x: f32) -> f32 { return max(x, 0.0); }" in s["code"] for s in shaders)


def test_unsupported_op_names_node_op_and_backend(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model, _ = family({"ct": ([n("ConvTranspose", ["x", "w"])], {"x": rnd(1, 2, 3, 3)}, {"w": rnd(2, 2, 2, 2)})})
    with pytest.raises(UnsupportedOperatorError, match=r"ct_ConvTranspose.*ConvTranspose.*webgpu"):
        convert(model, tmp_path / "out", ["webgpu"])
    assert not os.path.exists(tmp_path / "out")


def test_unsupported_dtype_is_reported(tmp_path) -> None:  # type: ignore[no-untyped-def]
    x = np.arange(6, dtype=np.int64).reshape(2, 3)
    model, _ = family({"ia": ([n("Add", ["x", "x"])], {"x": x}, {})})
    with pytest.raises(UnsupportedOperatorError, match=r"ia_Add.*webgpu.*float32"):
        convert(model, tmp_path / "out", ["webgpu"])


def test_every_zoo_cnn_lowers() -> None:
    from webdnn import zoo
    from webdnn.backends.webgpu.lower import lower
    from webdnn.frontend.onnx import from_onnx
    from webdnn.passes.pipeline import optimize

    for name in ("squeezenet1_1", "mobilenet_v2"):
        m = zoo.build(name)
        g = from_onnx(m, {k: v.shape for k, v in zoo.default_inputs(name, m).items()})
        optimize(g)
        p = lower(g)
        assert p.kernels and len(p.extra["shaders"]) < len(p.kernels)
