"""Decompose ops that have no kernel of their own into ops every backend runs.

Einsum: Transposes, Reshapes, ReduceSums and MatMuls (decompose_einsum.py). DFT and STFT: MatMuls with
constant cosine/sine matrices (decompose_signal.py). The quantization ops: Casts and float arithmetic
around the float32 MatMul/Conv (decompose_quant.py).

LSTM, GRU, RNN: unrolled over the sequence (decompose_recurrent.py) by each backend's own pass
(listed in its `passes`), not here, so that a backend with a native kernel (wasm's LSTM) keeps them.

AffineGrid: a MatMul of the constant base grid (normalized coordinates and a 1 per output
position) with theta transposed. GroupNormalization: InstanceNormalization over the input viewed
as (N, groups, rest), then the per-channel scale and bias. CenterCropPad: a Slice and a Pad.
RoiAlign: Gathers of bilinear taps at coordinates computed from the rois (below). ReverseSequence:
a GatherElements of computed time indices. SpaceToDepth in CRD order: Reshapes around a Transpose.
MaxPool with its Indices: a gather of the windows, ReduceMax and ArgMax. Det (up to 5 x 5): the sum over
permutations. EyeLike: a
constant. MaxUnpool and Col2Im: ScatterElements
into zeros (Col2Im's index map constant, its overlapping blocks added).

GridSample: its coordinate math (unnormalizing, border clamping or reflection, the taps of
nearest / linear / cubic interpolation and their weights, zero padding) is written once below
as expressions (ops/expr.py) and emitted as elementwise nodes; the samples are read by
GatherElements on the input viewed as (N, C, prod(spatial)), one gather per tap combination,
weighted and summed. Semantics are PyTorch's grid_sample, as onnxruntime implements it (ONNX's
reference implementation also clamps the coordinate before taking cubic taps under border
padding; PyTorch and onnxruntime clamp only the taps): the grid's last axis lists coordinates
in reverse spatial order (x = width first). A constant
grid (AffineGrid of a constant theta, for instance) folds to constant indices and weights.

Runs right after infer_shapes; the new nodes are folded or typed as that pass does.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np

from webdnn.ir.graph import Graph, Node
from webdnn.ops import expr as E
from webdnn.ops.expr import Expr
from webdnn.ops.registry import infer_node
from webdnn.passes.decompose_einsum import decompose_einsum
from webdnn.passes.decompose_quant import DEFERRED, QUANT_DECOMPOSITIONS
from webdnn.passes.decompose_recurrent import RECURRENT, decompose_recurrent
from webdnn.passes.decompose_signal import decompose_dft, decompose_stft
from webdnn.passes.expr_nodes import NodeEmitter, TypedEmitter
from webdnn.passes.fold_constants import fold_node

CUBIC_A = -0.75  # the reference's (and PyTorch's) Keys coefficient


def _reflect(x: Expr, lo: float, hi: float) -> Expr:
    """x reflected at the borders lo and hi until it is within them (any number of times)."""
    span = hi - lo

    def steps(dx: Expr) -> tuple[Expr, Expr]:  # (is the number of whole spans even, the rest)
        n = E.floor(dx / span)
        return E.eq(n - 2.0 * E.floor(n * 0.5), 0.0), dx - n * span

    even_b, rb = steps(lo - x)
    below = E.where(even_b, lo + rb, hi - rb)
    even_a, ra = steps(x - hi)
    above = E.where(even_a, hi - ra, lo + ra)
    return E.where(x < lo, below, E.where(x > hi, above, x))


def _trunc(x: Expr) -> Expr:
    return E.where(x < 0.0, E.ceil(x), E.floor(x))


def _cubic(t: Expr) -> list[Expr]:
    a = CUBIC_A
    return [
        ((a * (t + 1.0) - 5.0 * a) * (t + 1.0) + 8.0 * a) * (t + 1.0) - 4.0 * a,
        ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0,
        ((a + 2.0) * (1.0 - t) - (a + 3.0)) * (1.0 - t) * (1.0 - t) + 1.0,
        ((a * (2.0 - t) - 5.0 * a) * (2.0 - t) + 8.0 * a) * (2.0 - t) - 4.0 * a,
    ]


def grid_sample_taps(g: Expr, size: int, mode: str, padding: str, align: bool) -> list[tuple[Expr, Expr]]:
    """The (source index, weight) taps along one spatial axis of `size` elements for the
    normalized grid coordinate `g`: 1 tap (nearest), 2 (linear) or 4 (cubic). Indices are
    within [0, size); a tap outside the input under zero padding gets weight 0."""
    lo, hi = (0.0, size - 1.0) if align else (-0.5, size - 0.5)
    x = (g + 1.0) * 0.5 * (size - 1.0) if align else ((g + 1.0) * size - 1.0) * 0.5
    if mode == "nearest":
        x = E.round_even(x)
    if padding == "border" and mode != "cubic":  # cubic clamps each tap instead (PyTorch, onnxruntime)
        inside = E.clamp(x, 0.0, size - 1.0)
        x = E.where(x < lo, inside, E.where(x > hi, inside, x))
    elif padding == "reflection":
        x = _reflect(x, lo, hi)

    def pixel(i: Expr, w: Expr) -> tuple[Expr, Expr]:
        if padding == "zeros":
            valid = E.where(i >= 0.0, E.where(i < float(size), 1.0, 0.0), 0.0)
            return E.clamp(i, 0.0, size - 1.0), w * valid
        if padding == "reflection":
            i = _trunc(_reflect(i, lo, hi))
        return E.clamp(i, 0.0, size - 1.0), w

    if mode == "nearest":
        return [pixel(_trunc(x), E.c(1.0))]
    x0 = E.floor(x)
    t = x - x0
    if mode == "linear":
        return [pixel(x0, 1.0 - t), pixel(x0 + 1.0, t)]
    return [pixel(x0 + float(k - 1), w) for k, w in enumerate(_cubic(t))]


def _grid_sample(graph: Graph, node: Node) -> list[Node]:
    x, grid = node.inputs[0], node.inputs[1]
    y = node.outputs[0]
    assert x is not None and grid is not None and x.shape is not None and grid.shape is not None
    n, c, *spatial = x.shape
    out_spatial = grid.shape[1:-1]
    d, m, p = len(spatial), math.prod(out_spatial), math.prod(spatial)
    em = NodeEmitter(graph, [], node, node.name)
    flat_grid = em.node("Reshape", [grid, em.const([n, m, d], np.int64)])
    # spatial axis i reads the grid's component d - 1 - i (x = the last axis first)
    em.inputs = [em.node("Gather", [flat_grid, em.const(d - 1 - i, np.int64)], {"axis": 2}) for i in range(d)]
    taps = [grid_sample_taps(E.x(i), size, node.attrs["mode"], node.attrs["padding_mode"],
                             bool(node.attrs["align_corners"])) for i, size in enumerate(spatial)]
    strides = [math.prod(spatial[i + 1:]) for i in range(d)]
    flat_x = em.node("Reshape", [x, em.const([n, c, p], np.int64)])
    total = None
    for combo in itertools.product(*taps):
        index: Expr = E.c(0.0)
        weight: Expr = E.c(1.0)
        for (i, w), s in zip(combo, strides, strict=True):
            index = index + i * float(s)  # exact in float32: p < 2^24 is checked below
            weight = weight * w
        idx = em.node("Cast", [em.emit(index)], {"to": 7})  # int64
        idx = em.node("Expand", [em.node("Unsqueeze", [idx, em.const([1], np.int64)]), em.const([n, c, m], np.int64)])
        sample = em.node("GatherElements", [flat_x, idx], {"axis": 2})
        if weight.const == 1.0:  # nearest
            term = sample
        else:
            term = em.node("Mul", [sample, em.node("Unsqueeze", [em.emit(weight), em.const([1], np.int64)])])
        total = term if total is None else em.node("Add", [total, term])
    assert total is not None
    out = graph.add_node("Reshape", [total, em.const([n, c, *out_spatial], np.int64)], [y], name=node.name,
                         before=node)
    graph.remove_node(node)
    y.producer = out
    return [*em.nodes, out]


def _replace(graph: Graph, node: Node, em: NodeEmitter, op: str, inputs: list, attrs: dict) -> list[Node]:  # type: ignore[type-arg]
    """The last node of a decomposition writes the original output (same value, same name)."""
    y = node.outputs[0]
    last = graph.add_node(op, inputs, [y], attrs, name=node.name, before=node)
    graph.remove_node(node)
    y.producer = last
    return [*em.nodes, last]


def _linspace(n: int, align: bool) -> np.ndarray:
    """The normalized coordinates of n positions (pixel centers, or corners with align)."""
    if align:
        return np.linspace(-1.0, 1.0, n) if n > 1 else np.zeros(1)
    return (2.0 * np.arange(n) + 1.0) / n - 1.0


def _affine_grid(graph: Graph, node: Node) -> list[Node]:
    theta = node.inputs[0]
    size = [int(s) for s in node.attrs["size"]]
    n, spatial = size[0], size[2:]
    d = len(spatial)
    axes = [_linspace(s, bool(node.attrs["align_corners"])) for s in spatial]
    mesh = np.meshgrid(*axes, indexing="ij")  # spatial order (D, H, W); the grid lists W first
    base = np.stack([*(m.reshape(-1) for m in reversed(mesh)), np.ones(mesh[0].size)], axis=1)
    em = NodeEmitter(graph, [], node, node.name)
    t = em.node("Transpose", [theta], {"perm": [0, 2, 1]})  # (N, d + 1, d)
    flat = em.node("MatMul", [em.const(base.astype(np.float32)), t])  # (N, prod(spatial), d)
    return _replace(graph, node, em, "Reshape", [flat, em.const([n, *spatial, d], np.int64)], {})


def _group_norm(graph: Graph, node: Node) -> list[Node]:
    x, scale, bias = node.inputs[0], node.inputs[1], node.inputs[2]
    assert x is not None and x.shape is not None and scale is not None and bias is not None
    n, c = x.shape[0], x.shape[1]
    g = int(node.attrs["num_groups"])
    em = NodeEmitter(graph, [], node, node.name)
    grouped = em.node("Reshape", [x, em.const([n, g, -1], np.int64)])
    ones, zeros = em.const(np.ones(g, np.float32)), em.const(np.zeros(g, np.float32))
    normed = em.node("InstanceNormalization", [grouped, ones, zeros], {"epsilon": node.attrs["epsilon"]})
    back = em.node("Reshape", [normed, em.const(list(x.shape), np.int64)])
    per_channel = [1] * (len(x.shape) - 2)

    def channel(v):  # type: ignore[no-untyped-def]
        if v.shape == (g,) and g != c:  # opset 18: one value per group, repeated for its channels
            v = em.node("Expand", [em.node("Reshape", [v, em.const([g, 1], np.int64)]),
                                   em.const([g, c // g], np.int64)])
        return em.node("Reshape", [v, em.const([c, *per_channel], np.int64)])

    scaled = em.node("Mul", [back, channel(scale)])
    return _replace(graph, node, em, "Add", [scaled, channel(bias)], {})


def _rms_norm(graph: Graph, node: Node) -> list[Node]:
    """X / sqrt(ReduceMean(X·X over axis..) + epsilon) · scale (the fusion passes of the GPU backends
    make it one or two kernels)."""
    x, scale = node.inputs[0], node.inputs[1]
    assert x is not None and x.shape is not None and scale is not None
    axis = int(node.attrs["axis"])
    em = NodeEmitter(graph, [], node, node.name)
    sq = em.node("Mul", [x, x])
    mean = em.node("ReduceMean", [sq, em.const(list(range(axis, len(x.shape))), np.int64)], {"keepdims": 1})
    rms = em.node("Sqrt", [em.node("Add", [mean, em.const(np.float32(node.attrs["epsilon"]))])])
    return _replace(graph, node, em, "Mul", [em.node("Div", [x, rms]), scale], {})


def _lp_pool(graph: Graph, node: Node) -> list[Node]:
    """(AveragePool(|x|^p, pads counted) · window size)^(1/p): the window's sum of |x|^p, rooted."""
    x = node.inputs[0]
    assert x is not None
    p = int(node.attrs["p"])
    em = NodeEmitter(graph, [], node, node.name)
    ax = em.node("Abs", [x])
    powered = ax if p == 1 else em.node("Pow", [ax, em.const(np.float32(p))])
    attrs = {k: v for k, v in node.attrs.items() if k != "p"}
    attrs["count_include_pad"] = 1
    mean = em.node("AveragePool", [powered], attrs)
    total = em.node("Mul", [mean, em.const(np.float32(math.prod(int(k) for k in node.attrs["kernel_shape"])))])
    if p == 1:
        return _replace(graph, node, em, "Identity", [total], {})
    return _replace(graph, node, em, "Pow", [total, em.const(np.float32(1.0 / p))], {})


