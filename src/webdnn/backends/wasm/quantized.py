"""wasm's integer kernels for quantized models (kernels/wasm/q*_x8_simd128.c, pool2d_nhwc_x8_simd128.c):
QLinearConv as an integer GEMM (relaxed byte dot or int16 dot) with the requantization in its epilogue,
QLinearAdd and 8-bit MaxPool, all on the 8-bit tensors in NHWC. passes/fuse_qdq.py makes these ops from a QDQ model; the
decompose_quant backend pass keeps what `native` accepts and writes the rest out as float arithmetic.

Weights: int8 with zero point 0 (per tensor or per output channel: onnxruntime's default), packed here
into NR = 8 column panels of k quads ([group][panel][Kq/4][8][4], Kq = K rounded up to a multiple of 4),
stored as int8 (a quarter of the float weights), with each column's weight sum (the relaxed-dot path
multiplies unsigned bytes and takes the zero point out through it). The requantization multiplier
x_scale * w_scale / y_scale is computed here in float32, in that order, as the float decomposition does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from webdnn.backends.wasm.tiles import NR
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Node, Value
from webdnn.ir.symbolic import is_static

if TYPE_CHECKING:
    from webdnn.backends.wasm.lower import _Lowering

EIGHT_BIT = (DType.UINT8, DType.INT8)


def _const(v: Value | None) -> np.ndarray | None:
    return None if v is None else v.const


def _scalar(v: Value | None) -> bool:
    return v is not None and v.const is not None and v.const.size == 1


def native(node: Node) -> bool:
    """Whether this backend's integer kernels run `node` (decompose_quant.run_deferred keeps it then)."""
    if node.op_type == "QLinearConv":
        x, w, w_zp, bias = node.input(0), node.input(3), _const(node.input(5)), node.input(8)
        return (x is not None and x.dtype in EIGHT_BIT and x.shape is not None and len(x.shape) == 4
                and is_static(x.shape) and w is not None and w.dtype == DType.INT8 and w.const is not None
                and (w_zp is None or not np.any(w_zp)) and all(_scalar(node.input(i)) for i in (1, 2, 6, 7))
                and _const(node.input(4)) is not None and (bias is None or bias.const is not None)
                and _grouped_ok(node))
    if node.op_type == "ConvInteger":
        x, w, x_zp, w_zp = (node.input(i) for i in range(4))
        return (x is not None and x.dtype in EIGHT_BIT and x.shape is not None and len(x.shape) == 4
                and is_static(x.shape) and w is not None and w.dtype == DType.INT8 and w.const is not None
                and (w_zp is None or (w_zp.const is not None and not np.any(w_zp.const)))
                and (x_zp is None or (x_zp.shape is not None and int(np.prod([int(d) for d in x_zp.shape])) == 1))
                and not _depthwise(node, 1) and _grouped_ok(node, 1))
    if node.op_type == "QLinearAdd":
        a, b, y = node.input(0), node.input(3), node.outputs[0]
        return (a is not None and b is not None and a.shape is not None and a.shape == b.shape == y.shape
                and is_static(a.shape) and all(_scalar(node.input(i)) for i in (1, 2, 4, 5, 6, 7)))
    if node.op_type == "QLinearMatMul":
        a, b, b_s, b_zp = node.input(0), node.input(3), node.input(4), node.input(5)
        return (a is not None and a.dtype in EIGHT_BIT and a.shape is not None and len(a.shape) >= 2
                and is_static(a.shape) and b is not None and b.dtype == DType.INT8 and b.const is not None
                and b.const.ndim == 2 and (b_zp is None or (b_zp.const is not None and not np.any(b_zp.const)))
                and all(_scalar(node.input(i)) for i in (1, 2, 6, 7)) and b_s is not None and b_s.const is not None
                and b_s.const.size in (1, int(b.const.shape[1])))
    if node.op_type == "MatMulInteger":
        a, b, a_zp, b_zp = (node.input(i) for i in range(4))
        return (a is not None and a.dtype in EIGHT_BIT and a.shape is not None and len(a.shape) >= 2
                and is_static(a.shape) and b is not None and b.dtype == DType.INT8 and b.const is not None
                and b.const.ndim == 2 and (b_zp is None or (b_zp.const is not None and not np.any(b_zp.const)))
                and (a_zp is None or (a_zp.shape is not None and int(np.prod([int(d) for d in a_zp.shape])) == 1)))
    if node.op_type == "Clip":  # fuse_qdq's clamp of a convolution's 8-bit result: applied in its requantization
        x = node.input(0)
        p = x.producer if x is not None else None
        return x is not None and x.dtype in EIGHT_BIT and p is not None and p.op_type == "QLinearConv" and native(p)
    if node.op_type == "MaxPool":
        x = node.input(0)
        return (x is not None and x.dtype in EIGHT_BIT and x.shape is not None and len(x.shape) == 4
                and is_static(x.shape) and len(node.outputs) == 1)
    return False


