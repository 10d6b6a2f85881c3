"""Indexing rules: Gather, GatherElements, GatherND, ScatterND, ScatterElements, OneHot, Trilu, CumSum, CumProd,
ReverseSequence, EyeLike.

Index tensors stay inputs (they are data, possibly computed at run time; kernels
handle negative indices). Canonical attributes:
  Gather/GatherElements  axis >= 0;  GatherND  batch_dims;  ScatterND  reduction;
  ScatterElements  axis >= 0, reduction (Scatter, its old name, becomes it)
  OneHot  depth, values = [off, on] (both inputs folded in), axis >= 0 (in the output)
  Trilu   upper, k;  CumSum / CumProd  axis >= 0, exclusive, reverse
  ReverseSequence  batch_axis, time_axis;  EyeLike  k, dtype (the output's, an ONNX type number)
ReverseSequence and EyeLike have no kernels: passes/decompose.py rewrites them (a GatherElements of
computed indices; a constant).
"""

from __future__ import annotations

import numpy as np

from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Node
from webdnn.ir.symbolic import is_static, symbol, symbol_name, symbols
from webdnn.ops._util import const_input, defaults, in_dtype, in_shape, norm_axis, set_out
from webdnn.ops.registry import shape_rule, unsupported
from webdnn.ops.tensor_common import (
    FLOATS,
    INTS,
    NUMERIC,
    all_inputs,
    check_dtype,
    const_array,
    fail,
    norm_axis_upto,
    py_scalar,
    scalar_param,
)

INDEX_TYPES = frozenset({DType.INT64, DType.INT32})
SCATTER_REDUCTIONS = ("none", "add", "mul", "max", "min")


def _check_const_indices(node: Node, i: int, dims: tuple[int, ...], what: str = "") -> None:
    """Constant indices (input i) must lie in [-dim, dim): a conversion error here, on every
    backend (at run time the fallback and wasm kernels raise, the GPU kernels can only clamp).
    `dims`: one dim for all indices, or one per position of the last axis (GatherND tuples)."""
    v = node.input(i)
    if v is None or v.const is None or v.const.size == 0 or not dims:
        return
    k = np.asarray(v.const, dtype=np.int64)
    d = np.asarray(dims, dtype=np.int64) if len(dims) > 1 else np.int64(dims[0])
    bad = (k < -d) | (k >= d)
    if bad.any():
        at = tuple(int(a) for a in np.argwhere(bad)[0])
        dim = int(np.broadcast_to(d, k.shape)[at])
        raise fail(node, f"constant {what or 'index'} {int(k[at])} at {list(at)} is out of range for a dim of {dim}"
                         f" (allowed: {-dim} to {dim - 1})")


@shape_rule("Gather")
def _gather(node: Node, graph: Graph) -> None:
    all_inputs(node, 2)
    defaults(node, axis=0)
    x, idx = in_shape(node, 0), in_shape(node, 1)
    check_dtype(node, graph, 1, INDEX_TYPES, "indices must be int32 or int64")
    axis = norm_axis(node, int(node.attrs["axis"]), len(x))
    node.attrs["axis"] = axis
    _check_const_indices(node, 1, (x[axis],))
    set_out(node, 0, in_dtype(node, 0), [*x[:axis], *idx, *x[axis + 1:]])


@shape_rule("GatherElements")
def _gather_elements(node: Node, graph: Graph) -> None:
    all_inputs(node, 2)
    defaults(node, axis=0)
    x, idx = in_shape(node, 0), in_shape(node, 1)
    check_dtype(node, graph, 1, INDEX_TYPES, "indices must be int32 or int64")
    axis = norm_axis(node, int(node.attrs["axis"]), len(x))
    if len(idx) != len(x):
        raise fail(node, f"indices rank {len(idx)} differs from data rank {len(x)}")
    node.attrs["axis"] = axis
    _check_const_indices(node, 1, (x[axis],))
    set_out(node, 0, in_dtype(node, 0), idx)


def _nd_layout(node: Node, x: tuple[int, ...], idx: tuple[int, ...], b: int) -> int:
    """Validate GatherND/ScatterND shapes; return k, the length of one index tuple."""
    if not idx or not 0 <= b < min(len(x), len(idx)):
        raise fail(node, f"batch_dims={b} does not fit data {x} and indices {idx}")
    k = idx[-1]
    if x[:b] != idx[:b] or k > len(x) - b:
        raise fail(node, f"indices {idx} do not fit data {x} with batch_dims={b}")
    return k


