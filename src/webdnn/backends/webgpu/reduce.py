"""Workgroup reductions: Reduce*, GlobalAverage/MaxPool, Softmax/LogSoftmax, LayerNormalization.

One workgroup of 64 threads per output row: each thread folds a strided share of the
row, then a tree reduction in workgroup memory (`wg_<op>`) combines the 64 partials.
"""

from __future__ import annotations

from webdnn.backends.webgpu.expr_wgsl import log_ieee
from webdnn.backends.webgpu.wgsl import (
    MINMAX_NAN,
    NAN,
    NEG_INF,
    POS_INF,
    Ctx,
    Dispatch,
    Shader,
    Unsupported,
    arith_type,
    broadcast_strides,
    dot,
    elementwise_dispatch,
    f32,
    ins,
    is_nan,
    literal,
    map_dispatch,
    need_f32,
    need_float,
    prod,
    register,
    rowwise_dispatch,
    shape,
    storage_type,
    store,
    strides,
    u32,
    unravel,
)
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Node, Value
from webdnn.ir.symbolic import smax

WG = 64


def wg_reduce(name: str, combine: str) -> str:
    """`fn wg_{name}(v, lid) -> f32`: combine v over the workgroup (every thread gets the result)."""
    return f"""fn wg_{name}(v: f32, lid: u32) -> f32 {{
    red[lid] = v;
    workgroupBarrier();
    for (var s = {WG // 2}u; s > 0u; s = s >> 1u) {{
        if (lid < s) {{ let a = red[lid]; let b = red[lid + s]; red[lid] = {combine}; }}
        workgroupBarrier();
    }}
    let r = red[0];
    workgroupBarrier();
    return r;
}}
"""


SHARED = f"var<workgroup> red: array<f32, {WG}>;\n"

# op: (initial value, map of x, combine of a and b, final of s and count R)
REDUCE: dict[str, tuple[str, str, str, str]] = {
    "ReduceSum": ("0.0", "x", "a + b", "s"),
    "ReduceMean": ("0.0", "x", "a + b", "s / R"),
    "ReduceMax": (NEG_INF, "x", "max(a, b)", "s"),
    "ReduceMin": (POS_INF, "x", "min(a, b)", "s"),
    "ReduceProd": ("1.0", "x", "a * b", "s"),
    "ReduceL1": ("0.0", "abs(x)", "a + b", "s"),
    "ReduceL2": ("0.0", "x * x", "a + b", "sqrt(s)"),
    "ReduceSumSquare": ("0.0", "x * x", "a + b", "s"),
    "ReduceLogSum": ("0.0", "x", "a + b", log_ieee("s")),  # -inf for an empty set or a zero sum
    # a row max that is NaN or infinite is the result (as onnxruntime: NaN, inf, or -inf for all -inf)
    "ReduceLogSumExp": ("0.0", "exp(x - mx)", "a + b",
                        "select(mx, log(s) + mx, (bitcast<u32>(mx) & 0x7fffffffu) < 0x7f800000u)"),
}


def _reduce(ctx: Ctx, op: str, x: Value, y: Value, axes: list[int]) -> Dispatch:
    need_float(x, y)
    init, fmap, comb, final = REDUCE[op]
    if x.size == 0:  # an empty reduction: the identity, through the same final expression
        sh = Shader(ctx)
        return map_dispatch(sh, y, f"let s = {init};\n    let R = 0.0;\n    let mx = {NEG_INF};", final)
    xs = shape(x)
    st = strides(xs)
    kept = [d for d in range(len(xs)) if d not in axes]
    red_shape = [xs[a] for a in axes]
    r = prod(red_shape)
    sh = Shader(ctx)
    by = sh.write(y, storage_type(y.dtype))
    helpers = SHARED + wg_reduce("op", comb)
    base = f"{unravel('row', [xs[d] for d in kept], 'o')}\n    let base = {dot('o', [st[d] for d in kept])};"
    off = f"{unravel('r', red_shape, 'q')}\n        let x = {sh.at(x, 'base + ' + dot('q', [st[a] for a in axes]))};"
    pre = ""
    if op == "ReduceLogSumExp":
        helpers += MINMAX_NAN + wg_reduce("max", "max_nan(a, b)")
        pre = f"""var m = {NEG_INF};
    for (var r = lid; r < {u32(r)}; r = r + {WG}u) {{
        {off}
        m = max_nan(m, x);
    }}
    let mx = wg_max(m, lid);
    """
    body = f"""{base}
    {pre}var acc = {init};
    for (var r = lid; r < {u32(r)}; r = r + {WG}u) {{
        {off}
        let a = acc; let b = {fmap}; acc = {comb};
    }}
    let s = wg_op(acc, lid);
    let R = f32({r});
    if (lid == 0u) {{ {store(by, y.dtype, "row", final)} }}"""
    return rowwise_dispatch(sh, y.size, body, helpers, WG * 4)


