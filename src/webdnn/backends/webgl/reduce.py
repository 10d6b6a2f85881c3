"""Reductions in a few passes, never per element: Reduce* (one fragment per output
element loops over its reduced elements), Softmax/LogSoftmax (a stats pass writes each
row's max and sum of exp(x - max); a second pass normalizes) and LayerNormalization
(a stats pass writes each row's mean and 1/sqrt(var + eps), two-pass exact; a second
pass normalizes, scales and shifts). TopK in three passes: each element's rank in its row,
then each output's index (the position of that rank), then its value (read at the index)."""

from __future__ import annotations

import numpy as np

from webdnn.backends.webgl.core import Ctx, Pass, attr_float, ins, kernel, need_float, shape
from webdnn.backends.webgl.glsl import LOG, broadcast_index, coords, flt, is_nan, keep_nan, linear, strides
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Node, Value
from webdnn.ir.symbolic import prod as sym_prod
from webdnn.ir.symbolic import smax

NEG_INF = flt(-np.inf)
# (init, step over v, final) per Reduce op; `n` is the number of reduced elements.
REDUCERS = {
    "ReduceSum": ("0.0", "acc += v;", "acc"),
    "ReduceMean": ("0.0", "acc += v;", "acc / {n}"),
    "ReduceMax": (NEG_INF, "acc = (v > acc || isnan(v)) ? v : acc;", "acc"),
    "ReduceMin": (flt(np.inf), "acc = (v < acc || isnan(v)) ? v : acc;", "acc"),
    "ReduceProd": ("1.0", "acc *= v;", "acc"),
    "ReduceL1": ("0.0", "acc += abs(v);", "acc"),
    "ReduceL2": ("0.0", "acc += v * v;", "sqrt(acc)"),
    "ReduceSumSquare": ("0.0", "acc += v * v;", "acc"),
    "ReduceLogSum": ("0.0", "acc += v;", "log_(acc)"),
}


def _f32(node: Node, ctx: Ctx, v: Value) -> None:
    need_float(node, ctx, [v])


def _merge(dims: list[int], st: list[int]) -> tuple[list[int], list[int]]:
    """Merge neighbouring loop dims whose strides chain (row-major), dropping size-1 dims."""
    md: list[int] = []
    ms: list[int] = []
    for d, s in zip(dims, st, strict=True):
        if d == 1:
            continue
        if md and ms[-1] == s * d:
            md[-1] *= d
            ms[-1] = s
        else:
            md.append(d)
            ms.append(s)
    return md, ms


@kernel("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
        "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp")
def _reduce(ctx: Ctx, node: Node) -> list[Pass]:
    x = ins(node, ctx)[0]
    if node.op_type not in ("ReduceMax", "ReduceMin"):  # comparisons are exact on any dtype
        _f32(node, ctx, x)
    xs = shape(x)
    axes = sorted(int(a) % max(len(xs), 1) for a in node.attrs.get("axes", []))
    xst = strides(xs)
    kept = [d for d in range(len(xs)) if d not in axes]
    red_dims, red_st = _merge([xs[d] for d in axes], [xst[d] for d in axes])
    n = sym_prod(red_dims)
    base = linear([(f"c{i}", xst[d]) for i, d in enumerate(kept)])
    loop_idx = "0" if not red_dims else linear([(f"r{i}", s) for i, s in enumerate(red_st)], 0)
    lines = ["float compute(int o) {", f"  {coords('o', [xs[d] for d in kept], 'c')}", f"  int b = {base};"]
    if node.op_type == "ReduceLogSumExp":
        body_loop = "float v = X0(b + {i});"
        lines += [f"  float m = {NEG_INF};",
                  f"  for (int r = 0; r < {n}; r++) {{ {coords('r', red_dims, 'r')} "
                  f"{body_loop.format(i=loop_idx)} m = (v > m || {is_nan('v')}) ? v : m; }}",
                  # a NaN or infinite max is the result, as onnxruntime's (-inf for a row of -inf)
                  "  if ((floatBitsToUint(m) & 0x7fffffffu) >= 0x7f800000u) return m;",
                  "  float acc = 0.0;",
                  f"  for (int r = 0; r < {n}; r++) {{ {coords('r', red_dims, 'r')} "
                  f"{body_loop.format(i=loop_idx)} acc += exp(v - m); }}",
                  "  return m + log(acc);", "}"]
    else:
        init, step, final = REDUCERS[node.op_type]
        if x.dtype == DType.BOOL:  # an empty set's -inf (Max) / +inf (Min) is false / true, as is acc > 0
            final = "float({final} > 0.0)".replace("{final}", final)
        lines.insert(0, LOG)
        lines += [f"  float acc = {init};",
                  f"  for (int r = 0; r < {n}; r++) {{ {coords('r', red_dims, 'r')} float v = X0(b + {loop_idx}); "
                  f"{step} }}",
                  f"  return {final.format(n=flt(n))};", "}"]
    return [Pass(node.op_type, node.name, [x], node.outputs[0], "\n".join(lines))]


