"""Data movement and indexing: Transpose, Expand, Tile, Slice, Concat, Split, Pad, Gather,
GatherElements, GatherND, ScatterND, ScatterElements, OneHot, Trilu, DepthToSpace, SpaceToDepth, and the
copies that Reshape-like ops need when they are not zero-copy views.

Each is an index map: one thread per output element (per output word for packed dtypes,
see wgsl.map_dispatch) computes the source element and copies it, so every dtype moves
through the same kernels. Concat and Split of unpacked dtypes are one copy dispatch per
input/output; a packed Concat is one dispatch that picks the input per element.
Indices (int32 or int64) are read at run time; negative ones count from the end, out-of-range
ones are clamped to [0, dim) (a shader cannot raise; the fallback and wasm backends do, the
webgl backend clamps the same way; constant indices are checked at conversion). An int64
index beyond the int32 range saturates before the clamp, so 2**32 + 1 is not taken for 1.
"""

from __future__ import annotations

from webdnn.backends.common.memory_plan import VIEW_OPS
from webdnn.backends.webgpu.wgsl import (
    MAX_BINDINGS,
    Ctx,
    Dispatch,
    Shader,
    Unsupported,
    arith_type,
    bits_type,
    broadcast_strides,
    dot,
    elementwise_dispatch,
    ins,
    literal,
    map_dispatch,
    pack,
    prod,
    register,
    shape,
    storage_type,
    strides,
    u32,
    unravel,
)
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Node, Value
from webdnn.ir.shapes import above_1
from webdnn.ir.symbolic import smax


def _index_map(ctx: Ctx, x: Value, y: Value, index: str, coords: bool = True, pre: str = "") -> Dispatch:
    """y[i] = x[index], `index` a WGSL u32 expression of the output coordinates c0.. (and i)."""
    sh = Shader(ctx)
    lines = unravel("i", shape(y)) if coords else ""
    return map_dispatch(sh, y, f"{lines}\n    {pre}", sh.at(x, index))


def index_i32(sh: Shader, v: Value, idx: str) -> str:
    """Element `idx` of an int32/int64 index tensor as i32 (an int64 beyond the i32 range saturates)."""
    if v.dtype == DType.INT64:
        return f"index64({sh.read(v, 'vec2<u32>')}[{idx}])"
    if v.dtype == DType.INT32:
        return f"{sh.read(v, 'i32')}[{idx}]"
    raise Unsupported(f"indices must be int32 or int64, not {v.dtype.value if v.dtype else '?'}")


# int64 (low, high words) to i32, saturating: in range when the high word extends the low word's sign
INDEX64 = """fn index64(v: vec2<u32>) -> i32 {
    let lo = bitcast<i32>(v.x);
    let hi = bitcast<i32>(v.y);
    if (hi == (lo >> 31u)) { return lo; }
    return select(2147483647i, -2147483647i - 1i, hi < 0i);
}
"""


def _index_helpers(*code: str) -> str:
    return INDEX64 if any("index64(" in c for c in code) else ""


def _norm(k: str, dim: int) -> str:
    """u32 of index expression `k` (i32) normalized: negative from the end, clamped to [0, dim)."""
    return f"u32(clamp(select({k}, {k} + {dim}i, {k} < 0i), 0i, {smax(dim - 1, 0)}i))"


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
    terms = [f"(c{d} % {u32(n)}) * {u32(s)}" for d, (n, s) in enumerate(zip(xs, st, strict=True)) if above_1(n)]
    return [_index_map(ctx, x, y, " + ".join(terms) or "0u")]