@register(*REDUCE)
def reduce(ctx: Ctx, node: Node) -> list[Dispatch]:
    x, y = ins(node)[0], node.outputs[0]
    return [_reduce(ctx, node.op_type, x, y, [int(a) for a in node.attrs["axes"]])]


@register("GlobalAveragePool", "GlobalMaxPool")
def global_pool(ctx: Ctx, node: Node) -> list[Dispatch]:
    x, y = ins(node)[0], node.outputs[0]
    op = "ReduceMean" if node.op_type == "GlobalAveragePool" else "ReduceMax"
    return [_reduce(ctx, op, x, y, list(range(2, len(shape(x)))))]


@register("Softmax", "LogSoftmax")
def softmax(ctx: Ctx, node: Node) -> list[Dispatch]:
    x, y = ins(node)[0], node.outputs[0]
    need_f32(x, y)
    xs = shape(x)
    axis = int(node.attrs["axis"])
    if node.attrs.get("coerce_2d"):
        n, inner = prod(xs[axis:]), 1
    else:
        n, inner = xs[axis], prod(xs[axis + 1:])
    rows = prod(xs) // smax(n, 1)
    sh = Shader(ctx)
    bx, by = sh.read(x), sh.write(y)
    at = f"(row / {u32(inner)}) * {u32(n * inner)} + row % {u32(inner)} + j * {u32(inner)}"
    # As onnxruntime: a row holding NaN or +inf, or only -inf, is NaN throughout (the max keeps
    # NaN; a row whose max is not finite is written NaN); -inf entries of other rows are exactly
    # 0 (LogSoftmax: -inf).
    out = "x - mx - log(s)" if node.op_type == "LogSoftmax" else "exp(x - mx) / s"
    out = f"select({NAN}, {out}, finite)"
    body = f"""var m = {NEG_INF};
    for (var j = lid; j < {u32(n)}; j = j + {WG}u) {{ m = max_nan(m, {bx}[{at}]); }}
    let mx = wg_max(m, lid);
    let finite = (bitcast<u32>(mx) & 0x7fffffffu) < 0x7f800000u;
    var acc = 0.0;
    for (var j = lid; j < {u32(n)}; j = j + {WG}u) {{ acc = acc + exp({bx}[{at}] - mx); }}
    let s = wg_sum(acc, lid);
    for (var j = lid; j < {u32(n)}; j = j + {WG}u) {{ let x = {bx}[{at}]; {by}[{at}] = {out}; }}"""
    helpers = SHARED + MINMAX_NAN + wg_reduce("max", "max_nan(a, b)") + wg_reduce("sum", "a + b")
    return [rowwise_dispatch(sh, rows, body, helpers, WG * 4)]


def _param(sh: Shader, v: Value | None, norm_shape: tuple[int, ...], default: str) -> str:
    if v is None:
        return default
    buf = sh.read(v)
    s = shape(v)
    if prod(s) == 1:
        return f"{buf}[0]"
    if tuple(s) == norm_shape[len(norm_shape) - len(s):] and prod(s) == prod(norm_shape):
        return f"{buf}[j]"
    return f"{buf}[{dot('c', broadcast_strides(s, norm_shape))}]"