@shape_rule("GatherND")
def _gather_nd(node: Node, graph: Graph) -> None:
    all_inputs(node, 2)
    defaults(node, batch_dims=0)
    check_dtype(node, graph, 1, frozenset({DType.INT64}), "indices must be int64")
    x, idx = in_shape(node, 0), in_shape(node, 1)
    b = int(node.attrs["batch_dims"])
    k = _nd_layout(node, x, idx, b)
    _check_const_indices(node, 1, tuple(x[b:b + k]), "index tuple element")
    set_out(node, 0, in_dtype(node, 0), [*idx[:-1], *x[b + k:]])


@shape_rule("ScatterND")
def _scatter_nd(node: Node, graph: Graph) -> None:
    all_inputs(node, 3)
    defaults(node, reduction="none")
    if node.attrs["reduction"] not in SCATTER_REDUCTIONS:
        raise unsupported(node, graph, f"reduction '{node.attrs['reduction']}'")
    check_dtype(node, graph, 1, frozenset({DType.INT64}), "indices must be int64")
    x, idx, upd = in_shape(node, 0), in_shape(node, 1), in_shape(node, 2)
    k = _nd_layout(node, x, idx, 0)
    if tuple(upd) != (*idx[:-1], *x[k:]) or in_dtype(node, 2) != in_dtype(node, 0):
        raise fail(node, f"updates {upd} must have shape {(*idx[:-1], *x[k:])} and the data's type")
    _check_const_indices(node, 1, tuple(x[:k]), "index tuple element")
    set_out(node, 0, in_dtype(node, 0), x)


@shape_rule("ScatterElements", "Scatter")
def _scatter_elements(node: Node, graph: Graph) -> None:
    """ScatterElements (and its opset 9-10 name Scatter): data with each update written (or reduced) at
    its own position, the index replacing its coordinate along `axis`; duplicates apply in order."""
    all_inputs(node, 3)
    defaults(node, axis=0, reduction="none")
    if node.attrs["reduction"] not in SCATTER_REDUCTIONS:
        raise unsupported(node, graph, f"reduction '{node.attrs['reduction']}'")
    check_dtype(node, graph, 1, INDEX_TYPES, "indices must be int32 or int64")
    x, idx, upd = in_shape(node, 0), in_shape(node, 1), in_shape(node, 2)
    axis = norm_axis(node, int(node.attrs["axis"]), len(x))
    if len(idx) != len(x) or tuple(upd) != tuple(idx) or in_dtype(node, 2) != in_dtype(node, 0):
        raise fail(node, f"indices {idx} and updates {upd} must have one shape of the data's rank {len(x)}, "
                         "and updates the data's type")
    if any(i > d for i, d in zip(idx, x, strict=True)):
        raise fail(node, f"indices {idx} exceed the data {x}")
    node.op_type = "ScatterElements"
    node.attrs.update(axis=axis)
    _check_const_indices(node, 1, (x[axis],))
    set_out(node, 0, in_dtype(node, 0), x)


@shape_rule("OneHot")
def _one_hot(node: Node, graph: Graph) -> None:
    defaults(node, axis=-1)
    idx = in_shape(node, 0)
    check_dtype(node, graph, 0, NUMERIC, "indices must be numeric")
    if len(node.inputs) > 1:
        all_inputs(node, 3)
        depth, values = scalar_param(node, 1), const_input(node, 2)
        if depth is None or values is None or values.size != 2:
            raise fail(node, "depth must be a scalar and values a 2-element tensor")
        dt = DType.from_numpy(values.dtype)
        const_array(node, 2)
        node.attrs["depth"] = int(depth)
        node.attrs["values"] = [py_scalar(v, dt) for v in values.reshape(-1).tolist()]
    elif "depth" in node.attrs and node.outputs[0].dtype is not None:  # already canonical
        dt = node.outputs[0].dtype
    else:
        raise fail(node, "inputs depth and values are required")
    depth = int(node.attrs["depth"])
    if depth < 0:
        raise fail(node, f"depth {depth} is negative")
    axis = norm_axis_upto(node, int(node.attrs["axis"]), len(idx) + 1, len(idx))
    node.attrs["axis"] = axis
    set_out(node, 0, dt, [*idx[:axis], depth, *idx[axis:]])


@shape_rule("Trilu")
def _trilu(node: Node, graph: Graph) -> None:
    defaults(node, upper=1, k=0)
    x = in_shape(node, 0)
    if len(x) < 2:
        raise fail(node, f"input rank {len(x)} is below 2")
    k = scalar_param(node, 1)
    if k is not None:
        node.attrs["k"] = int(k)
    node.attrs["upper"] = int(node.attrs["upper"])
    set_out(node, 0, in_dtype(node, 0), x)


MAX_DET_SIZE = 5  # Det is written out as the Leibniz sum (passes/decompose.py): n! products of n entries


