"""TensorFlow ops of a TF.js graph model as ONNX nodes: the registry, the node each op function receives,
and the layout helpers they share. The op functions themselves are in tf_ops_math.py (elementwise,
reductions), tf_ops_nn.py (convolutions, pools, matmuls, norms, resize) and tf_ops_shape.py (reshapes,
slices, concatenation, padding, gathers).

Layout: TensorFlow graphs from tfjs-converter are NHWC. As in the Keras frontend (keras_builder.py), a
tensor remembers whether its data is channels-first (`KTensor.cf`, its `shape` always in TensorFlow's
order): a convolution moves its input to channels-first once, elementwise ops keep whichever layout
their operands have, and a Transpose back appears only where an op reads TensorFlow's order.
Where to add an op: a function in one of those files with @tf_op("OpName").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from webdnn.errors import ModelLoadError, UnsupportedOperatorError
from webdnn.frontend.keras_builder import Builder, KTensor, broadcast

Shape = tuple[int | None, ...]


def _plain_ref(r: str) -> str:
    return r.removesuffix(":0")


@dataclass
class Context:
    """The graph being built and the TensorFlow tensors converted so far, by TF name ("node" or "node:1").
    `functions`: the graph's function library (control flow v2) by name; `run(ctx, fn, args, where)` converts
    one (tf_graph._run_function); `ref` maps a node's input reference to a TF name."""

    b: Builder
    values: dict[str, KTensor] = field(default_factory=dict)
    consts: dict[str, np.ndarray] = field(default_factory=dict)
    functions: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, np.ndarray] = field(default_factory=dict)  # the shards' constants by node name
    run: Callable[..., list[KTensor]] | None = None
    ref: Callable[[str], str] = _plain_ref

    def tensor(self, name: str) -> KTensor:
        if name not in self.values:  # a constant becomes an initializer the first time a node reads it as data
            arr = self.consts[name]
            self.values[name] = KTensor(self.b.const(arr, _onnx_name(name), arr.dtype), tuple(arr.shape))
        return self.values[name]


@dataclass
class TfNode:
    name: str
    op: str
    attr: dict[str, Any]  # decoded attribute values (see tf_graph.decode_attr)
    args: list[str]  # the TF names of its data inputs
    ctx: Context

    @property
    def b(self) -> Builder:
        return self.ctx.b

    def error(self, why: str) -> UnsupportedOperatorError:
        return UnsupportedOperatorError(f"{self.b.source}: node '{self.name}' ({self.op}): {why}")

    def const(self, i: int) -> np.ndarray | None:
        """Input `i`'s value when it is a constant of the model, else None."""
        return self.ctx.consts.get(self.args[i]) if i < len(self.args) else None

    def need_const(self, i: int, what: str) -> np.ndarray:
        v = self.const(i)
        if v is None:
            raise self.error(f"its {what} (input {i}, '{self.args[i] if i < len(self.args) else '?'}') must be a "
                             "constant of the model; one computed at run time is not supported")
        return v

    def tensor(self, i: int) -> KTensor:
        if i >= len(self.args):
            raise ModelLoadError(f"{self.b.source}: node '{self.name}' ({self.op}) has {len(self.args)} inputs; "
                                 f"input {i} is missing")
        return self.ctx.tensor(self.args[i])

    def get(self, key: str, default: Any = None) -> Any:
        v = self.attr.get(key)
        return default if v is None else v

    def nhwc(self) -> bool:
        fmt = str(self.get("data_format", "NHWC"))
        if fmt not in ("NHWC", "NCHW", "NDHWC", "NCDHW", "NWC", "NCW"):
            raise self.error(f"data_format {fmt!r}")
        return not fmt.startswith("NC")


OpFn = Callable[[TfNode], list[KTensor]]
OPS: dict[str, OpFn] = {}
IGNORED = {"NoOp"}  # ops with no data output (control dependencies only)


def tf_op(*names: str) -> Callable[[OpFn], OpFn]:
    def deco(fn: OpFn) -> OpFn:
        for n in names:
            OPS[n] = fn
        return fn
    return deco


def _onnx_name(tf_name: str) -> str:
    return tf_name.removesuffix(":0").replace(":", "_")


# --- layout ----------------------------------------------------------------------------------------------
def cf_order(rank: int) -> list[int]:
    """The TF axis that each data axis of a channels-first tensor holds."""
    return [0, rank - 1, *range(1, rank - 1)]


def data_axis(t: KTensor, axis: int) -> int:
    return Builder.axis(t, axis)


def const_in_layout(arr: np.ndarray, rank: int, cf: bool) -> np.ndarray:
    """A constant that broadcasts against a rank-`rank` TF tensor, laid out for that tensor's data."""
    if not cf or arr.ndim == 0 or arr.size == 1:
        return arr
    full = arr.reshape((1,) * (rank - arr.ndim) + arr.shape)
    return np.transpose(full, cf_order(rank))


