"""Data movement: Transpose, Expand, Tile, Slice, Concat, Split, Gather.

Each is an index map: one thread per output element computes the source element and
copies its bits (u32 for 4-byte types, vec2<u32> for int64), so any 4- or 8-byte dtype
moves through the same kernels. Concat and Split are one copy dispatch per input/output.
"""

from __future__ import annotations

from webdnn.backends.webgpu.wgsl import (
    Ctx,
    Dispatch,
    Shader,
    Unsupported,
    bits_type,
    broadcast_strides,
    dot,
    elementwise_dispatch,
    ins,
    prod,
    register,
    shape,
    strides,
    u32,
    unravel,
)
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Node, Value


def _index_map(ctx: Ctx, x: Value, y: Value, index: str, coords: bool = True) -> Dispatch:
    """y[i] = x[index], `index` a WGSL u32 expression of the output coordinates c0.. (and i)."""
    t = bits_type(x.dtype)
    sh = Shader(ctx)
    src, dst = sh.read(x, t), sh.write(y, t)
    pre = unravel("i", shape(y)) if coords else ""
    return elementwise_dispatch(sh, y.size, f"{pre}\n    {dst}[i] = {src}[{index}];")


@register("Transpose")
def transpose(ctx: Ctx, node: Node) -> list[Dispatch]:
    x, y = ins(node)[0], node.outputs[0]
    st = strides(shape(x))
    perm = [int(p) for p in node.attrs["perm"]]
    return [_index_map(ctx, x, y, dot("c", [st[p] for p in perm]))]


@register("Expand")
def expand(ctx: Ctx, node: Node) -> list[Dispatch]:
    x, y = ins(node)[0], node.outputs[0]
    return [_index_map(ctx, x, y, dot("c", broadcast_strides(shape(x), shape(y))))]


@register("Tile")
def tile(ctx: Ctx, node: Node) -> list[Dispatch]:
    x, y = ins(node)[0], node.outputs[0]
    xs, st = shape(x), strides(shape(x))
    terms = [f"(c{d} % {u32(n)}) * {u32(s)}" for d, (n, s) in enumerate(zip(xs, st, strict=True)) if n > 1]
    return [_index_map(ctx, x, y, " + ".join(terms) or "0u")]


@register("Slice")
def slice_(ctx: Ctx, node: Node) -> list[Dispatch]:
    x, y = ins(node)[0], node.outputs[0]
    xs = shape(x)
    st = strides(xs)
    starts, steps = [int(v) for v in node.attrs["starts"]], [int(v) for v in node.attrs["steps"]]
    base = sum(s * t for s, t in zip(starts, st, strict=True))
    terms = [f"c{d} * {u32(steps[d] * st[d])}" for d in range(len(xs)) if steps[d] > 0 and shape(y)[d] > 1]
    neg = [f"c{d} * {u32(-steps[d] * st[d])}" for d in range(len(xs)) if steps[d] < 0 and shape(y)[d] > 1]
    index = " + ".join([u32(base), *terms]) + "".join(f" - {t}" for t in neg)
    return [_index_map(ctx, x, y, index)]


@register("Concat")
def concat(ctx: Ctx, node: Node) -> list[Dispatch]:
    y = node.outputs[0]
    axis = int(node.attrs["axis"])
    ys = shape(y)
    inner = prod(ys[axis + 1:])
    out_ax = ys[axis]
    out: list[Dispatch] = []
    offset = 0
    for x in ins(node):
        ax = shape(x)[axis]
        if x.size:
            t = bits_type(x.dtype)
            sh = Shader(ctx)
            src, dst = sh.read(x, t), sh.write(y, t)
            block = ax * inner
            body = (f"let o = (i / {u32(block)}) * {u32(out_ax * inner)} + {u32(offset * inner)} + i % {u32(block)};\n"
                    f"    {dst}[o] = {src}[i];")
            out.append(elementwise_dispatch(sh, x.size, body))
        offset += ax
    return out


@register("Split")
def split(ctx: Ctx, node: Node) -> list[Dispatch]:
    x = ins(node)[0]
    axis = int(node.attrs["axis"])
    xs = shape(x)
    inner = prod(xs[axis + 1:])
    out: list[Dispatch] = []
    offset = 0
    for y in node.outputs:
        ax = shape(y)[axis]
        if y.size:
            block = ax * inner
            index = f"(i / {u32(block)}) * {u32(xs[axis] * inner)} + {u32(offset * inner)} + i % {u32(block)}"
            out.append(_index_map(ctx, x, y, index, coords=False))
        offset += ax
    return out


@register("Gather")
def gather(ctx: Ctx, node: Node) -> list[Dispatch]:
    x, idx = ins(node)
    y = node.outputs[0]
    axis = int(node.attrs["axis"])
    xs = shape(x)
    n_idx, inner, dim = idx.size, prod(xs[axis + 1:]), xs[axis]
    t = bits_type(x.dtype)
    sh = Shader(ctx)
    src = sh.read(x, t)
    if idx.dtype == DType.INT64:
        k = f"bitcast<i32>({sh.read(idx, 'vec2<u32>')}[j].x)"  # indices fit in 32 bits
    elif idx.dtype == DType.INT32:
        k = f"{sh.read(idx, 'i32')}[j]"
    else:
        raise Unsupported("Gather indices must be int32 or int64")
    dst = sh.write(y, t)
    body = f"""let j = (i / {u32(inner)}) % {u32(n_idx)};
    var k = {k};
    if (k < 0i) {{ k = k + {dim}i; }}
    let kk = u32(clamp(k, 0i, {dim - 1}i));
    {dst}[i] = {src}[((i / {u32(inner * n_idx)}) * {u32(dim)} + kk) * {u32(inner)} + i % {u32(inner)}];"""
    return [elementwise_dispatch(sh, y.size, body)]