def _depthwise(node: Node, weights: int = 3) -> bool:
    w = node.input(weights)
    assert w is not None and w.shape is not None
    group = int(node.attrs.get("group", 1))
    return group > 1 and int(w.shape[0]) == group and int(w.shape[1]) == 1


def _grouped_ok(node: Node, weights: int = 3) -> bool:
    """Depthwise convolutions (qdwconv2d_nhwc_x8), and grouped ones of at least a panel of output channels per
    group (fewer would fill a fraction of each 8-wide panel: decomposed, the float kernels run them)."""
    w = node.input(weights)
    assert w is not None and w.shape is not None
    group = int(node.attrs.get("group", 1))
    return group == 1 or _depthwise(node, weights) or int(w.shape[0]) // group >= NR


def _signed(v: Value) -> int:
    return int(v.dtype == DType.INT8)


def pack_qconv_weights(w: np.ndarray, group: int) -> tuple[np.ndarray, np.ndarray, int]:
    """int8 [M, Cg, KH, KW] -> [group][panel][Kq/4][8][4] (k = (ky, kx, ci), zero padded), each column's
    weight sum (int32 [M]), and Kq (K rounded up to a multiple of 4)."""
    m, cg, kh, kw = w.shape
    mg, k = m // group, kh * kw * cg
    kq, panels = -(-k // 4) * 4, -(-(m // group) // NR)
    out = np.zeros((group, panels * NR, kq), np.int8)  # [group][column][k]
    for g in range(group):
        out[g, :mg, :k] = w[g * mg:(g + 1) * mg].transpose(0, 2, 3, 1).reshape(mg, k)
    blocks = out.reshape(group, panels, NR, kq // 4, 4).transpose(0, 1, 3, 2, 4)
    colsum = w.reshape(m, -1).astype(np.int32).sum(axis=1, dtype=np.int32)
    return np.ascontiguousarray(blocks).reshape(-1), colsum, kq


def _per_column(values: np.ndarray, m: int, group: int, dtype: type) -> np.ndarray:
    """A per-output-channel vector [M] as [group][panels * 8] (zero padded)."""
    mg = m // group
    panels = -(-mg // NR)
    out = np.zeros((group, panels * NR), dtype)
    out[:, :mg] = np.broadcast_to(values.reshape(-1), (m,)).reshape(group, mg)
    return out.reshape(-1)


def lower_qconv(lw: _Lowering, node: Node) -> bool:
    if not native(node):
        return False
    if _depthwise(node):
        return _lower_depthwise(lw, node)
    x_s, x_zp, w, w_s, y_s, y_zp = (node.input(i) for i in (1, 2, 3, 4, 6, 7))
    assert x_s is not None and x_s.const is not None and w is not None and w.const is not None
    assert w_s is not None and w_s.const is not None and y_s is not None and y_s.const is not None
    assert y_zp is not None and y_zp.const is not None
    bias = node.input(8)
    m = int(w.const.shape[0])
    scale = (np.float32(x_s.const.reshape(())) * w_s.const.astype(np.float32).reshape(-1)
             / np.float32(y_s.const.reshape(()))).astype(np.float32)
    b = np.zeros(m, np.int32) if bias is None or bias.const is None else bias.const.astype(np.int32)
    _emit_gemm_conv(lw, node, x_zp, b, scale, int(y_zp.const.reshape(())))
    return True


def lower_conv_integer(lw: _Lowering, node: Node) -> bool:
    """ConvInteger (quantize_dynamic's CNNs): the same kernel writing the int32 sums, x's zero point read at run
    time where DynamicQuantizeLinear computes it."""
    if not native(node):
        return False
    w = node.input(1)
    assert w is not None and w.const is not None
    m = int(w.const.shape[0])
    _emit_gemm_conv(lw, node, node.input(2), np.zeros(m, np.int32), np.ones(m, np.float32), None)
    return True


def _emit_gemm_conv(lw: _Lowering, node: Node, x_zp: Value | None, bias: np.ndarray, scale: np.ndarray,
                    y_zero: int | None) -> None:
    """QLinearConv (requantized to y_zero's type) or ConvInteger (y_zero None: int32 sums): x is input 0, the
    int8 weights input 1 (ConvInteger) or 3 (QLinearConv)."""
    x, w, y = node.input(0), node.input(3 if y_zero is not None else 1), node.outputs[0]
    assert x is not None and w is not None and w.const is not None
    xin = lw.nhwc(x)
    ylo, yhi = 0, 0
    if y_zero is not None:
        y, ylo, yhi = _clamped(lw, y)
    _qconv_call(lw, node, xin, lw.defined(y, nhwc=True), w.const, w.name, dict(node.attrs), x_zp, bias, scale,
                y_zero, ylo, yhi)


def _qconv_call(lw: _Lowering, node: Node, xin: Value, out: Value, w: np.ndarray, w_name: str,
                attrs: dict[str, Any], x_zp: Value | None, bias: np.ndarray, scale: np.ndarray, y_zero: int | None,
                ylo: int, yhi: int) -> None:
    """The qconv2d_nhwc_x8 call reading xin (NHWC) and writing out (NHWC) with the int8 OIHW weights `w` and the
    window of `attrs`: requantized to y_zero's type within [ylo, yhi], or (y_zero None) the int32 sums; x's zero
    point a constant or a one-element tensor read at run time."""
    from webdnn.backends.wasm.lower import block_rows

    assert xin.shape is not None and out.shape is not None
    n, h, wd, c = (int(d) for d in xin.shape)
    _, oh, ow, _ = (int(d) for d in out.shape)
    m, _, kh, kw = w.shape
    sh, sw = attrs.get("strides", [1, 1])
    dh, dw = attrs.get("dilations", [1, 1])
    pt, pl = attrs.get("pads", [0, 0, 0, 0])[:2]
    group = int(attrs.get("group", 1))
    packed, colsum, kq = pack_qconv_weights(w, group)
    mc = block_rows(kq // 2, n * oh * ow)  # int16 rows: the float kernels' block of MC * K floats in half the bytes
    lw.need_stack(mc * kq * 2)
    inputs: list[Value | None] = [
        xin, lw.const(f"{w_name}_qpacked", packed),
        lw.const(f"{node.name}_bias", _per_column(bias, m, group, np.int32)),
        lw.const(f"{w_name}_colsum", _per_column(colsum, m, group, np.int32)),
        lw.const(f"{node.name}_multiplier", _per_column(scale, m, group, np.float32)),
    ]
    zp_tensor = x_zp is not None and x_zp.const is None
    if zp_tensor:
        inputs.append(lw.nchw(x_zp))  # type: ignore[arg-type]
    xz = 0 if x_zp is None or x_zp.const is None else int(x_zp.const.reshape(()))
    lw.emit(node.op_type, node.name, inputs, [out], attrs, "qconv2d_nhwc_x8",
            [{"in": 0}, {"in": 1}, {"in": 2}, {"in": 3}, {"in": 4}, {"out": 0}, n, h, wd, c, oh, ow, m, kh, kw, sh, sw,
             pt, pl, dh, dw, group, xz, _signed(xin), y_zero or 0, _signed(out) if y_zero is not None else 0, mc,
             int(y_zero is None), {"in": 5} if zp_tensor else 0, ylo, yhi])


def _clamped(lw: _Lowering, y: Value) -> tuple[Value, int, int]:
    """The value a quantized convolution writes and its output range: a Clip of `y` alone (fuse_qdq's of a Relu
    or Clip between Conv and QuantizeLinear) is applied in the requantization, and its output written."""
    lo, hi = (-128, 127) if y.dtype == DType.INT8 else (0, 255)
    clip = lw.single_user(y)
    if clip is None or clip.op_type != "Clip" or clip.inputs[0] is not y or clip.outputs[0].dtype != y.dtype:
        return y, lo, hi
    cmin, cmax = float(clip.attrs["min"]), float(clip.attrs["max"])
    clo = lo if cmin <= lo else min(hi, int(np.ceil(cmin)))
    chi = hi if cmax >= hi else max(lo, int(np.floor(cmax)))
    if clo > chi:  # an empty range (min > max): left to the Clip kernel
        return y, lo, hi
    lo, hi = clo, chi
    lw.skip.add(id(clip))
    return clip.outputs[0], lo, hi


def _lower_depthwise(lw: _Lowering, node: Node) -> bool:
    x, x_s, x_zp, w, w_s, _w_zp, y_s, y_zp = node.inputs[:8]
    assert x is not None and x.shape is not None and w is not None and w.const is not None
    bias, y, a = node.input(8), node.outputs[0], node.attrs
    n, c, h, wd = (int(d) for d in x.shape)
    _, _, kh, kw = w.const.shape
    oh, ow = (int(d) for d in (y.shape or ())[2:])
    cp = -(-c // NR) * NR
    taps = np.zeros((kh * kw, cp), np.int16)
    taps[:, :c] = w.const.reshape(c, kh * kw).T
    scale = (np.float32(x_s.const.reshape(())) * w_s.const.astype(np.float32).reshape(-1)  # type: ignore[union-attr]
             / np.float32(y_s.const.reshape(()))).astype(np.float32)  # type: ignore[union-attr]
    b = np.zeros(c, np.int32) if bias is None or bias.const is None else bias.const.astype(np.int32)
    xin = lw.nhwc(x)
    y, ylo, yhi = _clamped(lw, y)
    out = lw.defined(y, nhwc=True)
    inputs: list[Value | None] = [
        xin, lw.const(f"{w.name}_dw", taps), lw.const(f"{node.name}_bias", _per_column(b, c, 1, np.int32)),
        lw.const(f"{node.name}_multiplier", _per_column(scale, c, 1, np.float32)),
    ]
    sh, sw = a.get("strides", [1, 1])
    dh, dw = a.get("dilations", [1, 1])
    pt, pl = a.get("pads", [0, 0, 0, 0])[:2]
    lw.emit("QLinearConv", node.name, inputs, [out], dict(a), "qdwconv2d_nhwc_x8",
            [{"in": 0}, {"in": 1}, {"in": 2}, {"in": 3}, {"out": 0}, n, h, wd, c, oh, ow, kh, kw, sh, sw, pt, pl, dh,
             dw, int(x_zp.const.reshape(())), _signed(x),  # type: ignore[union-attr]
             int(y_zp.const.reshape(())), _signed(y), ylo, yhi])  # type: ignore[union-attr]
    return True


def lower_matmul_integer(lw: _Lowering, node: Node) -> bool:
    """MatMulInteger with constant int8 weights (quantize_dynamic's transformers): int32 sums, A's zero point read
    at run time."""
    if not native(node):
        return False
    b = node.input(1)
    assert b is not None and b.const is not None
    n = int(b.const.shape[1])
    _emit_rows_gemm(lw, node, node.input(2), b.const, np.ones(n, np.float32), None)
    return True


def lower_qlinear_matmul(lw: _Lowering, node: Node) -> bool:
    """QLinearMatMul with constant int8 weights (a QDQ MatMul, folded by fuse_qdq): requantized per column."""
    if not native(node):
        return False
    a_s, a_zp, b, b_s, y_s, y_zp = (node.input(i) for i in (1, 2, 3, 4, 6, 7))
    assert a_s is not None and a_s.const is not None and b is not None and b.const is not None
    assert b_s is not None and b_s.const is not None and y_s is not None and y_s.const is not None
    assert y_zp is not None and y_zp.const is not None
    n = int(b.const.shape[1])
    scale = (np.float32(a_s.const.reshape(())) * np.broadcast_to(b_s.const.astype(np.float32).reshape(-1), (n,))
             / np.float32(y_s.const.reshape(()))).astype(np.float32)
    _emit_rows_gemm(lw, node, a_zp, b.const, scale, int(y_zp.const.reshape(())))
    return True


def _emit_rows_gemm(lw: _Lowering, node: Node, a_zp: Value | None, b: np.ndarray, scale: np.ndarray,
                    y_zero: int | None) -> None:
    """qconv2d_nhwc_x8 as a pointwise convolution over the rows of A (input 0) viewed as [1, rows, 1, K], against
    the constant int8 [K, N] b: requantized to y_zero's type, or (y_zero None) the int32 sums."""
    a, y = node.input(0), node.outputs[0]
    assert a is not None and a.shape is not None and y.dtype is not None
    k, n = (int(d) for d in b.shape)
    rows = int(np.prod([int(d) for d in a.shape[:-1]]))
    a4 = lw.new_value(f"{a.name}_rows", a.dtype, (1, rows, 1, k))  # type: ignore[arg-type]
    lw._view(lw.nchw(a), a4)
    y4 = lw.new_value(f"{y.name}_rows", y.dtype, (1, rows, 1, n))
    lo, hi = ((-128, 127) if y.dtype == DType.INT8 else (0, 255)) if y_zero is not None else (0, 0)
    window = {"kernel_shape": [1, 1], "strides": [1, 1], "dilations": [1, 1], "pads": [0, 0, 0, 0], "group": 1}
    _qconv_call(lw, node, a4, y4, np.ascontiguousarray(b.T).reshape(n, k, 1, 1), node.name, window, a_zp,
                np.zeros(n, np.int32), scale, y_zero, lo, hi)
    lw._view(y4, y)
    lw.has_nchw.add(id(y))


def lower_qadd(lw: _Lowering, node: Node) -> bool:
    if not native(node):
        return False
    a, a_s, a_zp, b, b_s, b_zp, y_s, y_zp = node.inputs[:8]
    assert a is not None and b is not None and a.shape is not None
    y = node.outputs[0]
    nhwc = len(a.shape) == 4 and (lw.in_nhwc(a) or lw.in_nhwc(b))
    ins = [lw.nhwc(v) if nhwc else lw.nchw(v) for v in (a, b)]
    out = lw.defined(y, nhwc=nhwc)

    def f(v: Value | None) -> dict[str, float]:
        assert v is not None and v.const is not None
        return {"f": float(v.const.reshape(()))}

    def i(v: Value | None) -> int:
        assert v is not None and v.const is not None
        return int(v.const.reshape(()))

    lw.emit("QLinearAdd", node.name, list(ins), [out], {}, "qadd_x8",
            [{"in": 0}, {"in": 1}, {"out": 0}, int(np.prod(a.shape)), f(a_s), i(a_zp), _signed(a), f(b_s), i(b_zp),
             _signed(b), f(y_s), i(y_zp), _signed(y)])
    return True


def lower_maxpool(lw: _Lowering, node: Node) -> bool:
    if not native(node):
        return False
    x, y = node.input(0), node.outputs[0]
    assert x is not None and x.shape is not None
    a = node.attrs
    n, c, h, w = (int(d) for d in x.shape)
    oh, ow = (int(d) for d in (y.shape or ())[2:])
    kh, kw = a["kernel_shape"]
    sh, sw = a.get("strides", [1, 1])
    dh, dw = a.get("dilations", [1, 1])
    pt, pl = a.get("pads", [0, 0, 0, 0])[:2]
    xin = lw.nhwc(x)
    out = lw.defined(y, nhwc=True)
    lw.emit("MaxPool", node.name, [xin], [out], dict(a), "maxpool2d_nhwc_x8",
            [{"in": 0}, {"out": 0}, n, h, w, c, oh, ow, kh, kw, sh, sw, pt, pl, dh, dw, _signed(x)])
    return True