@register("Slice")
def slice_(ctx: Ctx, node: Node) -> list[Dispatch]:
    x, y = ins(node)[0], node.outputs[0]
    xs = shape(x)
    st = strides(xs)
    starts, steps = [int(v) for v in node.attrs["starts"]], [int(v) for v in node.attrs["steps"]]
    base = sum(s * t for s, t in zip(starts, st, strict=True))
    terms = [f"c{d} * {u32(steps[d] * st[d])}" for d in range(len(xs)) if steps[d] > 0 and above_1(shape(y)[d])]
    neg = [f"c{d} * {u32(-steps[d] * st[d])}" for d in range(len(xs)) if steps[d] < 0 and above_1(shape(y)[d])]
    index = " + ".join([u32(base), *terms]) + "".join(f" - {t}" for t in neg)
    return [_index_map(ctx, x, y, index)]


@register("Concat")
def concat(ctx: Ctx, node: Node) -> list[Dispatch]:
    y = node.outputs[0]
    axis = int(node.attrs["axis"])
    ys = shape(y)
    inner = prod(ys[axis + 1:])
    out_ax = ys[axis]
    parts = [(x, shape(x)[axis]) for x in ins(node)]
    # inputs the memory plan placed inside y (alias_concat) were written there by their producers
    placed = [_in_place(ctx, x, y) for x, _ in parts]
    if all(done or not x.size for (x, _), done in zip(parts, placed, strict=True)):
        return []
    if pack(y.dtype) > 1:
        return _concat_packed(ctx, y, parts, inner, out_ax, placed)
    out: list[Dispatch] = []
    offset = 0
    for (x, ax), done in zip(parts, placed, strict=True):
        if x.size and not done:
            t = bits_type(x.dtype)
            sh = Shader(ctx)
            src, dst = sh.read(x, t), sh.write(y, t)
            block = ax * inner
            body = (f"let o = (i / {u32(block)}) * {u32(out_ax * inner)} + {u32(offset * inner)} + i % {u32(block)};\n"
                    f"    {dst}[o] = {src}[i];")
            out.append(elementwise_dispatch(sh, x.size, body))
        offset += ax
    return out


def _in_place(ctx: Ctx, x: Value, y: Value) -> bool:
    s = ctx.plan.slice_of(x)
    return s is not None and s[0] is y


def _concat_packed(
    ctx: Ctx, y: Value, parts: list[tuple[Value, int]], inner: int, out_ax: int, placed: list[bool]
) -> list[Dispatch]:
    """One thread per output word (a word may hold elements of two inputs); the elements of inputs
    already in place are read back from y itself, so their words are rewritten unchanged."""
    sh = Shader(ctx)
    if any(placed):
        sh.write(y, storage_type(y.dtype))  # first: reading y then binds the same, writable, binding
    parts = [(y if done else x, ax) for (x, ax), done in zip(parts, placed, strict=True) if x.size]
    if len({id(x) for x, _ in parts} | {id(y)}) > MAX_BINDINGS:
        raise Unsupported(f"Concat of {len(parts)} packed ({y.dtype.value if y.dtype else '?'}) inputs")
    lines = [f"let q = (i / {u32(inner)}) % {u32(out_ax)};", f"let outer = i / {u32(inner * out_ax)};",
             f"let r = i % {u32(inner)};", f"var v: {arith_type(y.dtype)};"]
    start = 0
    for j, (x, ax) in enumerate(parts):
        cond = f"if (q < {u32(start + ax)}) " if j < len(parts) - 1 else ""
        els = "else " if j else ""
        src = sh.at(x, "i") if x is y else sh.at(x, f"(outer * {u32(ax)} + q - {u32(start)}) * {u32(inner)} + r")
        lines.append(f"{els}{cond}{{ v = {src}; }}")
        start += ax
    return [map_dispatch(sh, y, "\n    ".join(lines), "v")]


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