@kernel("Softmax", "LogSoftmax")
def _softmax(ctx: Ctx, node: Node) -> list[Pass]:
    x = ins(node, ctx)[0]
    _f32(node, ctx, x)
    xs = shape(x)
    axis = int(node.attrs.get("axis", len(xs) - 1))
    if node.attrs.get("coerce_2d"):
        n, inner = sym_prod(xs[axis:]), 1
    else:
        n, inner = xs[axis], sym_prod(xs[axis + 1 :])
    rows = sym_prod(xs) // smax(n, 1)
    stats = ctx.scratch(node.outputs[0].name + ".stats", (rows, 2))
    # As onnxruntime: a row holding NaN or +inf, or only -inf, is NaN throughout; -inf entries
    # of other rows are exactly 0 (LogSoftmax: -inf). The max keeps NaN, and a row whose max is
    # not finite gets NaN for both statistics, which the second pass passes on.
    stats_body = (
        "float compute(int o) {\n"
        f"  int r = o / 2; int b = (r / {inner}) * {n * inner} + r % {inner};\n"
        f"  float m = {NEG_INF};\n"
        f"  for (int k = 0; k < {n}; k++) {{ float v = X0(b + k * {inner}); m = (v > m || {is_nan('v')}) ? v : m; }}\n"
        "  if ((floatBitsToUint(m) & 0x7fffffffu) >= 0x7f800000u) return uintBitsToFloat(0x7fc00000u);\n"
        "  if (o % 2 == 0) return m;\n"
        "  float s = 0.0;\n"
        f"  for (int k = 0; k < {n}; k++) s += exp(X0(b + k * {inner}) - m);\n"
        "  return s;\n}\n"
    )
    out = "exp(x - m) / s" if node.op_type == "Softmax" else "x - m - log(s)"
    norm_body = (
        "float compute(int o) {\n"
        f"  int r = (o / {n * inner}) * {inner} + o % {inner};\n"
        f"  float x = X0(o); float m = X1(2 * r); float s = X1(2 * r + 1);\n  return {keep_nan(out, 'm')};\n}}\n"
    )
    return [
        Pass(node.op_type + ".stats", node.name + ".stats", [x], stats, stats_body),
        Pass(node.op_type, node.name, [x, stats], node.outputs[0], norm_body),
    ]


