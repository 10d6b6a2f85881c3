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

from webdnn.backends.webgpu import expr_wgsl
from webdnn.convert import convert
from webdnn.errors import UnsupportedOperatorError
from webdnn.ops.unary_ops import unary_expr

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

        for j, nd in enumerate(cnodes):
            c = onnx.NodeProto()
            c.CopyFrom(nd)
            c.name = f"{name}_{nd.op_type}" + (f"{j}" if [m.op_type for m in cnodes].count(nd.op_type) > 1 else "")
            c.input[:] = [p(s) for s in nd.input]
            c.output[:] = [p(s) for s in nd.output]
            nodes.append(c)
        inputs.update({p(k): v for k, v in cin.items()})
        inits.update({p(k): v for k, v in cinit.items()})
        outs.append(p("y"))
    elem = {np.float32: TensorProto.FLOAT, np.int64: TensorProto.INT64, np.int32: TensorProto.INT32,
            np.bool_: TensorProto.BOOL, np.uint8: TensorProto.UINT8, np.int8: TensorProto.INT8,
            np.int16: TensorProto.INT16, np.float64: TensorProto.DOUBLE}
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
        "cubic_up": ([n("Resize", ["x", "", "s"], mode="cubic")], {"x": x}, {"s": sc(1, 1, 1.7, 2)}),
        "cubic_exclude_align": ([n("Resize", ["x", "r", "", "z"], mode="cubic", exclude_outside=1, cubic_coeff_a=-0.5,
                                   coordinate_transformation_mode="align_corners")], {"x": x},
                                {"r": empty, "z": np.array([1, 2, 3, 11], np.int64)}),
        "linear_pytorch": ([n("Resize", ["x", "", "s"], mode="linear",
                              coordinate_transformation_mode="pytorch_half_pixel")], {"x": x}, {"s": sc(1, 1, 2, 3)}),
    }


def bools(*shape: int) -> np.ndarray:
    return RNG.random(shape) < 0.5


