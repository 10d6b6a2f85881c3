"""wasm's integer kernels (qconv2d_nhwc_x8, qdwconv2d_nhwc_x8, qadd_x8, maxpool2d_nhwc_x8,
transpose_2d_x8, cast; backends/wasm/quantized.py) against onnxruntime, driven from Node and Chromium
(both integer products): QLinearConv over odd channel counts, odd K (the k-quad padding), windows,
strides, dilations, groups, uint8 and int8 tensors with nonzero zero points, per-tensor and per-channel
weight scales, with and without bias, one and two threads; MatMulInteger and ConvInteger with their zero
point computed at run time (DynamicQuantizeLinear), MatMulInteger on an int8 A; QLinearMatMul from a QDQ
MatMul (per-column weights) and as the QOperator format writes it; QLinearAdd over a length
that is not a multiple of 16; a QDQ block as onnxruntime's quantizer writes it (fused by
passes/fuse_qdq.py), also with a Relu or Clip kept; depthwise QLinearConv with a channel tail, strides,
dilations. And what the kernels must not take: weights with a zero point, groups of fewer than 8
channels (decomposed to float32 arithmetic, still right).

Tolerance: onnxruntime's QLinearConv requantizes as these kernels do (exact int32 sums, times
x_scale * w_scale / y_scale in float32, rounded half to even), so the outputs are equal; a sum landing
within float rounding of a .5 tie may round the other way, so at most one element in a thousand may
differ, by one step."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import pytest
from onnx import TensorProto, helper

from tests.conftest import F32, make_model
from webdnn.browser.node import run_model_node
from webdnn.convert import convert
from webdnn.verify import reference_outputs

pytestmark = pytest.mark.node  # and one Chromium test (browser)

RNG = np.random.default_rng(7)
TYPES = {np.uint8: TensorProto.UINT8, np.int8: TensorProto.INT8}


def _wasm_calls(out: str) -> list[str]:
    with open(os.path.join(out, "wasm", "descriptor.json")) as f:
        return [k["attrs"]["wasm"]["fn"] for k in json.load(f)["kernels"] if "wasm" in k["attrs"]]


def _has_avx_vnni() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            return "avx_vnni" in f.read().split()
    except OSError:
        return False


def _close(want: np.ndarray, got: np.ndarray, where: str) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape, where
    diff = np.abs(got.astype(np.int32) - want.astype(np.int32))
    assert diff.max() <= 1 and np.count_nonzero(diff) <= max(1, want.size // 1000), (
        f"{where}: {np.count_nonzero(diff)} of {want.size} differ, by up to {diff.max()}")


def _run(tmp_path: Any, model: Any, feeds: dict[str, np.ndarray], threads: int = 1, browser: Any = None,
         simd: str | None = None) -> list[str]:
    """Convert for wasm, run in Node (or in `browser`), compare with onnxruntime; the descriptor's wasm calls."""
    out = str(tmp_path / "m")
    convert(model, out, backends=["wasm"])
    ref = reference_outputs(model, feeds)
    options = {"wasm": {"threads": threads, **({"simd": simd} if simd else {})}}
    if browser is None:
        got = run_model_node(out, feeds, ("wasm",), backend_options=options).outputs
    else:
        r = browser.run_model(out, feeds, ["wasm"], backend_options=options)
        # V8 on x86 with AVX-VNNI (vpdpbusd) multiplies bytes exactly in its relaxed dot: the byte path runs
        # there; without AVX-VNNI (pmaddubsw saturates) and without relaxed SIMD the int16 dot does
        want_dot = "i8" if simd != "simd128" and _has_avx_vnni() else "i16"
        assert str(r.backend_info.get("int8Dot", "")).startswith(want_dot), r.backend_info
        got = r.outputs
    for name, want in ref.items():
        if want.dtype.kind in "iu":
            _close(want, got[name], name)
        else:
            step = float(np.diff(np.unique(want)).min())
            assert np.abs(got[name] - want).max() <= step + 1e-6, name
    return _wasm_calls(out)


