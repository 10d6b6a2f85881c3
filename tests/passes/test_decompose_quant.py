"""Quantization ops written out as float arithmetic (passes/decompose_quant.py), against onnxruntime
on the same ONNX model (its graph optimizations off, so it computes each op as written rather
than fusing QDQ pairs into integer kernels): rounding ties, saturation, per-axis and blocked
parameters given as data, zero points per row and column, a QDQ convolution whose weights fold
at conversion, and the dynamic-quantization MatMul pattern of quantized transformers. The last
two also run converted for fallback and wasm in Node."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from tests.conftest import F32, make_model
from tests.passes.ir_onnx import run_ir
from webdnn.errors import UnsupportedOperatorError
from webdnn.frontend.onnx import from_onnx
from webdnn.passes import decompose_quant
from webdnn.passes.pipeline import PASSES, optimize, run_passes
from webdnn.verify import INTEGER_PRODUCT_OPS, exact_reference_outputs, onnxruntime_u8s8_is_exact

RNG = np.random.default_rng(20)
QUANT_OPS = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger", "ConvInteger",
             "QLinearMatMul", "QLinearConv"}


def _ort(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if not onnxruntime_u8s8_is_exact() and {n.op_type for n in model.graph.node} & INTEGER_PRODUCT_OPS:
        return exact_reference_outputs(model, feeds)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds), strict=True))


def _check(model: onnx.ModelProto, feeds: dict[str, np.ndarray], exact: tuple[str, ...] = ()) -> Any:
    g = from_onnx(model)
    # infer_shapes, decompose and the backends' deferred decomposition (QLinearConv): the graph stays plain
    # ONNX (no fused activations, no QDQ patterns folded into integer ops)
    run_passes(g, [p for p in PASSES if p[0] in ("infer_shapes", "decompose")])
    decompose_quant.run_deferred(g)
    assert not QUANT_OPS & {n.op_type for n in g.nodes}
    got, ref = run_ir(g, feeds), _ort(model, feeds)
    for k, v in ref.items():
        assert got[k].dtype == v.dtype, k
        if k in exact or v.dtype.kind in "iu":
            np.testing.assert_array_equal(got[k], v, err_msg=k)
        else:
            np.testing.assert_allclose(got[k], v, rtol=1e-4, atol=1e-5, err_msg=k)
    return g


def test_quantize_rounds_ties_to_even_and_saturates() -> None:
    # x / 0.5 lands on .5 ties (1.25 / 0.5 = 2.5 -> 2, 1.75 / 0.5 = 3.5 -> 4) and beyond int8's range
    x = np.array([[1.25, 1.75, -1.25, -1.75, 100.0, -100.0, 0.0, 0.3]], np.float32)
    m = make_model([helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"])], [("x", F32, [1, 8])], ["y"],
                   {"s": np.array(0.5, np.float32), "z": np.array(3, np.int8)}, opset=13)
    _check(m, {"x": x})


@pytest.mark.parametrize("zp_type", [None, np.uint8, np.int8, np.int16])
def test_quantize_per_axis_with_data_scales(zp_type: Any) -> None:
    x = (RNG.standard_normal((2, 3, 4)) * 4).astype(np.float32)
    feeds = {"x": x, "s": np.array([0.05, 0.1, 0.2], np.float32)}
    inputs = [("x", F32, [2, 3, 4]), ("s", F32, [3])]
    ins = ["x", "s"]
    inits = {}
    if zp_type is not None:
        inits["z"] = np.array([1, 0, 2], zp_type)
        ins.append("z")
    m = make_model([helper.make_node("QuantizeLinear", ins, ["y"], axis=1)], inputs, ["y"], inits, opset=21)
    _check(m, feeds)


def test_dequantize_per_axis_data() -> None:
    x = RNG.integers(-128, 128, (2, 5, 3)).astype(np.int8)
    m = make_model([helper.make_node("DequantizeLinear", ["x", "s", "z"], ["y"], axis=-2)],
                   [("x", TensorProto.INT8, [2, 5, 3])], ["y"],
                   {"s": (RNG.random(5) + 0.01).astype(np.float32), "z": RNG.integers(-3, 3, 5).astype(np.int8)},
                   opset=13)
    _check(m, {"x": x})


def test_blocked_quantize_with_a_partial_last_block() -> None:
    """Block size 4 along an axis of 10: three blocks, the last holding 2 elements; the scale is data."""
    x = (RNG.standard_normal((3, 10)) * 2).astype(np.float32)
    s = (RNG.random((3, 3)) * 0.1 + 0.01).astype(np.float32)
    m = make_model([helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], axis=1, block_size=4),
                    helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], axis=1, block_size=4)],
                   [("x", F32, [3, 10]), ("s", F32, [3, 3])], ["q", "y"],
                   {"z": RNG.integers(-4, 4, (3, 3)).astype(np.int8)}, opset=21)
    _check(m, {"x": x, "s": s})


def test_matmul_integer_zero_points_per_row_and_column() -> None:
    a = RNG.integers(0, 256, (2, 4, 6)).astype(np.uint8)
    b = RNG.integers(-128, 128, (6, 5)).astype(np.int8)
    m = make_model([helper.make_node("MatMulInteger", ["a", "b", "az", "bz"], ["y"])],
                   [("a", TensorProto.UINT8, [2, 4, 6]), ("b", TensorProto.INT8, [6, 5])], ["y"],
                   {"az": np.array([3, 0, 250, 128], np.uint8), "bz": np.array([0, -1, 5, 127, -128], np.int8)},
                   opset=13)
    g = from_onnx(m)
    optimize(g)
    decompose_quant.run_deferred(g)  # what a backend without an integer kernel for it does
    got = run_ir(g, {"a": a, "b": b})["y"]
    want = (a.astype(np.int32) - m_const(m, "az").reshape(4, 1)) @ (b.astype(np.int32) - m_const(m, "bz"))
    np.testing.assert_array_equal(got, want.astype(np.int32))  # onnxruntime takes only scalar a_zero_point


def m_const(model: onnx.ModelProto, name: str) -> np.ndarray:
    return next(onnx.numpy_helper.to_array(i) for i in model.graph.initializer if i.name == name).astype(np.int32)


def test_qlinear_conv_per_channel_with_bias() -> None:
    x = RNG.integers(0, 256, (1, 3, 6, 6)).astype(np.uint8)
    w = RNG.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8)
    inits = {"xs": np.array(0.02, np.float32), "xz": np.array(128, np.uint8), "w": w,
             "ws": (RNG.random(4) * 0.01 + 0.001).astype(np.float32), "wz": np.zeros(4, np.int8),
             "ys": np.array(0.05, np.float32), "yz": np.array(100, np.uint8),
             "b": RNG.integers(-500, 500, 4).astype(np.int32)}
    m = make_model([helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["y"],
                                     pads=[1, 1, 1, 1], strides=[2, 2])],
                   [("x", TensorProto.UINT8, [1, 3, 6, 6])], ["y"], inits, opset=13)
    _check(m, {"x": x})


def _qdq_conv() -> onnx.ModelProto:
    """What onnxruntime's static quantizer writes: activations through Quantize/Dequantize pairs, int8
    weights with per-channel scales behind a DequantizeLinear."""
    w = RNG.integers(-127, 128, (8, 3, 3, 3)).astype(np.int8)
    inits = {"xs": np.array(0.03, np.float32), "xz": np.array(0, np.uint8), "w": w,
             "ws": (RNG.random(8) * 0.01 + 0.002).astype(np.float32), "wz": np.zeros(8, np.int8),
             "b": RNG.standard_normal(8).astype(np.float32), "ys": np.array(0.05, np.float32),
             "yz": np.array(0, np.uint8)}
    nodes = [helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
             helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wd"], axis=0),
             helper.make_node("Conv", ["xd", "wd", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("QuantizeLinear", ["r", "ys", "yz"], ["rq"]),
             helper.make_node("DequantizeLinear", ["rq", "ys", "yz"], ["y"])]
    return make_model(nodes, [("x", F32, [1, 3, 8, 8])], ["y"], inits, opset=13)


def _dynamic_matmul() -> onnx.ModelProto:
    """onnxruntime's dynamic quantization of a MatMul: the activation quantized at run time, uint8 x int8
    products in int32, rescaled by both scales."""
    w = RNG.integers(-127, 128, (16, 6)).astype(np.int8)
    nodes = [helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
             helper.make_node("MatMulInteger", ["xq", "w", "xz", "wz"], ["acc"]),
             helper.make_node("Cast", ["acc"], ["accf"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["xs", "ws"], ["scale"]),
             helper.make_node("Mul", ["accf", "scale"], ["y"])]
    return make_model(nodes, [("x", F32, [4, 16])], ["y", "xq"],
                      {"w": w, "wz": np.array(0, np.int8), "ws": np.array(0.004, np.float32)}, opset=13)


def test_qdq_conv_weights_fold_to_float32() -> None:
    m = _qdq_conv()
    g = _check(m, {"x": RNG.standard_normal((1, 3, 8, 8)).astype(np.float32)})
    conv = next(n for n in g.nodes if n.op_type == "Conv")
    assert conv.inputs[1] is not None and conv.inputs[1].const is not None  # dequantized at conversion
    assert conv.inputs[1].const.dtype == np.float32


def test_dynamic_quantized_matmul() -> None:
    _check(_dynamic_matmul(), {"x": (RNG.standard_normal((4, 16)) * 3).astype(np.float32)})


def test_four_bit_types_are_refused_clearly() -> None:
    m = make_model([helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"])], [("x", F32, [4])], ["y"],
                   {"s": np.array(0.5, np.float32), "z": np.array(0, np.int32)}, opset=21)
    with pytest.raises(UnsupportedOperatorError, match=r"QuantizeLinear.*int32.*quantized types here are uint8, int8"):
        optimize(from_onnx(m))


@pytest.mark.node
@pytest.mark.parametrize("backend", ["fallback", "wasm"])
def test_quantized_models_run_in_node(tmp_path: Path, backend: str) -> None:
    from webdnn.browser.node import run_model_node
    from webdnn.convert import convert

    for name, model, x in (("qdq", _qdq_conv(), RNG.standard_normal((1, 3, 8, 8))),
                           ("dyn", _dynamic_matmul(), RNG.standard_normal((4, 16)) * 3)):
        feeds = {"x": x.astype(np.float32)}
        convert(model, tmp_path / name, [backend])
        got = run_model_node(str(tmp_path / name), feeds, (backend,)).outputs
        for k, v in _ort(model, feeds).items():
            if v.dtype.kind in "iu":
                np.testing.assert_array_equal(got[k], v, err_msg=f"{name} {k}")
            else:
                np.testing.assert_allclose(got[k], v, rtol=1e-4, atol=1e-5, err_msg=f"{name} {k}")