def logic_cases() -> dict[str, Case]:
    """bool tensors (packed 4 per word): sizes that are not multiples of 4 throughout."""
    a, b = rnd(3, 1, 5), rnd(7, 1)
    a[0, 0, :2] = b[:2, 0]  # some equal pairs
    i64a = np.array([[-3, 2**40, 7], [5, -(2**35), 0]], np.int64)
    i64b = np.array([[-3, 2**40 + 1, -7]], np.int64)
    c: dict[str, Case] = {}
    for op in ("Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"):
        c[f"cmp_{op}"] = ([n(op, ["a", "b"])], {"a": a, "b": b}, {})
        c[f"cmp64_{op}"] = ([n(op, ["a", "b"])], {"a": i64a, "b": i64b}, {})
    c["equal_i32"] = ([n("Equal", ["a", "b"])], {"a": np.array([[1, 2, 3]], np.int32),
                                                 "b": np.array([[1], [3]], np.int32)}, {})
    c["equal_bool"] = ([n("Equal", ["a", "b"])], {"a": bools(3, 5), "b": bools(5)}, {})
    for op in ("And", "Or", "Xor"):
        c[f"logic_{op}"] = ([n(op, ["a", "b"])], {"a": bools(3, 7), "b": bools(7)}, {})
    c["not"] = ([n("Not", ["a"])], {"a": bools(2, 9)}, {})
    c["where"] = ([n("Where", ["c", "x", "z"])], {"c": bools(3, 1), "x": rnd(3, 5), "z": rnd(5)}, {})
    c["where_i64"] = ([n("Where", ["c", "x", "z"])], {"c": bools(2, 3), "x": i64a}, {"z": np.array(-1, np.int64)})
    c["where_u8"] = ([n("Where", ["c", "x", "z"])], {"c": bools(3, 3), "x": np.arange(9, dtype=np.uint8).reshape(3, 3),
                                                     "z": np.array([[200], [1], [255]], np.uint8)}, {})
    c["less_where"] = ([n("Less", ["a", "b"], ["m"]), n("Where", ["m", "a", "b"])], {"a": rnd(3, 5), "b": rnd(3, 5)},
                       {})
    x = rnd(3, 7)
    x[0, :3] = 0
    c["cast_f32_bool"] = ([n("Cast", ["x"], to=TensorProto.BOOL)], {"x": x}, {})
    c["cast_bool_f32"] = ([n("Cast", ["x"], to=TensorProto.FLOAT)], {"x": bools(3, 7)}, {})
    c["cast_bool_i64"] = ([n("Cast", ["x"], to=TensorProto.INT64)], {"x": bools(5)}, {})
    c["cast_i64_bool"] = ([n("Cast", ["x"], to=TensorProto.BOOL)], {"x": i64a}, {})
    c["cast_bool_i32"] = ([n("Cast", ["x"], to=TensorProto.INT32)], {"x": bools(2, 3)}, {})
    c["cast_f32_u8"] = ([n("Cast", ["x"], to=TensorProto.UINT8)], {"x": np.abs(x) * 40}, {})
    u8 = np.array([250, 3, 0, 128, 255, 7, 1], np.uint8)
    c["cast_u8_f32"] = ([n("Cast", ["x"], to=TensorProto.FLOAT)], {"x": u8}, {})
    c["cast_i8_f32"] = ([n("Cast", ["x"], to=TensorProto.FLOAT)], {"x": np.array([-128, -1, 0, 5, 127], np.int8)}, {})
    sp = np.array([[np.nan, np.inf, -np.inf, 1.0, 0.0]], np.float32)
    c["isnan"] = ([n("IsNaN", ["x"])], {"x": sp}, {})
    c["isinf_neg"] = ([n("IsInf", ["x"], detect_positive=0)], {"x": sp}, {})
    bx = bools(2, 3, 5)
    c["transpose_bool"] = ([n("Transpose", ["x"], perm=[2, 0, 1])], {"x": bx}, {})
    c["concat_bool"] = ([n("Concat", ["x", "z"], axis=1)], {"x": bx, "z": bools(2, 1, 5)}, {})
    c["gather_bool"] = ([n("Gather", ["x", "i"], axis=2)], {"x": bx, "i": np.array([4, -1, 0], np.int64)}, {})
    c["expand_bool"] = ([n("Expand", ["x", "s"])], {"x": bools(3, 1)}, {"s": np.array([2, 3, 3], np.int64)})
    c["slice_bool"] = ([n("Slice", ["x", "s", "e", "ax"])], {"x": bx},
                       {"s": np.array([1], np.int64), "e": np.array([4], np.int64), "ax": np.array([2], np.int64)})
    c["reshape_not"] = ([n("Reshape", ["x", "s"], ["r"]), n("Not", ["r"])], {"x": bx},
                        {"s": np.array([5, 6], np.int64)})
    return c


def bitwise_cases() -> dict[str, Case]:
    """BitShift (ONNX opset 28) and the bitwise ops on every integer type: counts that are negative
    or the type's width or more, left shifts wrapping in the width (int8's sign bit), int64 values
    beyond 2**53 (on the words), packed types at sizes that are not multiples of 4, and a fused chain."""
    c: dict[str, Case] = {}
    for dt in (np.int8, np.int16, np.int32, np.int64, np.uint8):
        info, w = np.iinfo(dt), np.iinfo(dt).bits
        name = np.dtype(dt).name
        vals = [int(info.min), int(info.max), 0, 1, 5, 64, 0x55] + ([-1, -5, -64, -0x56] if info.min < 0 else [])
        if dt is np.int64:
            vals += [2**53 + 1, -(2**53) - 3, 2**62 + 12345, -(2**60) - 7]
        x = np.array(vals, dt)
        counts = [k for k in range(-2, w + 2) if k >= 0 or info.min < 0]
        counts += [int(info.max), int(info.min)] + ([2**32 + 1, -(2**40)] if dt is np.int64 else [])
        s = np.array(counts, dt)
        for d in ("LEFT", "RIGHT"):  # every value against every count: a column against a row
            c[f"shift_{d.lower()}_{name}"] = ([n("BitShift", ["a", "b"], direction=d)],
                                              {"a": x.reshape(-1, 1), "b": s}, {})
        rev = x[::-1].copy()
        for op in ("BitwiseAnd", "BitwiseOr", "BitwiseXor"):
            c[f"{op.lower()}_{name}"] = ([n(op, ["a", "b"])], {"a": x.reshape(-1, 1), "b": rev[:5]}, {})
        c[f"not_{name}"] = ([n("BitwiseNot", ["a"])], {"a": x}, {})
        # one fused kernel: each intermediate wraps to the type as a store would
        c[f"chain_{name}"] = ([n("BitShift", ["a", "b"], ["l"], direction="LEFT"), n("BitwiseNot", ["l"], ["m"]),
                               n("BitwiseXor", ["m", "a"], ["o"]), n("BitShift", ["o", "b"], direction="RIGHT")],
                              {"a": x, "b": np.resize(np.array([1, 3, w - 1, 2], dt), x.shape)}, {})
    return c