@kernel("LayerNormalization")
def _layernorm(ctx: Ctx, node: Node) -> list[Pass]:
    xs_ = ins(node, ctx)
    x = xs_[0]
    _f32(node, ctx, x)
    xs = shape(x)
    axis = int(node.attrs.get("axis", -1)) % len(xs)
    eps = flt(attr_float(node.attrs.get("epsilon", 1e-5)))
    inner_shape = xs[axis:]
    n = sym_prod(inner_shape)
    rows = sym_prod(xs[:axis])
    stats = ctx.scratch(node.outputs[0].name + ".stats", (rows, 2))
    stats_body = _mean_rstd_body(n, eps)
    has_bias = len(xs_) > 2
    scale_idx = broadcast_index(inner_shape, shape(xs_[1]), "e", "e")
    bias_idx = broadcast_index(inner_shape, shape(xs_[2]), "e", "e") if has_bias else ""
    norm_body = "\n".join([
        "float compute(int o) {",
        f"  int r = o / {n}; int e = o % {n};",
        "  " + coords("e", inner_shape, "e"),
        "  float y = (X0(o) - X1(2 * r)) * X1(2 * r + 1);",
        f"  return y * X2({scale_idx})" + (f" + X3({bias_idx});" if has_bias else ";"),
        "}",
    ])
    inputs = [x, stats, xs_[1]] + ([xs_[2]] if has_bias else [])
    return [
        Pass("LayerNormalization.stats", node.name + ".stats", [x], stats, stats_body),
        Pass("LayerNormalization", node.name, inputs, node.outputs[0], norm_body),
    ]


def _around(xs: tuple[int, ...], axis: int) -> tuple[int, int]:
    """(dim, inner) of x viewed as [outer, dim, inner] around `axis`."""
    return xs[axis], sym_prod(xs[axis + 1:])


@kernel("ArgMax", "ArgMin")
def _argmax(ctx: Ctx, node: Node) -> list[Pass]:
    x = ins(node, ctx)[0]
    xs = shape(x)
    axis = int(node.attrs.get("axis", 0))
    dim, inner = _around(xs, axis)
    last = int(node.attrs.get("select_last_index", 0)) == 1
    cmp = (">" if node.op_type == "ArgMax" else "<") + ("=" if last else "")
    body = (
        "float compute(int o) {\n"
        f"  int b = (o / {inner}) * {dim * inner} + o % {inner};\n"
        "  float best = X0(b); int at = 0;\n"
        f"  for (int a = 1; a < {dim}; a++) {{\n"
        f"    float v = X0(b + a * {inner}); if (v {cmp} best) {{ best = v; at = a; }}\n  }}\n"
        "  return float(at);\n}\n"
    )
    return [Pass(node.op_type, node.name, [x], node.outputs[0], body)]


# TopK's order as a uint key (larger: first): float32 bits mapped to an unsigned order, every
# NaN one key above +inf (NaN is the largest value, as numpy's sort and torch.topk have it), -0 as
# +0; `smallest` flips the key. Equal keys keep index order. Integer dtypes arrive as exact floats.
TOPK_KEY = """
uint key_(float v) {
  uint u = v == 0.0 ? 0u : floatBitsToUint(v);
  if ((u & 0x7fffffffu) > 0x7f800000u) u = 0x7fc00000u;
  u = (u & 0x80000000u) != 0u ? ~u : (u | 0x80000000u);
  return %s;
}
"""


