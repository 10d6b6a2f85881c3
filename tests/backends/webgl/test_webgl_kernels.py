"""webgl backend: single-node models on odd shapes in headless Chromium vs onnxruntime,
and the lowering's own guarantees (no browser)."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import helper

from tests.conftest import make_model
from tests.shared_page import shared_page
from webdnn.backends.webgl import glsl, im2col
from webdnn.backends.webgl.glsl import Layout, layout_for
from webdnn.convert import convert
from webdnn.errors import UnsupportedOperatorError
from webdnn.verify import compare, reference_outputs

RNG = np.random.default_rng(7)


def rnd(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def node(op: str, ins: list[str], outs: list[str] | None = None, **attrs: Any) -> onnx.NodeProto:
    return helper.make_node(op, ins, outs or ["y"], **attrs)


def case(nodes: list[onnx.NodeProto], inputs: dict[str, np.ndarray], inits: dict[str, np.ndarray] | None = None,
         outputs: tuple[str, ...] = ("y",)) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    decl = [(k, helper.np_dtype_to_tensor_dtype(v.dtype), list(v.shape)) for k, v in inputs.items()]
    return make_model(nodes, decl, list(outputs), inits), inputs


def conv_case(act: list[onnx.NodeProto]) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    nodes = [node("Conv", ["x", "w", "b"], ["c" if act else "y"], group=2, strides=[2, 1], pads=[1, 0, 2, 1],
                  dilations=[2, 1]), *act]
    return case(nodes, {"x": rnd(2, 6, 9, 7)}, {"w": rnd(4, 3, 3, 2), "b": rnd(4)})


ACTS: dict[str, list[onnx.NodeProto]] = {
    "none": [],
    "relu": [node("Relu", ["c"])],
    "clip": [node("Clip", ["c", "lo", "hi"])],
    "leaky": [node("LeakyRelu", ["c"], alpha=0.3)],
    "sigmoid": [node("Sigmoid", ["c"])],
    "hardsigmoid": [node("HardSigmoid", ["c"], alpha=0.3, beta=0.4)],
    "hardswish": [node("HardSwish", ["c"])],
    "tanh": [node("Tanh", ["c"])],
}


def _cases() -> dict[str, tuple[onnx.ModelProto, dict[str, np.ndarray]]]:
    c: dict[str, tuple[onnx.ModelProto, dict[str, np.ndarray]]] = {}
    for name, act in ACTS.items():
        model, inputs = conv_case(act)
        if name == "clip":
            model.graph.initializer.extend([onnx.numpy_helper.from_array(np.float32(-0.5), "lo"),
                                            onnx.numpy_helper.from_array(np.float32(0.7), "hi")])
        c[f"conv_{name}"] = (model, inputs)
    c["conv_depthwise"] = case([node("Conv", ["x", "w"], group=5, pads=[1, 1, 1, 1])], {"x": rnd(1, 5, 8, 9)},
                               {"w": rnd(5, 1, 3, 3)})
    c["conv_1d"] = case([node("Conv", ["x", "w", "b"], strides=[2], pads=[1, 2])], {"x": rnd(1, 3, 11)},
                        {"w": rnd(4, 3, 3), "b": rnd(4)})
    c["conv_pointwise"] = case([node("Conv", ["x", "w"])], {"x": rnd(1, 7, 5, 3)}, {"w": rnd(9, 7, 1, 1)})
    c["conv_big"] = case([node("Conv", ["x", "w", "b"], pads=[1, 1, 1, 1])], {"x": rnd(1, 8, 33, 70)},
                         {"w": rnd(5, 8, 3, 3), "b": rnd(5)})  # tensors wider than one texture row
    # the vec4 conv paths (see conv.py, conv4.py, im2col.py)
    c["conv_pointwise_aligned"] = case([node("Conv", ["x", "w", "b"], ["c"]), node("Relu", ["c"])],
                                       {"x": rnd(2, 6, 4, 6)}, {"w": rnd(5, 6, 1, 1), "b": rnd(5)})
    c["conv_im2col_batch_odd"] = case([node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]), node("Relu", ["c"])],
                                      {"x": rnd(2, 5, 7, 7)}, {"w": rnd(6, 5, 3, 3), "b": rnd(6)})
    c["conv_im2col_aligned"] = case([node("Conv", ["x", "w"], pads=[1, 1, 1, 1], dilations=[2, 1])],
                                    {"x": rnd(1, 6, 10, 8)}, {"w": rnd(3, 6, 2, 3)})
    # batch 1, channels a multiple of 4: four channels per fragment, one per render target; the
    # products' layered outputs feed the next conv (as its Col matrix and as im2col's input), the
    # compaction pass and a graph output read back layer by layer
    c["conv_targets_chain"] = case(
        [node("Conv", ["x", "w1", "b1"], ["a"]), node("Relu", ["a"], ["r"]),
         node("Conv", ["r", "w2", "b2"], ["m"], pads=[1, 1, 1, 1]),
         node("Conv", ["m", "w3"], ["y"], pads=[1, 0, 1, 1], strides=[2, 2])],
        {"x": rnd(1, 6, 4, 5)}, {"w1": rnd(8, 6, 1, 1), "b1": rnd(8), "w2": rnd(12, 8, 3, 3), "b2": rnd(12),
                                 "w3": rnd(4, 12, 3, 2)}, outputs=("y", "m"))
    # converted with a tiny MAX_COL: im2col + product per chunk of plane positions, then a gather
    c["chunked_conv_targets"] = case([node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]), node("Relu", ["c"])],
                                     {"x": rnd(1, 3, 9, 10)}, {"w": rnd(8, 3, 3, 3), "b": rnd(8)})
    c["chunked_conv_batch2"] = case([node("Conv", ["x", "w", "b"], pads=[1, 1, 1, 1], strides=[1, 1])],
                                    {"x": rnd(2, 2, 7, 6)}, {"w": rnd(5, 2, 3, 3), "b": rnd(5)})
    c["conv_dw_row_s1"] = case([node("Conv", ["x", "w", "b"], group=3, pads=[1, 1, 1, 1])], {"x": rnd(2, 3, 6, 8)},
                               {"w": rnd(3, 1, 3, 3), "b": rnd(3)})
    c["conv_dw_row_s2"] = case([node("Conv", ["x", "w"], group=4, pads=[1, 2, 1, 0], strides=[2, 2], dilations=[1, 2])],
                               {"x": rnd(1, 4, 9, 17)}, {"w": rnd(4, 1, 3, 3)})
    # depthwise windows read as whole-texel row segments (rows and output rows of a multiple of 4)
    c["conv_dw_seg_s1"] = case([node("Conv", ["x", "w", "b"], ["c"], group=3, pads=[1, 3, 1, 1]), node("Relu", ["c"])],
                               {"x": rnd(2, 3, 5, 12)}, {"w": rnd(3, 1, 3, 5), "b": rnd(3)})
    c["conv_dw_seg_s2"] = case([node("Conv", ["x", "w"], group=5, pads=[2, 2, 2, 2], strides=[2, 2])],
                               {"x": rnd(1, 5, 9, 24)}, {"w": rnd(10, 1, 5, 5)})
    c["conv_dw_seg_s2_odd_h"] = case([node("Conv", ["x", "w"], group=6, pads=[1, 1, 1, 1], strides=[2, 2])],
                                     {"x": rnd(1, 6, 7, 16)}, {"w": rnd(6, 1, 3, 3)})
    # "same" depthwise convs at stride 1 over rows of any width: consecutive inputs per tap (conv4.flat_ok);
    # texels crossing rows, planes and batches, rows narrower than a texel, a channel multiplier
    c["conv_dw_flat_7x7"] = case([node("Conv", ["x", "w", "b"], ["c"], group=5, pads=[1, 1, 1, 1]),
                                  node("Relu", ["c"])], {"x": rnd(2, 5, 7, 7)}, {"w": rnd(5, 1, 3, 3), "b": rnd(5)})
    c["conv_dw_flat_mult"] = case([node("Conv", ["x", "w", "b"], group=3, pads=[2, 1, 2, 3])],
                                  {"x": rnd(1, 3, 6, 14)}, {"w": rnd(6, 1, 5, 5), "b": rnd(6)})
    c["conv_dw_flat_narrow"] = case([node("Conv", ["x", "w"], group=4, pads=[0, 1, 0, 1])], {"x": rnd(1, 4, 5, 3)},
                                    {"w": rnd(4, 1, 1, 3)})
    c["conv_group_stride3"] = case([node("Conv", ["x", "w"], group=2, strides=[1, 3])], {"x": rnd(1, 10, 7, 26)},
                                   {"w": rnd(4, 5, 2, 3)})
    c["conv_runtime_weights"] = case([node("Conv", ["x", "w"], pads=[0, 1, 0, 1])], {"x": rnd(1, 3, 5, 6),
                                                                                     "w": rnd(2, 3, 2, 2)})
    c["gemm"] = case([node("Gemm", ["a", "b", "c"], alpha=0.7, beta=1.3, transA=1, transB=1)],
                     {"a": rnd(5, 3)}, {"b": rnd(4, 5), "c": rnd(4)})
    # the vec4 Gemm (A untransposed, K and N multiples of 4), C broadcast along rows and columns
    c["gemm4_transb"] = case([node("Gemm", ["a", "b", "c"], alpha=0.7, beta=1.3, transB=1)], {"a": rnd(3, 12)},
                             {"b": rnd(8, 12), "c": rnd(8)})
    c["gemm4_relu"] = case([node("Gemm", ["a", "b", "c"], ["g"]), node("Relu", ["g"])], {"a": rnd(5, 8)},
                           {"b": rnd(8, 12), "c": rnd(5, 1)})
    # C of the output's full shape on the texel kernel; four render targets (rows a multiple of 4),
    # with alpha/beta and full C, with transB (B transposed at conversion), C per row and Relu
    c["gemm4_full_c"] = case([node("Gemm", ["a", "b", "c"], beta=0.5)], {"a": rnd(3, 8)},
                             {"b": rnd(8, 4), "c": rnd(3, 4)})
    c["gemm_targets"] = case([node("Gemm", ["a", "b", "c"], alpha=0.5, beta=2.0)], {"a": rnd(8, 12)},
                             {"b": rnd(12, 8), "c": rnd(8, 8)})
    c["gemm_targets_transb_relu"] = case([node("Gemm", ["a", "b", "c"], ["g"], transB=1), node("Relu", ["g"])],
                                         {"a": rnd(4, 8)}, {"b": rnd(12, 8), "c": rnd(4, 1)})
    c["gemm_relu"] = case([node("Gemm", ["a", "b"], ["g"]), node("Relu", ["g"])], {"a": rnd(3, 6)}, {"b": rnd(6, 5)})
    c["matmul_batched"] = case([node("MatMul", ["a", "b"])], {"a": rnd(2, 1, 3, 5), "b": rnd(4, 5, 6)})
    # the vec4 MatMul (K and N multiples of 4): broadcast batches, a 1-D A, constant B + Relu
    c["matmul4_batched"] = case([node("MatMul", ["a", "b"])], {"a": rnd(2, 1, 3, 8), "b": rnd(4, 8, 12)})
    c["matmul4_1d_a"] = case([node("MatMul", ["a", "b"])], {"a": rnd(8), "b": rnd(3, 8, 4)})
    c["matmul4_relu"] = case([node("MatMul", ["a", "b"], ["p"]), node("Relu", ["p"])], {"a": rnd(2, 5, 12)},
                             {"b": rnd(12, 8)})
    # B shared by every row (weights), rows a multiple of 4: four rows per fragment on four targets
    c["matmul_targets_relu"] = case([node("MatMul", ["a", "b"], ["p"]), node("Relu", ["p"])],
                                    {"a": rnd(3, 4, 12)}, {"b": rnd(12, 20)})
    c["matmul_targets_2d"] = case([node("MatMul", ["a", "b"])], {"a": rnd(8, 4), "b": rnd(4, 4)})
    c["matmul_1d"] = case([node("MatMul", ["a", "b"])], {"a": rnd(5), "b": rnd(3, 5, 2)})
    c["maxpool_ceil"] = case([node("MaxPool", ["x"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 0, 1, 0],
                                   ceil_mode=1)], {"x": rnd(1, 3, 10, 9)})
    c["avgpool_excl"] = case([node("AveragePool", ["x"], kernel_shape=[3, 2], strides=[2, 1], pads=[1, 1, 1, 0])],
                             {"x": rnd(2, 2, 7, 6)})
    c["avgpool_incl"] = case([node("AveragePool", ["x"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                                   count_include_pad=1)], {"x": rnd(1, 3, 7, 8)})
    # the vec4 pools: stride 1 (one X0v per tap where a row of four outputs has its window row
    # inside the input), rows of 8 and of 9, a dilated window, 1-D windows
    c["maxpool_s1"] = case([node("MaxPool", ["x"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])], {"x": rnd(2, 2, 5, 8)})
    c["avgpool_s1_incl"] = case([node("AveragePool", ["x"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                                      count_include_pad=1)], {"x": rnd(1, 3, 7, 9)})
    c["maxpool_s1_dil"] = case([node("MaxPool", ["x"], kernel_shape=[2, 3], pads=[0, 2, 1, 1], dilations=[2, 1])],
                               {"x": rnd(1, 2, 6, 9)})
    c["maxpool_1d"] = case([node("MaxPool", ["x"], kernel_shape=[3], strides=[2], pads=[1, 1])], {"x": rnd(2, 3, 11)})
    c["global_avg"] = case([node("GlobalAveragePool", ["x"])], {"x": rnd(2, 3, 5, 7)})
    c["global_max"] = case([node("GlobalMaxPool", ["x"])], {"x": rnd(2, 3, 5, 7)})
    c["add_broadcast"] = case([node("Add", ["a", "b"])], {"a": rnd(3, 1, 5), "b": rnd(4, 1)})
    c["div_mul_sub"] = case([node("Div", ["a", "b"], ["d"]), node("Mul", ["d", "a"], ["m"]), node("Sub", ["m", "b"])],
                            {"a": rnd(2, 3, 4), "b": rnd(3, 1) + 3})
    c["pow_sq_sqrt"] = case([node("Pow", ["a", "two"], ["p"]), node("Sqrt", ["p"])], {"a": rnd(7, 5)},
                            {"two": np.float32(2.0)})
    c["pow_general"] = case([node("Pow", ["a", "b"])], {"a": np.abs(rnd(4, 5)) + 0.1, "b": rnd(5)})
    c["where_greater"] = case([node("Greater", ["a", "b"], ["g"]), node("Where", ["g", "a", "b"])],
                              {"a": rnd(3, 4), "b": rnd(4)})
    big = np.concatenate([rnd(20) * 30, np.float32([0.0, 1e-5, -1e-5, 80.0, -80.0, 0.3, -0.3])]).reshape(3, 9)
    for op in ["Tanh", "Sigmoid", "Erf", "Exp", "Neg", "Abs", "Softplus", "Elu"]:
        inp = big / 10 if op == "Exp" else big
        c[f"unary_{op.lower()}"] = case([node(op, ["x"])], {"x": inp})
    c["gelu_erf"] = case([node("Div", ["x", "s2"], ["d"]), node("Erf", ["d"], ["e"]), node("Add", ["e", "one"], ["f"]),
                          node("Mul", ["x", "f"], ["g"]), node("Mul", ["g", "half"])], {"x": rnd(4, 33)},
                         {"s2": np.float32(np.sqrt(2)), "one": np.float32(1), "half": np.float32(0.5)})
    c["concat3"] = case([node("Concat", ["a", "b", "c"], axis=1)], {"a": rnd(2, 3, 5), "b": rnd(2, 1, 5),
                                                                     "c": rnd(2, 4, 5)})
    c["transpose"] = case([node("Transpose", ["x"], perm=[2, 0, 3, 1])], {"x": rnd(2, 3, 4, 5)})
    c["slice_steps"] = case([node("Slice", ["x", "st", "en", "ax", "sp"])], {"x": rnd(5, 7, 6)},
                            {"st": np.int64([4, 1]), "en": np.int64([0, 6]), "ax": np.int64([0, 2]),
                             "sp": np.int64([-2, 2])})
    c["expand"] = case([node("Expand", ["x", "sh"])], {"x": rnd(3, 1)}, {"sh": np.int64([2, 3, 4])})
    c["split"] = case([node("Split", ["x"], ["y", "z"], axis=1, num_outputs=2)], {"x": rnd(2, 5, 3)},
                      outputs=("y", "z"))
    c["gather_int64"] = case([node("Gather", ["t", "i"], axis=0)], {"i": np.int64([[3, 0], [-1, 2]])},
                             {"t": rnd(6, 5)})
    c["gather_axis1"] = case([node("Gather", ["x", "i"], axis=1)], {"x": rnd(2, 6, 3)}, {"i": np.int64([5, 1, 1])})
    c["cast_int64"] = case([node("Cast", ["i"], ["f"], to=1), node("Mul", ["f", "f"])], {"i": np.int64([[1, 0, 7]])})
    c["softmax_inner"] = case([node("Softmax", ["x"], axis=1)], {"x": rnd(2, 5, 3) * 20})
    c["softmax_last"] = case([node("Softmax", ["x"], axis=-1)], {"x": rnd(3, 4, 129) * 50})
    c["logsoftmax"] = case([node("LogSoftmax", ["x"], axis=-1)], {"x": rnd(3, 17)})
    c["layernorm"] = case([node("LayerNormalization", ["x", "s", "b"], axis=-1, epsilon=1e-3)], {"x": rnd(2, 3, 37)},
                          {"s": rnd(37), "b": rnd(37)})
    c["layernorm_axis1"] = case([node("LayerNormalization", ["x", "s"], axis=1)], {"x": rnd(2, 3, 4)},
                                {"s": rnd(3, 4)})
    c["reducemean"] = case([node("ReduceMean", ["x", "ax"], keepdims=0)], {"x": rnd(2, 5, 3)}, {"ax": np.int64([1])})
    c["reducesum_02"] = case([node("ReduceSum", ["x", "ax"])], {"x": rnd(2, 5, 3)}, {"ax": np.int64([0, 2])})
    c["reducemax"] = case([node("ReduceMax", ["x"], axes=[2, 3], keepdims=1)], {"x": rnd(2, 3, 4, 5)}, None)
    c["reducel2"] = case([node("ReduceL2", ["x"], axes=[-1])], {"x": rnd(3, 8)})
    c["resize_nearest"] = case([node("Resize", ["x", "", "sc"], mode="nearest")], {"x": rnd(1, 2, 3, 5)},
                               {"sc": np.float32([1, 1, 2, 1.5])})
    c["resize_linear"] = case([node("Resize", ["x", "", "", "sz"], mode="linear")], {"x": rnd(1, 2, 5, 4)},
                              {"sz": np.int64([1, 2, 9, 7])})
    c["resize_linear_ac"] = case([node("Resize", ["x", "", "sc"], mode="linear",
                                       coordinate_transformation_mode="align_corners")], {"x": rnd(1, 1, 4, 6)},
                                 {"sc": np.float32([1, 1, 2, 0.5])})
    # tensors beyond one layer of texels live in array textures (read per element, drawn per layer);
    # converted with 256-texel-wide layers (see SMALL_LAYERS) so a few MB reach 65 layers
    c["big_matmul_weight"] = case([node("MatMul", ["x", "w"])], {"x": rnd(2, 4100)},
                                  {"w": rnd(4100, 4100) / 64})  # scaled like trained weights: sums stay O(1)
    c["big_intermediate"] = case([node("Mul", ["a", "b"], ["m"]), node("ReduceSum", ["m", "ax"], keepdims=0)],
                                 {"a": rnd(4100, 1), "b": rnd(1, 4100)}, {"ax": np.int64([1])})
    c["big_output"] = case([node("Tile", ["x", "r"])], {"x": rnd(4097, 4)}, {"r": np.int64([1, 1025])})
    # ops added with issue 6's second increment (one case per kernel; the conformance suite has the rest)
    c["concat_empty_first"] = case([node("Concat", ["e", "x"], axis=1)], {"x": rnd(2, 3, 5)},
                                   {"e": np.zeros((2, 0, 5), np.float32)})  # an unread sampler before a read one
    c["const_output_shape"] = case([node("Shape", ["x"], ["y"]), node("Relu", ["x"], ["z"])], {"x": rnd(2, 3)},
                                   outputs=("y", "z"))
    c["convtranspose"] = case([node("ConvTranspose", ["x", "w", "b"], group=2, strides=[2, 3], pads=[1, 0, 0, 2],
                                    output_padding=[1, 1], dilations=[1, 2])],
                              {"x": rnd(1, 4, 5, 4)}, {"w": rnd(4, 3, 3, 2), "b": rnd(6)})
    c["convtranspose_1d"] = case([node("ConvTranspose", ["x", "w"], strides=[2])], {"x": rnd(2, 3, 6)},
                                 {"w": rnd(3, 2, 4)})
    c["argmax_last"] = case([node("ArgMax", ["x"], axis=1, keepdims=0, select_last_index=1)],
                            {"x": np.round(rnd(3, 6, 2))})
    c["argmin"] = case([node("ArgMin", ["x"], axis=-1)], {"x": rnd(4, 7)})
    c["hardmax"] = case([node("Hardmax", ["x"], axis=1)], {"x": rnd(2, 5, 3)})
    # TopK: Values and Indices, k from an initializer; ties keep index order (rounded values, ints)
    c["topk_largest_last"] = case([node("TopK", ["x", "k"], ["y", "i"])], {"x": rnd(3, 4, 7)}, {"k": np.int64([3])},
                                  outputs=("y", "i"))
    c["topk_smallest_axis0"] = case([node("TopK", ["x", "k"], ["y", "i"], axis=0, largest=0)], {"x": rnd(6, 5, 2)},
                                    {"k": np.int64([4])}, outputs=("y", "i"))
    c["topk_ties_full"] = case([node("TopK", ["x", "k"], ["y", "i"], axis=-1)], {"x": np.round(rnd(4, 9))},
                               {"k": np.int64([9])}, outputs=("y", "i"))
    c["topk_ties_int_smallest"] = case([node("TopK", ["x", "k"], ["y", "i"], axis=1, largest=0)],
                                       {"x": RNG.integers(-2, 2, (2, 8, 3)).astype(np.int32)}, {"k": np.int64([5])},
                                       outputs=("y", "i"))
    c["cumsum_rev_excl"] = case([node("CumSum", ["x", "ax"], exclusive=1, reverse=1)], {"x": rnd(3, 5, 2)},
                                {"ax": np.int64(1)})
    c["gather_elements"] = case([node("GatherElements", ["x", "i"], axis=1)], {"x": rnd(3, 4, 2)},
                                {"i": np.int64([[[0, 3], [-1, 1]], [[2, 2], [0, -4]], [[1, 0], [3, 3]]])})
    c["gather_nd_batch"] = case([node("GatherND", ["x", "i"], batch_dims=1)], {"x": rnd(2, 3, 4)},
                                {"i": np.int64([[[1], [0]], [[2], [-1]]])})
    c["scatter_nd_add"] = case([node("ScatterND", ["x", "i", "u"], reduction="add")], {"x": rnd(4, 3), "u": rnd(3, 3)},
                               {"i": np.int64([[1], [3], [1]])})  # duplicate index: both updates add
    c["onehot"] = case([node("OneHot", ["i", "d", "v"], axis=0)], {"i": np.int64([[1, -1], [0, 3]])},
                       {"d": np.int64(4), "v": np.float32([-2, 5])})
    c["trilu_lower"] = case([node("Trilu", ["x", "k"], upper=0)], {"x": rnd(2, 4, 5)}, {"k": np.int64(-1)})
    for mode in ["reflect", "edge", "wrap"]:
        c[f"pad_{mode}"] = case([node("Pad", ["x", "p"], mode=mode)], {"x": rnd(1, 3, 4)},
                                {"p": np.int64([0, 2, 1, 0, 1, 3])})
    c["depth_to_space_crd"] = case([node("DepthToSpace", ["x"], blocksize=2, mode="CRD")], {"x": rnd(1, 8, 2, 3)})
    c["depth_to_space_dcr"] = case([node("DepthToSpace", ["x"], blocksize=2)], {"x": rnd(2, 8, 2, 3)})
    c["space_to_depth"] = case([node("SpaceToDepth", ["x"], blocksize=2)], {"x": rnd(1, 2, 4, 6)})
    c["int_div_mod"] = case([node("Div", ["a", "b"], ["d"]), node("Mod", ["a", "b"], ["m"]), node("Add", ["d", "m"])],
                            {"a": np.int32([[7, -7, 9], [-9, 100, 0]]), "b": np.int32([2, -3, 4])})
    c["int8_mul_wraps"] = case([node("Mul", ["a", "b"])], {"a": np.int8([100, -100, 7]), "b": np.int8([3, 2, -5])})
    c["fmod_float"] = case([node("Mod", ["a", "b"], fmod=1)], {"a": rnd(3, 4) * 10, "b": np.float32([3, -2.5, 1.5, 7])})
    c.update(_bitwise_cases())
    c["isnan_isinf"] = case([node("IsNaN", ["x"], ["n"]), node("IsInf", ["x"], ["i"], detect_negative=0),
                             node("Or", ["n", "i"]), node("Not", ["n"], ["nn"])],
                            {"x": np.float32([1.0, np.nan, np.inf, -np.inf, 0.0, -3.0])}, outputs=("y", "nn"))
    c["lrn"] = case([node("LRN", ["x"], size=3, alpha=0.01, beta=0.8, bias=1.5)], {"x": rnd(2, 5, 3, 2)})
    c["instancenorm"] = case([node("InstanceNormalization", ["x", "s", "b"])], {"x": rnd(2, 3, 4, 5)},
                             {"s": rnd(3), "b": rnd(3)})
    c["lpnorm_p1"] = case([node("LpNormalization", ["x"], axis=1, p=1)], {"x": rnd(3, 4, 2)})
    c["maxpool_3d"] = case([node("MaxPool", ["x"], kernel_shape=[2, 3, 2], strides=[1, 2, 1], pads=[0, 1, 1, 1, 1, 0])],
                           {"x": rnd(1, 2, 4, 5, 3)})
    c["avgpool_3d_pad"] = case([node("AveragePool", ["x"], kernel_shape=[3, 2, 2], pads=[1, 0, 1, 1, 1, 0],
                                     count_include_pad=1)], {"x": rnd(1, 2, 3, 4, 3)})
    c["resize_crop"] = case([node("Resize", ["x", "roi", "", "sz"], mode="linear",
                                  coordinate_transformation_mode="tf_crop_and_resize", extrapolation_value=7.0)],
                            {"x": rnd(1, 1, 4, 4)}, {"roi": np.float32([0, 0, -0.2, 0.3, 1, 1, 0.7, 1.4]),
                                                     "sz": np.int64([1, 1, 3, 5])})
    c["cast_float16"] = case([node("Cast", ["x"], ["h"], to=onnx.TensorProto.FLOAT16), node("Mul", ["h", "h"])],
                             {"x": np.float32([0.1, 1e5, -7e4, np.inf, 3.14159, 1e-6])})
    c["batchnorm"] = case([node("BatchNormalization", ["x", "s", "b", "m", "v"])], {"x": rnd(2, 3, 4, 5)},
                          {"s": rnd(3), "b": rnd(3), "m": rnd(3), "v": np.abs(rnd(3)) + 0.5})
    return c


def _bitwise_cases() -> dict[str, tuple[onnx.ModelProto, dict[str, np.ndarray]]]:
    """BitShift (ONNX opset 28) and the bitwise ops on every integer type, with values a texture holds
    exactly (within 2**24, or a few significant bits: int32's and int64's ends, whose shifts stay exact):
    counts that are negative or the type's width or more, left shifts wrapping in the width (int64's
    too), int8's sign bit, and a fused chain."""
    c: dict[str, tuple[onnx.ModelProto, dict[str, np.ndarray]]] = {}
    for dt in (np.int8, np.int16, np.int32, np.int64, np.uint8):
        info, w = np.iinfo(dt), np.iinfo(dt).bits
        name = np.dtype(dt).name
        ends = [int(info.min), int(info.max)] if w <= 16 else [int(info.min), 2**(w - 2), 3 * 2**(w - 3), -(2**24),
                                                               2**24 - 3]
        x = np.array(ends + [0, 1, 5, 64, 0x55] + ([-1, -5, -64, -0x56] if info.min < 0 else []), dt)
        counts = [k for k in range(-2, w + 2) if k >= 0 or info.min < 0]
        s = np.array(counts + ([127, -128, 255] if w <= 16 else [2**24, -(2**24)]), np.int64)
        if dt is np.uint8:
            s = s[s >= 0]
        s = s[(s >= info.min) & (s <= info.max)].astype(dt)
        for d in ("LEFT", "RIGHT"):  # every value against every count: a column against a row
            c[f"shift_{d.lower()}_{name}"] = case([node("BitShift", ["a", "b"], direction=d)],
                                                  {"a": x.reshape(-1, 1), "b": s})
        small = np.clip(x, -(2**24), 2**24 - 1).astype(dt)  # & | ^ ~ of values in [-2**24, 2**24) stay in it
        for op in ("BitwiseAnd", "BitwiseOr", "BitwiseXor"):
            c[f"{op.lower()}_{name}"] = case([node(op, ["a", "b"])],
                                             {"a": small.reshape(-1, 1), "b": small[::-1][:5].copy()})
        c[f"bitwise_not_{name}"] = case([node("BitwiseNot", ["a"])], {"a": small})
        c[f"bitwise_chain_{name}"] = case(
            [node("BitShift", ["a", "b"], ["l"], direction="LEFT"), node("BitwiseNot", ["l"], ["m"]),
             node("BitwiseXor", ["m", "a"], ["o"]), node("BitShift", ["o", "b"], direction="RIGHT")],
            {"a": np.clip(x, -(2**20), 2**20).astype(dt),
             "b": np.resize(np.array([1, 3, w - 1 if w <= 16 else 0, 2], dt), x.shape)})
    return c