@register("Pad")
def pad(ctx: Ctx, node: Node) -> list[Dispatch]:
    """Modes constant, edge, wrap and reflect (the edge element not repeated), per axis."""
    x, y = ins(node)[0], node.outputs[0]
    xs, ys = shape(x), shape(y)
    rank = len(xs)
    pads = [int(p) for p in node.attrs["pads"]]
    mode = str(node.attrs["mode"])
    sh = Shader(ctx)
    value = literal(y.dtype, node.attrs.get("value", 0))
    if x.size == 0:
        return [map_dispatch(sh, y, "", value)]
    st = strides(xs)
    lines = [unravel("i", ys), "var inside = true;"]
    for d in range(rank):
        n = xs[d]
        lines.append(f"var s{d} = i32(c{d}) - {pads[d]}i;")
        if pads[d] == 0 and pads[d + rank] == 0:
            continue
        if mode == "constant":
            lines.append(f"if (s{d} < 0i || s{d} >= {n}i) {{ inside = false; s{d} = 0i; }}")
        elif mode == "edge":
            lines.append(f"s{d} = clamp(s{d}, 0i, {n - 1}i);")
        elif mode == "wrap":
            lines.append(f"s{d} = ((s{d} % {n}i) + {n}i) % {n}i;")
        elif mode == "reflect":
            if n == 1:
                lines.append(f"s{d} = 0i;")
            else:
                per = 2 * (n - 1)
                lines.append(f"s{d} = ((s{d} % {per}i) + {per}i) % {per}i;")
                lines.append(f"if (s{d} >= {n}i) {{ s{d} = {per}i - s{d}; }}")
        else:
            raise Unsupported(f"mode {mode!r}")
    idx = " + ".join(f"u32(s{d}) * {u32(st[d])}" for d in range(rank)) or "0u"
    lines.append(f"var v = {value};")
    lines.append(f"if (inside) {{ v = {sh.at(x, idx)}; }}")
    return [map_dispatch(sh, y, "\n    ".join(lines), "v")]


@register("Gather")
def gather(ctx: Ctx, node: Node) -> list[Dispatch]:
    x, idx = ins(node)
    y = node.outputs[0]
    axis = int(node.attrs["axis"])
    xs = shape(x)
    n_idx, inner, dim = idx.size, prod(xs[axis + 1:]), xs[axis]
    sh = Shader(ctx)
    k = index_i32(sh, idx, f"(i / {u32(inner)}) % {u32(n_idx)}")
    pre = f"let kk = {_norm(k, dim)};"
    src = sh.at(x, f"((i / {u32(inner * n_idx)}) * {u32(dim)} + kk) * {u32(inner)} + i % {u32(inner)}")
    return [map_dispatch(sh, y, pre, src, _index_helpers(pre))]


@register("GatherElements")
def gather_elements(ctx: Ctx, node: Node) -> list[Dispatch]:
    x, idx = ins(node)
    y = node.outputs[0]
    axis = int(node.attrs["axis"])
    xs, st = shape(x), strides(shape(x))
    sh = Shader(ctx)
    k = index_i32(sh, idx, "i")
    index = dot("c", [0 if d == axis else s for d, s in enumerate(st)], f"kk * {u32(st[axis])}")
    pre = f"{unravel('i', shape(y))}\n    let kk = {_norm(k, xs[axis])};"
    return [map_dispatch(sh, y, pre, sh.at(x, index), _index_helpers(pre))]


def _nd_offset(sh: Shader, x_shape: tuple[int, ...], idx: Value, batch_dims: int, t: str) -> str:
    """WGSL lines defining `off`: the element offset in x of index tuple `t` (GatherND / ScatterND)."""
    ish = shape(idx)
    k = ish[-1]
    tuples = prod(ish[:-1])
    batch = prod(x_shape[:batch_dims])
    per_batch = tuples // batch if batch else 0
    st = strides(x_shape)
    lines = [f"var off = ({t} / {u32(smax(per_batch, 1))}) * {u32(prod(x_shape[batch_dims:]))};"]
    for j in range(k):
        d = batch_dims + j
        kj = index_i32(sh, idx, f"{t} * {u32(k)} + {u32(j)}")
        lines.append(f"off = off + {_norm(kj, x_shape[d])} * {u32(st[d])};")
    return "\n    ".join(lines)


