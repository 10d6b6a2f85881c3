"""Shape-manipulating and data-movement rules: Reshape, Flatten, Squeeze, Unsqueeze,
Transpose, Concat, Split, Slice, Expand, Tile, Pad, and the conversion-time Shape, Size,
ConstantOfShape and Range.

Canonical forms (what kernels read):
  Reshape    shape = the resolved output shape (no 0 / -1 left), allowzero
  Flatten    axis >= 0
  Squeeze    axes = sorted non-negative (resolved when omitted); Unsqueeze the same (output axes)
  Transpose  perm (reversed dims when omitted)
  Concat     axis >= 0;  Split  axis >= 0, split = sizes of every output (num_outputs dropped)
  Slice      starts/ends/axes/steps for EVERY axis, clamped: output[i] = input[starts + i * steps]
             (a negative-step slice through index 0 has ends = -dim-1, as ONNX writes it)
  Expand     shape = the output shape;  Tile  repeats
  Pad        pads (2 * rank, begins then ends; may be negative), mode, value
"""

from __future__ import annotations

import math

import numpy as np

from webdnn.errors import where
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Node
from webdnn.ir.symbolic import Dim, bounds, ceildiv, provably_equal, smax, smin
from webdnn.ops._util import (
    broadcast,
    const_input,
    defaults,
    in_dtype,
    in_shape,
    norm_axis,
    set_out,
    take_const_input,
    trim_inputs,
)
from webdnn.ops.registry import shape_rule, unsupported
from webdnn.ops.tensor_common import (
    FLOATS,
    all_inputs,
    fail,
    ints_param,
    norm_axes,
    norm_axis_upto,
    py_scalar,
    scalar_param,
)

PAD_MODES = ("constant", "reflect", "edge", "wrap")


@shape_rule("Reshape")
def _reshape(node: Node, graph: Graph) -> None:
    defaults(node, allowzero=0)
    x = in_shape(node, 0)
    shape = ints_param(node, 1, "shape")
    if shape is None:
        shape = []  # an empty shape tensor reshapes to a scalar
    node.attrs["shape"] = resolve_reshape(node, x, shape, bool(node.attrs["allowzero"]), graph)
    set_out(node, 0, in_dtype(node, 0), node.attrs["shape"])


def resolve_reshape(node: Node, x: tuple[Dim, ...], shape: list[Dim], allowzero: bool,
                    graph: Graph | None = None) -> list[Dim]:
    """The output shape. With `graph`, a size check that depends on values given at run (a shape
    from a value input) becomes one of the graph's runtime requirements instead of an error."""
    out = list(shape)
    if not allowzero:
        for i, d in enumerate(out):
            if d == 0:
                if i >= len(x):
                    raise fail(node, f"shape {shape}: dim {i} copies an input dim the input {x} lacks")
                out[i] = x[i]
    size = math.prod(x)
    if out.count(-1) > 1 or any(d < -1 for d in out):
        raise fail(node, f"shape {shape} is invalid (at most one -1, no other negative dims)")
    if -1 in out:
        known = math.prod(d for d in out if d != -1)
        if graph is not None and bounds(known)[0] >= 1 and provably_equal(size % known, 0) is None:
            graph.requires.append((size % known, 0, f"{where(node.name, node.op_type)}: the input's {size} elements "
                                   f"do not divide by {known} (the known dims of the shape {shape})"))
        elif known == 0 or size % known:
            raise fail(node, f"cannot reshape {x} to {shape}")
        out[out.index(-1)] = size // known
    total = math.prod(out)
    same = provably_equal(total, size)
    if same is None and graph is not None:  # decided by the values given at run
        graph.requires.append((total, size, f"{where(node.name, node.op_type)}: the shape {out} has "
                               f"{total} elements, the input {size}"))
    elif not same:
        raise fail(node, f"cannot reshape {x} ({size} elements) to {shape}")
    return out


@shape_rule("Flatten")
def _flatten(node: Node, graph: Graph) -> None:
    defaults(node, axis=1)
    x = in_shape(node, 0)
    axis = norm_axis_upto(node, int(node.attrs["axis"]), len(x), len(x))
    node.attrs["axis"] = axis
    set_out(node, 0, in_dtype(node, 0), (math.prod(x[:axis]), math.prod(x[axis:])))