@register("LayerNormalization")
def layer_norm(ctx: Ctx, node: Node) -> list[Dispatch]:
    x, y = node.inputs[0], node.outputs[0]
    assert x is not None
    # the optional outputs Mean and InvStdDev: one value per row
    stats = [(v, name) for v, name in zip(node.outputs[1:3], ("mean", "inv"), strict=False) if v is not None and v.size]
    need_f32(x, y, node.input(1), node.input(2), *(v for v, _ in stats))
    xs = shape(x)
    axis = int(node.attrs["axis"])
    norm = tuple(xs[axis:])
    n = prod(norm)
    sh = Shader(ctx)
    bx = sh.read(x)
    scale = _param(sh, node.input(1), norm, "1.0")
    bias = _param(sh, node.input(2), norm, "0.0")
    by = sh.write(y)
    extra = [(sh.write(v), name) for v, name in stats]
    coords = unravel("j", norm) if "[c" in scale + bias else ""
    body = f"""let base = row * {u32(n)};
    var acc = 0.0;
    for (var j = lid; j < {u32(n)}; j = j + {WG}u) {{ acc = acc + {bx}[base + j]; }}
    let mean = wg_sum(acc, lid) / f32({n});
    var acc2 = 0.0;
    for (var j = lid; j < {u32(n)}; j = j + {WG}u) {{ let d = {bx}[base + j] - mean; acc2 = acc2 + d * d; }}
    let inv = 1.0 / sqrt(wg_sum(acc2, lid) / f32({n}) + {float(node.attrs["epsilon"])!r});
    for (var j = lid; j < {u32(n)}; j = j + {WG}u) {{
        {coords}
        {by}[base + j] = ({bx}[base + j] - mean) * inv * {scale} + {bias};
    }}"""
    for buf, val in extra:
        body += f"\n    if (lid == 0u) {{ {buf}[row] = {val}; }}"
    return [rowwise_dispatch(sh, prod(xs[:axis]), body, SHARED + wg_reduce("sum", "a + b"), WG * 4)]


def _around(xs: tuple[int, ...], axis: int) -> tuple[int, int, int]:
    return prod(xs[:axis]), xs[axis], prod(xs[axis + 1:])


@register("ArgMax", "ArgMin")
def arg_reduce(ctx: Ctx, node: Node) -> list[Dispatch]:
    """One thread per output element walks its axis; strictly better wins (ties: first index,
    or the last with select_last_index)."""
    x, y = ins(node)[0], node.outputs[0]
    _, dim, inner = _around(shape(x), int(node.attrs["axis"]))
    cmp = ">" if node.op_type == "ArgMax" else "<"
    if int(node.attrs.get("select_last_index", 0)):
        cmp += "="
    sh = Shader(ctx)
    if arith_type(x.dtype) not in ("f32", "i32", "u32"):
        raise Unsupported(f"{node.op_type} of {x.dtype.value if x.dtype else '?'} tensors")
    base = f"(i / {u32(inner)}) * {u32(dim * inner)} + i % {u32(inner)}"
    pre = f"""let b = {base};
    var best = {sh.at(x, "b")};
    var at = 0u;
    for (var a = 1u; a < {u32(dim)}; a = a + 1u) {{
        let v = {sh.at(x, f"b + a * {u32(inner)}")};
        if (v {cmp} best) {{ best = v; at = a; }}
    }}"""
    return [map_dispatch(sh, y, pre, "vec2<u32>(at, 0u)")]


@register("Hardmax")
def hardmax(ctx: Ctx, node: Node) -> list[Dispatch]:
    """1 where the element is its row's first maximum, else 0 (one thread per element)."""
    x, y = ins(node)[0], node.outputs[0]
    need_f32(x, y)
    xs = shape(x)
    axis = int(node.attrs["axis"])
    if node.attrs.get("coerce_2d"):
        n, inner = prod(xs[axis:]), 1
    else:
        n, inner = xs[axis], prod(xs[axis + 1:])
    sh = Shader(ctx)
    bx = sh.read(x)
    pre = f"""let k = (i / {u32(inner)}) % {u32(n)};
    let b = (i / {u32(n * inner)}) * {u32(n * inner)} + i % {u32(inner)};
    var best = {bx}[b];
    var at = 0u;
    for (var a = 1u; a < {u32(n)}; a = a + 1u) {{
        let v = {bx}[b + a * {u32(inner)}];
        if (v > best) {{ best = v; at = a; }}
    }}"""
    return [map_dispatch(sh, y, pre, "select(0.0, 1.0, at == k)")]


