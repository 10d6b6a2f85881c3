"""Reductions in a few passes, never per element: Reduce* (one fragment per output
element loops over its reduced elements), Softmax/LogSoftmax (a stats pass writes each
row's max and sum of exp(x - max); a second pass normalizes) and LayerNormalization
(a stats pass writes each row's mean and 1/sqrt(var + eps), two-pass exact; a second
pass normalizes, scales and shifts)."""

from __future__ import annotations

import numpy as np

from webdnn.backends.webgl.core import Ctx, Pass, attr_float, ins, kernel, need_float, shape
from webdnn.backends.webgl.glsl import broadcast_index, coords, flt, linear, strides
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Node, Value

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
    "ReduceLogSum": ("0.0", "acc += v;", "log(acc)"),
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
def _reduce(node: Node, ctx: Ctx) -> list[Pass]:
    x = ins(node, ctx)[0]
    _f32(node, ctx, x)
    xs = shape(x)
    axes = sorted(int(a) % max(len(xs), 1) for a in node.attrs.get("axes", []))
    xst = strides(xs)
    kept = [d for d in range(len(xs)) if d not in axes]
    red_dims, red_st = _merge([xs[d] for d in axes], [xst[d] for d in axes])
    n = int(np.prod(red_dims, dtype=np.int64))
    base = linear([(f"c{i}", xst[d]) for i, d in enumerate(kept)])
    loop_idx = "0" if not red_dims else linear([(f"r{i}", s) for i, s in enumerate(red_st)], 0)
    lines = ["float compute(int o) {", f"  {coords('o', [xs[d] for d in kept], 'c')}", f"  int b = {base};"]
    if node.op_type == "ReduceLogSumExp":
        body_loop = "float v = X0(b + {i});"
        lines += [f"  float m = {NEG_INF};",
                  f"  for (int r = 0; r < {n}; r++) {{ {coords('r', red_dims, 'r')} "
                  f"{body_loop.format(i=loop_idx)} m = max(m, v); }}",
                  "  if (isinf(m)) return m;",
                  "  float acc = 0.0;",
                  f"  for (int r = 0; r < {n}; r++) {{ {coords('r', red_dims, 'r')} "
                  f"{body_loop.format(i=loop_idx)} acc += exp(v - m); }}",
                  "  return m + log(acc);", "}"]
    else:
        init, step, final = REDUCERS[node.op_type]
        lines += [f"  float acc = {init};",
                  f"  for (int r = 0; r < {n}; r++) {{ {coords('r', red_dims, 'r')} float v = X0(b + {loop_idx}); "
                  f"{step} }}",
                  f"  return {final.format(n=flt(n))};", "}"]
    return [Pass(node.op_type, node.name, [x], node.outputs[0], "\n".join(lines))]


@kernel("Softmax", "LogSoftmax")
def _softmax(node: Node, ctx: Ctx) -> list[Pass]:
    x = ins(node, ctx)[0]
    _f32(node, ctx, x)
    xs = shape(x)
    axis = int(node.attrs.get("axis", len(xs) - 1))
    if node.attrs.get("coerce_2d"):
        n, inner = int(np.prod(xs[axis:], dtype=np.int64)), 1
    else:
        n, inner = xs[axis], int(np.prod(xs[axis + 1 :], dtype=np.int64))
    rows = int(np.prod(xs, dtype=np.int64)) // max(n, 1)
    stats = ctx.scratch(node.outputs[0].name + ".stats", (rows, 2))
    stats_body = (
        "float compute(int o) {\n"
        f"  int r = o / 2; int b = (r / {inner}) * {n * inner} + r % {inner};\n"
        f"  float m = {NEG_INF};\n"
        f"  for (int k = 0; k < {n}; k++) m = max(m, X0(b + k * {inner}));\n"
        "  if (o % 2 == 0) return m;\n"
        "  float s = 0.0;\n"
        f"  for (int k = 0; k < {n}; k++) s += exp(X0(b + k * {inner}) - m);\n"
        "  return s;\n}\n"
    )
    out = "exp(x - m) / s" if node.op_type == "Softmax" else "x - m - log(s)"
    norm_body = (
        "float compute(int o) {\n"
        f"  int r = (o / {n * inner}) * {inner} + o % {inner};\n"
        f"  float x = X0(o); float m = X1(2 * r); float s = X1(2 * r + 1);\n  return {out};\n}}\n"
    )
    return [
        Pass(node.op_type + ".stats", node.name + ".stats", [x], stats, stats_body),
        Pass(node.op_type, node.name, [x, stats], node.outputs[0], norm_body),
    ]


@kernel("LayerNormalization")
def _layernorm(node: Node, ctx: Ctx) -> list[Pass]:
    xs_ = ins(node, ctx)
    x = xs_[0]
    _f32(node, ctx, x)
    xs = shape(x)
    axis = int(node.attrs.get("axis", -1)) % len(xs)
    eps = flt(attr_float(node.attrs.get("epsilon", 1e-5)))
    inner_shape = xs[axis:]
    n = int(np.prod(inner_shape, dtype=np.int64))
    rows = int(np.prod(xs[:axis], dtype=np.int64))
    stats = ctx.scratch(node.outputs[0].name + ".stats", (rows, 2))
    stats_body = (
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
