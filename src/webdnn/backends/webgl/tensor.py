"""Data movement: Transpose, Slice, Expand, Tile, DepthToSpace, SpaceToDepth (one strided
gather), Concat, Split, Pad (constant, reflect, edge, wrap) and Gather. Values move
untouched, so integer tensors work too (their values travel as float32, exact up to 2**24)."""

from __future__ import annotations

from webdnn.backends.webgl.core import Ctx, Pass, attr_float, ins, kernel, shape
from webdnn.backends.webgl.glsl import coords, flt, linear, norm_index, strides
from webdnn.ir.graph import Node, Value
from webdnn.ir.symbolic import prod as sym_prod
from webdnn.ir.symbolic import smax


def _strided(node: Node, x: Value, out: Value, dims: list[int], st: list[int], base: int, suffix: str = "") -> Pass:
    """out (row-major over `dims`) = x[base + sum(i_d * st_d)]."""
    body = (
        f"float compute(int o) {{ {coords('o', dims, 'c')}\n"
        f"  return X0({linear([(f'c{d}', s) for d, s in enumerate(st)], base)}); }}\n"
    )
    return Pass(node.op_type + suffix, node.name + suffix, [x], out, body)


@kernel("Transpose")
def _transpose(ctx: Ctx, node: Node) -> list[Pass]:
    x = ins(node, ctx)[0]
    xs = shape(x)
    perm = list(node.attrs.get("perm", range(len(xs) - 1, -1, -1)))
    xst = strides(xs)
    return [_strided(node, x, node.outputs[0], [xs[p] for p in perm], [xst[p] for p in perm], 0)]


@kernel("Slice")
def _slice(ctx: Ctx, node: Node) -> list[Pass]:
    x = ins(node, ctx)[0]
    xs = shape(x)
    starts, steps, axes = node.attrs["starts"], node.attrs["steps"], node.attrs["axes"]
    if list(axes) != list(range(len(xs))):
        raise ctx.fail(node, "needs canonical Slice attributes (every axis)")
    xst = strides(xs)
    base = sum(int(s) * xst[d] for d, s in enumerate(starts))
    y = node.outputs[0]
    return [_strided(node, x, y, list(shape(y)), [int(st) * xst[d] for d, st in enumerate(steps)], base)]


@kernel("Expand")
def _expand(ctx: Ctx, node: Node) -> list[Pass]:
    x = ins(node, ctx)[0]
    xs, y = shape(x), node.outputs[0]
    ys = list(shape(y))
    lead = len(ys) - len(xs)
    xst = strides(xs)
    st = [0] * lead + [xst[d] if xs[d] != 1 else 0 for d in range(len(xs))]
    return [_strided(node, x, y, ys, st, 0)]


@kernel("Tile")
def _tile(ctx: Ctx, node: Node) -> list[Pass]:
    x = ins(node, ctx)[0]
    xs = shape(x)
    reps = [int(r) for r in node.attrs["repeats"]]
    xst = strides(xs)
    dims = [v for d in range(len(xs)) for v in (reps[d], xs[d])]
    st = [v for s in xst for v in (0, s)]
    return [_strided(node, x, node.outputs[0], dims, st, 0)]


@kernel("Concat")
def _concat(ctx: Ctx, node: Node) -> list[Pass]:
    xs = ins(node, ctx)
    y = node.outputs[0]
    ys = shape(y)
    axis = int(node.attrs["axis"])
    inner = sym_prod(ys[axis + 1 :])
    total = ys[axis]
    lines = ["float compute(int o) {", f"  int outer = o / {total * inner}; int a = (o / {inner}) % {total};",
             f"  int i = o % {inner};"]
    off = 0
    parts = [(k, x) for k, x in enumerate(xs) if shape(x)[axis] > 0]
    for n, (k, x) in enumerate(parts):
        length = shape(x)[axis]
        expr = f"X{k}((outer * {length} + a - {off}) * {inner} + i)"
        if n == len(parts) - 1:
            lines.append(f"  return {expr};")
        else:
            lines.append(f"  if (a < {off + length}) return {expr};")
        off += length
    if not parts:
        lines.append("  return 0.0;")
    lines.append("}")
    return [Pass("Concat", node.name, xs, y, "\n".join(lines))]


@kernel("Split")
def _split(ctx: Ctx, node: Node) -> list[Pass]:
    x = ins(node, ctx)[0]
    xs = shape(x)
    axis = int(node.attrs["axis"])
    xst = strides(xs)
    passes, off = [], 0
    for k, y in enumerate(node.outputs):
        ys = list(shape(y))
        passes.append(_strided(node, x, y, ys, xst, off * xst[axis], f".{k}"))
        off += ys[axis]
    return passes