CASES = _cases()
# opset 18: Split's num_outputs and ReduceMean's axes input; 28: BitShift of signed integers
OPSET = {"split": 18, "reducemean": 18, **{k: 28 for k in CASES if k.startswith(("shift_", "bitwise"))}}


# Array textures start beyond 4096 x 4096 texels (67M elements); these cases are converted with
# 256 x 256-texel layers instead, which runs the same shader and runtime paths on small tensors.
SMALL_LAYERS = 256
# im2col is chunked beyond MAX_COL Col elements (2**24); "chunked_" cases use this instead.
SMALL_COL = 512


@pytest.fixture(scope="module")
def converted(tmp_path_factory):  # type: ignore[no-untyped-def]
    def get(name: str) -> tuple[str, dict[str, np.ndarray], dict[str, np.ndarray]]:
        model, inputs = CASES[name]
        if name in OPSET:
            model.opset_import[0].version = OPSET[name]
        out = os.path.join(tmp_path_factory.mktemp(name), "out")
        with pytest.MonkeyPatch.context() as mp:
            if name.startswith("big_"):
                mp.setattr(glsl, "MAX_TEXTURE_WIDTH", SMALL_LAYERS)
                mp.setattr(glsl, "LAYER_SIZE", SMALL_LAYERS * SMALL_LAYERS)
            if name.startswith("chunked_"):
                mp.setattr(im2col, "MAX_COL", SMALL_COL)
            convert(model, out, ["webgl"])
            with open(os.path.join(out, "webgl", "descriptor.json")) as f:
                d = json.load(f)
            if name.startswith("big_"):
                assert any(t.get("layers", 1) > 1 for t in d["webgl"]["textures"])
            if name.startswith("chunked_"):
                assert sum(k["op"] == "Conv.im2col" for k in d["kernels"]) == 4 + 2 * (name == "chunked_conv_targets")
        return out, inputs, reference_outputs(model, inputs)

    return get