def pad_cases() -> dict[str, Case]:
    x = rnd(2, 3, 4, 5)
    pads = np.array([0, 1, 2, 3, 0, 2, 1, 2], np.int64)
    c: dict[str, Case] = {}
    for mode in ("constant", "reflect", "edge", "wrap"):
        c[f"pad_{mode}"] = ([n("Pad", ["x", "p", "v"], mode=mode)], {"x": x},
                            {"p": pads, "v": np.array(1.5, np.float32)} if mode == "constant" else {"p": pads})
        c[f"pad_{mode}"][0][0].input[:] = ["x", "p", "v"] if mode == "constant" else ["x", "p"]
    c["pad_crop_axes"] = ([n("Pad", ["x", "p", "", "ax"])], {"x": x},
                          {"p": np.array([-1, 2, 1, -2], np.int64), "ax": np.array([1, -1], np.int64)})
    c["pad_i64"] = ([n("Pad", ["x", "p", "v"])], {"x": np.arange(6, dtype=np.int64).reshape(2, 3)},
                    {"p": np.array([1, 0, 0, 2], np.int64), "v": np.array(-7, np.int64)})
    c["pad_bool"] = ([n("Pad", ["x", "p"], mode="edge")], {"x": bools(3, 3)}, {"p": np.array([1, 1, 0, 2], np.int64)})
    return c


def conv_transpose_cases() -> dict[str, Case]:
    return {
        "ct_basic": ([n("ConvTranspose", ["x", "w"])], {"x": rnd(1, 3, 4, 5)}, {"w": rnd(3, 2, 3, 3)}),
        "ct_full": ([n("ConvTranspose", ["x", "w", "b"], group=2, strides=[2, 3], pads=[1, 0, 2, 1],
                       output_padding=[1, 2], dilations=[2, 1])], {"x": rnd(2, 4, 5, 4)},
                    {"w": rnd(4, 3, 3, 2), "b": rnd(6)}),
        "ct_stride_gt_kernel": ([n("ConvTranspose", ["x", "w", "b"], strides=[3, 3])], {"x": rnd(1, 2, 3, 3)},
                                {"w": rnd(2, 1, 2, 2), "b": rnd(1)}),
        "ct_upsample_relu": ([n("ConvTranspose", ["x", "w"], ["c"], strides=[4, 4], pads=[2, 2, 2, 2]),
                              n("Relu", ["c"])], {"x": rnd(1, 1, 5, 6)}, {"w": rnd(1, 1, 8, 8)}),
        "ct_1d": ([n("ConvTranspose", ["x", "w"], strides=[2], output_padding=[1])], {"x": rnd(2, 3, 7)},
                  {"w": rnd(3, 4, 3)}),
        "ct_3d": ([n("ConvTranspose", ["x", "w"], strides=[2, 1, 2], pads=[1, 0, 0, 0, 1, 1])],
                  {"x": rnd(1, 2, 3, 4, 3)}, {"w": rnd(2, 3, 3, 2, 3)}),
        "ct_auto_pad": ([n("ConvTranspose", ["x", "w"], strides=[2, 2], auto_pad="SAME_UPPER")],
                        {"x": rnd(1, 2, 3, 3)}, {"w": rnd(2, 2, 3, 3)}),
    }