@shape_rule("Squeeze")
def _squeeze(node: Node, graph: Graph) -> None:
    x = in_shape(node, 0)
    axes = ints_param(node, 1, "axes")
    if axes is None:
        axes = [i for i, d in enumerate(x) if d == 1]
    axes = norm_axes(node, axes, len(x))
    if any(x[a] != 1 for a in axes):
        raise fail(node, f"cannot squeeze axes {axes} of shape {x}: their dims are not 1")
    node.attrs["axes"] = axes
    set_out(node, 0, in_dtype(node, 0), [d for i, d in enumerate(x) if i not in axes])


@shape_rule("Unsqueeze")
def _unsqueeze(node: Node, graph: Graph) -> None:
    x = in_shape(node, 0)
    axes = ints_param(node, 1, "axes")
    if axes is None:
        raise fail(node, "axes are required")
    rank = len(x) + len(axes)
    axes = norm_axes(node, axes, rank)
    rest = iter(x)
    node.attrs["axes"] = axes
    set_out(node, 0, in_dtype(node, 0), [1 if i in axes else next(rest) for i in range(rank)])


@shape_rule("Transpose")
def _transpose(node: Node, graph: Graph) -> None:
    x = in_shape(node, 0)
    perm = node.attrs.get("perm")
    perm = list(range(len(x)))[::-1] if perm is None else [int(p) for p in perm]
    if sorted(perm) != list(range(len(x))):
        raise fail(node, f"perm {perm} is not a permutation of the {len(x)} input axes")
    node.attrs["perm"] = perm
    set_out(node, 0, in_dtype(node, 0), [x[p] for p in perm])


@shape_rule("Concat")
def _concat(node: Node, graph: Graph) -> None:
    all_inputs(node, 1)
    if "axis" not in node.attrs:
        raise fail(node, "attribute 'axis' is required")
    shapes = [in_shape(node, i) for i in range(len(node.inputs))]
    rank, dt = len(shapes[0]), in_dtype(node, 0)
    axis = norm_axis(node, int(node.attrs["axis"]), rank)
    for i, s in enumerate(shapes):
        same = len(s) == rank and all(s[j] == shapes[0][j] for j in range(rank) if j != axis)
        if not same or in_dtype(node, i) != dt:
            raise fail(node, f"input {i} ({s}, {in_dtype(node, i).value}) does not match input 0 "
                       f"({shapes[0]}, {dt.value}) outside axis {axis}")
    node.attrs["axis"] = axis
    out = list(shapes[0])
    out[axis] = sum(s[axis] for s in shapes)
    set_out(node, 0, dt, out)


