"""Pooling: MaxPool and AveragePool (N-D windows; pads, strides, dilations,
count_include_pad; the output shape already reflects ceil_mode), GlobalAveragePool and
GlobalMaxPool (one fragment loops over its plane)."""

from __future__ import annotations

import numpy as np

from webdnn.backends.webgl.core import Ctx, Pass, ins, kernel, need_float, shape
from webdnn.backends.webgl.glsl import coords, flt, linear, strides
from webdnn.ir.graph import Node


@kernel("MaxPool", "AveragePool")
def _pool(node: Node, ctx: Ctx) -> list[Pass]:
    x = ins(node, ctx)[0]
    need_float(node, ctx, [x])
    if len(node.outputs) > 1:
        raise ctx.fail(node, "does not produce MaxPool's Indices output")
    y = node.outputs[0]
    xs, ys = shape(x), shape(y)
    nd = len(xs) - 2
    ones = [1] * nd
    k = [int(v) for v in node.attrs["kernel_shape"]]
    st = [int(v) for v in node.attrs.get("strides", ones)]
    dl = [int(v) for v in node.attrs.get("dilations", ones)]
    pads = [int(v) for v in node.attrs.get("pads", [0] * 2 * nd)]
    is_max = node.op_type == "MaxPool"
    include_pad = int(node.attrs.get("count_include_pad", 0)) == 1
    ins_sp, out_sp = list(xs[2:]), list(ys[2:])
    in_st = strides(ins_sp)
    lines = [
        "float compute(int o) {",
        f"  {coords('o', ys, 'c')}",
        f"  int xb = (o / {max(int(np.prod(out_sp, dtype=np.int64)), 1)}) * {int(np.prod(ins_sp, dtype=np.int64))};",
        f"  float acc = {flt(-np.inf) if is_max else '0.0'}; float cnt = 0.0;",
    ]
    indent = "  "
    for i in range(nd):
        lines.append(f"{indent}for (int k{i} = 0; k{i} < {k[i]}; k{i}++) {{")
        indent += "  "
        lines.append(f"{indent}int i{i} = c{i + 2} * {st[i]} - {pads[i]} + k{i} * {dl[i]};")
    inside = " && ".join(f"i{i} >= 0 && i{i} < {ins_sp[i]}" for i in range(nd))
    if not is_max:
        # the taps AveragePool counts: inside the input, or inside the padded input
        counted = " && ".join(
            f"i{i} >= {-pads[i]} && i{i} < {ins_sp[i] + pads[nd + i]}" for i in range(nd)
        ) if include_pad else inside
        lines.append(f"{indent}if ({counted}) cnt += 1.0;")
    lines.append(f"{indent}if (!({inside})) continue;")
    lines.append(f"{indent}float v = X0(xb + {linear([(f'i{i}', in_st[i]) for i in range(nd)])});")
    lines.append(f"{indent}acc = (v > acc || isnan(v)) ? v : acc;" if is_max else f"{indent}acc += v;")
    for _ in range(nd):
        indent = indent[:-2]
        lines.append(f"{indent}}}")
    lines += ["  return acc;" if is_max else "  return acc / cnt;", "}"]
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