def index_cases() -> dict[str, Case]:
    x = rnd(2, 3, 5)
    xt = x.copy()
    xt[0, 1, 3] = xt[0, 1, 1] = 9.0  # ties
    return {
        "argmax": ([n("ArgMax", ["x"], axis=1)], {"x": xt}, {}),
        "argmin_last": ([n("ArgMin", ["x"], axis=-1, keepdims=0, select_last_index=1)], {"x": -xt}, {}),
        "argmax_last": ([n("ArgMax", ["x"], axis=2, select_last_index=1)], {"x": xt}, {}),
        "hardmax": ([n("Hardmax", ["x"], axis=1)], {"x": xt}, {}),
        "cumsum": ([n("CumSum", ["x", "a"])], {"x": x}, {"a": np.array(1, np.int64)}),
        "cumsum_excl_rev": ([n("CumSum", ["x", "a"], exclusive=1, reverse=1)], {"x": x}, {"a": np.array(2, np.int64)}),
        "cumsum_i32": ([n("CumSum", ["x", "a"], reverse=1)], {"x": np.arange(10, dtype=np.int32).reshape(2, 5)},
                       {"a": np.array(-1, np.int64)}),
        "instnorm": ([n("InstanceNormalization", ["x", "s", "b"], epsilon=1e-3)], {"x": rnd(2, 3, 4, 5) + 1},
                     {"s": rnd(3), "b": rnd(3)}),
        "lpnorm1": ([n("LpNormalization", ["x"], axis=1, p=1)], {"x": x}, {}),
        "lpnorm2": ([n("LpNormalization", ["x"], axis=-1, p=2)], {"x": x}, {}),
        "lrn": ([n("LRN", ["x"], size=3, alpha=1e-2, beta=0.6, bias=1.5)], {"x": rnd(1, 6, 3, 2)}, {}),
        "batchnorm": ([n("BatchNormalization", ["x", "s", "b", "m", "v"], epsilon=1e-3)], {"x": rnd(2, 3, 4)},
                      {"s": rnd(3), "b": rnd(3), "m": rnd(3), "v": np.abs(rnd(3)) + 0.5}),
        "d2s_dcr": ([n("DepthToSpace", ["x"], blocksize=2)], {"x": rnd(1, 8, 2, 3)}, {}),
        "d2s_crd": ([n("DepthToSpace", ["x"], blocksize=2, mode="CRD")], {"x": rnd(2, 8, 3, 2)}, {}),
        "s2d": ([n("SpaceToDepth", ["x"], blocksize=2)], {"x": rnd(1, 3, 4, 6)}, {}),
        "gather_elements": ([n("GatherElements", ["x", "i"], axis=1)], {"x": x},
                            {"i": np.array([[[0, 2, -1, 1, 0]], [[1, 1, 0, -3, 2]]], np.int64)}),
        "gather_nd_batch": ([n("GatherND", ["x", "i"], batch_dims=1)], {"x": x},
                            {"i": np.array([[[1, 4], [0, -1]], [[2, 0], [2, 2]]], np.int64)}),
        "gather_nd": ([n("GatherND", ["x", "i"])], {"x": x}, {"i": np.array([[1, 2], [0, 0]], np.int64)}),
        "scatter_nd_add": ([n("ScatterND", ["x", "i", "u"], reduction="add")], {"x": x, "u": rnd(3, 5)},
                           {"i": np.array([[1, 2], [0, 0], [1, 2]], np.int64)}),
        "scatter_nd": ([n("ScatterND", ["x", "i", "u"])], {"x": x, "u": rnd(2, 3, 5)}, {"i": np.array([[1], [0]],
                                                                                                       np.int64)}),
        "onehot": ([n("OneHot", ["i", "d", "v"], axis=1)], {"i": np.array([[1, 3, -1], [0, 7, 2]], np.int64)},
                   {"d": np.array(4, np.int64), "v": np.array([-1, 2], np.float32)}),
        "trilu_upper": ([n("Trilu", ["x", "k"])], {"x": rnd(2, 4, 5)}, {"k": np.array(1, np.int64)}),
        "trilu_lower": ([n("Trilu", ["x", "k"], upper=0)], {"x": rnd(4, 5)}, {"k": np.array(-1, np.int64)}),
        "dropout": ([n("Dropout", ["x"], ["y", "mask"])], {"x": x}, {}),
        "sin": ([n("Sin", ["x"])], {"x": x}, {}),
        "cos": ([n("Cos", ["x"])], {"x": x * 30}, {}),
        "tan": ([n("Tan", ["x"])], {"x": x}, {}),
        "sinh": ([n("Sinh", ["x"])], {"x": x}, {}),
        "asin": ([n("Asin", ["x"])], {"x": np.tanh(x)}, {}),
        "atan": ([n("Atan", ["x"])], {"x": x}, {}),
        "acosh": ([n("Acosh", ["x"])], {"x": np.abs(x) + 1}, {}),
        "shrink": ([n("Shrink", ["x"], lambd=0.3, bias=0.2)], {"x": x}, {}),
        "mod_i32": ([n("Mod", ["a", "b"])], {"a": np.array([-7, 7, -7, 7, 0], np.int32),
                                             "b": np.array([3, -3, -3, 3, 2], np.int32)}, {}),
        "fmod_f32": ([n("Mod", ["a", "b"], fmod=1)], {"a": x * 4, "b": np.abs(rnd(5)) + 0.5}, {}),
        "i64_arith": ([n("Mul", ["a", "b"], ["m"]), n("Sub", ["m", "a"], ["d"]), n("Max", ["d", "b"], ["e"]),
                       n("Add", ["e", "b"])],
                      {"a": np.array([[3, -(2**33) - 5, 2**31 + 7, -1]], np.int64),
                       "b": np.array([[-4], [2**20 + 3], [0]], np.int64)}, {}),
        "f64_chain": ([n("Exp", ["a"], ["e"]), n("ReduceSum", ["e", "ax"], ["s"]), n("CumSum", ["s", "z"])],
                      {"a": rnd(3, 4, 5).astype(np.float64)}, {"ax": np.array([1], np.int64),
                                                               "z": np.array(0, np.int64)}),
        "cast_f64": ([n("Cast", ["a"], ["c"], to=TensorProto.DOUBLE), n("Neg", ["c"], ["d"]),
                      n("Cast", ["d"], to=TensorProto.FLOAT)], {"a": rnd(3, 5) * 1e3}, {}),
        "pow_f32_i64": ([n("Pow", ["a", "b"])], {"a": rnd(2, 3)}, {"b": np.array([2, 3, 0], np.int64)}),
        "add_i32": ([n("Add", ["a", "b"])],
                    {"a": np.array([[1, -2, 3]], np.int32), "b": np.array([[5], [7]], np.int32)}, {}),
    }