@register("GatherND")
def gather_nd(ctx: Ctx, node: Node) -> list[Dispatch]:
    x, idx = ins(node)
    y = node.outputs[0]
    bd = int(node.attrs.get("batch_dims", 0))
    xs = shape(x)
    slice_ = prod(xs[bd + shape(idx)[-1]:])
    sh = Shader(ctx)
    pre = f"let t = i / {u32(slice_)};\n    {_nd_offset(sh, xs, idx, bd, 't')}"
    return [map_dispatch(sh, y, pre, sh.at(x, f"off + i % {u32(slice_)}"), _index_helpers(pre))]


_SCATTER = {"none": "u", "add": "v + u", "mul": "v * u", "max": "max(v, u)", "min": "min(v, u)"}


@register("ScatterND")
def scatter_nd(ctx: Ctx, node: Node) -> list[Dispatch]:
    """Each output element starts from data and applies, in order, every update that hits it."""
    x, idx, upd = ins(node)
    y = node.outputs[0]
    red = str(node.attrs.get("reduction", "none"))
    if red not in _SCATTER or (red != "none" and arith_type(y.dtype) in ("bool", "vec2<u32>")):
        raise Unsupported(f"reduction {red!r} on {y.dtype.value if y.dtype else '?'}")
    ys = shape(y)
    ish = shape(idx)
    tuples = prod(ish[:-1])
    slice_ = prod(ys[ish[-1]:])
    sh = Shader(ctx)
    lines = [f"var v = {sh.at(x, 'i')};"]
    if tuples and upd.size:
        lines += [f"for (var t = 0u; t < {u32(tuples)}; t = t + 1u) {{", f"    {_nd_offset(sh, ys, idx, 0, 't')}",
                  f"    if (i >= off && i < off + {u32(slice_)}) {{",
                  f"        let u = {sh.at(upd, f't * {u32(slice_)} + i - off')};",
                  f"        v = {_SCATTER[red]};", "    }", "}"]
    return [map_dispatch(sh, y, "\n    ".join(lines), "v", _index_helpers(*lines))]


@register("ScatterElements", "Scatter")  # Scatter: the opset 9-10 name, renamed by the rule
def scatter_elements(ctx: Ctx, node: Node) -> list[Dispatch]:
    """Each output element starts from data and applies, in order, every update whose target is it
    (O(updates) per element, as ScatterND)."""
    x, idx, upd = ins(node)
    y = node.outputs[0]
    red = str(node.attrs.get("reduction", "none"))
    if red not in _SCATTER or (red != "none" and arith_type(y.dtype) in ("bool", "vec2<u32>")):
        raise Unsupported(f"reduction {red!r} on {y.dtype.value if y.dtype else '?'}")
    ys, ish = shape(y), shape(idx)
    axis = int(node.attrs["axis"])
    yst, ist = strides(ys), strides(ish)
    sh = Shader(ctx)
    k = index_i32(sh, idx, "j")
    terms = " + ".join(f"((j / {u32(ist[d])}) % {u32(ish[d])}) * {u32(yst[d])}" for d in range(len(ys)) if d != axis)
    lines = [f"var v = {sh.at(x, 'i')};"]
    if prod(ish):
        lines += [f"for (var j = 0u; j < {u32(prod(ish))}; j = j + 1u) {{",
                  f"    let kk = {_norm(k, ys[axis])};",
                  f"    let off = {terms or '0u'} + kk * {u32(yst[axis])};",
                  f"    if (off == i) {{ let u = {sh.at(upd, 'j')}; v = {_SCATTER[red]}; }}", "}"]
    return [map_dispatch(sh, y, "\n    ".join(lines), "v", _index_helpers(*lines))]


