"""Keras layers as ONNX nodes, one function per layer class (registered in LAYERS).

Each takes the builder, the layer (its name, config and weights by variable name: "kernel", "bias",
"gamma", "moving_mean", ...) and its input tensors, and returns its outputs. Weights are Keras' own
arrays (a Conv2D kernel is (kh, kw, in, out)); the layout changes happen here, once, at conversion.
Where to add a layer: a function here with @layer("ClassName").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from webdnn.errors import ModelLoadError, UnsupportedOperatorError
from webdnn.frontend.keras_builder import Builder, KTensor, activation, broadcast


@dataclass
class Layer:
    name: str
    class_name: str
    config: dict[str, Any]
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    keras_version: str = "2"
    # whose semantics the model was made for where implementations differ: "keras" (Python) or "tfjs"
    framework: str = "keras"
    call: dict[str, Any] = field(default_factory=dict)  # the keyword arguments of this call of the layer

    def weight(self, key: str, source: str) -> np.ndarray:
        if key not in self.weights:
            have = ", ".join(sorted(self.weights)) or "none"
            raise ModelLoadError(f"{source}: layer '{self.name}' ({self.class_name}) has no weight '{key}' (it has "
                                 f"{have}); the weight files do not match the model's layers")
        return self.weights[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.config.get(key, default)


LayerFn = Callable[[Builder, Layer, list[KTensor]], list[KTensor]]
LAYERS: dict[str, LayerFn] = {}
IDENTITY = {"Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
            "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Masking"}


def layer(*names: str) -> Callable[[LayerFn], LayerFn]:
    def deco(fn: LayerFn) -> LayerFn:
        for n in names:
            LAYERS[n] = fn
        return fn
    return deco


def _tuple(v: Any, n: int) -> list[int]:
    if isinstance(v, int):
        return [v] * n
    return [int(x) for x in v]


def _unsupported(b: Builder, lay: Layer, why: str) -> UnsupportedOperatorError:
    return UnsupportedOperatorError(f"{b.source}: layer '{lay.name}' ({lay.class_name}): {why}")


def _channels_first(b: Builder, lay: Layer) -> bool:
    fmt = lay.get("data_format", "channels_last")
    if fmt not in ("channels_last", "channels_first", None):
        raise _unsupported(b, lay, f"data_format {fmt!r}")
    return fmt == "channels_first"


def _spatial_in(b: Builder, lay: Layer, x: KTensor) -> KTensor:
    """The input of a spatial layer with channels-first data (a channels_first layer reads Keras' order,
    which is then channels-first already)."""
    return b.plain(x, lay.name) if _channels_first(b, lay) else b.cf(x, lay.name)


def _spatial_dims(b: Builder, lay: Layer, x: KTensor) -> tuple[list[int | None], int | None]:
    """x's spatial sizes and channel count (in Keras' shape, wherever data_format puts them)."""
    if _channels_first(b, lay):
        return list(x.shape[2:]), x.shape[1]
    return list(x.shape[1:-1]), x.shape[-1]


def _spatial_out(b: Builder, lay: Layer, name: str, shape: tuple[int | None, ...]) -> KTensor:
    return KTensor(name, shape, not _channels_first(b, lay))


def _same_pads(size: int | None, k: int, s: int, d: int) -> tuple[int, int] | None:
    """TensorFlow's 'same' padding of one axis (the odd pixel at the end), or None for an unknown size."""
    if size is None:
        return None
    eff = (k - 1) * d + 1
    total = max((-(-size // s) - 1) * s + eff - size, 0)
    return total // 2, total - total // 2


def _window_attrs(b: Builder, lay: Layer, x: KTensor, kernel: list[int], strides: list[int],
                  dilations: list[int]) -> tuple[dict[str, Any], list[int | None]]:
    """ONNX pads (or auto_pad) of a Keras 'valid'/'same'/'causal' window, and the output spatial sizes."""
    nd = len(kernel)
    spatial, _ = _spatial_dims(b, lay, x)
    padding = str(lay.get("padding", "valid")).lower()
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilations, strict=True)]
    if padding == "valid":
        out = [None if n is None else (n - e) // s + 1 for n, e, s in zip(spatial, eff, strides, strict=True)]
        return {"pads": [0] * (2 * nd)}, out
    if padding == "same":
        pads = [_same_pads(n, k, s, d) for n, k, s, d in zip(spatial, kernel, strides, dilations, strict=True)]
        out = [None if n is None else -(-n // s) for n, s in zip(spatial, strides, strict=True)]
        if any(p is None for p in pads):
            return {"auto_pad": "SAME_UPPER"}, out
        return {"pads": [p[0] for p in pads] + [p[1] for p in pads]}, out  # type: ignore[index]
    if padding == "causal" and nd == 1:  # Conv1D: everything padded before (each output sees only the past)
        n = spatial[0]
        return {"pads": [eff[0] - 1, 0]}, [None if n is None else (n - 1) // strides[0] + 1]
    raise _unsupported(b, lay, f"padding {padding!r}")


def _out_shape(b: Builder, lay: Layer, x: KTensor, spatial: list[int | None], channels: int | None) -> tuple:  # type: ignore[type-arg]
    if _channels_first(b, lay):
        return (x.shape[0], channels, *spatial)
    return (x.shape[0], *spatial, channels)


def _bias_act(b: Builder, lay: Layer, y: KTensor) -> KTensor:
    return activation(b, y, lay.get("activation", "linear"), lay.name, lay.keras_version)


@layer("Conv1D", "Conv2D", "Conv3D", "Convolution1D", "Convolution2D", "Convolution3D")
def conv(b: Builder, lay: Layer, ins: list[KTensor]) -> list[KTensor]:
    x = ins[0]
    k = lay.weight("kernel", b.source)  # (k..., in / groups, out)
    nd = k.ndim - 2
    strides, dil = _tuple(lay.get("strides", 1), nd), _tuple(lay.get("dilation_rate", 1), nd)
    attrs, spatial = _window_attrs(b, lay, x, list(k.shape[:nd]), strides, dil)
    w = np.transpose(k, (nd + 1, nd, *range(nd)))  # (out, in / groups, k...)
    args = [_spatial_in(b, lay, x).name, b.const(w, f"{lay.name}/kernel")]
    if lay.get("use_bias", True) and "bias" in lay.weights:
        args.append(b.const(lay.weights["bias"], f"{lay.name}/bias"))
    y = b.one("Conv", args, lay.name, strides=strides, dilations=dil, group=int(lay.get("groups", 1) or 1), **attrs)
    return [_bias_act(b, lay, _spatial_out(b, lay, y, _out_shape(b, lay, x, spatial, int(k.shape[-1]))))]


@layer("DepthwiseConv1D", "DepthwiseConv2D")
def depthwise_conv(b: Builder, lay: Layer, ins: list[KTensor]) -> list[KTensor]:
    x = ins[0]
    k = lay.weight("depthwise_kernel", b.source)  # (k..., in, multiplier)
    nd = k.ndim - 2
    cin, mult = int(k.shape[-2]), int(k.shape[-1])
    strides, dil = _tuple(lay.get("strides", 1), nd), _tuple(lay.get("dilation_rate", 1), nd)
    attrs, spatial = _window_attrs(b, lay, x, list(k.shape[:nd]), strides, dil)
    w = np.transpose(k.reshape(*k.shape[:nd], cin * mult), (nd, *range(nd)))[:, None]  # (in * mult, 1, k...)
    args = [_spatial_in(b, lay, x).name, b.const(w, f"{lay.name}/depthwise_kernel")]
    if lay.get("use_bias", True) and "bias" in lay.weights:
        args.append(b.const(lay.weights["bias"], f"{lay.name}/bias"))
    y = b.one("Conv", args, lay.name, strides=strides, dilations=dil, group=cin, **attrs)
    return [_bias_act(b, lay, _spatial_out(b, lay, y, _out_shape(b, lay, x, spatial, cin * mult)))]


@layer("SeparableConv1D", "SeparableConv2D")
def separable_conv(b: Builder, lay: Layer, ins: list[KTensor]) -> list[KTensor]:
    x = ins[0]
    k = lay.weight("depthwise_kernel", b.source)
    p = lay.weight("pointwise_kernel", b.source)  # (1..., in * mult, out)
    nd = k.ndim - 2
    cin, mult = int(k.shape[-2]), int(k.shape[-1])
    strides, dil = _tuple(lay.get("strides", 1), nd), _tuple(lay.get("dilation_rate", 1), nd)
    attrs, spatial = _window_attrs(b, lay, x, list(k.shape[:nd]), strides, dil)
    dw = np.transpose(k.reshape(*k.shape[:nd], cin * mult), (nd, *range(nd)))[:, None]
    mid = b.one("Conv", [_spatial_in(b, lay, x).name, b.const(dw, f"{lay.name}/depthwise_kernel")], lay.name,
                strides=strides, dilations=dil, group=cin, **attrs)
    pw = np.transpose(p, (nd + 1, nd, *range(nd)))
    args = [mid, b.const(pw, f"{lay.name}/pointwise_kernel")]
    if lay.get("use_bias", True) and "bias" in lay.weights:
        args.append(b.const(lay.weights["bias"], f"{lay.name}/bias"))
    y = b.one("Conv", args, lay.name)
    return [_bias_act(b, lay, _spatial_out(b, lay, y, _out_shape(b, lay, x, spatial, int(p.shape[-1]))))]


@layer("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "Convolution2DTranspose")
def conv_transpose(b: Builder, lay: Layer, ins: list[KTensor]) -> list[KTensor]:
    """Keras' output size: 'same' i·s, 'valid' (i-1)·s + max(k, s), or with output_padding op
    (i-1)·s + k - 2·pad + op (pad k//2 for 'same'); the padding is that of the forward convolution from that
    size (TensorFlow's; Keras 3 on JAX pads the same way), the rest is output padding at the end."""
    x = ins[0]
    k = lay.weight("kernel", b.source)  # (k..., out, in)
    nd = k.ndim - 2
    strides, dil = _tuple(lay.get("strides", 1), nd), _tuple(lay.get("dilation_rate", 1), nd)
    padding = str(lay.get("padding", "valid")).lower()
    if padding not in ("valid", "same"):
        raise _unsupported(b, lay, f"padding {padding!r}")
    given = lay.get("output_padding")
    given = None if given is None else _tuple(given, nd)
    spatial, _ = _spatial_dims(b, lay, x)
    begin, end, extra, out = [], [], [], []
    for a in range(nd):
        i, s, e = spatial[a], strides[a], (int(k.shape[a]) - 1) * dil[a] + 1
        if i is None:
            raise _unsupported(b, lay, "a transposed convolution needs its input's spatial sizes known")
        if given is not None:
            pad = e // 2 if padding == "same" else 0
            o = (i - 1) * s + e - 2 * pad + given[a]
        else:
            o = i * s if padding == "same" else (i - 1) * s + max(e, s)
        total = max((i - 1) * s + e - o, 0)  # the forward conv's padding: the odd pixel after
        pb, pe = total // 2, total - total // 2
        begin.append(pb), end.append(pe), out.append(o)
        extra.append(o - ((i - 1) * s + e - pb - pe))
    w = np.transpose(k, (nd + 1, nd, *range(nd)))  # (in, out, k...)
    args = [_spatial_in(b, lay, x).name, b.const(w, f"{lay.name}/kernel")]
    if lay.get("use_bias", True) and "bias" in lay.weights:
        args.append(b.const(lay.weights["bias"], f"{lay.name}/bias"))
    y = b.one("ConvTranspose", args, lay.name, strides=strides, dilations=dil, pads=begin + end,
              output_padding=extra)
    return [_bias_act(b, lay, _spatial_out(b, lay, y, _out_shape(b, lay, x, out, int(k.shape[-2]))))]


@layer("Dense")
def dense(b: Builder, lay: Layer, ins: list[KTensor]) -> list[KTensor]:
    x = b.plain(ins[0], lay.name)
    k = lay.weight("kernel", b.source)  # (in, units)
    y = b.one("MatMul", [x.name, b.const(k, f"{lay.name}/kernel")], lay.name)
    if lay.get("use_bias", True) and "bias" in lay.weights:
        y = b.one("Add", [y, b.const(lay.weights["bias"], f"{lay.name}/bias")], lay.name)
    return [_bias_act(b, lay, KTensor(y, (*x.shape[:-1], int(k.shape[1]))))]


@layer("BatchNormalization")
def batch_norm(b: Builder, lay: Layer, ins: list[KTensor]) -> list[KTensor]:
    x = ins[0]
    axis = lay.get("axis", -1)
    axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
    if not isinstance(axis, int):
        raise _unsupported(b, lay, f"axis {axis} (one axis is supported)")
    mean, var = lay.weight("moving_mean", b.source), lay.weight("moving_variance", b.source)
    gamma = lay.weights.get("gamma", np.ones_like(mean)) if lay.get("scale", True) else np.ones_like(mean)
    beta = lay.weights.get("beta", np.zeros_like(mean)) if lay.get("center", True) else np.zeros_like(mean)
    eps = float(lay.get("epsilon", 1e-3))
    if x.rank >= 3 and axis % x.rank == x.rank - 1:
        x = b.cf(x, lay.name)
    data_axis = b.axis(x, axis)
    if data_axis == 1:  # ONNX's BatchNormalization (folded into the convolution before it by the passes)
        params = (("gamma", gamma), ("beta", beta), ("moving_mean", mean), ("moving_variance", var))
        args = [x.name, *(b.const(a.astype(np.float32), f"{lay.name}/{k}") for k, a in params)]
        return [KTensor(b.one("BatchNormalization", args, lay.name, epsilon=eps), x.shape, x.cf)]
    scale = (gamma / np.sqrt(var + eps)).astype(np.float32)
    shift = (beta - mean * scale).astype(np.float32)
    bshape = [1] * x.rank
    bshape[data_axis] = -1
    y = b.one("Mul", [x.name, b.const(scale.reshape(bshape), f"{lay.name}/scale")], lay.name)
    return [KTensor(b.one("Add", [y, b.const(shift.reshape(bshape), f"{lay.name}/shift")], lay.name), x.shape, x.cf)]


@layer("Activation")
def activation_layer(b: Builder, lay: Layer, ins: list[KTensor]) -> list[KTensor]:
    return [activation(b, ins[0], lay.get("activation"), lay.name, lay.keras_version)]


@layer("ReLU")
def relu(b: Builder, lay: Layer, ins: list[KTensor]) -> list[KTensor]:
    x = ins[0]
    top = lay.get("max_value")
    slope = float(lay.get("negative_slope", 0.0) or 0.0)
    threshold = float(lay.get("threshold", 0.0) or 0.0)
    if threshold != 0.0:
        raise _unsupported(b, lay, f"threshold {threshold}")
    if top is not None and not slope:  # ReLU6 and friends: one Clip, which fuses into the conv before it
        lo, hi = b.const(0.0, f"{lay.name}/min"), b.const(float(top), f"{lay.name}/max_value")
        return [KTensor(b.one("Clip", [x.name, lo, hi], lay.name), x.shape, x.cf)]
    y = b.one("LeakyRelu", [x.name], lay.name, alpha=slope) if slope else b.one("Relu", [x.name], lay.name)
    if top is not None:
        y = b.one("Min", [y, b.const(float(top), f"{lay.name}/max_value")], lay.name)
    return [KTensor(y, x.shape, x.cf)]


@layer("LeakyReLU")
def leaky_relu(b: Builder, lay: Layer, ins: list[KTensor]) -> list[KTensor]:
    alpha = lay.get("negative_slope", lay.get("alpha", 0.3 if lay.keras_version.startswith("2") else 0.2))
    return [KTensor(b.one("LeakyRelu", [ins[0].name], lay.name, alpha=float(alpha)), ins[0].shape, ins[0].cf)]


@layer("ELU")
def elu(b: Builder, lay: Layer, ins: list[KTensor]) -> list[KTensor]:
    return [KTensor(b.one("Elu", [ins[0].name], lay.name, alpha=float(lay.get("alpha", 1.0))), ins[0].shape, ins[0].cf)]


@layer("Softmax")
def softmax(b: Builder, lay: Layer, ins: list[KTensor]) -> list[KTensor]:
    x = ins[0]
    axis = lay.get("axis", -1)
    if isinstance(axis, list):
        if len(axis) != 1:
            raise _unsupported(b, lay, f"axis {axis}")
        axis = axis[0]
    return [KTensor(b.one("Softmax", [x.name], lay.name, axis=b.axis(x, int(axis))), x.shape, x.cf)]


@layer("PReLU")
def prelu(b: Builder, lay: Layer, ins: list[KTensor]) -> list[KTensor]:
    x = b.plain(ins[0], lay.name)
    alpha = lay.weight("alpha", b.source)  # the input's shape without the batch, 1 along shared axes
    return [KTensor(b.one("PRelu", [x.name, b.const(alpha, f"{lay.name}/alpha")], lay.name), x.shape)]


def _aligned(b: Builder, lay: Layer, ins: list[KTensor]) -> list[KTensor]:
    """Inputs of an elementwise or concatenating layer in one layout: channels-first when one of them
    is and all have its rank, else Keras' order."""
    if any(t.cf for t in ins) and len({t.rank for t in ins}) == 1:
        return [b.cf(t, lay.name) for t in ins]
    return [b.plain(t, lay.name) for t in ins]


@layer("Add", "Subtract", "Multiply", "Maximum", "Minimum", "Average")
def merge(b: Builder, lay: Layer, ins: list[KTensor]) -> list[KTensor]:
    xs = _aligned(b, lay, ins)
    op = {"Add": "Add", "Subtract": "Sub", "Multiply": "Mul", "Maximum": "Max", "Minimum": "Min",
          "Average": "Add"}[lay.class_name]
    if op in ("Max", "Min"):
        y = b.one(op, [t.name for t in xs], lay.name)
    else:
        y = xs[0].name
        for t in xs[1:]:
            y = b.one(op, [y, t.name], lay.name)
    if lay.class_name == "Average":
        y = b.one("Mul", [y, b.const(1.0 / len(xs), f"{lay.name}/inverse_count")], lay.name)
    return [KTensor(y, broadcast([t.shape for t in xs]), xs[0].cf)]


@layer("Concatenate")
def concatenate(b: Builder, lay: Layer, ins: list[KTensor]) -> list[KTensor]:
    xs = _aligned(b, lay, ins)
    axis = int(lay.get("axis", -1)) % xs[0].rank
    size = None if any(t.shape[axis] is None for t in xs) else sum(int(t.shape[axis]) for t in xs)  # type: ignore[arg-type]
    shape = tuple(size if i == axis else d for i, d in enumerate(xs[0].shape))
    return [KTensor(b.one("Concat", [t.name for t in xs], lay.name, axis=b.axis(xs[0], axis)), shape, xs[0].cf)]


@layer("MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
       "MaxPool1D", "MaxPool2D", "MaxPool3D", "AvgPool1D", "AvgPool2D", "AvgPool3D")
def pool(b: Builder, lay: Layer, ins: list[KTensor]) -> list[KTensor]:
    x = ins[0]
    nd = x.rank - 2
    size = _tuple(lay.get("pool_size", 2), nd)
    strides = _tuple(lay.get("strides") or size, nd)
    attrs, spatial = _window_attrs(b, lay, x, size, strides, [1] * nd)
    if lay.class_name.startswith(("Max",)):
        y = b.one("MaxPool", [_spatial_in(b, lay, x).name], lay.name, kernel_shape=size, strides=strides, **attrs)
    else:  # Keras averages over the window's pixels inside the input only
        y = b.one("AveragePool", [_spatial_in(b, lay, x).name], lay.name, kernel_shape=size, strides=strides,
                  count_include_pad=0, **attrs)
    return [_spatial_out(b, lay, y, _out_shape(b, lay, x, spatial, _spatial_dims(b, lay, x)[1]))]


@layer("GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D", "GlobalMaxPooling1D",
       "GlobalMaxPooling2D", "GlobalMaxPooling3D", "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalMaxPool1D",
       "GlobalMaxPool2D")
def global_pool(b: Builder, lay: Layer, ins: list[KTensor]) -> list[KTensor]:
    x = _spatial_in(b, lay, ins[0])
    op = "ReduceMax" if "Max" in lay.class_name else "ReduceMean"
    keep = bool(lay.get("keepdims", False))
    y = b.one(op, [x.name], lay.name, axes=list(range(2, x.rank)), keepdims=int(keep))
    first = _channels_first(b, lay)
    channels = _spatial_dims(b, lay, ins[0])[1]
    if not keep:
        return [KTensor(y, (x.shape[0], channels))]
    ones = (1,) * (x.rank - 2)
    return [KTensor(y, (x.shape[0], channels, *ones) if first else (x.shape[0], *ones, channels), not first)]


def _pairs(v: Any, nd: int) -> list[tuple[int, int]]:
    """Keras padding/cropping: an int, one int per axis, or (before, after) per axis."""
    if isinstance(v, int):
        return [(v, v)] * nd
    out = []
    for p in v:
        out.append((int(p), int(p)) if isinstance(p, int) else (int(p[0]), int(p[1])))
    return out


@layer("ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D")
def zero_padding(b: Builder, lay: Layer, ins: list[KTensor]) -> list[KTensor]:
    x = ins[0]
    nd = x.rank - 2
    pads = _pairs(lay.get("padding", 1), nd)
    xin = _spatial_in(b, lay, x)
    spatial, channels = _spatial_dims(b, lay, x)
    onnx_pads = [0, 0, *(p[0] for p in pads), 0, 0, *(p[1] for p in pads)]
    y = b.one("Pad", [xin.name, b.const(onnx_pads, f"{lay.name}/pads", np.int64)], lay.name)
    out = [None if n is None else n + p[0] + p[1] for n, p in zip(spatial, pads, strict=True)]
    return [_spatial_out(b, lay, y, _out_shape(b, lay, x, out, channels))]


@layer("Cropping1D", "Cropping2D", "Cropping3D")
def cropping(b: Builder, lay: Layer, ins: list[KTensor]) -> list[KTensor]:
    x = ins[0]
    nd = x.rank - 2
    crops = _pairs(lay.get("cropping", 1), nd)
    xin = _spatial_in(b, lay, x)
    spatial, channels = _spatial_dims(b, lay, x)
    if any(n is None for n in spatial):
        raise _unsupported(b, lay, "cropping an input of unknown size (give its size with --input-shape)")
    starts = [c[0] for c in crops]
    ends = [int(n) - c[1] for n, c in zip(spatial, crops, strict=True)]  # type: ignore[arg-type]
    y = b.one("Slice", [xin.name, b.const(starts, f"{lay.name}/starts", np.int64),
                        b.const(ends, f"{lay.name}/ends", np.int64),
                        b.const(list(range(2, 2 + nd)), f"{lay.name}/axes", np.int64)], lay.name)
    out = [e - s for s, e in zip(starts, ends, strict=True)]
    return [_spatial_out(b, lay, y, _out_shape(b, lay, x, list(out), channels))]


@layer("UpSampling1D", "UpSampling2D", "UpSampling3D")
def upsampling(b: Builder, lay: Layer, ins: list[KTensor]) -> list[KTensor]:
    x = ins[0]
    nd = x.rank - 2
    size = _tuple(lay.get("size", 2), nd)
    mode = str(lay.get("interpolation", "nearest"))
    if mode not in ("nearest", "bilinear"):
        raise _unsupported(b, lay, f"interpolation {mode!r}")
    xin = _spatial_in(b, lay, x)
    scales = b.const([1.0, 1.0, *map(float, size)], f"{lay.name}/scales")
    if mode == "nearest":  # integer factors: each pixel repeated, as TensorFlow does
        y = b.one("Resize", [xin.name, "", scales], lay.name, mode="nearest",
                  coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    else:  # Keras: tf.image.resize (half-pixel centers); TF.js: tf.image.resizeBilinear (corner-aligned grid,
        # halfPixelCenters false); neither antialiases when enlarging
        ctm = "asymmetric" if lay.framework == "tfjs" else "half_pixel"
        y = b.one("Resize", [xin.name, "", scales], lay.name, mode="linear", coordinate_transformation_mode=ctm)
    spatial, channels = _spatial_dims(b, lay, x)
    out = [None if n is None else n * s for n, s in zip(spatial, size, strict=True)]
    return [_spatial_out(b, lay, y, _out_shape(b, lay, x, out, channels))]


@layer("Flatten")
def flatten(b: Builder, lay: Layer, ins: list[KTensor]) -> list[KTensor]:
    x = b.plain(ins[0], lay.name)
    n = None if any(d is None for d in x.shape[1:]) else int(np.prod([int(d) for d in x.shape[1:]]))  # type: ignore[arg-type]
    return [KTensor(b.one("Flatten", [x.name], lay.name, axis=1), (x.shape[0], n))]


@layer("Reshape")
def reshape(b: Builder, lay: Layer, ins: list[KTensor]) -> list[KTensor]:
    x = b.plain(ins[0], lay.name)
    target = [int(d) for d in lay.get("target_shape")]
    y = b.one("Reshape", [x.name, b.const([0, *target], f"{lay.name}/shape", np.int64)], lay.name)
    known = None if any(d is None for d in x.shape[1:]) else int(np.prod([int(d) for d in x.shape[1:]]))  # type: ignore[arg-type]
    dims: list[int | None] = list(target)
    if -1 in target:
        rest = int(np.prod([d for d in target if d != -1]))
        dims[target.index(-1)] = None if known is None else known // rest
    return [KTensor(y, (x.shape[0], *dims))]


@layer("Permute")
def permute(b: Builder, lay: Layer, ins: list[KTensor]) -> list[KTensor]:
    x = b.plain(ins[0], lay.name)
    dims = [int(d) for d in lay.get("dims")]
    y = b.one("Transpose", [x.name], lay.name, perm=[0, *dims])
    return [KTensor(y, (x.shape[0], *(x.shape[d] for d in dims)))]


@layer("Rescaling")
def rescaling(b: Builder, lay: Layer, ins: list[KTensor]) -> list[KTensor]:
    x = ins[0]
    scale, offset = lay.get("scale", 1.0), lay.get("offset", 0.0)
    if isinstance(scale, list) or isinstance(offset, list):
        x = b.plain(x, lay.name)  # per-channel values along Keras' last axis
    y = b.one("Mul", [x.name, b.const(scale, f"{lay.name}/scale")], lay.name)
    y = b.one("Add", [y, b.const(offset, f"{lay.name}/offset")], lay.name)
    return [KTensor(y, x.shape, x.cf)]


@layer("Normalization")
def normalization(b: Builder, lay: Layer, ins: list[KTensor]) -> list[KTensor]:
    """Keras' (x - mean) / max(sqrt(variance), 1e-7), or its inverse, along `axis` (default the last)."""
    x = b.plain(ins[0], lay.name)
    mean = lay.weights.get("mean", lay.get("mean"))
    var = lay.weights.get("variance", lay.get("variance"))
    if mean is None or var is None:
        raise _unsupported(b, lay, "no mean/variance (the layer was never adapted)")
    axis = lay.get("axis", -1)
    axes = [axis] if isinstance(axis, int) else list(axis or [])
    shape = [1] * x.rank
    for a in axes:
        shape[a % x.rank] = -1 if x.shape[a % x.rank] is None else int(x.shape[a % x.rank])  # type: ignore[arg-type]
    mean = np.asarray(mean, np.float32).reshape(shape if np.size(mean) > 1 else [1] * x.rank)
    std = np.maximum(np.sqrt(np.asarray(var, np.float32)), 1e-7).reshape(mean.shape)
    if lay.get("invert", False):
        y = b.one("Add", [b.one("Mul", [x.name, b.const(std, f"{lay.name}/std")], lay.name),
                          b.const(mean, f"{lay.name}/mean")], lay.name)
    else:
        y = b.one("Div", [b.one("Sub", [x.name, b.const(mean, f"{lay.name}/mean")], lay.name),
                          b.const(std, f"{lay.name}/std")], lay.name)
    return [KTensor(y, x.shape)]


@layer(*IDENTITY)
def identity(b: Builder, lay: Layer, ins: list[KTensor]) -> list[KTensor]:
    return [ins[0]]