def topk_cases() -> dict[str, Case]:
    """TopK: output y is Values, <case>_i the Indices (added as a graph output by the test)."""
    ties = RNG.integers(0, 3, (4, 9)).astype(np.float32)  # many equal values: index order decides

    def k(v: int) -> dict[str, np.ndarray]:
        return {"k": np.array([v], np.int64)}

    return {
        "topk_last": ([n("TopK", ["x", "k"], ["y", "i"], axis=-1)], {"x": rnd(3, 70)}, k(5)),
        "topk_small_axis0": ([n("TopK", ["x", "k"], ["y", "i"], axis=0, largest=0)], {"x": rnd(5, 4, 3)}, k(2)),
        "topk_mid_all": ([n("TopK", ["x", "k"], ["y", "i"], axis=1)], {"x": rnd(2, 6, 3)}, k(6)),
        "topk_ties": ([n("TopK", ["x", "k"], ["y", "i"])], {"x": ties}, k(7)),
        "topk_ties_small": ([n("TopK", ["x", "k"], ["y", "i"], largest=0)], {"x": ties}, k(9)),
        "topk_i32": ([n("TopK", ["x", "k"], ["y", "i"], axis=1)],
                     {"x": RNG.integers(-4, 4, (2, 8, 3)).astype(np.int32)}, k(4)),
        "topk_i64": ([n("TopK", ["x", "k"], ["y", "i"], largest=0)],
                     {"x": np.array([[2**40, -(2**33), 5, -1, 2**40, 0, -(2**33) - 1]], np.int64)}, k(5)),
        # k from a value input (converted with value_inputs: one conversion for every k)
        "topk_runtime_k": ([n("TopK", ["x", "kk"], ["y", "i"], axis=0)], {"x": rnd(7, 2), "kk": k(3)["k"]}, {}),
    }


FAMILIES = {
    "matmul": matmul_cases, "conv": conv_cases, "pool": pool_cases, "elementwise": elementwise_cases,
    "tensor": tensor_cases, "reduce": reduce_cases, "resize": resize_cases, "logic": logic_cases, "pad": pad_cases,
    "conv_transpose": conv_transpose_cases, "index": index_cases, "bitwise": bitwise_cases,
}
OPSETS = {"reduce": 18, "pad": 19, "index": 18, "bitwise": 28}