@register("OneHot")
def one_hot(ctx: Ctx, node: Node) -> list[Dispatch]:
    (idx,) = ins(node)[:1]
    y = node.outputs[0]
    depth, axis = int(node.attrs["depth"]), int(node.attrs["axis"])
    off, on = (literal(y.dtype, v) for v in node.attrs["values"])
    ish = shape(idx)
    inner = prod(ish[axis:])
    sh = Shader(ctx)
    at = f"(i / {u32(depth * inner)}) * {u32(inner)} + i % {u32(inner)}"
    t = arith_type(idx.dtype)
    if t == "f32":
        k = f"i32(trunc({sh.at(idx, at)}))"
    elif t in ("i32", "u32"):
        k = f"i32({sh.at(idx, at)})"
    else:
        k = index_i32(sh, idx, at)
    pre = f"var k = {k};\n    if (k < 0i) {{ k = k + {depth}i; }}"
    return [map_dispatch(sh, y, pre, f"select({off}, {on}, k == i32((i / {u32(inner)}) % {u32(depth)}))",
                         _index_helpers(pre))]


@register("Trilu")
def trilu(ctx: Ctx, node: Node) -> list[Dispatch]:
    x, y = ins(node)[0], node.outputs[0]
    ys = shape(y)
    k = int(node.attrs.get("k", 0))
    upper = int(node.attrs.get("upper", 1))
    sh = Shader(ctx)
    r, c = len(ys) - 2, len(ys) - 1
    diff = f"i32(c{c}) - i32(c{r})"
    keep = f"{diff} >= {k}i" if upper else f"{diff} <= {k}i"
    v = sh.at(x, "i")
    zero = literal(y.dtype, 0)
    return [map_dispatch(sh, y, unravel("i", ys), f"select({zero}, {v}, {keep})")]


@register("DepthToSpace", "SpaceToDepth")
def depth_space(ctx: Ctx, node: Node) -> list[Dispatch]:
    x, y = ins(node)[0], node.outputs[0]
    b = int(node.attrs["blocksize"])
    mode = str(node.attrs.get("mode", "DCR"))
    xs, ys = shape(x), shape(y)
    xst = strides(xs)
    if node.op_type == "DepthToSpace":  # y[n, c, h*b+i, w*b+j] = x[n, ch(c, i, j), h, w]
        cy = ys[1]
        ch = f"c1 * {u32(b * b)} + (c2 % {u32(b)}) * {u32(b)} + c3 % {u32(b)}" if mode == "CRD" else \
            f"((c2 % {u32(b)}) * {u32(b)} + c3 % {u32(b)}) * {u32(cy)} + c1"
        index = (f"c0 * {u32(xst[0])} + ({ch}) * {u32(xst[1])} + (c2 / {u32(b)}) * {u32(xst[2])} + "
                 f"c3 / {u32(b)}")
    else:  # y[n, (i*b+j)*C + c, h, w] = x[n, c, h*b+i, w*b+j]  (DCR; CRD: c*b*b + i*b + j)
        cx = xs[1]
        if mode == "CRD":
            c, blk = f"c1 / {u32(b * b)}", f"c1 % {u32(b * b)}"
        else:
            c, blk = f"c1 % {u32(cx)}", f"c1 / {u32(cx)}"
        index = (f"c0 * {u32(xst[0])} + ({c}) * {u32(xst[1])} + (c2 * {u32(b)} + ({blk}) / {u32(b)}) * "
                 f"{u32(xst[2])} + c3 * {u32(b)} + ({blk}) % {u32(b)}")
    return [_index_map(ctx, x, y, index)]


@register(*(VIEW_OPS - {"Identity"}))
def copy(ctx: Ctx, node: Node) -> list[Dispatch]:
    """Reshape-like ops that are not zero-copy views here (a dtype change or Dropout's mask)."""
    x = ins(node)[0]
    y = node.outputs[0]
    out: list[Dispatch] = []
    if x.dtype == y.dtype:
        sh = Shader(ctx)
        out.append(map_dispatch(sh, y, "", sh.at(x, "i")))
    else:
        raise Unsupported(f"{node.op_type} from {x.dtype} to {y.dtype}")
    for mask in node.outputs[1:]:
        if mask.size:
            sh = Shader(ctx)
            out.append(map_dispatch(sh, mask, "", literal(mask.dtype, 1)))
    return out