@shape_rule("Det")
def _det(node: Node, graph: Graph) -> None:
    x = in_shape(node, 0)
    if len(x) < 2:
        raise fail(node, f"input rank {len(x)} is below 2")
    check_dtype(node, graph, 0, FLOATS, "Det takes float tensors")
    n, m = x[-2], x[-1]
    if not isinstance(n, int) or n != m:
        raise fail(node, f"the last two dims {x[-2:]} must be equal (square matrices)")
    if n > MAX_DET_SIZE:
        raise unsupported(node, graph, f"Det of {n}x{n} matrices (up to {MAX_DET_SIZE}x{MAX_DET_SIZE}: it is written "
                                       "out as the sum over permutations)")
    set_out(node, 0, in_dtype(node, 0), x[:-2])


@shape_rule("CumSum", "CumProd")
def _cumsum(node: Node, graph: Graph) -> None:
    defaults(node, exclusive=0, reverse=0)
    x = in_shape(node, 0)
    check_dtype(node, graph, 0, FLOATS | INTS, f"{node.op_type} takes numeric tensors")
    axis = scalar_param(node, 1) if len(node.inputs) > 1 else node.attrs.get("axis")
    if axis is None:
        raise fail(node, "input 'axis' is required")
    node.attrs["axis"] = norm_axis(node, int(axis), len(x))
    set_out(node, 0, in_dtype(node, 0), x)


@shape_rule("ReverseSequence")
def _reverse_sequence(node: Node, graph: Graph) -> None:
    defaults(node, batch_axis=1, time_axis=0)
    all_inputs(node, 2)
    x, lens = in_shape(node, 0), in_shape(node, 1)
    check_dtype(node, graph, 1, INDEX_TYPES, "sequence_lens must be int32 or int64")
    b, t = int(node.attrs["batch_axis"]), int(node.attrs["time_axis"])
    if len(x) < 2 or {b, t} != {0, 1}:
        raise fail(node, f"batch_axis {b} and time_axis {t} must be 0 and 1 (in either order) of a tensor of rank "
                         f">= 2, got rank {len(x)}")
    if len(lens) != 1 or lens[0] != x[b]:
        raise fail(node, f"sequence_lens has shape {lens}; it needs one length per batch element ({x[b]})")
    node.attrs.update(batch_axis=b, time_axis=t)
    set_out(node, 0, in_dtype(node, 0), x)


@shape_rule("EyeLike")
def _eye_like(node: Node, graph: Graph) -> None:
    defaults(node, k=0)
    x = in_shape(node, 0)
    if len(x) != 2:
        raise fail(node, f"input rank {len(x)}; EyeLike takes a 2-D tensor")
    try:
        dt = DType.from_onnx(int(node.attrs["dtype"])) if "dtype" in node.attrs else in_dtype(node, 0)
    except ValueError as e:
        raise unsupported(node, graph, f"output {e}") from None
    node.attrs.update(k=int(node.attrs["k"]), dtype=dt.to_onnx())
    set_out(node, 0, dt, x)


def count_symbol_name(graph: Graph, node: Node) -> str:
    """A new symbol's name for the element count `node` finds at run time (its output's name, made a
    symbol name, unique in the graph's symbols)."""
    base = symbol_name(node.outputs[0].name)
    taken = {s.name for v in graph.values() for d in (v.shape or ()) for s in symbols(d)}
    name, k = f"{base}.count", 1
    while name in taken:
        k += 1
        name = f"{base}.count{k}"
    return name


@shape_rule("NonZero")
def _nonzero(node: Node, graph: Graph) -> None:
    """The indices of the non-zero elements, int64 [rank, count]. A constant input folds at conversion;
    otherwise count depends on the data: a symbol of its own, 0 <= count <= the input's size, that the
    runtime binds when it computes NonZero between two stages (passes/runtime_control.py)."""
    all_inputs(node, 1)
    check_dtype(node, graph, 0, NUMERIC | frozenset({DType.BOOL}), "NonZero takes numeric or bool tensors")
    x = in_shape(node, 0)
    if not is_static(x):
        raise fail(node, f"its input has a size that varies with the model's inputs ({list(x)}); NonZero runs "
                         "only on inputs of fixed size yet: fix the dims with --input-shape")
    size = int(np.prod(x, dtype=np.int64))
    set_out(node, 0, DType.INT64, [len(x), symbol(count_symbol_name(graph, node), 0, size)])