@pytest.mark.browser
@pytest.mark.parametrize("fam", FAMILIES)
def test_webgpu_kernels_match_onnxruntime(fam: str, gpu_page, tmp_path) -> None:  # type: ignore[no-untyped-def]
    model, inputs = family(FAMILIES[fam](), opset=OPSETS.get(fam, 17))
    out = os.path.join(tmp_path, "out")
    convert(model, out, ["webgpu"])
    from tests.backends.webgpu.helpers import check_in_browser  # the helpers import this module

    check_in_browser(gpu_page, model, inputs, out)


@pytest.mark.browser
def test_topk_values_and_indices_match_onnxruntime(gpu_browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cases = topk_cases()
    model, inputs = family(cases, opset=18)
    model.graph.output.extend(helper.make_empty_tensor_value_info(f"{c}_i") for c in cases)
    out = os.path.join(tmp_path, "out")
    convert(model, out, ["webgpu"], value_inputs=["topk_runtime_k_kk"])
    from tests.backends.webgpu.helpers import check_in_browser  # the helpers import this module

    check_in_browser(gpu_browser, model, inputs, out)


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
    relu, relu_text = expr_wgsl.function(unary_expr("Relu", {}))
    assert any(f"fn act(x: f32) -> f32 {{ return {relu}(x); }}" in s["code"] and relu_text in s["code"]
               for s in shaders)


def test_unsupported_op_names_node_op_and_backend(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from webdnn.backends.webgpu.wgsl import GENERATORS

    monkeypatch.delitem(GENERATORS, "ConvTranspose")  # every op has a kernel now: pretend one lacks it
    model, _ = family({"ct": ([n("ConvTranspose", ["x", "w"])], {"x": rnd(1, 2, 3, 3)}, {"w": rnd(2, 2, 2, 2)})})
    with pytest.raises(UnsupportedOperatorError, match=r"ct_ConvTranspose.*ConvTranspose.*webgpu"):
        convert(model, tmp_path / "out", ["webgpu"])
    assert not os.path.exists(tmp_path / "out")


def test_unsupported_dtype_is_reported(tmp_path) -> None:  # type: ignore[no-untyped-def]
    x = np.arange(6, dtype=np.int8).reshape(2, 3)
    model, _ = family({"ia": ([n("Neg", ["x"])], {"x": x}, {})})
    with pytest.raises(UnsupportedOperatorError, match=r"ia_Neg.*webgpu.*int8.*float type"):
        convert(model, tmp_path / "out", ["webgpu"])


def test_webgpu_has_a_kernel_for_every_fallback_op() -> None:
    from webdnn.backends.fallback.lower import supported as fallback_ops
    from webdnn.backends.webgpu.lower import supported

    assert set(fallback_ops()) <= set(supported())


def test_packed_bool_output_is_written_one_word_per_thread(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model, _ = family({"b": ([n("Less", ["a", "c"])], {"a": rnd(3, 7), "c": rnd(7)}, {})})
    convert(model, tmp_path / "out", ["webgpu"])
    d = json.loads((tmp_path / "out" / "webgpu" / "descriptor.json").read_text())
    (k,) = d["kernels"]
    code = d["shaders"][k["attrs"]["shader"]]["code"]
    assert "fn val(i: u32) -> bool" in code and "array<u32>" in code
    assert k["attrs"]["workgroups"][0] == 1  # ceil(21 / 4) = 6 words: one workgroup
    out = next(t for t in d["tensors"] if t["name"] == "b_y")
    assert out["dtype"] == "bool" and out["byteLength"] == 21  # the host layout: one byte per element


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


def test_topk_is_one_dispatch_and_refuses_packed_dtypes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cases = {"t": ([n("TopK", ["x", "k"], ["y", "i"])], {"x": rnd(3, 5)}, {"k": np.array([2], np.int64)})}
    model, _ = family(cases, opset=18)
    convert(model, tmp_path / "out", ["webgpu"])
    d = json.loads((tmp_path / "out" / "webgpu" / "descriptor.json").read_text())
    (kern,) = d["kernels"]
    assert kern["op"] == "TopK" and len(kern["outputs"]) == 2
    x8 = np.arange(6, dtype=np.int8).reshape(2, 3)
    model, _ = family({"t8": ([n("TopK", ["x", "k"], ["y", "i"])], {"x": x8}, {"k": np.array([2], np.int64)})},
                      opset=18)
    with pytest.raises(UnsupportedOperatorError, match=r"t8_TopK.*webgpu.*TopK of int8"):
        convert(model, tmp_path / "out8", ["webgpu"])