def _pad_source(mode: str, d: int, begin: int, dim: int) -> str:
    """GLSL statements mapping output coordinate c<d> to source coordinate s<d> along one axis.
    GLSL ES leaves % of a negative operand undefined (Mesa and SwiftShader differ), so the periodic
    modes shift the coordinate by a whole number of periods >= `begin` first: c<d> >= 0 makes it >= 0."""
    if mode == "edge":
        return f"int s{d} = clamp(c{d} - {begin}, 0, {dim - 1});"
    if mode == "wrap":
        shift = dim * -(-begin // dim) - begin  # (whole periods >= begin) - begin
        return f"int s{d} = (c{d} + {shift}) % {dim};"
    if mode == "reflect":  # edge not repeated: period 2 * (dim - 1)
        if dim == 1:
            return f"int s{d} = 0;"
        p = 2 * (dim - 1)
        shift = p * -(-begin // p) - begin
        return f"int s{d} = (c{d} + {shift}) % {p}; if (s{d} >= {dim}) s{d} = {p} - s{d};"
    return f"int s{d} = c{d} - {begin};"


@kernel("Pad")
def _pad(ctx: Ctx, node: Node) -> list[Pass]:
    x = ins(node, ctx)[0]
    mode = str(node.attrs.get("mode", "constant"))
    if mode not in ("constant", "reflect", "edge", "wrap"):
        raise ctx.fail(node, f"does not support Pad mode {mode!r}")
    xs, y = shape(x), node.outputs[0]
    ys = shape(y)
    pads = [int(p) for p in node.attrs["pads"]]
    rank = len(xs)
    value = flt(attr_float(node.attrs.get("value", 0.0)))
    xst = strides(xs)
    if x.size == 0 and mode != "constant":
        raise ctx.fail(node, f"cannot pad an empty tensor in mode {mode!r}")
    lines = [f"float compute(int o) {{ {coords('o', ys, 'c')}"]
    conds = []
    for d in range(rank):
        lines.append("  " + _pad_source(mode, d, pads[d], xs[d]))
        if mode == "constant":
            conds.append(f"s{d} < 0 || s{d} >= {xs[d]}")
    if conds:
        lines.append(f"  if ({' || '.join(conds)}) return {value};")
    lines.append(f"  return X0({linear([(f's{d}', xst[d]) for d in range(rank)])}); }}")
    return [Pass("Pad", node.name, [x], y, "\n".join(lines) + "\n")]


@kernel("DepthToSpace", "SpaceToDepth")
def _depth_space(ctx: Ctx, node: Node) -> list[Pass]:
    x = ins(node, ctx)[0]
    n, c, h, w = shape(x)
    b = int(node.attrs["blocksize"])
    if node.op_type == "SpaceToDepth":
        # out (N, b_i, b_j, C, H/b, W/b) <- x[n, c, h*b + i, w*b + j]
        dims = [n, b, b, c, h // b, w // b]
        st = [c * h * w, w, 1, h * w, b * w, b]
    else:
        co = c // (b * b)
        # out (N, Co, H, b_i, W, b_j) <- x[n, ch(c, i, j), h, w]
        if node.attrs.get("mode", "DCR") == "CRD":
            ch = [b * b * h * w, b * h * w, h * w]  # ch = c*b*b + i*b + j
        else:
            ch = [h * w, b * co * h * w, co * h * w]  # ch = (i*b + j)*Co + c
        dims = [n, co, h, b, w, b]
        st = [c * h * w, ch[0], w, ch[1], 1, ch[2]]
    return [_strided(node, x, node.outputs[0], dims, st, 0)]


@kernel("Gather")
def _gather(ctx: Ctx, node: Node) -> list[Pass]:
    x, ind = ins(node, ctx, 2)
    xs = shape(x)
    axis = int(node.attrs.get("axis", 0))
    dim = xs[axis]
    inner = sym_prod(xs[axis + 1 :])
    n = smax(ind.size, 1)
    body = (
        "float compute(int o) {\n"
        f"  int outer = o / {n * inner}; int j = (o / {inner}) % {n}; int i = o % {inner};\n"
        f"  float k = X1(j); {norm_index('k', dim)}\n"
        f"  return X0((outer * {dim} + k_i) * {inner} + i);\n}}\n"
    )
    return [Pass("Gather", node.name, [x, ind], node.outputs[0], body)]