@shape_rule("NonMaxSuppression")
def _nms(node: Node, graph: Graph) -> None:
    """selected_indices, int64 [count, 3] (batch, class, box): how many boxes survive depends on the data,
    so count is a symbol of its own (0 <= count <= batches x classes x boxes, or x max_output_boxes_per_class
    when that is a constant), bound when the runtime computes NonMaxSuppression between two stages
    (passes/runtime_control.py). The thresholds may be constants or computed."""
    defaults(node, center_point_box=0)
    if int(node.attrs["center_point_box"]) not in (0, 1):
        raise fail(node, f"center_point_box must be 0 or 1, got {node.attrs['center_point_box']}")
    boxes, scores = in_shape(node, 0), in_shape(node, 1)
    for i, what in ((0, "boxes"), (1, "scores")):
        check_dtype(node, graph, i, frozenset({DType.FLOAT32}), f"{what} must be float32")
    if not is_static(boxes) or not is_static(scores):
        raise fail(node, "its boxes or scores have a size that varies with the model's inputs; NonMaxSuppression "
                         "runs only on inputs of fixed size yet: fix the dims with --input-shape")
    if len(boxes) != 3 or boxes[2] != 4 or len(scores) != 3 or scores[0] != boxes[0] or scores[2] != boxes[1]:
        raise fail(node, f"boxes {list(boxes)} must be [batches, boxes, 4] and scores {list(scores)} "
                         "[batches, classes, boxes]")
    per_class = int(boxes[1])
    m = node.input(2)
    if m is not None and m.const is not None and np.asarray(m.const).size == 1:
        per_class = min(per_class, max(int(np.asarray(m.const).reshape(-1)[0]), 0))
    bound = int(boxes[0]) * int(scores[1]) * per_class
    set_out(node, 0, DType.INT64, [symbol(count_symbol_name(graph, node), 0, bound), 3])


@shape_rule("Compress")
def _compress(node: Node, graph: Graph) -> None:
    """The slices of x (along `axis`; of x flattened without one) where the 1-D condition is true; a
    condition shorter than the axis counts as false beyond its end. A constant condition gives a fixed size
    (passes/decompose.py then writes a Gather); a computed one a count symbol of its own, bound when the
    runtime computes Compress between two stages (passes/runtime_control.py)."""
    all_inputs(node, 2)
    check_dtype(node, graph, 1, frozenset({DType.BOOL}), "its condition must be bool")
    x, c = in_shape(node, 0), in_shape(node, 1)
    if len(c) != 1:
        raise fail(node, f"its condition must be 1-D, got shape {list(c)}")
    axis = node.attrs.get("axis")
    if axis is not None:
        axis = norm_axis(node, int(axis), len(x))
        node.attrs["axis"] = axis
    if not is_static(x) or not is_static(c):
        raise fail(node, "its input has a size that varies with the model's inputs; Compress runs only on inputs "
                         "of fixed size yet: fix the dims with --input-shape")
    n = int(np.prod(x, dtype=np.int64)) if axis is None else int(x[axis])
    if int(c[0]) > n:
        raise fail(node, f"its condition has {c[0]} elements, more than the {n} it selects from")
    cond = node.inputs[1].const if node.inputs[1] is not None else None
    count = int(np.count_nonzero(cond)) if cond is not None else symbol(count_symbol_name(graph, node), 0, int(c[0]))
    set_out(node, 0, in_dtype(node, 0) or DType.FLOAT32, [count] if axis is None else
            [*x[:axis], count, *x[axis + 1:]])


@shape_rule("Unique")
def _unique(node: Node, graph: Graph) -> None:
    """Y (the unique elements, or slices along `axis`), indices (each one's first occurrence), inverse_indices
    (each element's or slice's position in Y) and counts. How many are unique depends on the data: a count
    symbol of its own (1 <= count <= the elements or slices, 0 for an empty input), bound when the runtime
    computes Unique between two stages (passes/runtime_control.py). A constant input folds at conversion."""
    all_inputs(node, 1)
    defaults(node, sorted=1)
    check_dtype(node, graph, 0, NUMERIC, "Unique takes numeric tensors")
    x = in_shape(node, 0)
    if not is_static(x):
        raise fail(node, "its input has a size that varies with the model's inputs; Unique runs only on inputs "
                         "of fixed size yet: fix the dims with --input-shape")
    axis = node.attrs.get("axis")
    if axis is not None:
        axis = norm_axis(node, int(axis), len(x))
        node.attrs["axis"] = axis
    n = int(np.prod(x, dtype=np.int64)) if axis is None else int(x[axis])
    count = symbol(count_symbol_name(graph, node), min(n, 1), n)
    set_out(node, 0, in_dtype(node, 0) or DType.FLOAT32, [count] if axis is None else
            [*x[:axis], count, *x[axis + 1:]])
    for i, size in ((1, count), (2, n), (3, count)):
        if i < len(node.outputs):
            set_out(node, i, DType.INT64, [size])
