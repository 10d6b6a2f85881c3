"""Workgroup reductions: Reduce*, GlobalAverage/MaxPool, Softmax/LogSoftmax, LayerNormalization.

One workgroup of 64 threads per output row: each thread folds a strided share of the
row, then a tree reduction in workgroup memory (`wg_<op>`) combines the 64 partials.
"""

from __future__ import annotations

from webdnn.backends.webgpu.wgsl import (
    NEG_INF,
    POS_INF,
    Ctx,
    Dispatch,
    Shader,
    Unsupported,
    broadcast_strides,
    dot,
    ins,
    need_f32,
    prod,
    register,
    rowwise_dispatch,
    shape,
    strides,
    u32,
    unravel,
)
from webdnn.ir.graph import Node, Value

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
    "ReduceLogSum": ("0.0", "x", "a + b", "log(s)"),
    "ReduceLogSumExp": ("0.0", "exp(x - mx)", "a + b", "log(s) + mx"),
}


def _reduce(ctx: Ctx, op: str, x: Value, y: Value, axes: list[int]) -> Dispatch:
    need_f32(x, y)
    xs = shape(x)
    st = strides(xs)
    kept = [d for d in range(len(xs)) if d not in axes]
    red_shape = [xs[a] for a in axes]
    r = prod(red_shape)
    init, fmap, comb, final = REDUCE[op]
    sh = Shader(ctx)
    bx, by = sh.read(x), sh.write(y)
    helpers = SHARED + wg_reduce("op", comb)
    base = f"{unravel('row', [xs[d] for d in kept], 'o')}\n    let base = {dot('o', [st[d] for d in kept])};"
    off = f"{unravel('r', red_shape, 'q')}\n        let x = {bx}[base + {dot('q', [st[a] for a in axes])}];"
    pre = ""
    if op == "ReduceLogSumExp":
        helpers += wg_reduce("max", "max(a, b)")
        pre = f"""var m = {NEG_INF};
    for (var r = lid; r < {u32(r)}; r = r + {WG}u) {{
        {off}
        m = max(m, x);
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
    if (lid == 0u) {{ {by}[row] = {final}; }}"""
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
    rows = prod(xs) // max(n, 1)
    sh = Shader(ctx)
    bx, by = sh.read(x), sh.write(y)
    at = f"(row / {u32(inner)}) * {u32(n * inner)} + row % {u32(inner)} + j * {u32(inner)}"
    out = "x - mx - log(s)" if node.op_type == "LogSoftmax" else "exp(x - mx) / s"
    body = f"""var m = {NEG_INF};
    for (var j = lid; j < {u32(n)}; j = j + {WG}u) {{ m = max(m, {bx}[{at}]); }}
    let mx = wg_max(m, lid);
    var acc = 0.0;
    for (var j = lid; j < {u32(n)}; j = j + {WG}u) {{ acc = acc + exp({bx}[{at}] - mx); }}
    let s = wg_sum(acc, lid);
    for (var j = lid; j < {u32(n)}; j = j + {WG}u) {{ let x = {bx}[{at}]; {by}[{at}] = {out}; }}"""
    helpers = SHARED + wg_reduce("max", "max(a, b)") + wg_reduce("sum", "a + b")
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
    if len(node.outputs) > 1:
        raise Unsupported("LayerNormalization's Mean/InvStdDev outputs")
    need_f32(x, y, node.input(1), node.input(2))
    xs = shape(x)
    axis = int(node.attrs["axis"])
    norm = tuple(xs[axis:])
    n = prod(norm)
    sh = Shader(ctx)
    bx = sh.read(x)
    scale = _param(sh, node.input(1), norm, "1.0")
    bias = _param(sh, node.input(2), norm, "0.0")
    by = sh.write(y)
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
    return [rowwise_dispatch(sh, prod(xs[:axis]), body, SHARED + wg_reduce("sum", "a + b"), WG * 4)]
