"""TensorFlow's network ops (and tfjs-converter's fused forms of them) as ONNX nodes: convolutions, matmuls,
batch norm, bias, pools and resizes. Spatial ops run channels-first (see tf_ops.py)."""

from __future__ import annotations

import numpy as np

from webdnn.frontend.keras_builder import KTensor
from webdnn.frontend.tf_ops import TfNode, activation, const_in_layout, spatial_pads, tf_op


def _spatial_in(n: TfNode, rank: int = 4) -> tuple[KTensor, list[int | None], int | None]:
    """The input in channels-first data, its spatial sizes and channels (NHWC unless data_format says NCHW)."""
    x = n.tensor(0)
    if x.rank != rank:
        raise n.error(f"expects a rank-{rank} input, got shape {list(x.shape)}")
    if n.nhwc():
        return n.b.cf(x, n.name), list(x.shape[1:-1]), x.shape[-1]
    return n.b.plain(x, n.name), list(x.shape[2:]), x.shape[1]


def _spatial_out(n: TfNode, y: str, batch: int | None, spatial: list[int | None], channels: int | None) -> KTensor:
    if n.nhwc():
        return KTensor(y, (batch, *spatial, channels), True)
    return KTensor(y, (batch, channels, *spatial), False)


def _window(n: TfNode, key: str, nd: int) -> list[int]:
    v = [int(s) for s in n.get(key, [1] * (nd + 2))]
    return v[1:-1] if n.nhwc() else v[2:]


def _fused_tail(n: TfNode, y: KTensor, bias_in_conv: bool, first_arg: int) -> KTensor:
    """tfjs-converter's fused_ops after a conv or matmul: BiasAdd or FusedBatchNorm, then an activation."""
    ops = [str(o).lower() for o in n.get("fused_ops", [])]
    args = n.args[first_arg:]
    b = n.b
    k = 0
    if ops and ops[0] == "biasadd":
        if not bias_in_conv:
            bias = n.ctx.consts.get(args[0])
            if bias is None:
                raise n.error("a bias computed at run time is not supported")
            y = KTensor(b.one("Add", [y.name, b.const(const_in_layout(bias, y.rank, y.cf), f"{n.name}/bias")],
                              n.name), y.shape, y.cf)
        ops, k = ops[1:], 1
    elif ops and ops[0] == "fusedbatchnorm":
        scale, offset, mean, var = (n.ctx.consts.get(a) for a in args[:4])
        if scale is None or offset is None or mean is None or var is None:
            raise n.error("fused batch norm parameters computed at run time are not supported")
        inv = (scale / np.sqrt(var + np.float32(n.get("epsilon", 1e-3)))).astype(np.float32)
        mul = b.one("Mul", [y.name, b.const(const_in_layout(inv, y.rank, y.cf), f"{n.name}/bn_scale")], n.name)
        shift = (offset - mean * inv).astype(np.float32)
        y = KTensor(b.one("Add", [mul, b.const(const_in_layout(shift, y.rank, y.cf), f"{n.name}/bn_shift")],
                          n.name), y.shape, y.cf)
        ops, k = ops[1:], 4
    for op in ops:
        y = activation(n, y, op, args[k] if k < len(args) else None)
    return y


def _bias_arg(n: TfNode) -> np.ndarray | None:
    ops = [str(o).lower() for o in n.get("fused_ops", [])]
    return n.const(2) if ops and ops[0] == "biasadd" else None


@tf_op("Conv2D", "_FusedConv2D", "Conv3D")
def conv(n: TfNode) -> list[KTensor]:
    nd = 3 if n.op == "Conv3D" else 2
    x, spatial, _ = _spatial_in(n, nd + 2)
    b = n.b
    strides, dil = _window(n, "strides", nd), _window(n, "dilations", nd)
    w = n.const(1)
    if w is not None:  # (k..., in / groups, out) -> (out, in / groups, k...)
        kernel, cout, cin_g = list(w.shape[:nd]), int(w.shape[-1]), int(w.shape[-2])
        weight = b.const(np.transpose(w, (nd + 1, nd, *range(nd))), f"{n.name}/filter")
    else:
        wt = n.tensor(1)
        if any(d is None for d in wt.shape):
            raise n.error("a filter of unknown shape computed at run time is not supported")
        kernel, cout, cin_g = [int(d) for d in wt.shape[:nd]], int(wt.shape[-1]), int(wt.shape[-2])  # type: ignore[arg-type]
        weight = b.one("Transpose", [b.plain(wt, n.name).name], n.name, perm=[nd + 1, nd, *range(nd)])
    attrs, out = spatial_pads(n, spatial, kernel, strides, dil)
    cin = n.tensor(0).shape[-1 if n.nhwc() else 1]
    group = 1 if cin is None else int(cin) // cin_g
    args = [x.name, weight]
    bias = _bias_arg(n) if n.op == "_FusedConv2D" else None
    if bias is not None:
        args.append(b.const(bias, f"{n.name}/bias"))
    y = b.one("Conv", args, n.name, strides=strides, dilations=dil, group=group, **attrs)
    t = _spatial_out(n, y, n.tensor(0).shape[0], out, cout)
    return [_fused_tail(n, t, bias is not None, 2) if n.op == "_FusedConv2D" else t]