# `topk_gt(p, q)`: p ranks above q as a largest-first TopK orders them, per element type. NaN
# ranks above every number (as torch.topk and numpy's sort): the order stays total, so the
# ranks of a row are a permutation; int64 compares its words (high signed, then low unsigned).
_TOPK_GT = {
    DType.FLOAT32: f"fn topk_gt(p: f32, q: f32) -> bool {{ return p > q || ({is_nan('p')} && !{is_nan('q')}); }}\n",
    DType.INT32: "fn topk_gt(p: i32, q: i32) -> bool { return p > q; }\n",
    DType.INT64: ("fn topk_gt(p: vec2<u32>, q: vec2<u32>) -> bool {\n"
                  "    return bitcast<i32>(p.y) > bitcast<i32>(q.y) || (p.y == q.y && p.x > q.x);\n}\n"),
}


@register("TopK")
def topk(ctx: Ctx, node: Node) -> list[Dispatch]:
    """One thread per input element counts the elements of its row ranked before it: better
    values, and equal ones at a lower index (largest or smallest first; ties in index order, as
    the spec asks; always sorted). Ranks below k scatter the element and its index to that
    output position: each written once. O(n) per thread, O(n^2) per row of n along the axis."""
    x = ins(node)[0]
    vals, idx = node.outputs[0], node.outputs[1]
    gt = _TOPK_GT.get(x.dtype) if x.dtype else None
    if gt is None:
        raise Unsupported(f"TopK of {x.dtype.value if x.dtype else '?'} tensors")
    _, dim, inner = _around(shape(x), int(node.attrs["axis"]))
    k = node.attrs["k"]  # an int, or a symbolic size (k from a value input)
    better = "topk_gt(w, v)" if int(node.attrs["largest"]) else "topk_gt(v, w)"  # w ranks above v
    worse = "topk_gt(v, w)" if int(node.attrs["largest"]) else "topk_gt(w, v)"
    sh = Shader(ctx)
    v_at, w_at = sh.at(x, "i"), sh.at(x, f"b + c * {u32(inner)}")
    dv, di = sh.write(vals, storage_type(vals.dtype)), sh.write(idx, storage_type(idx.dtype))
    body = f"""let a = (i / {u32(inner)}) % {u32(dim)};
    let row = i / {u32(dim * inner)};
    let b = row * {u32(dim * inner)} + i % {u32(inner)};
    let v = {v_at};
    var r = 0u;
    for (var c = 0u; c < {u32(dim)}; c = c + 1u) {{
        let w = {w_at};
        if ({better} || (c < a && !{worse})) {{ r = r + 1u; }}
    }}
    if (r < {u32(k)}) {{
        let o = row * {u32(k * inner)} + r * {u32(inner)} + i % {u32(inner)};
        {store(dv, vals.dtype, "o", "v")}
        {store(di, idx.dtype, "o", "vec2<u32>(a, 0u)")}
    }}"""
    return [elementwise_dispatch(sh, x.size, body, gt)]


@register("CumSum", "CumProd")
def cumsum(ctx: Ctx, node: Node) -> list[Dispatch]:
    x, y = ins(node)[0], node.outputs[0]
    t = arith_type(x.dtype)
    if t not in ("f32", "i32", "u32"):
        raise Unsupported(f"{node.op_type} of {x.dtype.value if x.dtype else '?'} tensors")
    op = "*" if node.op_type == "CumProd" else "+"
    _, dim, inner = _around(shape(x), int(node.attrs["axis"]))
    excl, rev = int(node.attrs.get("exclusive", 0)), int(node.attrs.get("reverse", 0))
    sh = Shader(ctx)
    lo, hi = ("k + 1u", u32(dim)) if rev else ("0u", "k")
    if not excl:
        lo, hi = ("k", u32(dim)) if rev else ("0u", "k + 1u")
    pre = f"""let k = (i / {u32(inner)}) % {u32(dim)};
    let b = (i / {u32(dim * inner)}) * {u32(dim * inner)} + i % {u32(inner)};
    var acc = {literal(x.dtype, 1 if op == "*" else 0)};
    for (var a = {lo}; a < {hi}; a = a + 1u) {{ acc = acc {op} {sh.at(x, f"b + a * {u32(inner)}")}; }}"""
    return [map_dispatch(sh, y, pre, "acc")]


