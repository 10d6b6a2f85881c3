"""Shape rules of the neural-network family against onnxruntime.

Each case builds one ONNX node, runs it in onnxruntime, and checks that the IR rule gives
the same output shape; the rule must also be stable when run again on its canonical node.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

from webdnn.errors import ShapeError, UnsupportedOperatorError
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Node, Value
from webdnn.ops.registry import infer_node

# An input is a shape (a runtime float32 input), an ndarray (a constant) or None (omitted).
Input = Sequence[int] | np.ndarray | None
RNG = np.random.default_rng(0)


def onnx_model(
    op: str, ins: Sequence[Input], attrs: dict[str, Any], opset: int, n_out: int
) -> onnx.ModelProto:
    names, graph_ins, inits = [], [], []
    for i, x in enumerate(ins):
        if x is None:
            names.append("")
        elif isinstance(x, np.ndarray):
            names.append(f"c{i}")
            inits.append(numpy_helper.from_array(x, f"c{i}"))
        else:
            names.append(f"x{i}")
            graph_ins.append(helper.make_tensor_value_info(f"x{i}", onnx.TensorProto.FLOAT, list(x)))
    outs = [f"y{j}" for j in range(n_out)]
    node = helper.make_node(op, names, outs, **attrs)
    g = helper.make_graph(
        [node], "g", graph_ins, [helper.make_empty_tensor_value_info(o) for o in outs], inits
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def ort_shapes(
    op: str, ins: Sequence[Input], attrs: dict[str, Any], opset: int, n_out: int = 1
) -> list[tuple]:
    model = onnx_model(op, ins, attrs, opset, n_out)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {
        f"x{i}": RNG.standard_normal(x).astype(np.float32)
        for i, x in enumerate(ins)
        if x is not None and not isinstance(x, np.ndarray)
    }
    return [tuple(r.shape) for r in sess.run(None, feeds)]


def ir_node(
    op: str, ins: Sequence[Input], attrs: dict[str, Any], opset: int, n_out: int = 1
) -> tuple[Graph, Node]:
    graph = Graph("t", opset)
    values: list[Value | None] = []
    for i, x in enumerate(ins):
        if x is None:
            values.append(None)
        elif isinstance(x, np.ndarray):
            values.append(graph.const_value(f"c{i}", x))
        else:
            v = graph.new_value(f"x{i}", DType.FLOAT32, tuple(x))
            graph.inputs.append(v)
            values.append(v)
    outs = [graph.new_value(f"y{j}") for j in range(n_out)]
    node = graph.add_node(op, values, outs, copy.deepcopy(attrs))
    graph.outputs.append(outs[0])
    return graph, node


def check(op: str, ins: Sequence[Input], attrs: dict[str, Any] | None = None, opset: int = 13) -> Node:
    attrs = attrs or {}
    want = ort_shapes(op, ins, attrs, opset)[0]
    graph, node = ir_node(op, ins, attrs, opset)
    infer_node(node, graph)
    assert node.outputs[0].shape == want, f"{op} {attrs} opset {opset}: {node.outputs[0].shape} != ort {want}"
    assert node.attrs.get("auto_pad", "NOTSET") == "NOTSET"
    canonical = copy.deepcopy(node.attrs)
    infer_node(node, graph)  # shape inference may run again: the canonical form must be stable
    assert node.outputs[0].shape == want and node.attrs == canonical
    return node


def weights(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


# --- Conv -------------------------------------------------------------------------------------

PAD_CHOICES: list[dict[str, Any]] = [
    {},
    {"pads": [1, 1, 1, 1]},
    {"pads": [0, 2, 1, 0]},
    {"auto_pad": "VALID"},
    {"auto_pad": "SAME_UPPER"},
    {"auto_pad": "SAME_LOWER"},
]
CONV_CASES = [
    (k, s, d, p, g)
    for k, s, d, p, g in itertools.product(
        [(3, 3), (1, 1), (2, 3), (5, 1)], [(1, 1), (2, 2), (3, 1)], [(1, 1), (2, 1)], PAD_CHOICES, [1, 2, 4]
    )
    if not (d != (1, 1) and p.get("auto_pad", "").startswith("SAME"))  # onnxruntime rejects these
]


@pytest.mark.parametrize("kernel,strides,dilations,pads,group", CONV_CASES)
def test_conv2d(
    kernel: tuple[int, int], strides: tuple[int, int], dilations: tuple[int, int], pads: dict, group: int
) -> None:
    attrs = {"strides": list(strides), "dilations": list(dilations), "group": group, **pads}
    node = check("Conv", [(2, 4, 9, 8), weights(8, 4 // group, *kernel), weights(8)], attrs)
    assert node.attrs["kernel_shape"] == list(kernel) and len(node.attrs["pads"]) == 4


@pytest.mark.parametrize("pads", PAD_CHOICES)
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_conv1d(pads: dict, stride: int) -> None:
    pads = {"pads": pads["pads"][:2]} if "pads" in pads else pads
    check("Conv", [(1, 3, 11), weights(5, 3, 3)], {"strides": [stride], **pads})


def test_conv3d_and_kernel_shape_attr() -> None:
    check(
        "Conv", [(1, 2, 5, 6, 7), weights(3, 2, 3, 2, 1)], {"pads": [1, 0, 0, 1, 1, 0], "strides": [2, 1, 2]}
    )
    check("Conv", [(1, 2, 5, 6), weights(3, 2, 3, 3)], {"kernel_shape": [3, 3]})


def test_conv_keeps_fused_activation() -> None:
    graph, node = ir_node("Conv", [(1, 2, 5, 5), weights(3, 2, 3, 3)], {}, 13)
    node.attrs["activation"] = {"type": "Clip", "min": 0.0, "max": 6.0}
    infer_node(node, graph)
    assert node.attrs["activation"] == {"type": "Clip", "min": 0.0, "max": 6.0}
    assert node.attrs["group"] == 1 and node.attrs["pads"] == [0, 0, 0, 0]


def test_conv_bad_shapes() -> None:
    graph, node = ir_node("Conv", [(1, 3, 5, 5), weights(4, 2, 3, 3)], {}, 13)
    with pytest.raises(ShapeError, match="group"):
        infer_node(node, graph)
    graph, node = ir_node("Conv", [(1, 2, 2, 2), weights(4, 2, 3, 3)], {}, 13)
    with pytest.raises(ShapeError, match="empty"):
        infer_node(node, graph)


# --- ConvTranspose ----------------------------------------------------------------------------

CONVT_CASES = list(
    itertools.product(
        [(3, 3), (2, 2), (1, 3)],
        [(1, 1), (2, 2), (3, 2)],
        [(1, 1), (2, 1)],
        [
            {},
            {"pads": [1, 0, 1, 1]},
            {"output_padding": [1, 0]},
            {"auto_pad": "SAME_UPPER"},
            {"auto_pad": "SAME_LOWER"},
            {"auto_pad": "VALID"},
            {"output_shape": [10, 9]},
            {"output_shape": [10, 9], "auto_pad": "SAME_UPPER"},
        ],
        [1, 2],
    )
)


@pytest.mark.parametrize("kernel,strides,dilations,extra,group", CONVT_CASES)
def test_conv_transpose(
    kernel: tuple[int, int], strides: tuple[int, int], dilations: tuple[int, int], extra: dict, group: int
) -> None:
    if "output_padding" in extra and strides == (1, 1):
        extra = {"output_padding": [0, 0]}  # output_padding must be smaller than the stride
    attrs = {"strides": list(strides), "dilations": list(dilations), "group": group, **extra}
    ins: list[Input] = [(1, 4, 4, 5), weights(4, 3, *kernel), weights(3 * group)]
    try:
        want = ort_shapes("ConvTranspose", ins, attrs, 13)[0]
    except Exception as e:  # onnxruntime rejects output_shape it cannot reach with these strides
        assert "output_shape" in extra, e
        return
    node = check("ConvTranspose", ins, attrs)
    assert node.outputs[0].shape == want and "output_shape" not in node.attrs


def test_conv_transpose_1d() -> None:
    for attrs in ({"strides": [2]}, {"strides": [2], "output_shape": [8]}, {"strides": [3], "pads": [1, 2]}):
        check("ConvTranspose", [(1, 2, 3), weights(2, 4, 3)], attrs)


# --- pooling ----------------------------------------------------------------------------------

POOL_CASES = [
    c
    for c in itertools.product(
        ["MaxPool", "AveragePool"],
        [(3, 3), (2, 2), (1, 3)],
        [(1, 1), (2, 2), (3, 2)],
        PAD_CHOICES,
        [0, 1],
    )
    if not ("pads" in c[3] and max(c[3]["pads"]) >= min(c[1]))  # pads must be smaller than the kernel
]


@pytest.mark.parametrize("op,kernel,strides,pads,ceil_mode", POOL_CASES)
def test_pool2d(
    op: str, kernel: tuple[int, int], strides: tuple[int, int], pads: dict, ceil_mode: int
) -> None:
    attrs = {"kernel_shape": list(kernel), "strides": list(strides), "ceil_mode": ceil_mode, **pads}
    if op == "AveragePool":
        attrs["count_include_pad"] = 1
    try:
        ort_shapes(op, [(1, 3, 9, 8)], attrs, 13)
    except Exception as e:  # onnxruntime refuses SAME where the needed padding would be negative
        assert "SAME" in pads.get("auto_pad", ""), e
        return
    check(op, [(1, 3, 9, 8)], attrs)


@pytest.mark.parametrize("opset", [11, 12, 19])
@pytest.mark.parametrize("ceil_mode", [0, 1])
def test_pool_dilations(opset: int, ceil_mode: int) -> None:
    for size, k, s, d, p in [(10, 3, 2, 2, 1), (7, 2, 3, 2, 0), (8, 3, 2, 3, 2), (5, 2, 2, 1, 1)]:
        attrs = {
            "kernel_shape": [k],
            "strides": [s],
            "dilations": [d],
            "pads": [p, p],
            "ceil_mode": ceil_mode,
        }
        check("MaxPool", [(1, 2, size)], attrs, opset)
        if opset >= 19:
            check("AveragePool", [(1, 2, size)], attrs, opset)


def test_ceil_mode_last_window_inside() -> None:
    # ceil would give a last window starting in the end padding; ONNX drops it
    check(
        "MaxPool",
        [(1, 1, 4, 4)],
        {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1},
    )
    check("AveragePool", [(1, 1, 5)], {"kernel_shape": [2], "strides": [2], "pads": [1, 1], "ceil_mode": 1})


def test_maxpool_indices_output() -> None:
    graph, node = ir_node("MaxPool", [(1, 1, 4, 4)], {"kernel_shape": [2, 2]}, 13, n_out=2)
    graph.outputs.append(node.outputs[1])
    infer_node(node, graph)  # read Indices: int64, Y's shape (passes/decompose.py computes them)
    assert node.outputs[1].dtype == DType.INT64 and node.outputs[1].shape == (1, 1, 3, 3)
    graph, node = ir_node("MaxPool", [(1, 1, 4, 4)], {"kernel_shape": [2, 2]}, 13, n_out=2)
    infer_node(node, graph)  # unused Indices: dropped
    assert len(node.outputs) == 1 and node.outputs[0].shape == (1, 1, 3, 3)


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
@pytest.mark.parametrize("shape", [(1, 3, 5), (2, 3, 4, 5), (1, 2, 3, 4, 5)])
def test_global_pool(op: str, shape: tuple[int, ...]) -> None:
    check(op, [shape])


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_lp_normalization(p: int, axis: int) -> None:
    node = check("LpNormalization", [(3, 4, 5)], {"p": p, "axis": axis})
    assert node.attrs["axis"] >= 0


# --- Gemm / MatMul ----------------------------------------------------------------------------


@pytest.mark.parametrize("trans_a,trans_b", itertools.product([0, 1], [0, 1]))
@pytest.mark.parametrize("c_shape", [None, (5,), (1, 5), (3, 1), (3, 5), (1,), ()])
def test_gemm(trans_a: int, trans_b: int, c_shape: tuple[int, ...] | None) -> None:
    a = (4, 3) if trans_a else (3, 4)
    b = (5, 4) if trans_b else (4, 5)
    c = None if c_shape is None else weights(*c_shape)
    attrs = {"transA": trans_a, "transB": trans_b, "alpha": 0.5, "beta": 2.0}
    node = check("Gemm", [a, weights(*b), c] if c is not None else [a, weights(*b)], attrs, 13)
    assert node.attrs["alpha"] == 0.5 and node.attrs["transB"] == trans_b
    check("Gemm", [a, b], {"transA": trans_a, "transB": trans_b}, 11)


@pytest.mark.parametrize(
    "a,b",
    [
        ((3, 4), (4, 5)),
        ((4,), (4, 5)),
        ((3, 4), (4,)),
        ((4,), (4,)),
        ((2, 3, 4), (4, 5)),
        ((4,), (2, 4, 5)),
        ((2, 1, 3, 4), (5, 4, 6)),
        ((1, 3, 4), (2, 4, 1)),
        ((2, 3, 4), (4,)),
    ],
)
def test_matmul(a: tuple[int, ...], b: tuple[int, ...]) -> None:
    check("MatMul", [a, b])
    check("MatMul", [a, weights(*b)])


def test_matmul_mismatch() -> None:
    graph, node = ir_node("MatMul", [(3, 4), (5, 6)], {}, 13)
    with pytest.raises(ShapeError, match="inner"):
        infer_node(node, graph)


# --- normalization and softmax ----------------------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 5), (1, 3, 4, 5)])
@pytest.mark.parametrize("opset", [9, 14, 15])
def test_batch_normalization(shape: tuple[int, ...], opset: int) -> None:
    c = shape[1]
    node = check(
        "BatchNormalization", [shape, *(weights(c) for _ in range(3)), np.abs(weights(c))], {}, opset
    )
    assert node.attrs["epsilon"] == pytest.approx(1e-5)


def test_batch_normalization_training_unsupported() -> None:
    ins: list[Input] = [(1, 2, 3, 3), weights(2), weights(2), weights(2), weights(2)]
    graph, node = ir_node("BatchNormalization", ins, {"training_mode": 1}, 14, n_out=3)
    with pytest.raises(UnsupportedOperatorError, match="training"):
        infer_node(node, graph)


def test_instance_normalization() -> None:
    check("InstanceNormalization", [(2, 3, 4, 5), weights(3), weights(3)], {"epsilon": 1e-3})
    check("InstanceNormalization", [(1, 3, 7), weights(3), weights(3)])


@pytest.mark.parametrize("axis", [-1, -2, 0, 1, 2])
def test_layer_normalization(axis: int) -> None:
    shape = (2, 3, 4)
    inner = shape[axis:] if axis >= 0 else shape[len(shape) + axis :]
    node = check("LayerNormalization", [shape, weights(*inner), weights(*inner)], {"axis": axis}, 17)
    assert node.attrs["axis"] >= 0 and node.attrs["stash_type"] == 1
    check("LayerNormalization", [shape, weights(*inner)], {"axis": axis, "epsilon": 1e-3}, 17)


def test_layer_normalization_extra_outputs() -> None:
    graph, node = ir_node("LayerNormalization", [(2, 3), weights(3)], {}, 17, n_out=3)
    infer_node(node, graph)
    assert len(node.outputs) == 1
    graph, node = ir_node("LayerNormalization", [(2, 3), weights(3)], {}, 17, n_out=2)
    graph.outputs.append(node.outputs[1])
    with pytest.raises(UnsupportedOperatorError):
        infer_node(node, graph)


@pytest.mark.parametrize("size", [1, 3, 5])  # onnxruntime takes odd sizes only
def test_lrn(size: int) -> None:
    check("LRN", [(1, 6, 3, 3)], {"size": size, "alpha": 1e-3, "beta": 0.5, "bias": 2.0})


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax", "Hardmax"])
@pytest.mark.parametrize("opset", [11, 13])
@pytest.mark.parametrize("axis", [None, -1, 0, 1, 2])
def test_softmax(op: str, opset: int, axis: int | None) -> None:
    attrs = {} if axis is None else {"axis": axis}
    node = check(op, [(2, 3, 4)], attrs, opset)
    assert node.attrs["coerce_2d"] == (opset < 13)
    default = 1 if opset < 13 else 2
    assert node.attrs["axis"] == (default if axis is None else axis % 3)


# --- layout -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
def test_depth_to_space(mode: str) -> None:
    check("DepthToSpace", [(1, 8, 2, 3)], {"blocksize": 2, "mode": mode})
    check("DepthToSpace", [(2, 9, 1, 2)], {"blocksize": 3}, 11)


def test_space_to_depth() -> None:
    check("SpaceToDepth", [(1, 2, 4, 6)], {"blocksize": 2})


# --- Resize / Upsample ------------------------------------------------------------------------

F32 = np.float32
EMPTY = np.zeros(0, np.float32)


@pytest.mark.parametrize(
    "scales", [[1, 1, 2, 2], [1, 1, 0.5, 0.5], [1, 1, 1.7, 0.6], [1, 1, 3.0, 1.0], [1, 1, 0.33333334, 2.5]]
)
@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_resize10(scales: list[float], mode: str) -> None:
    node = check("Resize", [(1, 2, 7, 6), np.array(scales, F32)], {"mode": mode}, 10)
    assert node.attrs["coordinate_transformation_mode"] == "asymmetric" and len(node.inputs) == 1


RESIZE_MODES = [
    {"mode": "nearest"},
    {"mode": "nearest", "nearest_mode": "floor", "coordinate_transformation_mode": "asymmetric"},
    {"mode": "linear", "coordinate_transformation_mode": "align_corners"},
    {"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"},
    {"mode": "cubic", "cubic_coeff_a": -0.5, "exclude_outside": 1},
]


@pytest.mark.parametrize("attrs", RESIZE_MODES)
@pytest.mark.parametrize("opset", [11, 13, 18, 19])
def test_resize_scales_and_sizes(attrs: dict, opset: int) -> None:
    x = (1, 3, 5, 7)
    for scales in ([1, 1, 2, 2], [1, 1, 0.6, 1.5], [1, 1, 1.0 / 3, 0.7]):
        node = check("Resize", [x, EMPTY, np.array(scales, F32)], attrs, opset)
        assert len(node.inputs) == 1 and len(node.attrs["scales"]) == 4
    for sizes in ([1, 3, 10, 3], [1, 3, 2, 7], [1, 3, 9, 13]):
        empty_scales = EMPTY if opset < 13 else None
        node = check("Resize", [x, EMPTY, empty_scales, np.array(sizes, np.int64)], attrs, opset)
        assert node.outputs[0].shape == tuple(sizes)


def test_resize13_optional_inputs_omitted() -> None:
    check("Resize", [(1, 1, 4, 4), None, np.array([1, 1, 2, 3], F32)], {"mode": "linear"}, 13)
    check("Resize", [(1, 1, 4, 4), None, None, np.array([1, 1, 3, 3], np.int64)], {}, 13)


def test_resize_tf_crop_and_resize_roi() -> None:
    roi = np.array([0, 0, 0.1, 0.2, 1, 1, 0.8, 0.9], F32)
    attrs = {
        "mode": "linear",
        "coordinate_transformation_mode": "tf_crop_and_resize",
        "extrapolation_value": 1.5,
    }
    node = check("Resize", [(1, 1, 6, 6), roi, None, np.array([1, 1, 4, 5], np.int64)], attrs, 13)
    assert node.attrs["roi"] == pytest.approx(roi.tolist())


@pytest.mark.parametrize("policy", ["stretch", "not_larger", "not_smaller"])
def test_resize18_axes_and_policy(policy: str) -> None:
    attrs = {"axes": [2, 3], "keep_aspect_ratio_policy": policy}
    node = check("Resize", [(1, 3, 5, 8), None, None, np.array([10, 10], np.int64)], attrs, 18)
    assert node.attrs["axes"] == [0, 1, 2, 3]
    check("Resize", [(1, 3, 4, 6), None, None, np.array([7, 7], np.int64)], attrs, 18)  # 10.5 rounds up
    check("Resize", [(1, 3, 5, 8), None, np.array([1.5, 0.5], F32)], {"axes": [-1, 2]}, 18)


def test_resize19_half_pixel_symmetric() -> None:
    attrs = {"mode": "linear", "coordinate_transformation_mode": "half_pixel_symmetric"}
    check("Resize", [(1, 1, 5, 4), None, np.array([1, 1, 1.5, 0.7], F32)], attrs, 19)


def test_resize_antialias_downsampling_unsupported() -> None:
    ins: list[Input] = [(1, 1, 8, 8), None, np.array([1, 1, 0.5, 0.5], F32)]
    graph, node = ir_node("Resize", ins, {"mode": "linear", "antialias": 1}, 18)
    with pytest.raises(UnsupportedOperatorError, match="antialias"):
        infer_node(node, graph)


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_upsample(mode: str) -> None:
    node = check("Upsample", [(1, 2, 3, 4), np.array([1, 1, 2, 1.5], F32)], {"mode": mode}, 9)
    assert node.attrs["nearest_mode"] == "simple" and len(node.inputs) == 1
    check("Upsample", [(1, 2, 3, 4)], {"mode": mode, "scales": [1.0, 1.0, 2.0, 3.0]}, 7)
