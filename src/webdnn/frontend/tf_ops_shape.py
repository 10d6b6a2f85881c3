"""TensorFlow's shape and data-movement ops as ONNX nodes: reshapes, squeezes, transposes, concatenation,
stacking, splits, padding, slices, gathers, tiling and the ops that make tensors (Shape, Fill, Range).
Most read TensorFlow's order, so their input leaves channels-first data first (see tf_ops.py)."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto

from webdnn.frontend.keras_builder import KTensor
from webdnn.frontend.tf_ops import TfNode, cf_order, const_in_layout, norm_axes, removed_axes_layout, tf_op
from webdnn.frontend.tf_ops_math import TF_TYPES

BIG = 2**62  # "to the end" in an ONNX Slice


def _i64(n: TfNode, values: list[int] | np.ndarray, tag: str) -> str:
    return n.b.const(np.asarray(values, np.int64).reshape(-1), f"{n.name}/{tag}", np.int64)


def _int64_input(n: TfNode, i: int) -> str:
    """Input `i` (an int32 or int64 tensor) as an ONNX int64 value."""
    c = n.const(i)
    if c is not None:
        return _i64(n, c, f"in{i}")
    return n.b.one("Cast", [n.b.plain(n.tensor(i), n.name).name], n.name, to=TensorProto.INT64)


@tf_op("Reshape")
def reshape(n: TfNode) -> list[KTensor]:
    x = n.b.plain(n.tensor(0), n.name)
    c = n.const(1)
    if c is not None:
        dims = [int(v) for v in c.reshape(-1)]
        known = [d for d in x.shape]
        shape: tuple[int | None, ...] = tuple(None if d == -1 else d for d in dims)
        if -1 in dims and all(d is not None for d in known):
            rest = int(np.prod([d for d in dims if d != -1]))
            total = int(np.prod(known))  # type: ignore[arg-type]
            shape = tuple(total // rest if d == -1 and rest else d for d in dims)
        y = n.b.one("Reshape", [x.name, _i64(n, dims, "shape")], n.name, allowzero=int(0 in dims))
        return [KTensor(y, shape)]
    s = n.tensor(1)
    if s.rank != 1 or s.shape[0] is None:
        raise n.error("a target shape computed at run time needs a known length")
    return [KTensor(n.b.one("Reshape", [x.name, _int64_input(n, 1)], n.name), (None,) * int(s.shape[0]))]


@tf_op("Squeeze")
def squeeze(n: TfNode) -> list[KTensor]:
    x = n.tensor(0)
    dims = [int(d) for d in n.get("squeeze_dims", []) or n.get("axis", [])]
    if not dims:
        if any(d is None for d in x.shape):
            raise n.error("Squeeze of every size-1 axis needs the input's shape known")
        dims = [i for i, d in enumerate(x.shape) if d == 1]
    axes = norm_axes(dims, x.rank)
    src, data, cf = removed_axes_layout(n.b, x, axes, n.name)
    y = n.b.one("Squeeze", [src.name, _i64(n, data, "axes")], n.name)
    return [KTensor(y, tuple(d for i, d in enumerate(x.shape) if i not in axes), cf)]


@tf_op("ExpandDims")
def expand_dims(n: TfNode) -> list[KTensor]:
    x = n.b.plain(n.tensor(0), n.name)
    axis = int(n.need_const(1, "axis").reshape(-1)[0]) % (x.rank + 1)
    shape = list(x.shape)
    shape.insert(axis, 1)
    return [KTensor(n.b.one("Unsqueeze", [x.name, _i64(n, [axis], "axes")], n.name), tuple(shape))]


@tf_op("Transpose")
def transpose(n: TfNode) -> list[KTensor]:
    x = n.tensor(0)
    perm = [int(p) for p in n.need_const(1, "permutation").reshape(-1)]
    if x.cf:  # read the TF axes straight from the channels-first data
        order = cf_order(x.rank)
        data = [order.index(p) for p in perm]
    else:
        data = perm
    return [KTensor(n.b.one("Transpose", [x.name], n.name, perm=data), tuple(x.shape[p] for p in perm))]


def _concat(n: TfNode, idx: list[int], axis: int) -> list[KTensor]:
    b = n.b
    tensors = {i: n.tensor(i) for i in idx if n.const(i) is None}
    first = next(iter(tensors.values()), None) or n.tensor(idx[0])
    rank = first.rank
    axis %= rank
    cf = rank >= 3 and bool(tensors) and all(t.cf for t in tensors.values())
    names = []
    for i in idx:
        c = n.const(i)
        if c is not None:
            names.append(b.const(const_in_layout(c, rank, True) if cf else c, f"{n.name}/in{i}", c.dtype))
        else:
            names.append(tensors[i].name if cf else b.plain(tensors[i], n.name).name)
    shapes = [n.const(i).shape if n.const(i) is not None else tensors[i].shape for i in idx]  # type: ignore[union-attr]
    sizes = [s[axis] for s in shapes]
    total = None if any(s is None for s in sizes) else int(sum(sizes))  # type: ignore[arg-type]
    shape = tuple(total if k == axis else first.shape[k] for k in range(rank))
    data_axis = cf_order(rank).index(axis) if cf else axis
    return [KTensor(b.one("Concat", names, n.name, axis=data_axis), shape, cf)]


@tf_op("ConcatV2")
def concat_v2(n: TfNode) -> list[KTensor]:
    axis = int(n.need_const(len(n.args) - 1, "axis").reshape(-1)[0])
    return _concat(n, list(range(len(n.args) - 1)), axis)


@tf_op("Concat")
def concat(n: TfNode) -> list[KTensor]:
    axis = int(n.need_const(0, "axis").reshape(-1)[0])
    return _concat(n, list(range(1, len(n.args))), axis)


@tf_op("Pack")
def pack(n: TfNode) -> list[KTensor]:
    b = n.b
    xs = [b.plain(n.tensor(i), n.name) for i in range(len(n.args))]
    rank = xs[0].rank + 1
    axis = int(n.get("axis", 0)) % rank
    parts = [b.one("Unsqueeze", [x.name, _i64(n, [axis], "axes")], n.name) for x in xs]
    shape = list(xs[0].shape)
    shape.insert(axis, len(xs))
    return [KTensor(b.one("Concat", parts, n.name, axis=axis), tuple(shape))]


@tf_op("Unpack")
def unpack(n: TfNode) -> list[KTensor]:
    b = n.b
    x = b.plain(n.tensor(0), n.name)
    axis = int(n.get("axis", 0)) % x.rank
    num = int(n.get("num", 0) or (x.shape[axis] or 0))
    if num <= 0:
        raise n.error("Unpack needs its count (attribute num or the axis size)")
    parts = b.node("Split", [x.name], n.name, outputs=num, axis=axis) if num > 1 else [x.name]
    shape = tuple(d for i, d in enumerate(x.shape) if i != axis)
    return [KTensor(b.one("Squeeze", [p, _i64(n, [axis], "axes")], n.name), shape) for p in parts]


def _split(n: TfNode, x: KTensor, axis: int, sizes: list[int]) -> list[KTensor]:
    b = n.b
    axis %= x.rank
    data = cf_order(x.rank).index(axis) if x.cf else axis
    outs = b.node("Split", [x.name, _i64(n, sizes, "split")], n.name, outputs=len(sizes), axis=data) \
        if len(sizes) > 1 else [b.one("Identity", [x.name], n.name)]
    return [KTensor(o, tuple(s if k == axis else d for k, d in enumerate(x.shape)), x.cf) for o, s in zip(
        outs, sizes, strict=True)]


@tf_op("Split")
def split(n: TfNode) -> list[KTensor]:
    axis = int(n.need_const(0, "axis").reshape(-1)[0])
    x = n.tensor(1)
    num = int(n.get("num_split", 1))
    size = x.shape[axis % x.rank]
    if size is None:
        raise n.error("Split needs the size of the split axis known")
    return _split(n, x, axis, [int(size) // num] * num)


@tf_op("SplitV")
def split_v(n: TfNode) -> list[KTensor]:
    x = n.tensor(0)
    sizes = [int(s) for s in n.need_const(1, "size_splits").reshape(-1)]
    axis = int(n.need_const(2, "axis").reshape(-1)[0])
    if -1 in sizes:
        size = x.shape[axis % x.rank]
        if size is None:
            raise n.error("SplitV with a -1 size needs the size of the split axis known")
        sizes[sizes.index(-1)] = int(size) - (sum(sizes) + 1)
    return _split(n, x, axis, sizes)


@tf_op("Pad", "PadV2", "MirrorPad")
def pad(n: TfNode) -> list[KTensor]:
    x, b = n.tensor(0), n.b
    p = n.need_const(1, "paddings").astype(np.int64).reshape(-1, 2)
    order = cf_order(x.rank) if x.cf else list(range(x.rank))
    rows = p[order]
    args = [x.name, _i64(n, [*rows[:, 0], *rows[:, 1]], "pads")]
    mode = "constant"
    if n.op == "PadV2":
        v = n.const(2)
        args.append(b.const(v, f"{n.name}/value", v.dtype) if v is not None else n.tensor(2).name)
    elif n.op == "MirrorPad":
        m = str(n.get("mode", "REFLECT")).upper()
        if m != "REFLECT":
            raise n.error(f"mode {m!r} (REFLECT is supported)")
        mode = "reflect"
    shape = tuple(None if d is None else d + int(a) + int(e) for d, (a, e) in zip(x.shape, p, strict=True))
    return [KTensor(b.one("Pad", args, n.name, mode=mode), shape, x.cf)]


def _slice_dim(d: int | None, start: int, end: int, step: int) -> int | None:
    if d is None:
        return None
    return len(range(d)[slice(None if start in (BIG, -BIG) else start, None if end in (BIG, -BIG) else end, step)])


@tf_op("StridedSlice")
def strided_slice(n: TfNode) -> list[KTensor]:
    b = n.b
    x = b.plain(n.tensor(0), n.name)
    begin, end, strides = (n.need_const(i, w).reshape(-1).astype(np.int64) for i, w in
                           ((1, "begin"), (2, "end"), (3, "strides")))
    masks = {k: int(n.get(k, 0)) for k in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask",
                                           "shrink_axis_mask")}
    specs = len(begin)
    d = o = 0  # input axis, output axis (with new axes, before the shrunk ones are dropped)
    axes, starts, ends, steps, shrink, new_axes = [], [], [], [], [], []
    out_shape: list[int | None] = []
    for k in range(specs):
        bit = 1 << k
        if masks["ellipsis_mask"] & bit:
            covered = x.rank - sum(1 for j in range(specs) if j != k and not masks["new_axis_mask"] & (1 << j))
            for _ in range(covered):
                out_shape.append(x.shape[d])
                d += 1
                o += 1
            continue
        if masks["new_axis_mask"] & bit:
            new_axes.append(o)
            out_shape.append(1)
            o += 1
            continue
        st = int(strides[k])
        if masks["shrink_axis_mask"] & bit:
            s0 = int(begin[k])
            axes.append(d), starts.append(s0), ends.append(s0 + 1 if s0 != -1 else BIG), steps.append(1)
            shrink.append(d)
            d += 1
            continue
        s0 = (0 if st > 0 else BIG) if masks["begin_mask"] & bit else int(begin[k])
        e0 = (BIG if st > 0 else -BIG) if masks["end_mask"] & bit else int(end[k])
        axes.append(d), starts.append(s0), ends.append(e0), steps.append(st)
        out_shape.append(_slice_dim(x.shape[d], s0, e0, st))
        d += 1
        o += 1
    out_shape.extend(x.shape[d:])
    y = x.name
    if axes:
        y = b.one("Slice", [y, _i64(n, starts, "starts"), _i64(n, ends, "ends"), _i64(n, axes, "axes"),
                            _i64(n, steps, "steps")], n.name)
    if shrink:
        y = b.one("Squeeze", [y, _i64(n, shrink, "shrink")], n.name)
    if new_axes:
        y = b.one("Unsqueeze", [y, _i64(n, new_axes, "new_axes")], n.name)
    if y == x.name:
        y = b.one("Identity", [y], n.name)
    return [KTensor(y, tuple(out_shape))]


@tf_op("Slice")
def slice_(n: TfNode) -> list[KTensor]:
    b = n.b
    x = b.plain(n.tensor(0), n.name)
    begin = [int(v) for v in n.need_const(1, "begin").reshape(-1)]
    size = [int(v) for v in n.need_const(2, "size").reshape(-1)]
    ends = [BIG if s == -1 else bg + s for bg, s in zip(begin, size, strict=True)]
    shape = tuple(_slice_dim(d, bg, e, 1) for d, bg, e in zip(x.shape, begin, ends, strict=True))
    y = b.one("Slice", [x.name, _i64(n, begin, "starts"), _i64(n, ends, "ends"), _i64(n, list(range(len(begin))),
                                                                                     "axes")], n.name)
    return [KTensor(y, shape)]


@tf_op("GatherV2", "Gather")
def gather(n: TfNode) -> list[KTensor]:
    b = n.b
    x = b.plain(n.tensor(0), n.name)
    axis = int(n.need_const(2, "axis").reshape(-1)[0]) % x.rank if n.op == "GatherV2" else 0
    if int(n.get("batch_dims", 0)):
        raise n.error("batch_dims is not supported")
    ic = n.const(1)
    ind = b.const(ic, f"{n.name}/indices", ic.dtype) if ic is not None else b.plain(n.tensor(1), n.name).name
    ishape = tuple(ic.shape) if ic is not None else n.tensor(1).shape
    return [KTensor(b.one("Gather", [x.name, ind], n.name, axis=axis), (*x.shape[:axis], *ishape, *x.shape[axis + 1:]))]


@tf_op("Tile")
def tile(n: TfNode) -> list[KTensor]:
    x = n.b.plain(n.tensor(0), n.name)
    m = n.const(1)
    shape = tuple(None if d is None or m is None else d * int(k) for d, k in
                  zip(x.shape, m.reshape(-1) if m is not None else [None] * x.rank, strict=True))
    return [KTensor(n.b.one("Tile", [x.name, _int64_input(n, 1)], n.name), shape)]


@tf_op("Shape")
def shape(n: TfNode) -> list[KTensor]:
    x = n.b.plain(n.tensor(0), n.name)
    y = n.b.one("Shape", [x.name], n.name)
    to = str(n.get("out_type", "DT_INT32"))
    if to != "DT_INT64":
        y = n.b.one("Cast", [y], n.name, to=TF_TYPES[to])
    return [KTensor(y, (x.rank,))]


@tf_op("Fill")
def fill(n: TfNode) -> list[KTensor]:
    v = n.need_const(1, "value")
    dims = n.const(0)
    if dims is not None:
        arr = np.full([int(d) for d in dims.reshape(-1)], v.reshape(()), v.dtype)
        return [KTensor(n.b.const(arr, n.name, arr.dtype), arr.shape)]
    from onnx import numpy_helper
    count = n.tensor(0).shape[0]
    y = n.b.one("ConstantOfShape", [_int64_input(n, 0)], n.name, value=numpy_helper.from_array(v.reshape(1)))
    return [KTensor(y, (None,) * int(count or 0))]


@tf_op("ZerosLike", "OnesLike")
def zeros_like(n: TfNode) -> list[KTensor]:
    x = n.tensor(0)
    mul = n.b.one("Mul", [x.name, n.b.const(0, f"{n.name}/zero", np.float32)], n.name)
    y = mul if n.op == "ZerosLike" else n.b.one("Add", [mul, n.b.const(1, f"{n.name}/one", np.float32)], n.name)
    return [KTensor(y, x.shape, x.cf)]


@tf_op("Range")
def range_(n: TfNode) -> list[KTensor]:
    args = [n.tensor(i).name for i in range(3)]
    c = [n.const(i) for i in range(3)]
    size = None
    if all(v is not None for v in c):
        size = len(np.arange(c[0].reshape(()), c[1].reshape(()), c[2].reshape(())))  # type: ignore[union-attr]
    return [KTensor(n.b.one("Range", args, n.name), (size,))]


@tf_op("Cumsum")
def cumsum(n: TfNode) -> list[KTensor]:
    x = n.b.plain(n.tensor(0), n.name)
    axis = n.b.const(n.need_const(1, "axis").reshape(()), f"{n.name}/axis", np.int64)
    y = n.b.one("CumSum", [x.name, axis], n.name, exclusive=int(bool(n.get("exclusive", False))),
                reverse=int(bool(n.get("reverse", False))))
    return [KTensor(y, x.shape)]


@tf_op("Einsum")
def einsum(n: TfNode) -> list[KTensor]:
    xs = [n.b.plain(n.tensor(i), n.name) for i in range(len(n.args))]
    eq = str(n.get("equation", ""))
    out = eq.split("->")[-1].strip() if "->" in eq else None
    if out is None or "." in out:
        raise n.error(f"equation {eq!r} (an explicit output without ellipsis is supported)")
    ins = [t.strip() for t in eq.split("->")[0].split(",")]
    sizes: dict[str, int | None] = {}
    for letters, t in zip(ins, xs, strict=True):
        for ch, dim in zip(letters, t.shape, strict=False):
            sizes[ch] = dim if sizes.get(ch) is None else sizes[ch]
    return [KTensor(n.b.one("Einsum", [t.name for t in xs], n.name, equation=eq), tuple(sizes.get(c) for c in out))]