@pytest.fixture(scope="module")
def page(browser):  # type: ignore[no-untyped-def]
    """One harness page for every case (tests/shared_page.py): a page of its own cost each case 0.6 s more."""
    with shared_page(browser) as p:
        yield p


@pytest.mark.browser
@pytest.mark.parametrize("name", sorted(CASES))
def test_webgl_kernel(name: str, converted, page) -> None:  # type: ignore[no-untyped-def]
    out, inputs, ref = converted(name)
    r = page.run_model(out, inputs, ["webgl"])
    assert r.backend == "webgl"
    for k, want in ref.items():
        c = compare(k, want, r.outputs.get(k))
        assert c.ok, f"{name}/{k}: max abs err {c.max_abs_err:.3g} {c.detail}"


def test_unsupported_op_names_node_and_backend(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # every op of the fallback backend has a webgl kernel; 3-D convolution windows do not
    model, _ = case([node("Conv", ["x", "w"], ["y"])], {"x": rnd(1, 2, 3, 3, 3)}, {"w": rnd(2, 2, 1, 1, 1)})
    model.graph.node[0].name = "my_conv"
    with pytest.raises(UnsupportedOperatorError, match=r"my_conv.*Conv.*webgl.*3-D"):
        convert(model, os.path.join(tmp_path, "out"), ["webgl"])


def test_descriptor_layout_and_texture_reuse(tmp_path) -> None:  # type: ignore[no-untyped-def]
    nodes = [node("Relu", ["x"], ["a"]), node("Neg", ["a"], ["b"]), node("Exp", ["b"], ["c"]),
             node("Reshape", ["c", "sh"], ["d"]), node("Abs", ["d"], ["y"])]
    model, _ = case(nodes, {"x": rnd(3, 20000)}, {"sh": np.int64([20000, 3])})
    convert(model, os.path.join(tmp_path, "out"), ["webgl"])
    with open(os.path.join(tmp_path, "out", "webgl", "descriptor.json")) as f:
        d = json.load(f)
    gl = d["webgl"]
    # Relu -> Neg -> Exp is one fused pass; the Reshape is a view, and the chain ends at it
    # (the fused group stops at views), so Abs is a pass of its own
    assert [k["op"] for k in d["kernels"]] == ["FusedElementwise", "Abs"]
    # x, c/d, y: 3 tensors of one layout ping-pong between 2 textures
    assert len(gl["textures"]) == 2
    # 60000 elements: 15000 RGBA texels, near-square with a power-of-two width
    assert all(t == {"width": 128, "height": 118} for t in gl["textures"])
    assert len(gl["programs"]) == 2
    for k in d["kernels"]:
        texs = k["attrs"]["textures"]
        assert texs[-1] not in texs[:-1]


def test_conv_paths(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Which kernel each conv shape gets: im2col (+ compaction for odd planes), direct vec4, scalar."""
    def ops(name: str) -> list[str]:
        model, _ = CASES[name]
        out = os.path.join(tmp_path, name)
        convert(model, out, ["webgl"])
        with open(os.path.join(out, "webgl", "descriptor.json")) as f:
            return [k["op"] for k in json.load(f)["kernels"]]

    assert ops("conv_im2col_batch_odd") == ["Conv.im2col", "Conv", "Conv.compact"]
    assert ops("conv_im2col_aligned") == ["Conv.im2col", "Conv"]  # an 8 x 8 plane: no padding to drop
    assert ops("conv_pointwise_aligned") == ["Conv"]
    assert ops("conv_dw_row_s1") == ["Conv"]
    assert ops("conv_runtime_weights") == ["Conv"]


def test_conv_render_targets(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Batch-1 convs with a multiple of 4 channels draw into four render targets (layers of an
    array texture, each a quarter of the output); other convs keep one."""
    def calls(name: str) -> tuple[list[tuple[str, int]], list[dict[str, int]]]:
        out = os.path.join(tmp_path, name)
        convert(CASES[name][0], out, ["webgl"])
        with open(os.path.join(out, "webgl", "descriptor.json")) as f:
            d = json.load(f)
        texs = d["webgl"]["textures"]
        return [(k["op"], k["attrs"].get("targets", 1)) for k in d["kernels"]], \
            [texs[k["attrs"]["textures"][-1]] for k in d["kernels"] if "targets" in k["attrs"]]

    ops, outs = calls("conv_targets_chain")
    assert ops == [("Conv", 4), ("Conv.im2col", 1), ("Conv", 4), ("Conv.im2col", 1), ("Conv", 4), ("Conv.compact", 1)]
    # 8 x 20 outputs: 40 texels, a quarter (10 texels) per layer laid out in 4 x 3
    assert outs[0] == {"width": 4, "height": 3, "layers": 4, "stride": 10}
    assert outs[1] == {"width": 4, "height": 4, "layers": 4, "stride": 15}  # 12 x 20
    # 4 x 8 padded outputs (a 2 x 3 plane padded to 8): 2 texels per layer
    assert outs[2] == {"width": 2, "height": 1, "layers": 4}
    assert [t for _, t in calls("conv_im2col_batch_odd")[0]] == [1, 1, 1]  # batch 2
    assert [t for _, t in calls("conv_big")[0]] == [1, 1, 1]  # 5 channels


def _program_of(tmp_path: Any, name: str, op: str) -> str:
    """The fragment shader of the one `op` pass of CASES[name], converted for webgl."""
    out = os.path.join(tmp_path, name)
    convert(CASES[name][0], out, ["webgl"])
    with open(os.path.join(out, "webgl", "descriptor.json")) as f:
        d = json.load(f)
    (k,) = [k for k in d["kernels"] if k["op"] == op]
    return str(d["webgl"]["programs"][k["attrs"]["program"]])


def test_gemm_vec4_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A Gemm with A untransposed and K, N multiples of 4 takes the texel-per-fragment kernel;
    a transposed A keeps the scalar one."""
    def program(name: str) -> str:
        return _program_of(tmp_path, name, "Gemm")

    assert "compute4(t)" in program("gemm4_transb") and "compute4(t)" in program("gemm4_relu")
    assert "compute4(t)" not in program("gemm")
    for name in ("matmul4_batched", "matmul4_1d_a", "matmul4_relu"):
        assert "compute4(t)" in _program_of(tmp_path, name, "MatMul"), name
    assert "compute4(t)" not in _program_of(tmp_path, "matmul_batched", "MatMul")  # K = 5
    for name in ("gemm_targets", "gemm_targets_transb_relu"):
        assert "computeN(" in program(name), name
    for name in ("matmul_targets_relu", "matmul_targets_2d"):
        assert "computeN(" in _program_of(tmp_path, name, "MatMul"), name


def test_depthwise_segment_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Depthwise convs over rows of a multiple of 4, and "same" ones at stride 1 over rows of any
    width, read whole texels (no unaligned X0v reads); a dilated one keeps the X0v path."""
    def program(name: str) -> str:
        return _program_of(tmp_path, name, "Conv")

    for name in ("conv_dw_row_s1", "conv_dw_seg_s1", "conv_dw_seg_s2", "conv_dw_seg_s2_odd_h"):
        src = program(name)
        assert "vec4 T0 = X0t(" in src and "X0v(" not in src, name
    for name in ("conv_depthwise", "conv_dw_flat_7x7", "conv_dw_flat_mult", "conv_dw_flat_narrow"):
        src = program(name)  # rows of any width: per-lane rows and columns, whole-texel runs
        assert "ivec4 oh4" in src and "vec4 T0 = X0t(" in src and "X0v(" not in src, name
    assert "ivec4 oh4" not in program("conv_dw_row_s1")  # rows of a multiple of 4 keep the row segments
    assert "X0v(" in program("conv_dw_row_s2")


def test_layout_for() -> None:
    # four elements per RGBA texel, near-square, power-of-two width
    assert layout_for(1) == layout_for(0) == layout_for(4) == Layout(1, 1)
    assert layout_for(5) == Layout(2, 1)
    assert layout_for(17) == Layout(4, 2)
    assert layout_for(4 * 3920) == Layout(64, 62)
    assert layout_for(4 * 4096 * 4096) == Layout(4096, 4096)
    big = layout_for(25088 * 4096)  # VGG16's first FC weight: layers of 4096 x 4096 texels, never wider
    assert big == Layout(4096, 4096, 2) and 4 * big.texels >= 25088 * 4096