@register("InstanceNormalization")
def instance_norm(ctx: Ctx, node: Node) -> list[Dispatch]:
    x, sc, bi = ins(node)[:3]
    y = node.outputs[0]
    need_f32(x, sc, bi, y)
    xs = shape(x)
    c, n = xs[1], prod(xs[2:])
    sh = Shader(ctx)
    bx, bs, bb, by = sh.read(x), sh.read(sc), sh.read(bi), sh.write(y)
    body = f"""let base = row * {u32(n)};
    let ch = row % {u32(c)};
    var acc = 0.0;
    for (var j = lid; j < {u32(n)}; j = j + {WG}u) {{ acc = acc + {bx}[base + j]; }}
    let mean = wg_sum(acc, lid) / f32({n});
    var acc2 = 0.0;
    for (var j = lid; j < {u32(n)}; j = j + {WG}u) {{ let d = {bx}[base + j] - mean; acc2 = acc2 + d * d; }}
    let inv = 1.0 / sqrt(wg_sum(acc2, lid) / f32({n}) + {f32(float(node.attrs["epsilon"]))});
    for (var j = lid; j < {u32(n)}; j = j + {WG}u) {{
        {by}[base + j] = ({bx}[base + j] - mean) * inv * {bs}[ch] + {bb}[ch];
    }}"""
    return [rowwise_dispatch(sh, xs[0] * c, body, SHARED + wg_reduce("sum", "a + b"), WG * 4)]


@register("LpNormalization")
def lp_norm(ctx: Ctx, node: Node) -> list[Dispatch]:
    x, y = ins(node)[0], node.outputs[0]
    need_f32(x, y)
    _, dim, inner = _around(shape(x), int(node.attrs["axis"]))
    p = int(node.attrs["p"])
    sh = Shader(ctx)
    bx = sh.read(x)
    term = "abs(v)" if p == 1 else "v * v"
    norm = "acc" if p == 1 else "sqrt(acc)"
    pre = f"""let b = (i / {u32(dim * inner)}) * {u32(dim * inner)} + i % {u32(inner)};
    var acc = 0.0;
    for (var a = 0u; a < {u32(dim)}; a = a + 1u) {{ let v = {bx}[b + a * {u32(inner)}]; acc = acc + {term}; }}"""
    return [map_dispatch(sh, y, pre, f"{bx}[i] * select(1.0 / {norm}, 0.0, acc == 0.0)")]  # a zero norm gives 0


@register("LRN")
def lrn(ctx: Ctx, node: Node) -> list[Dispatch]:
    x, y = ins(node)[0], node.outputs[0]
    need_f32(x, y)
    xs = shape(x)
    c, inner = xs[1], prod(xs[2:])
    size = int(node.attrs["size"])
    lo, hi = (size - 1) // 2, size - 1 - (size - 1) // 2
    alpha, beta, bias = (float(node.attrs[k]) for k in ("alpha", "beta", "bias"))
    sh = Shader(ctx)
    bx = sh.read(x)
    pre = f"""let ch = i32((i / {u32(inner)}) % {u32(c)});
    let b = i - u32(ch) * {u32(inner)};
    var acc = 0.0;
    for (var a = max(ch - {lo}i, 0i); a <= min(ch + {hi}i, {c - 1}i); a = a + 1i) {{
        let v = {bx}[b + u32(a) * {u32(inner)}];
        acc = acc + v * v;
    }}"""
    expr = f"{bx}[i] / pow({f32(bias)} + {f32(alpha / size)} * acc, {f32(beta)})"
    return [map_dispatch(sh, y, pre, expr)]


@register("BatchNormalization")
def batch_norm(ctx: Ctx, node: Node) -> list[Dispatch]:
    x, sc, bi, mean, var = ins(node)[:5]
    y = node.outputs[0]
    need_f32(x, sc, bi, mean, var, y)
    xs = shape(x)
    inner = prod(xs[2:])
    sh = Shader(ctx)
    eps = f32(float(node.attrs["epsilon"]))
    pre = f"let ch = (i / {u32(inner)}) % {u32(xs[1])};"
    expr = (f"({sh.at(x, 'i')} - {sh.at(mean, 'ch')}) * ({sh.at(sc, 'ch')} / sqrt({sh.at(var, 'ch')} + {eps})) "
            f"+ {sh.at(bi, 'ch')}")
    return [map_dispatch(sh, y, pre, expr)]