def _qconv(i: int, xt: type, yt: type, c: int, m: int, hw: tuple[int, int], k: tuple[int, int],
           per_channel: bool = True, bias: bool = True, w_zero: int = 0, **attrs: Any) -> tuple[Any, ...]:
    """One QLinearConv reading graph input x{i}, writing y{i}: (node, input info, initializers, feed).
    onnxruntime's kernels take only yt == xt."""
    group = int(attrs.get("group", 1))
    lo, hi = (0, 256) if xt is np.uint8 else (-128, 128)
    x = RNG.integers(lo, hi, (1, c, *hw)).astype(xt)
    w = RNG.integers(-127, 128, (m, c // group, *k)).astype(np.int8)
    ws = (RNG.random(m if per_channel else 1) * 0.004 + 0.001).astype(np.float32)
    inits = {f"xs{i}": np.array(0.02, np.float32), f"xz{i}": np.array(128 if xt is np.uint8 else -3, xt),
             f"w{i}": w, f"ws{i}": ws, f"wz{i}": np.full(ws.shape, w_zero, np.int8),
             f"ys{i}": np.array(0.11, np.float32), f"yz{i}": np.array(7 if yt is np.uint8 else -5, yt)}
    names = [f"x{i}", f"xs{i}", f"xz{i}", f"w{i}", f"ws{i}", f"wz{i}", f"ys{i}", f"yz{i}"]
    if bias:
        inits[f"b{i}"] = RNG.integers(-3000, 3000, m).astype(np.int32)
        names.append(f"b{i}")
    node = helper.make_node("QLinearConv", names, [f"y{i}"], kernel_shape=list(k), **attrs)
    return node, (f"x{i}", TYPES[xt], [1, c, *hw]), inits, x


def _model(convs: list[tuple[Any, ...]]) -> tuple[Any, dict[str, np.ndarray]]:
    inits: dict[str, np.ndarray] = {}
    for c in convs:
        inits.update(c[2])
    model = make_model([c[0] for c in convs], [c[1] for c in convs], [f"y{i}" for i in range(len(convs))], inits,
                       opset=13)
    return model, {c[1][0]: c[3] for c in convs}


def _shapes_model() -> tuple[Any, dict[str, np.ndarray]]:
    return _model([
        _qconv(0, np.uint8, np.uint8, 3, 24, (9, 11), (3, 3), pads=[1, 1, 1, 1]),  # K = 27: odd
        _qconv(1, np.int8, np.int8, 17, 5, (7, 6), (1, 1)),  # pointwise, one partial panel
        _qconv(2, np.int8, np.int8, 8, 19, (10, 9), (3, 3), strides=[2, 2], pads=[0, 1, 2, 1], per_channel=False),
        _qconv(3, np.uint8, np.uint8, 5, 16, (12, 12), (5, 3), dilations=[2, 1], pads=[2, 2, 2, 2], bias=False),
        _qconv(4, np.uint8, np.uint8, 16, 16, (6, 7), (3, 3), group=2, pads=[1, 1, 1, 1]),
        _qconv(5, np.uint8, np.uint8, 64, 40, (3, 3), (1, 1), strides=[2, 2]),  # a wide K, few pixels
    ])


@pytest.mark.parametrize("threads", [1, 2])
def test_qlinear_conv_shapes_types_and_zero_points(tmp_path: Any, threads: int) -> None:
    model, feeds = _shapes_model()
    calls = _run(tmp_path, model, feeds, threads)
    assert calls.count("qconv2d_nhwc_x8") == 6
    assert "transpose_2d_x8" in calls  # uint8/int8 graph inputs and outputs in NCHW


def _depthwise_model() -> tuple[Any, dict[str, np.ndarray]]:
    return _model([
        _qconv(0, np.uint8, np.uint8, 13, 13, (9, 8), (3, 3), group=13, pads=[1, 1, 1, 1]),  # a channel tail
        _qconv(1, np.int8, np.int8, 16, 16, (10, 11), (3, 3), group=16, strides=[2, 2], pads=[0, 1, 1, 0]),
        _qconv(2, np.uint8, np.uint8, 8, 8, (7, 7), (5, 5), group=8, dilations=[2, 1], pads=[2, 2, 2, 2],
               per_channel=False, bias=False),
    ])


@pytest.mark.parametrize("threads", [1, 2])
def test_depthwise(tmp_path: Any, threads: int) -> None:
    model, feeds = _depthwise_model()
    calls = _run(tmp_path, model, feeds, threads)
    assert calls.count("qdwconv2d_nhwc_x8") == 3


def test_what_the_kernels_do_not_take_is_decomposed(tmp_path: Any) -> None:
    model, feeds = _model([
        _qconv(0, np.uint8, np.uint8, 8, 8, (6, 6), (3, 3), group=4, pads=[1, 1, 1, 1]),  # 2 channels per group
        _qconv(1, np.uint8, np.uint8, 3, 8, (5, 5), (3, 3), w_zero=2),  # a weight zero point
    ])
    calls = _run(tmp_path, model, feeds)
    assert "qconv2d_nhwc_x8" not in calls and "qdwconv2d_nhwc_x8" not in calls


def _matmul_integer_model() -> tuple[Any, dict[str, np.ndarray]]:
    """quantize_dynamic's pattern (DynamicQuantizeLinear: a uint8 zero point known at run time only) on a rank-3
    A with K = 37 and N = 13 (tails of the k quads and the panels), and an int8 A with a constant zero point."""
    w0 = RNG.integers(-127, 128, (37, 13)).astype(np.int8)
    w1 = RNG.integers(-127, 128, (20, 9)).astype(np.int8)
    nodes = [helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
             helper.make_node("MatMulInteger", ["xq", "w0", "xz", "wz0"], ["y0"]),
             helper.make_node("MatMulInteger", ["a", "w1", "az"], ["y1"])]
    model = make_model(nodes, [("x", F32, [2, 7, 37]), ("a", TensorProto.INT8, [5, 20])], ["y0", "y1", "xz"],
                       {"w0": w0, "wz0": np.array(0, np.int8), "w1": w1, "az": np.array(-9, np.int8)}, opset=13)
    return model, {"x": (RNG.standard_normal((2, 7, 37)) * 3).astype(np.float32),
                   "a": RNG.integers(-128, 128, (5, 20)).astype(np.int8)}


def _conv_integer_model() -> tuple[Any, dict[str, np.ndarray]]:
    """quantize_dynamic's CNN pattern: DynamicQuantizeLinear, then ConvInteger with int8 weights (17 -> 11
    channels, 3x3, stride 2, pads) and a grouped one (16 -> 16, 2 groups)."""
    w0 = RNG.integers(-127, 128, (11, 17, 3, 3)).astype(np.int8)
    w1 = RNG.integers(-127, 128, (16, 8, 1, 1)).astype(np.int8)
    nodes = [helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
             helper.make_node("ConvInteger", ["xq", "w0", "xz", "wz0"], ["y0"], strides=[2, 2], pads=[1, 0, 1, 2]),
             helper.make_node("DynamicQuantizeLinear", ["v"], ["vq", "vs", "vz"]),
             helper.make_node("ConvInteger", ["vq", "w1", "vz"], ["y1"], group=2)]
    model = make_model(nodes, [("x", F32, [1, 17, 9, 10]), ("v", F32, [1, 16, 5, 6])], ["y0", "y1"],
                       {"w0": w0, "wz0": np.array(0, np.int8), "w1": w1}, opset=13)
    return model, {"x": (RNG.standard_normal((1, 17, 9, 10)) * 2).astype(np.float32),
                   "v": RNG.standard_normal((1, 16, 5, 6)).astype(np.float32)}


@pytest.mark.parametrize("threads", [1, 2])
def test_conv_integer(tmp_path: Any, threads: int) -> None:
    model, feeds = _conv_integer_model()
    calls = _run(tmp_path, model, feeds, threads)
    assert calls.count("qconv2d_nhwc_x8") == 2


def _qdq_matmul_model() -> tuple[Any, dict[str, np.ndarray]]:
    """A QDQ MatMul (what quantize_static writes around a transformer's projections): rank-3 activations, K = 37,
    N = 21, per-column int8 weights; and QLinearMatMul as the QOperator format writes it (per-tensor, int8 A)."""
    w = RNG.integers(-127, 128, (37, 21)).astype(np.int8)
    w2 = RNG.integers(-127, 128, (12, 10)).astype(np.int8)
    inits = {"xs": np.array(0.04, np.float32), "xz": np.array(131, np.uint8), "w": w,
             "ws": (RNG.random(21) * 0.01 + 0.002).astype(np.float32), "wz": np.zeros(21, np.int8),
             "ys": np.array(0.2, np.float32), "yz": np.array(120, np.uint8),
             "as2": np.array(0.05, np.float32), "az2": np.array(-4, np.int8), "w2": w2,
             "ws2": np.array(0.003, np.float32), "wz2": np.array(0, np.int8), "ys2": np.array(0.1, np.float32),
             "yz2": np.array(2, np.int8)}
    nodes = [helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
             helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wd"], axis=1),
             helper.make_node("MatMul", ["xd", "wd"], ["m"]),
             helper.make_node("QuantizeLinear", ["m", "ys", "yz"], ["mq"]),
             helper.make_node("DequantizeLinear", ["mq", "ys", "yz"], ["y0"]),
             helper.make_node("QLinearMatMul", ["a2", "as2", "az2", "w2", "ws2", "wz2", "ys2", "yz2"], ["y1"])]
    model = make_model(nodes, [("x", F32, [2, 5, 37]), ("a2", TensorProto.INT8, [7, 12])], ["y0", "y1"], inits,
                       opset=13)
    return model, {"x": (RNG.standard_normal((2, 5, 37)) * 2).astype(np.float32),
                   "a2": RNG.integers(-128, 128, (7, 12)).astype(np.int8)}


@pytest.mark.parametrize("threads", [1, 2])
def test_qlinear_matmul(tmp_path: Any, threads: int) -> None:
    model, feeds = _qdq_matmul_model()
    calls = _run(tmp_path, model, feeds, threads)
    assert calls.count("qconv2d_nhwc_x8") == 2


@pytest.mark.parametrize("threads", [1, 2])
def test_matmul_integer(tmp_path: Any, threads: int) -> None:
    model, feeds = _matmul_integer_model()
    calls = _run(tmp_path, model, feeds, threads)
    assert calls.count("qconv2d_nhwc_x8") == 2


def _qdq_block(act: str | None = None) -> tuple[Any, dict[str, np.ndarray]]:
    """onnxruntime's QDQ form of Conv -> (+ residual) -> MaxPool: the int32 bias at x_scale * w_scale, a
    residual Add between two dequantized tensors, MaxPool between a pair at one scale; 15 channels, so
    QLinearAdd's length is not a multiple of 16. `act`: a Relu or a Clip kept between the Conv and its
    QuantizeLinear, as exporters other than onnxruntime's quantizer write them."""
    c = 15
    xs, ws = np.float32(0.03), (RNG.random(c) * 0.01 + 0.002).astype(np.float32)
    inits = {"xs": np.array(xs), "xz": np.array(120, np.uint8),
             "w": RNG.integers(-127, 128, (c, c, 3, 3)).astype(np.int8), "ws": ws, "wz": np.zeros(c, np.int8),
             "b": RNG.integers(-400, 400, c).astype(np.int32),
             "bs": (xs * ws).astype(np.float32), "bz": np.zeros(c, np.int32),
             "as": np.array(0.07, np.float32), "az": np.array(3, np.uint8),
             "ys": np.array(0.05, np.float32), "yz": np.array(0 if act is None else 60, np.uint8),
             "lo": np.array(-1.0, np.float32), "hi": np.array(4.375, np.float32)}  # hi / ys = 87.5: a tie, to even
    nodes = [helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
             helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wd"], axis=0),
             helper.make_node("DequantizeLinear", ["b", "bs", "bz"], ["bd"], axis=0),
             helper.make_node("Conv", ["xd", "wd", "bd"], ["c0" if act else "c"], pads=[1, 1, 1, 1]),
             *([helper.make_node("Relu", ["c0"], ["c"])] if act == "relu" else []),
             *([helper.make_node("Clip", ["c0", "lo", "hi"], ["c"])] if act == "clip" else []),
             helper.make_node("QuantizeLinear", ["c", "ys", "yz"], ["cq"]),
             helper.make_node("DequantizeLinear", ["cq", "ys", "yz"], ["cd"]),
             helper.make_node("Add", ["cd", "xd"], ["s"]),
             helper.make_node("QuantizeLinear", ["s", "as", "az"], ["sq"]),
             helper.make_node("DequantizeLinear", ["sq", "as", "az"], ["sd"]),
             helper.make_node("MaxPool", ["sd"], ["p"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("QuantizeLinear", ["p", "as", "az"], ["pq"]),
             helper.make_node("DequantizeLinear", ["pq", "as", "az"], ["y"])]
    model = make_model(nodes, [("x", F32, [1, c, 9, 7])], ["y"], inits, opset=13)
    return model, {"x": (RNG.standard_normal((1, c, 9, 7)) * 2).astype(np.float32)}


@pytest.mark.parametrize("act", [None, "relu", "clip"])
def test_qdq_block_runs_on_the_integer_kernels(tmp_path: Any, act: str | None) -> None:
    model, feeds = _qdq_block(act)
    calls = _run(tmp_path, model, feeds, threads=2)
    assert {"qconv2d_nhwc_x8", "qadd_x8", "maxpool2d_nhwc_x8"} <= set(calls), calls
    with open(tmp_path / "m" / "wasm" / "descriptor.json") as f:
        desc = json.load(f)
    assert desc["jsKernels"] == []  # the activation applied in the convolution's requantization
    ops = [k["op"] for k in desc["kernels"]]
    assert "Clip" not in ops and "Relu" not in ops


# the models above by name, for the browser tests that run several of them in one page session
CASES = {"shapes": _shapes_model, "block": _qdq_block, "block_relu": lambda: _qdq_block("relu"),
         "matmul": _matmul_integer_model, "depthwise": _depthwise_model, "conv_integer": _conv_integer_model,
         "qlinear_matmul": _qdq_matmul_model}


@pytest.mark.browser
@pytest.mark.parametrize("simd", ["relaxed", "simd128"])
def test_both_integer_products_in_chromium(tmp_path: Any, browser: Any, simd: str) -> None:
    """Node 20's relaxed dot is an older form, so Node runs the int16 products; Chromium's relaxed build takes
    the byte dot (the zero point through the weight sums, int8 inputs shifted by 128), its SIMD128 build
    the int16 dot."""
    for name in ("shapes", "block", "matmul", "depthwise", "conv_integer", "qlinear_matmul"):
        model, feeds = CASES[name]()
        _run(tmp_path / name, model, feeds, threads=2, browser=browser, simd=simd)

def test_cast_kernel_matches_onnxruntime_and_the_fallback(tmp_path: Any) -> None:
    """`cast` (C) between float32, uint8, int8 and int32: onnxruntime's results where ONNX defines them (values
    in the target's range, truncated toward zero), the fallback kernel's everywhere (out of range, NaN)."""
    nodes = [helper.make_node("Cast", ["x"], [f"x_{t}"], to=code)
             for t, code in (("u8", TensorProto.UINT8), ("i8", TensorProto.INT8), ("i32", TensorProto.INT32))]
    nodes += [helper.make_node("Cast", ["a"], ["a_f"], to=TensorProto.FLOAT),
              helper.make_node("Cast", ["a"], ["a_i32"], to=TensorProto.INT32),
              helper.make_node("Cast", ["b"], ["b_f"], to=TensorProto.FLOAT),
              helper.make_node("Cast", ["c"], ["c_u8"], to=TensorProto.UINT8)]
    outs = ["x_u8", "x_i8", "x_i32", "a_f", "a_i32", "b_f", "c_u8"]
    model = make_model(nodes, [("x", F32, [67]), ("a", TensorProto.UINT8, [67]), ("b", TensorProto.INT8, [67]),
                               ("c", TensorProto.INT32, [67])], outs, opset=13)
    in_range = {"x": np.concatenate([[2.7, -2.7, 0.0, -0.0, 127.9], RNG.integers(0, 128, 62)]).astype(np.float32),
                "a": RNG.integers(0, 256, 67).astype(np.uint8), "b": RNG.integers(-128, 128, 67).astype(np.int8),
                "c": RNG.integers(0, 256, 67).astype(np.int32)}
    out = str(tmp_path / "m")
    convert(model, out, backends=["wasm", "fallback"])
    assert _wasm_calls(out).count("cast") == 7
    got = run_model_node(out, in_range, ("wasm",)).outputs
    for name, want in reference_outputs(model, in_range).items():
        np.testing.assert_array_equal(got[name], want, err_msg=name)
    wild = dict(in_range, x=np.concatenate([[300.5, -1e10, 3e9, np.nan, np.inf, -np.inf, -129.5],
                                            RNG.standard_normal(60) * 1000]).astype(np.float32),
                c=RNG.integers(-2**31, 2**31 - 1, 67).astype(np.int32))
    ours, fallback = (run_model_node(out, wild, (b,)).outputs for b in ("wasm", "fallback"))
    for name in outs:
        np.testing.assert_array_equal(ours[name], fallback[name], err_msg=name)


def test_whole_tensor_min_and_max(tmp_path: Any) -> None:
    """reduce_all_f32 (DynamicQuantizeLinear's range): onnxruntime's values on finite data of a length that is not
    a multiple of 4, the fallback kernel's with NaN and infinities (NaN anywhere gives NaN)."""
    nodes = [helper.make_node("ReduceMin", ["x"], ["lo"], keepdims=0), helper.make_node("ReduceMax", ["x"], ["hi"]),
             helper.make_node("ReduceMax", ["x", "axes"], ["part"], keepdims=0)]  # one axis: the JS kernel
    model = make_model(nodes, [("x", F32, [3, 5, 7])], ["lo", "hi", "part"],
                       {"axes": np.array([1], np.int64)}, opset=18)
    out = str(tmp_path / "m")
    convert(model, out, backends=["wasm", "fallback"])
    assert _wasm_calls(out).count("reduce_all_f32") == 2
    finite = {"x": RNG.standard_normal((3, 5, 7)).astype(np.float32)}
    got = run_model_node(out, finite, ("wasm",)).outputs
    for name, want in reference_outputs(model, finite).items():
        np.testing.assert_array_equal(got[name], want, err_msg=name)
    for special in (np.nan, np.inf, -np.inf):
        for at in ((0, 1, 2), (2, 4, 6)):  # in the vector loop, in the scalar tail (104 = 26 * 4: the last one)
            x = finite["x"].copy()
            x[at] = special
            ours, fallback = (run_model_node(out, {"x": x}, (b,)).outputs for b in ("wasm", "fallback"))
            for name in ("lo", "hi"):
                np.testing.assert_array_equal(ours[name], fallback[name], err_msg=f"{name} with {special} at {at}")


@pytest.mark.browser
@pytest.mark.slow
def test_integer_kernels_in_firefox_and_webkit(tmp_path: Any, engine: Any) -> None:
    """The same cases in Gecko and WebKit, whichever integer product their engine gives (backendInfo.int8Dot)."""
    for name in ("shapes", "block_relu", "matmul", "depthwise", "qlinear_matmul"):
        model, feeds = CASES[name]()
        out = str(tmp_path / name)
        convert(model, out, backends=["wasm"])
        r = engine.run_model(out, feeds, ["wasm"])
        assert r.backend == "wasm" and str(r.backend_info.get("int8Dot", "")).startswith(("i8", "i16")), r.backend_info
        for k, want in reference_outputs(model, feeds).items():
            if want.dtype.kind in "iu":
                _close(want, r.outputs[k], f"{name} {k} in {engine.version}")
            else:
                step = float(np.diff(np.unique(want)).min())
                assert np.abs(r.outputs[k] - want).max() <= step + 1e-6, f"{name} {k} in {engine.version}"
