"""Pooling: MaxPool and AveragePool (1-D/2-D windows; pads, strides, dilations,
count_include_pad; the output shape already reflects ceil_mode), GlobalAveragePool and
GlobalMaxPool (one fragment loops over its plane)."""

from __future__ import annotations

import numpy as np

from webdnn.backends.webgl.conv import spatial2
from webdnn.backends.webgl.core import Ctx, Pass, ins, kernel, need_float, shape
from webdnn.backends.webgl.glsl import flt
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Node


@kernel("MaxPool", "AveragePool")
def _pool(node: Node, ctx: Ctx) -> list[Pass]:
    x = ins(node, ctx)[0]
    need_float(node, ctx, [x])
    if len(node.outputs) > 1:
        raise ctx.fail(node, "does not produce MaxPool's Indices output")
    y = node.outputs[0]
    xs, ys = shape(x), shape(y)
    g = spatial2(node, ctx, xs, ys, list(node.attrs["kernel_shape"]))
    is_max = node.op_type == "MaxPool"
    include_pad = int(node.attrs.get("count_include_pad", 0)) == 1
    ohw, ihw = g["OH"] * g["OW"], g["IH"] * g["IW"]
    # valid range of input coordinates counted by AveragePool
    lo_h, hi_h = (-g["PT"], g["IH"] + g["PB"]) if include_pad else (0, g["IH"])
    lo_w, hi_w = (-g["PL"], g["IW"] + g["PR"]) if include_pad else (0, g["IW"])
    lines = [
        "float compute(int o) {",
        f"  int plane = o / {ohw}; int oh = (o / {g['OW']}) % {g['OH']}; int ow = o % {g['OW']};",
        f"  int xb = plane * {ihw};",
        f"  float acc = {flt(-np.inf) if is_max else '0.0'}; float cnt = 0.0;",
        f"  for (int kh = 0; kh < {g['KH']}; kh++) {{",
        f"    int ih = oh * {g['SH']} - {g['PT']} + kh * {g['DH']};",
        f"    for (int kw = 0; kw < {g['KW']}; kw++) {{",
        f"      int iw = ow * {g['SW']} - {g['PL']} + kw * {g['DW']};",
    ]
    if not is_max:
        lines.append(f"      if (ih >= {lo_h} && ih < {hi_h} && iw >= {lo_w} && iw < {hi_w}) cnt += 1.0;")
    lines.append(f"      if (ih < 0 || ih >= {g['IH']} || iw < 0 || iw >= {g['IW']}) continue;")
    lines.append("      float v = X0(xb + ih * " + str(g["IW"]) + " + iw);")
    lines.append("      acc = (v > acc || isnan(v)) ? v : acc;" if is_max else "      acc += v;")
    lines += ["    }", "  }", "  return acc;" if is_max else "  return acc / cnt;", "}"]
    return [Pass(node.op_type, node.name, [x], y, "\n".join(lines))]


@kernel("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(node: Node, ctx: Ctx) -> list[Pass]:
    x = ins(node, ctx)[0]
    need_float(node, ctx, [x])
    xs = shape(x)
    size = int(np.prod(xs[2:], dtype=np.int64))
    if node.op_type == "GlobalMaxPool":
        step, init, tail = "acc = (v > acc || isnan(v)) ? v : acc;", flt(-np.inf), "acc"
    else:
        step, init, tail = "acc += v;", "0.0", f"acc / {flt(size)}"
    body = (
        f"float compute(int o) {{\n  int b = o * {size}; float acc = {init};\n"
        f"  for (int i = 0; i < {size}; i++) {{ float v = X0(b + i); {step} }}\n  return {tail};\n}}\n"
    )
    return [Pass(node.op_type, node.name, [x], node.outputs[0], body)]