@tf_op("DepthwiseConv2dNative", "FusedDepthwiseConv2dNative")
def depthwise_conv(n: TfNode) -> list[KTensor]:
    x, spatial, _ = _spatial_in(n)
    b = n.b
    strides, dil = _window(n, "strides", 2), _window(n, "dilations", 2)
    w = n.need_const(1, "filter")  # (kh, kw, in, multiplier)
    cin, mult = int(w.shape[2]), int(w.shape[3])
    weight = np.transpose(w.reshape(w.shape[0], w.shape[1], cin * mult), (2, 0, 1))[:, None]
    attrs, out = spatial_pads(n, spatial, list(w.shape[:2]), strides, dil)
    args = [x.name, b.const(weight, f"{n.name}/filter")]
    fused = n.op == "FusedDepthwiseConv2dNative"
    bias = _bias_arg(n) if fused else None
    if bias is not None:
        args.append(b.const(bias, f"{n.name}/bias"))
    y = b.one("Conv", args, n.name, strides=strides, dilations=dil, group=cin, **attrs)
    t = _spatial_out(n, y, n.tensor(0).shape[0], out, cin * mult)
    return [_fused_tail(n, t, bias is not None, 2) if fused else t]


@tf_op("Conv2DBackpropInput")
def conv_transpose(n: TfNode) -> list[KTensor]:
    shape = [int(v) for v in n.need_const(0, "output shape")]
    w = n.need_const(1, "filter")  # (kh, kw, out, in)
    x = n.tensor(2)
    if x.rank != 4:
        raise n.error(f"expects a rank-4 input, got shape {list(x.shape)}")
    b = n.b
    xin = b.cf(x, n.name) if n.nhwc() else b.plain(x, n.name)
    strides, dil = _window(n, "strides", 2), _window(n, "dilations", 2)
    out_sp = shape[1:3] if n.nhwc() else shape[2:]
    in_sp = list(x.shape[1:3]) if n.nhwc() else list(x.shape[2:])
    if str(n.get("padding", "VALID")).upper() not in ("VALID", "SAME"):
        raise n.error(f"padding {n.get('padding')!r}")
    pads: list[int] = []
    for o, i, k, s, d in zip(out_sp, in_sp, w.shape[:2], strides, dil, strict=True):
        if i is None:
            raise n.error("a transposed convolution needs its input's spatial sizes known")
        # the forward conv's padding (VALID: none; SAME: this much), the rest is output_padding at the end
        pads.append(max((int(i) - 1) * s + (int(k) - 1) * d + 1 - o, 0))
    begin = [p // 2 for p in pads]
    end = [p - p // 2 for p in pads]
    extra = [o - ((int(i) - 1) * s + (int(k) - 1) * d + 1 - bg - en)  # type: ignore[arg-type]
             for o, i, k, s, d, bg, en in zip(out_sp, in_sp, w.shape[:2], strides, dil, begin, end, strict=True)]
    weight = np.transpose(w, (3, 2, 0, 1))  # (in, out, kh, kw)
    y = b.one("ConvTranspose", [xin.name, b.const(weight, f"{n.name}/filter")], n.name, strides=strides,
              dilations=dil, pads=begin + end, output_padding=[max(e, 0) for e in extra])
    cout = int(w.shape[2])
    return [_spatial_out(n, y, shape[0], out_sp, cout)]  # type: ignore[arg-type]


def _transposed(n: TfNode, i: int, flag: bool) -> tuple[str, tuple[int | None, ...]]:
    """Input `i` of a matmul in TF's order, its last two axes swapped when `flag`."""
    b = n.b
    c = n.const(i)
    if c is not None:
        arr = np.swapaxes(c, -1, -2) if flag else c
        return b.const(arr, f"{n.name}/in{i}", arr.dtype), tuple(arr.shape)
    t = b.plain(n.tensor(i), n.name)
    if not flag:
        return t.name, t.shape
    perm = [*range(t.rank - 2), t.rank - 1, t.rank - 2]
    return b.one("Transpose", [t.name], n.name, perm=perm), tuple(t.shape[p] for p in perm)


@tf_op("MatMul", "_FusedMatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3")
def matmul(n: TfNode) -> list[KTensor]:
    ta = bool(n.get("transpose_a", False) or n.get("adj_x", False))
    tb = bool(n.get("transpose_b", False) or n.get("adj_y", False))
    a, sa = _transposed(n, 0, ta)
    w, sb = _transposed(n, 1, tb)
    lead = sa[:-2] if len(sa) >= len(sb) else sb[:-2]
    y = KTensor(n.b.one("MatMul", [a, w], n.name), (*lead, sa[-2], sb[-1]))
    return [_fused_tail(n, y, False, 2) if n.op == "_FusedMatMul" else y]


@tf_op("BiasAdd", "BiasAddV1")
def bias_add(n: TfNode) -> list[KTensor]:
    x, b = n.tensor(0), n.b
    bias = n.const(1)
    if not n.nhwc():  # NCHW: the bias runs along axis 1 of TF's order
        x = b.plain(x, n.name)
        arr = bias.reshape(-1, *([1] * (x.rank - 2))) if bias is not None else None
        if arr is None:
            raise n.error("a bias computed at run time with data_format NCHW is not supported")
        return [KTensor(b.one("Add", [x.name, b.const(arr, f"{n.name}/bias")], n.name), x.shape, False)]
    if bias is None:
        return [KTensor(b.one("Add", [b.plain(x, n.name).name, n.tensor(1).name], n.name), x.shape, False)]
    return [KTensor(b.one("Add", [x.name, b.const(const_in_layout(bias, x.rank, x.cf), f"{n.name}/bias")], n.name),
                    x.shape, x.cf)]


@tf_op("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3")
def batch_norm(n: TfNode) -> list[KTensor]:
    x, spatial, c = _spatial_in(n, n.tensor(0).rank)
    scale, offset, mean, var = (n.need_const(i, w) for i, w in ((1, "scale"), (2, "offset"), (3, "mean"),
                                                                 (4, "variance")))
    if bool(n.get("is_training", False)) and mean.size == 0:
        raise n.error("is_training=true (batch statistics) is not an inference graph")
    b = n.b
    args = [x.name] + [b.const(v, f"{n.name}/{k}") for k, v in (("scale", scale), ("offset", offset), ("mean", mean),
                                                              ("variance", var))]
    y = b.one("BatchNormalization", args, n.name, epsilon=float(n.get("epsilon", 1e-4)))
    return [_spatial_out(n, y, n.tensor(0).shape[0], spatial, c)]


@tf_op("AvgPool", "MaxPool", "AvgPool3D", "MaxPool3D", "MaxPoolV2")
def pool(n: TfNode) -> list[KTensor]:
    nd = 3 if n.op.endswith("3D") else 2
    x, spatial, c = _spatial_in(n, nd + 2)
    if n.op == "MaxPoolV2":
        n.attr["ksize"] = [int(v) for v in n.need_const(1, "ksize")]
        n.attr["strides"] = [int(v) for v in n.need_const(2, "strides")]
    kernel, strides = _window(n, "ksize", nd), _window(n, "strides", nd)
    attrs, out = spatial_pads(n, spatial, kernel, strides, [1] * nd)
    op = "AveragePool" if n.op.startswith("Avg") else "MaxPool"
    y = n.b.one(op, [x.name], n.name, kernel_shape=kernel, strides=strides, **attrs)  # TF's average omits the pads
    return [_spatial_out(n, y, n.tensor(0).shape[0], out, c)]


@tf_op("ResizeBilinear", "ResizeNearestNeighbor")
def resize(n: TfNode) -> list[KTensor]:
    x, b = n.tensor(0), n.b
    if x.rank != 4:
        raise n.error(f"expects a rank-4 input, got shape {list(x.shape)}")
    size = n.const(1)
    xin = b.cf(x, n.name)
    if bool(n.get("align_corners", False)):
        mode = "align_corners"
    elif bool(n.get("half_pixel_centers", False)):
        mode = "half_pixel" if n.op == "ResizeBilinear" else "tf_half_pixel_for_nn"
    else:
        mode = "asymmetric"
    nearest = "round_prefer_ceil" if mode == "align_corners" else "floor"
    if size is not None:
        hw = [int(v) for v in size]
    else:
        hw = [None, None]  # type: ignore[list-item]
    head = b.one("Slice", [b.one("Shape", [xin.name], n.name), b.const([0], f"{n.name}/s0", np.int64),
                           b.const([2], f"{n.name}/s2", np.int64)], n.name)
    tail = b.const(hw, f"{n.name}/size", np.int64) if size is not None else \
        b.one("Cast", [n.tensor(1).name], n.name, to=7)
    sizes = b.one("Concat", [head, tail], n.name, axis=0)
    y = b.one("Resize", [xin.name, "", "", sizes], n.name, mode="linear" if n.op == "ResizeBilinear" else "nearest",
              coordinate_transformation_mode=mode, nearest_mode=nearest)
    return [KTensor(y, (x.shape[0], *hw, x.shape[3]), True)]