def _center_crop_pad(graph: Graph, node: Node) -> list[Node]:
    x = node.inputs[0]
    assert x is not None and x.shape is not None
    starts, ends, axes, pads_begin, pads_end = [], [], [], [0] * len(x.shape), [0] * len(x.shape)
    for a, target in zip(node.attrs["axes"], node.attrs["shape"], strict=True):
        dim = x.shape[a]
        if target < dim:  # crop: the extra element of an odd difference comes off the end
            starts.append((dim - target) // 2)
            ends.append((dim - target) // 2 + target)
            axes.append(a)
        elif target > dim:  # pad with zeros, likewise
            pads_begin[a] = (target - dim) // 2
            pads_end[a] = target - dim - pads_begin[a]
    em = NodeEmitter(graph, [], node, node.name)
    v = x
    if axes:
        v = em.node("Slice", [v, em.const(starts, np.int64), em.const(ends, np.int64), em.const(axes, np.int64)])
    if not any(pads_begin) and not any(pads_end):
        return _replace(graph, node, em, "Identity", [v], {})
    return _replace(graph, node, em, "Pad", [v, em.const(pads_begin + pads_end, np.int64)], {"mode": "constant"})


def _compress(graph: Graph, node: Node) -> list[Node]:
    """Compress with a constant condition: a Gather of the true positions (of x flattened without an axis).
    A computed condition stays for the runtime (runtime_control.HOST_OPS)."""
    x, cond = node.inputs[0], node.inputs[1]
    assert x is not None and cond is not None
    if cond.const is None:
        return []
    em = NodeEmitter(graph, [], node, node.name)
    axis = node.attrs.get("axis")
    if axis is None:
        x = em.node("Reshape", [x, em.const([-1], np.int64)])
    where = np.flatnonzero(np.asarray(cond.const)).astype(np.int64)
    return _replace(graph, node, em, "Gather", [x, em.const(where, np.int64)], {"axis": int(axis or 0)})


def _bilinear_axis(v: Expr, size: int) -> tuple[Expr, Expr, Expr, Expr, Expr]:
    """RoiAlign's taps along one axis at coordinate `v` (onnxruntime's rule): (whether the sample counts,
    low index, high index, low weight, high weight). A sample beyond [-1, size] counts 0; below 0 it
    reads index 0; at or past the last element it reads the last one with weight 1."""
    inside = E.where(v < -1.0, 0.0, E.where(v > float(size), 0.0, 1.0))
    v = E.maximum(v, 0.0)
    low = E.floor(v)
    edge = low >= float(size - 1)
    low = E.where(edge, float(size - 1), low)
    high = E.where(edge, float(size - 1), low + 1.0)
    frac = E.where(edge, 0.0, v - low)
    return inside, low, high, 1.0 - frac, frac


def _roi_align(graph: Graph, node: Node) -> list[Node]:
    """RoiAlign as onnxruntime computes it: per roi, output bin and sample (sampling_ratio^2 per bin, at
    the bins' regular sub-grid), the bilinear taps of X at computed coordinates, read by a Gather of X
    flattened (indices exact in float32: N*C*H*W < 2^24 is checked by the caller); avg mode sums the
    weighted taps and divides by the sample count, max mode takes the largest weighted tap of each sample
    and then of the bin. Axes: (roi, channel, bin y, bin x, sample y, sample x)."""
    x, rois, batch = node.inputs[0], node.inputs[1], node.inputs[2]
    assert x is not None and rois is not None and batch is not None and x.shape is not None
    n, c, h, w = (int(d) for d in x.shape)
    oh, ow, ratio = (int(node.attrs[k]) for k in ("output_height", "output_width", "sampling_ratio"))
    half_pixel = node.attrs["coordinate_transformation_mode"] == "half_pixel"
    scale = float(node.attrs["spatial_scale"])
    em = NodeEmitter(graph, [], node, node.name)
    per_roi = em.const([-1, 1, 1, 1, 1, 1], np.int64)
    corners = [em.node("Reshape", [em.node("Gather", [rois, em.const(i, np.int64)], {"axis": 1}), per_roi])
               for i in range(4)]
    b = em.node("Reshape", [em.node("Cast", [batch], {"to": 1}), per_roi])
    sub = (np.arange(ratio) + 0.5) / ratio  # a sample's place in its bin, in bins
    bin_y = (np.arange(oh)[:, None] + sub[None, :]).reshape(1, 1, oh, 1, ratio, 1)
    bin_x = (np.arange(ow)[:, None] + sub[None, :]).reshape(1, 1, 1, ow, 1, ratio)
    chan = np.arange(c, dtype=np.float32).reshape(1, c, 1, 1, 1, 1)
    em.inputs = [*corners, b, em.const(bin_y), em.const(bin_x), em.const(chan)]
    x1, y1, x2, y2, bi, gy, gx, ch = (E.x(i) for i in range(8))
    offset = 0.5 if half_pixel else 0.0
    start_x, start_y = x1 * scale - offset, y1 * scale - offset
    roi_w, roi_h = x2 * scale - offset - start_x, y2 * scale - offset - start_y
    if not half_pixel:  # output_half_pixel (opset 10's only behaviour) makes a roi at least 1 x 1
        roi_w, roi_h = E.maximum(roi_w, 1.0), E.maximum(roi_h, 1.0)
    in_y, y_lo, y_hi, wy_lo, wy_hi = _bilinear_axis(start_y + gy * (roi_h / float(oh)), h)
    in_x, x_lo, x_hi, wx_lo, wx_hi = _bilinear_axis(start_x + gx * (roi_w / float(ow)), w)
    base = (bi * float(c) + ch) * float(h)
    flat = em.node("Reshape", [x, em.const([-1], np.int64)])
    terms = []
    for yi, wy in ((y_lo, wy_lo), (y_hi, wy_hi)):
        for xi, wx in ((x_lo, wx_lo), (x_hi, wx_hi)):
            idx = em.node("Cast", [em.emit((base + yi) * float(w) + xi)], {"to": 7})  # int64
            weight = em.emit(wy * wx * in_y * in_x)
            terms.append(em.node("Mul", [em.node("Gather", [flat, idx], {"axis": 0}), weight]))
    axes = em.const([4, 5], np.int64)
    if node.attrs["mode"] == "max":
        best = em.node("Max", terms)
        return _replace(graph, node, em, "ReduceMax", [best, axes], {"keepdims": 0})
    total = em.node("ReduceSum", [em.node("Sum", terms), axes], {"keepdims": 0})
    return _replace(graph, node, em, "Mul", [total, em.const(1.0 / (ratio * ratio))], {})


def _reverse_sequence(graph: Graph, node: Node) -> list[Node]:
    """ReverseSequence: a GatherElements along the time axis of the index t' = len - 1 - t where t < len
    (the batch element's length), t elsewhere."""
    x, lens = node.inputs[0], node.inputs[1]
    assert x is not None and lens is not None and x.shape is not None
    b_axis, t_axis = int(node.attrs["batch_axis"]), int(node.attrs["time_axis"])
    rank, steps = len(x.shape), x.shape[t_axis]
    em = NodeEmitter(graph, [], node, node.name)
    on_batch = [1] * rank
    on_batch[b_axis] = -1
    length = em.node("Reshape", [em.node("Cast", [lens], {"to": 1}), em.const(on_batch, np.int64)])
    on_time = [1] * rank
    on_time[t_axis] = -1
    if isinstance(steps, int):
        t = em.const(np.arange(steps, dtype=np.float32).reshape(on_time))
    else:  # a symbolic length: Range up to the time axis's size
        count = em.node("Cast", [TypedEmitter(graph, node).shape([steps])], {"to": 1})
        t = em.node("Reshape", [em.node("Range", [em.const(0.0), em.node("Squeeze", [count]), em.const(1.0)]),
                                em.const(on_time, np.int64)])
    em.inputs = [length, t]
    src = E.where(E.x(1) < E.x(0), E.x(0) - 1.0 - E.x(1), E.x(1))
    idx = em.node("Cast", [em.emit(src)], {"to": 7})
    idx = em.node("Expand", [idx, TypedEmitter(graph, node).shape(list(x.shape))])
    return _replace(graph, node, em, "GatherElements", [x, idx], {"axis": t_axis})


def _space_to_depth_crd(graph: Graph, node: Node) -> list[Node]:
    """SpaceToDepth in CRD order (channel-major: depth c * b * b + i * b + j): a Reshape to (N, C, H/b, b, W/b, b),
    a Transpose to (N, C, b, b, H/b, W/b) and a Reshape. DCR, the default, is each backend's kernel."""
    if node.attrs.get("mode", "DCR") != "CRD":
        return []
    x, y = node.inputs[0], node.outputs[0]
    assert x is not None and x.shape is not None and y.shape is not None
    b = int(node.attrs["blocksize"])
    n, c, h, w = x.shape
    em = NodeEmitter(graph, [], node, node.name)
    blocks = em.node("Reshape", [x, TypedEmitter(graph, node).shape([n, c, h // b, b, w // b, b])])
    moved = em.node("Transpose", [blocks], {"perm": [0, 1, 3, 5, 2, 4]})
    return _replace(graph, node, em, "Reshape", [moved, TypedEmitter(graph, node).shape(list(y.shape))], {})


def max_pool_taps(spatial: list[int], out: list[int], kernel: list[int], strides: list[int], dilations: list[int],
                  pads: list[int], column_major: bool) -> tuple[np.ndarray, np.ndarray]:
    """MaxPool's window map: for each output position and kernel tap ([O, K]), the input's flat spatial position
    (prod(spatial) where the tap falls in the padding), and the index ONNX reports for it (row-major, or
    column-major with storage_order 1; -1 in the padding)."""
    nd = len(spatial)
    o_idx = np.indices(out).reshape(nd, -1)  # [nd, O]
    k_idx = np.indices(kernel).reshape(nd, -1)  # [nd, K]
    pos = [o_idx[i][:, None] * strides[i] - pads[i] + k_idx[i][None, :] * dilations[i] for i in range(nd)]
    inside = np.logical_and.reduce([(p >= 0) & (p < spatial[i]) for i, p in enumerate(pos)])
    clipped = tuple(np.where(inside, p, 0) for p in pos)
    flat = np.where(inside, np.ravel_multi_index(clipped, spatial), math.prod(spatial))
    report = np.ravel_multi_index(clipped, spatial, order="F" if column_major else "C")
    return flat.astype(np.int64), np.where(inside, report, -1).astype(np.int64)


def _max_pool_indices(graph: Graph, node: Node) -> list[Node]:
    """MaxPool with its Indices output read: the windows gathered from the input viewed as (N * C, spatial) with a
    -inf column for the padding ([N * C, O, K], constant indices), a ReduceMax for the values and an ArgMax (the
    first maximum in window order, as onnxruntime) looked up in the constant index map for the indices, offset by
    each (n, c) plane. Without Indices it is the backends' kernel."""
    if len(node.outputs) < 2:
        return []
    x, y, idx = node.inputs[0], node.outputs[0], node.outputs[1]
    assert x is not None and x.shape is not None and y.shape is not None and x.dtype is not None
    n, c, *spatial = (int(d) for d in x.shape)
    out = [int(d) for d in y.shape[2:]]
    flat, report = max_pool_taps(spatial, out, [int(k) for k in node.attrs["kernel_shape"]],
                                 [int(s) for s in node.attrs["strides"]], [int(d) for d in node.attrs["dilations"]],
                                 [int(p) for p in node.attrs["pads"]], int(node.attrs.get("storage_order", 0)) == 1)
    size, planes = math.prod(spatial), n * c
    em = NodeEmitter(graph, [], node, node.name)
    rows = em.node("Reshape", [x, em.const([planes, size], np.int64)])
    low = np.finfo(np.float32).min if x.dtype.numpy.kind != "f" else -np.inf
    padded = em.node("Concat", [rows, em.const(np.full((planes, 1), low), x.dtype.numpy.type)], {"axis": 1})
    taps = em.node("Gather", [padded, em.const(flat, np.int64)], {"axis": 1})  # [planes, O, K]
    values = em.node("ReduceMax", [taps], {"axes": [2], "keepdims": 0})
    best = em.node("ArgMax", [taps], {"axis": 2, "keepdims": 1, "select_last_index": 0})
    where_ = em.node("GatherElements", [em.const(np.broadcast_to(report, (planes, *report.shape)).copy(), np.int64),
                                        best], {"axis": 2})
    plane = np.arange(planes, dtype=np.int64).reshape(planes, 1, 1) * size
    shape = em.const([n, c, *out], np.int64)
    indices = em.node("Add", [where_, em.const(plane, np.int64)])
    last_values = graph.add_node("Reshape", [values, shape], [y], {}, name=node.name, before=node)
    last_indices = graph.add_node("Reshape", [indices, shape], [idx], {}, name=f"{node.name}/Indices", before=node)
    graph.remove_node(node)
    y.producer, idx.producer = last_values, last_indices
    return [*em.nodes, last_values, last_indices]


def _det(graph: Graph, node: Node) -> list[Node]:
    """Det of n x n matrices (n <= 5): the Leibniz sum over the n! permutations s of sign(s) * prod_i A[i, s(i)], the
    entries gathered with a constant index table from the matrices viewed as (..., n * n)."""
    x = node.inputs[0]
    assert x is not None and x.shape is not None and x.dtype is not None
    n = int(x.shape[-1])
    perms = list(itertools.permutations(range(n)))
    idx = np.array([[i * n + p[i] for i in range(n)] for p in perms], np.int64)  # [n!, n]
    signs = np.array([np.linalg.det(np.eye(n)[list(p)]) for p in perms]).round()
    em = NodeEmitter(graph, [], node, node.name)
    lead = list(x.shape[:-2])
    flat = em.node("Reshape", [x, TypedEmitter(graph, node).shape([*lead, n * n])])
    entries = em.node("Gather", [flat, em.const(idx, np.int64)], {"axis": len(lead)})  # [..., n!, n]
    terms = em.node("ReduceProd", [entries], {"axes": [len(lead) + 1], "keepdims": 0})
    signed = em.node("Mul", [terms, em.const(signs, x.dtype.numpy.type)])
    return _replace(graph, node, em, "ReduceSum", [signed, em.const([len(lead)], np.int64)], {"keepdims": 0})


def _eye_like(graph: Graph, node: Node) -> list[Node]:
    """EyeLike of a fixed shape: a constant (it reads only its input's shape)."""
    x = node.inputs[0]
    assert x is not None and x.shape is not None
    if not all(isinstance(d, int) for d in x.shape):
        from webdnn.ops.registry import unsupported

        raise unsupported(node, graph, f"EyeLike of a shape that varies with the input ({x.shape})")
    y = node.outputs[0]
    assert y.dtype is not None
    em = NodeEmitter(graph, [], node, node.name)
    eye = np.eye(int(x.shape[0]), int(x.shape[1]), int(node.attrs["k"]), dtype=y.dtype.numpy)
    return _replace(graph, node, em, "Identity", [em.const(eye, y.dtype.numpy.type)], {})


def _max_unpool(graph: Graph, node: Node) -> list[Node]:
    """MaxUnpool: X's values written into zeros at their (whole-tensor flat) indices, a ScatterElements."""
    x, idx = node.inputs[0], node.inputs[1]
    assert x is not None and idx is not None and x.dtype is not None
    out = [int(d) for d in node.attrs["output_shape"]]
    em = NodeEmitter(graph, [], node, node.name)
    flat = em.const([-1], np.int64)
    where = em.node("Reshape", [em.node("Cast", [idx], {"to": 7}), flat])
    zeros = em.const(np.zeros(math.prod(out)), x.dtype.numpy.type)
    scattered = em.node("ScatterElements", [zeros, where, em.node("Reshape", [x, flat])], {"axis": 0})
    return _replace(graph, node, em, "Reshape", [scattered, em.const(out, np.int64)], {})


def col2im_indices(channels: int, image: list[int], block: list[int], dil: list[int], pads: list[int],
                   strides: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Col2Im's constant index map: (source, target) pairs of the input's [C * K * L] elements that land inside the
    image, and where, in the output's [C * prod(image)] (several sources may share a target: they add up)."""
    nd = len(image)
    counts = [(image[i] + pads[i] + pads[nd + i] - dil[i] * (block[i] - 1) - 1) // strides[i] + 1 for i in range(nd)]
    kk = np.indices(block).reshape(nd, -1)  # the block offset of each of the K rows
    ll = np.indices(counts).reshape(nd, -1)  # the block position of each of the L columns
    pos = [ll[i][None, :] * strides[i] - pads[i] + kk[i][:, None] * dil[i] for i in range(nd)]  # [K, L] each
    inside = np.logical_and.reduce([(p >= 0) & (p < image[i]) for i, p in enumerate(pos)])
    target = np.ravel_multi_index(tuple(np.where(inside, p, 0) for p in pos), image)  # [K, L]
    k_n, l_n = kk.shape[1], ll.shape[1]
    size = math.prod(image)
    src = (np.arange(channels)[:, None, None] * k_n + np.arange(k_n)[None, :, None]) * l_n + np.arange(l_n)
    dst = np.arange(channels)[:, None, None] * size + target[None]
    keep = np.broadcast_to(inside[None], src.shape)
    return src[keep].astype(np.int64), dst[keep].astype(np.int64)


def _col2im(graph: Graph, node: Node) -> list[Node]:
    """Col2Im: the input's elements that land inside the image gathered (constant indices), then added into
    zeros at their image positions (a ScatterElements with reduction add: overlapping blocks sum)."""
    x = node.inputs[0]
    assert x is not None and x.shape is not None and x.dtype is not None
    n, ck, length = (int(d) for d in x.shape)
    image, block = node.attrs["image_shape"], node.attrs["block_shape"]
    channels = ck // math.prod(block)
    src, dst = col2im_indices(channels, image, block, node.attrs["dilations"], node.attrs["pads"],
                              node.attrs["strides"])
    em = NodeEmitter(graph, [], node, node.name)
    size = channels * math.prod(image)
    # flat over the batch too: ScatterND's updates may outnumber the data (overlapping blocks)
    src_all = (np.arange(n)[:, None] * (ck * length) + src[None]).reshape(-1)
    dst_all = (np.arange(n)[:, None] * size + dst[None]).reshape(-1, 1)
    picked = em.node("Gather", [em.node("Reshape", [x, em.const([-1], np.int64)]), em.const(src_all, np.int64)],
                     {"axis": 0})
    zeros = em.const(np.zeros(n * size), x.dtype.numpy.type)
    summed = em.node("ScatterND", [zeros, em.const(dst_all, np.int64), picked], {"reduction": "add"})
    return _replace(graph, node, em, "Reshape", [summed, em.const([n, channels, *image], np.int64)], {})


DECOMPOSITIONS: dict[str, Callable[[Graph, Node], list[Node]]] = {
    "GridSample": _grid_sample, "AffineGrid": _affine_grid, "GroupNormalization": _group_norm,
    "RMSNormalization": _rms_norm, "LpPool": _lp_pool,
    "CenterCropPad": _center_crop_pad, "Compress": _compress, "RoiAlign": _roi_align,
    "ReverseSequence": _reverse_sequence, "EyeLike": _eye_like, "MaxUnpool": _max_unpool, "Col2Im": _col2im,
    "Det": _det,
    "LSTM": decompose_recurrent, "GRU": decompose_recurrent, "RNN": decompose_recurrent,
    "Einsum": decompose_einsum, "DFT": decompose_dft, "STFT": decompose_stft,
    **QUANT_DECOMPOSITIONS,
}


# Ops whose kernels run one form of the op: the rewrite returns [] for that form and decomposes the others.
FORM_DECOMPOSITIONS: dict[str, Callable[[Graph, Node], list[Node]]] = {
    "SpaceToDepth": _space_to_depth_crd, "MaxPool": _max_pool_indices}


def run(graph: Graph) -> int:
    """Decompose every node of a DECOMPOSITIONS op (and the other forms of a FORM_DECOMPOSITIONS one); returns how
    many."""
    count = 0
    for node in list(graph.nodes):
        rewrite = DECOMPOSITIONS.get(node.op_type) or FORM_DECOMPOSITIONS.get(node.op_type)
        if rewrite is None or node.op_type in RECURRENT or node.op_type in DEFERRED:
            continue  # the backends' passes (decompose_recurrent.run, decompose_quant.run_deferred)
        x = node.inputs[0]
        if node.op_type == "GridSample" and x is not None and x.shape and math.prod(x.shape[2:]) >= 2**24:
            from webdnn.ops.registry import unsupported

            raise unsupported(node, graph, "GridSample over 2^24 or more input elements per channel")
        if node.op_type == "RoiAlign" and x is not None and x.shape and not (
                all(isinstance(d, int) for d in x.shape) and math.prod(x.shape) < 2**24):
            from webdnn.ops.registry import unsupported

            raise unsupported(node, graph, f"RoiAlign of an input of shape {x.shape} (a fixed shape of fewer "
                                           "than 2^24 elements: its gather indices are computed in float32)")
        written = rewrite(graph, node)
        for new in written:
            if not fold_node(new, graph):
                infer_node(new, graph)
        count += bool(written)  # (none: the op stays, as a Compress of a computed condition does)
    return count