@kernel("TopK")
def _topk(ctx: Ctx, node: Node) -> list[Pass]:
    """Three passes (n = the axis' size, N = X's size), O(N * n) work in all:
    rank (shaped like X), O(n) per element: rank(a) = #{b: key(x[b]) > key(x[a]), or equal keys and b < a}, a
      permutation of 0..n-1 of each row (the keys order totally);
    Indices, O(n) per element: output (row, j) scans its row for the a whose rank is j;
    Values: X at that index (reads the Indices pass's output), O(1)."""
    x = ins(node, ctx)[0]
    xs = shape(x)
    axis = int(node.attrs["axis"])
    k = node.attrs["k"]  # an int, or a symbolic size (k from a value input): never int()-ed
    n, inner = _around(xs, axis)
    # divisors at least 1 (an empty tensor still computes its one padded texel)
    n1, k1, inner1 = smax(n, 1), smax(k, 1), smax(inner, 1)
    values = node.outputs[0]
    indices = node.outputs[1] if len(node.outputs) > 1 else None
    if indices is None:  # (the shape rule always gives both; an Indices never read is still computed)
        indices = ctx.scratch(values.name + ".indices", shape(values))
    rank = ctx.scratch(values.name + ".rank", xs)
    key = TOPK_KEY % ("u" if int(node.attrs.get("largest", 1)) == 1 else "~u")
    rank_body = key + (
        "float compute(int o) {\n"
        f"  int a = (o / {inner1}) % {n1}; int b = o - a * {inner1};\n"
        "  uint kv = key_(X0(o)); int r = 0;\n"
        f"  for (int j = 0; j < {n}; j++) {{\n"
        f"    uint kw = key_(X0(b + j * {inner1}));\n"
        "    if (kw > kv || (kw == kv && j < a)) r++;\n  }\n"
        "  return float(r);\n}\n"
    )
    index_body = (
        "float compute(int o) {\n"
        f"  int j = (o / {inner1}) % {k1};\n"
        f"  int b = (o / {k1 * inner1}) * {n * inner1} + o % {inner1};\n"
        "  float fj = float(j);\n"
        f"  for (int a = 0; a < {n}; a++) if (X0(b + a * {inner1}) == fj) return float(a);\n"
        "  return 0.0;\n}\n"
    )
    value_body = (
        "float compute(int o) {\n"
        f"  int b = (o / {k1 * inner1}) * {n * inner1} + o % {inner1};\n"
        f"  return X0(b + int(X1(o)) * {inner1});\n}}\n"
    )
    return [
        Pass("TopK.rank", node.name + ".rank", [x], rank, rank_body),
        Pass("TopK.indices", node.name + ".indices", [rank], indices, index_body),
        Pass("TopK", node.name, [x, indices], values, value_body),
    ]


@kernel("Hardmax")
def _hardmax(ctx: Ctx, node: Node) -> list[Pass]:
    x = ins(node, ctx)[0]
    need_float(node, ctx, [x])
    xs = shape(x)
    axis = int(node.attrs.get("axis", len(xs) - 1))
    if node.attrs.get("coerce_2d"):
        n, inner = sym_prod(xs[axis:]), 1
    else:
        n, inner = _around(xs, axis)
    body = (
        "float compute(int o) {\n"
        f"  int k = (o / {inner}) % {n}; int b = o - k * {inner};\n"
        f"  float best = {NEG_INF}; int at = 0;\n"
        f"  for (int a = 0; a < {n}; a++) {{ float v = X0(b + a * {inner}); if (v > best) {{ best = v; at = a; }} }}\n"
        "  return at == k ? 1.0 : 0.0;\n}\n"
    )
    return [Pass("Hardmax", node.name, [x], node.outputs[0], body)]


@kernel("CumSum", "CumProd")
def _cumsum(ctx: Ctx, node: Node) -> list[Pass]:
    x = ins(node, ctx)[0]
    xs = shape(x)
    dim, inner = _around(xs, int(node.attrs["axis"]))
    exclusive = int(node.attrs.get("exclusive", 0)) == 1
    reverse = int(node.attrs.get("reverse", 0)) == 1
    # the elements summed into position a: [0, a] (or [a, dim)), without a itself if exclusive
    # (f"{dim}", not str(): a symbolic length must become a placeholder in the source)
    lo, hi = ("a + 1" if exclusive else "a", f"{dim}") if reverse else ("0", "a" if exclusive else "a + 1")
    body = (
        "float compute(int o) {\n"
        f"  int a = (o / {inner}) % {dim}; int b = o - a * {inner};\n"
        f"  float acc = {'1.0' if node.op_type == 'CumProd' else '0.0'};\n"
        f"  for (int j = {lo}; j < {hi}; j++) acc {'*' if node.op_type == 'CumProd' else '+'}= X0(b + j * {inner});\n"
        "  return acc;\n}\n"
    )
    return [Pass(node.op_type, node.name, [x], node.outputs[0], body)]