def aligned(n: TfNode, first: int = 0, count: int | None = None) -> tuple[list[str], Shape, bool]:
    """Inputs first..first+count of an elementwise (broadcasting) op in one layout: their ONNX names, the
    broadcast TF shape and whether the data is channels-first. Channels-first is kept when a non-constant
    operand has it and the others can follow (constants are laid out to match at conversion)."""
    idx = list(range(first, len(n.args) if count is None else first + count))
    consts = {i: n.const(i) for i in idx}
    tensors = {i: n.tensor(i) for i in idx if consts[i] is None}
    shapes = [tuple(consts[i].shape) if consts[i] is not None else tensors[i].shape for i in idx]  # type: ignore[union-attr]
    out_shape = broadcast(shapes)
    rank = len(out_shape)
    cf = any(t.cf for t in tensors.values()) and rank >= 3
    if cf and any(not t.cf and t.rank != rank for t in tensors.values()):
        cf = False
    if cf and any(c is not None and c.ndim > rank for c in consts.values()):
        cf = False
    names: list[str] = []
    for i in idx:
        c = consts[i]
        if c is not None:
            if cf and c.ndim > 0 and c.size > 1:
                names.append(n.b.const(const_in_layout(c, rank, True), f"{n.name}/in{i}", c.dtype))
            else:
                names.append(n.tensor(i).name)
        else:
            t = tensors[i]
            names.append((n.b.cf(t, n.name) if cf else n.b.plain(t, n.name)).name)
    return names, out_shape, cf


def removed_axes_layout(b: Builder, x: KTensor, axes: list[int], base: str) -> tuple[KTensor, list[int], bool]:
    """For an op that removes TF axes `axes` of `x` (a reduction without keep_dims, a Squeeze): the data to
    apply it to, the data axes to remove, and whether the result's data is channels-first."""
    if not x.cf:
        return x, sorted(axes), False
    order = cf_order(x.rank)
    data = sorted(order.index(a) for a in axes)
    rest = [a for a in order if a not in axes]
    rank = [sorted(rest).index(a) for a in rest]
    if rank == sorted(rank):
        return x, data, False
    if len(rank) >= 3 and rank == cf_order(len(rank)):
        return x, data, True
    return b.plain(x, base), sorted(axes), False


def norm_axes(axes: Any, rank: int) -> list[int]:
    vals = [int(a) for a in np.asarray(axes).reshape(-1)]
    return sorted({a % rank for a in vals}) if rank else []


def spatial_pads(n: TfNode, spatial: list[int | None], kernel: list[int], strides: list[int],
                 dilations: list[int]) -> tuple[dict[str, Any], list[int | None]]:
    """ONNX pads (or auto_pad) of a TF 'VALID' / 'SAME' / 'EXPLICIT' window and the output spatial sizes."""
    padding = str(n.get("padding", "VALID")).upper()
    nd = len(kernel)
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilations, strict=True)]
    if padding == "VALID":
        out = [None if s is None else (s - e) // st + 1 for s, e, st in zip(spatial, eff, strides, strict=True)]
        return {"pads": [0] * (2 * nd)}, out
    if padding == "SAME":
        out = [None if s is None else -(-s // st) for s, st in zip(spatial, strides, strict=True)]
        if any(s is None for s in spatial):
            return {"auto_pad": "SAME_UPPER"}, out  # TF's SAME: the odd pixel at the end, as SAME_UPPER
        total = [max((o - 1) * st + e - s, 0)  # type: ignore[operator]
                 for o, st, e, s in zip(out, strides, eff, spatial, strict=True)]
        return {"pads": [t // 2 for t in total] + [t - t // 2 for t in total]}, out
    if padding == "EXPLICIT":
        flat = [int(v) for v in n.get("explicit_paddings", [])]
        pairs = [(flat[2 * i], flat[2 * i + 1]) for i in range(len(flat) // 2)]
        sp = pairs[1:-1] if n.nhwc() else pairs[2:]
        if len(sp) != nd:
            raise n.error(f"explicit_paddings {flat} do not give {nd} spatial axes")
        out = [None if s is None else (s + p[0] + p[1] - e) // st + 1
               for s, p, e, st in zip(spatial, sp, eff, strides, strict=True)]
        return {"pads": [p[0] for p in sp] + [p[1] for p in sp]}, out
    raise n.error(f"padding {padding!r}")


def activation(n: TfNode, x: KTensor, name: str, alpha_arg: str | None = None) -> KTensor:
    """A fused activation (tfjs-converter's fused_ops names, lower case) applied to `x`."""
    b, base = n.b, n.name

    def out(v: str) -> KTensor:
        return KTensor(v, x.shape, x.cf)

    name = name.lower()
    simple = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "elu": "Elu"}
    if name in simple:
        return out(b.one(simple[name], [x.name], base))
    if name == "relu6":
        return out(b.one("Clip", [x.name, b.const(0.0, f"{base}/min"), b.const(6.0, f"{base}/max")], base))
    if name == "leakyrelu":
        return out(b.one("LeakyRelu", [x.name], base, alpha=float(n.get("leakyrelu_alpha", 0.2))))
    if name == "selu":
        return out(b.one("Selu", [x.name], base))
    if name == "prelu" and alpha_arg is not None:
        alpha = n.ctx.consts.get(alpha_arg)
        if alpha is None:
            xp, slope = b.plain(x, base), b.plain(n.ctx.tensor(alpha_arg), base)
            return KTensor(b.one("PRelu", [xp.name, slope.name], base), x.shape, False)
        return out(b.one("PRelu", [x.name, b.const(const_in_layout(alpha, x.rank, x.cf), f"{base}/alpha")], base))
    raise n.error(f"fused activation {name!r} is not supported")