@shape_rule("Split")
def _split(node: Node, graph: Graph) -> None:
    defaults(node, axis=0)
    x = in_shape(node, 0)
    axis = norm_axis(node, int(node.attrs["axis"]), len(x))
    dim, n = x[axis], len(node.outputs)
    split = ints_param(node, 1, "split")
    num = node.attrs.pop("num_outputs", None)
    if split is None:
        if num is not None:  # opset 18: ceil-sized chunks, the last one smaller
            if int(num) != n:
                raise fail(node, f"num_outputs={num} but the node has {n} outputs")
            chunk = -(-dim // n)
            split = [min(chunk, max(dim - chunk * i, 0)) for i in range(n)]
        elif dim % n:
            raise fail(node, f"dim {dim} of axis {axis} does not split evenly into {n} outputs")
        else:
            split = [dim // n] * n
    fixed = all(isinstance(s, int) for s in split)
    same = provably_equal(sum(split), dim) if len(split) == n and fixed else sum(split) == dim and len(split) == n
    if same is None:  # fixed pieces of a symbolic dim: the runtime checks the size (an InputError otherwise)
        graph.requires.append((dim, sum(split), f"{where(node.name, node.op_type)}: split {split} needs dim {axis} "
                               f"to be {sum(split)}"))
    elif not same or min(split, default=0) < 0:
        raise fail(node, f"split {split} does not cut dim {dim} into {n} outputs")
    node.attrs.update(axis=axis, split=split)
    for i, s in enumerate(split):
        out = list(x)
        out[axis] = s
        set_out(node, i, in_dtype(node, 0), out)


@shape_rule("Slice")
def _slice(node: Node, graph: Graph) -> None:
    x = in_shape(node, 0)
    rank = len(x)
    if len(node.inputs) > 1:  # opset 10+: starts, ends, axes, steps inputs
        starts, ends = ints_param(node, 1), ints_param(node, 2)
        axes, steps = ints_param(node, 3), ints_param(node, 4)
    else:  # opset 1 attributes (no steps there), or a node already canonical
        starts, ends = _list_attr(node, "starts"), _list_attr(node, "ends")
        axes, steps = _list_attr(node, "axes"), _list_attr(node, "steps")
    starts, ends = starts or [], ends or []
    if len(starts) != len(ends):
        raise fail(node, f"starts {starts} and ends {ends} differ in length")
    axes = list(range(len(starts))) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    if len(axes) != len(starts) or len(steps) != len(starts):
        raise fail(node, f"axes {axes} / steps {steps} do not match starts {starts}")
    axes_n = [a + rank if a < 0 else a for a in axes]
    norm_axes(node, axes, rank)  # validates range and repeats
    full = {"starts": [0] * rank, "ends": list(x), "axes": list(range(rank)), "steps": [1] * rank}
    out = list(x)
    for a, s, e, st in zip(axes_n, starts, ends, steps, strict=True):
        if st == 0:
            raise fail(node, "a step of 0 is invalid")
        s, e = clamp_slice(x[a], s, e, st)
        out[a] = smax(0, ceildiv(e - s, st)) if st > 0 else smax(0, ceildiv(s - e, -st))
        # "Before index 0" is written -dim-1 (not -1, which would mean the last element).
        full["starts"][a], full["ends"][a], full["steps"][a] = s, (-x[a] - 1 if e < 0 else e), st
    node.attrs.update(full)
    set_out(node, 0, in_dtype(node, 0), out)


def clamp_slice(dim: Dim, start: Dim, end: Dim, step: int) -> tuple[Dim, Dim]:
    """ONNX Slice clamping: the effective first index and (exclusive) end for one axis. Symbolic
    sizes work where their bounds decide the signs (a symbol is >= its lower bound, >= 1 by default)."""
    start = start + dim if start < 0 else start
    end = end + dim if end < 0 else end
    if step > 0:
        return smin(smax(start, 0), dim), smin(smax(end, 0), dim)
    return smin(smax(start, 0), dim - 1), smin(smax(end, -1), dim - 1)


def _list_attr(node: Node, key: str) -> list[int] | None:
    v = node.attrs.get(key)
    return None if v is None else [int(i) for i in v]


@shape_rule("Expand")
def _expand(node: Node, graph: Graph) -> None:
    x = in_shape(node, 0)
    shape = ints_param(node, 1, "shape")
    out = broadcast(node, x, shape or [], graph=graph)
    node.attrs["shape"] = list(out)
    set_out(node, 0, in_dtype(node, 0), out)


@shape_rule("Tile")
def _tile(node: Node, graph: Graph) -> None:
    x = in_shape(node, 0)
    repeats = ints_param(node, 1, "repeats") or []
    if len(repeats) != len(x) or min(repeats, default=0) < 0:
        raise fail(node, f"repeats {repeats} must be {len(x)} non-negative counts")
    node.attrs["repeats"] = repeats
    set_out(node, 0, in_dtype(node, 0), [d * r for d, r in zip(x, repeats, strict=True)])


@shape_rule("Pad")
def _pad(node: Node, graph: Graph) -> None:
    defaults(node, mode="constant")
    x, dt = in_shape(node, 0), in_dtype(node, 0)
    rank = len(x)
    if len(node.inputs) > 1:  # opset 11+: pads, constant_value, axes inputs
        pads = ints_param(node, 1) or []
        value = scalar_param(node, 2)
        axes = ints_param(node, 3)
    else:  # opset 2: attributes
        pads = _list_attr(node, "pads") or _list_attr(node, "paddings") or []
        value, axes = node.attrs.get("value"), None
    node.attrs.pop("paddings", None)
    axes = list(range(rank)) if axes is None else [a + rank if a < 0 else a for a in axes]
    norm_axes(node, axes, rank)
    if len(pads) != 2 * len(axes):
        raise fail(node, f"pads {pads} must hold 2 values per padded axis ({len(axes)})")
    full = [0] * (2 * rank)
    for j, a in enumerate(axes):
        full[a], full[a + rank] = pads[j], pads[j + len(axes)]
    mode = str(node.attrs["mode"])
    if mode not in PAD_MODES:
        raise unsupported(node, graph, f"mode '{mode}' (supported: {', '.join(PAD_MODES)})")
    out = [d + full[i] + full[i + rank] for i, d in enumerate(x)]
    if any(bounds(d)[0] < 0 for d in out):  # a symbolic axis: at its smallest allowed size
        raise fail(node, f"pads {full} crop more than the input {x} holds (at its smallest size)")
    _check_pad_mode(node, mode, x, full)
    node.attrs.update(pads=full, mode=mode, value=py_scalar(0 if value is None else value, dt))
    set_out(node, 0, dt, out)


def _check_pad_mode(node: Node, mode: str, x: tuple[int, ...], pads: list[int]) -> None:
    rank = len(x)
    for i, d in enumerate(x):
        grow = max(pads[i], pads[i + rank])
        if mode == "reflect" and grow > 0 and grow > d - 1:
            raise fail(node, f"reflect padding {grow} needs an axis longer than {grow} (axis {i} has {d})")
        if mode in ("edge", "wrap") and grow > 0 and d == 0:
            raise fail(node, f"{mode} padding of the empty axis {i}")


# --- conversion-time ops -------------------------------------------------------------------
# These rules only compute shapes: their inputs stay inputs so constant folding
# (onnx.reference, which needs the ONNX form) can evaluate them.


@shape_rule("CenterCropPad")
def _center_crop_pad(node: Node, graph: Graph) -> None:
    """Canonical: `shape` (the target length of each of `axes`, from the constant input) and
    `axes` (every axis by default, non-negative). passes/decompose.py makes it a Slice and a Pad."""
    x = in_shape(node, 0)
    take_const_input(node, 1, "shape")
    trim_inputs(node)
    shape = node.attrs.get("shape")
    axes = [norm_axis(node, int(a), len(x)) for a in node.attrs.get("axes", range(len(x)))]
    if not isinstance(shape, list) or len(shape) != len(axes) or any(s < 0 for s in shape):
        raise fail(node, f"shape {shape!r} must be one non-negative length per axis {axes}")
    node.attrs["axes"] = axes
    out = list(x)
    for a, s in zip(axes, shape, strict=True):
        out[a] = int(s)
    set_out(node, 0, in_dtype(node, 0), out)


@shape_rule("Shape")
def _shape(node: Node, graph: Graph) -> None:
    rank = len(in_shape(node, 0))
    start = int(node.attrs.get("start", 0))
    end = int(node.attrs.get("end", rank))
    start = min(max(start + rank if start < 0 else start, 0), rank)
    end = min(max(end + rank if end < 0 else end, 0), rank)
    set_out(node, 0, DType.INT64, [max(end - start, 0)])


@shape_rule("Size")
def _size(node: Node, graph: Graph) -> None:
    in_shape(node, 0)
    set_out(node, 0, DType.INT64, [])


@shape_rule("ConstantOfShape")
def _constant_of_shape(node: Node, graph: Graph) -> None:
    shape = const_input(node, 0)
    if shape is None:
        raise fail(node, "input 'shape' is required")
    value = node.attrs.get("value")
    dt = DType.FLOAT32 if value is None else DType.from_numpy(np.asarray(value).dtype)
    dims = [int(d) for d in shape.reshape(-1)]
    if min(dims, default=0) < 0:
        raise fail(node, f"shape {dims} has a negative dim")
    set_out(node, 0, dt, dims)


@shape_rule("Range")
def _range(node: Node, graph: Graph) -> None:
    all_inputs(node, 3)
    vals = [const_input(node, i) for i in range(3)]
    start, limit, delta = (np.asarray(v).reshape(-1)[0].item() for v in vals)
    if delta == 0:
        raise fail(node, "delta must not be 0")
    n = max(math.ceil((limit - start) / delta), 0)
    dt = in_dtype(node, 0)
    if dt not in FLOATS:  # exact for integers
        n = max(-(-(int(limit) - int(start)) // int(delta)), 0)
    set_out(node, 0, dt, [n])