@kernel("LpNormalization")
def _lpnorm(ctx: Ctx, node: Node) -> list[Pass]:
    x = ins(node, ctx)[0]
    need_float(node, ctx, [x])
    xs = shape(x)
    dim, inner = _around(xs, int(node.attrs.get("axis", -1)) % len(xs))
    p = int(node.attrs.get("p", 2))
    if p not in (1, 2):
        raise ctx.fail(node, f"supports LpNormalization p=1 and p=2 only (got {p})")
    step = "s += abs(v);" if p == 1 else "s += v * v;"
    norm = "s" if p == 1 else "sqrt(s)"
    body = (
        "float compute(int o) {\n"
        f"  int a = (o / {inner}) % {dim}; int b = o - a * {inner};\n"
        f"  float s = 0.0;\n  for (int j = 0; j < {dim}; j++) {{ float v = X0(b + j * {inner}); {step} }}\n"
        f"  float n = {norm};\n  return n == 0.0 ? 0.0 : X0(o) / n;\n}}\n"
    )
    return [Pass("LpNormalization", node.name, [x], node.outputs[0], body)]


@kernel("InstanceNormalization")
def _instancenorm(ctx: Ctx, node: Node) -> list[Pass]:
    x, scale, bias = ins(node, ctx, 3)
    need_float(node, ctx, [x])
    xs = shape(x)
    c = xs[1]
    n = sym_prod(xs[2:])
    rows = xs[0] * c
    eps = flt(attr_float(node.attrs.get("epsilon", 1e-5)))
    stats = ctx.scratch(node.outputs[0].name + ".stats", (rows, 2))
    norm_body = (
        "float compute(int o) {\n"
        f"  int r = o / {n}; int ch = r % {c};\n"
        "  return (X0(o) - X1(2 * r)) * X1(2 * r + 1) * X2(ch) + X3(ch);\n}\n"
    )
    return [
        Pass("InstanceNormalization.stats", node.name + ".stats", [x], stats, _mean_rstd_body(n, eps)),
        Pass("InstanceNormalization", node.name, [x, stats, scale, bias], node.outputs[0], norm_body),
    ]


def _mean_rstd_body(n: int, eps: str) -> str:
    """Stats pass over rows of `n` contiguous elements: element 2r = mean, 2r + 1 = 1/sqrt(var + eps)."""
    return (
        "float compute(int o) {\n"
        f"  int b = (o / 2) * {n};\n"
        "  float s = 0.0;\n"
        f"  for (int k = 0; k < {n}; k++) s += X0(b + k);\n"
        f"  float mean = s / {flt(n)};\n"
        "  if (o % 2 == 0) return mean;\n"
        "  float v = 0.0;\n"
        f"  for (int k = 0; k < {n}; k++) {{ float d = X0(b + k) - mean; v += d * d; }}\n"
        f"  return 1.0 / sqrt(v / {flt(n)} + {eps});\n}}\n"
    )


@kernel("LRN")
def _lrn(ctx: Ctx, node: Node) -> list[Pass]:
    x = ins(node, ctx)[0]
    need_float(node, ctx, [x])
    xs = shape(x)
    c = xs[1]
    plane = sym_prod(xs[2:])
    size = int(node.attrs["size"])
    alpha = attr_float(node.attrs.get("alpha", 1e-4)) / size
    beta = attr_float(node.attrs.get("beta", 0.75))
    bias = attr_float(node.attrs.get("bias", 1.0))
    before, after = (size - 1) // 2, size // 2
    body = (
        "float compute(int o) {\n"
        f"  int ch = (o / {plane}) % {c};\n"
        f"  int c0 = max(0, ch - {before}); int c1 = min({c - 1}, ch + {after});\n"
        f"  float s = 0.0;\n  for (int k = c0; k <= c1; k++) {{ float v = X0(o + (k - ch) * {plane}); s += v * v; }}\n"
        f"  return X0(o) / pow({flt(bias)} + {flt(alpha)} * s, {flt(beta)});\n}}\n"
    )
    return [Pass("LRN", node.name, [x], node.outputs[0], body)]
