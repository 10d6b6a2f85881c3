"""Pooling: MaxPool and AveragePool (N-D windows; pads, strides, dilations,
count_include_pad; the output shape already reflects ceil_mode), GlobalAveragePool and
GlobalMaxPool (one fragment loops over its plane)."""

from __future__ import annotations

import numpy as np

from webdnn.backends.webgl.core import Ctx, Pass, ins, kernel, need_float, shape
from webdnn.backends.webgl.glsl import coords, flt, linear, strides
from webdnn.ir.graph import Node
from webdnn.ir.symbolic import prod as sym_prod
from webdnn.ir.symbolic import smax


@kernel("MaxPool", "AveragePool")
def _pool(ctx: Ctx, node: Node) -> list[Pass]:
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
    if nd in (1, 2):
        # 1-D windows as 2-D ones of height 1
        lift = (lambda v, one: [one, *v]) if nd == 1 else (lambda v, one: v)
        body = _pool2d(is_max, include_pad, shape(y), lift(ins_sp, 1), lift(out_sp, 1), lift(k, 1), lift(st, 1),
                       lift(dl, 1), [*lift(pads[:nd], 0), *lift(pads[nd:], 0)])
        return [Pass(node.op_type, node.name, [x], y, body, vec4=True)]
    in_st = strides(ins_sp)
    lines = [
        "float compute(int o) {",
        f"  {coords('o', ys, 'c')}",
        f"  int xb = (o / {smax(sym_prod(out_sp), 1)}) * {sym_prod(ins_sp)};",
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


def _all(*masks: str) -> str:
    """Lane-wise AND of bvec4 expressions (GLSL has no && on vectors)."""
    return "bvec4(" + " * ".join(f"uvec4({m})" for m in masks) + ")"


def _pool2d(is_max: bool, include_pad: bool, ys: tuple[int, ...], ins: list[int], outs: list[int], k: list[int],
            st: list[int], dl: list[int], pads: list[int]) -> str:
    """`vec4 compute4(int t)` of a 2-D pool: four outputs per fragment with lane-wise (ivec4)
    coordinates; at stride 1 four outputs in one row whose window row lies inside the input
    read one unaligned X0v per tap, other taps per-lane reads (lanes outside read element 0,
    dropped by a select so a non-finite value there cannot leak in)."""
    (ih_, iw_), (oh_, ow_) = ins, outs
    size = sym_prod(ys)

    def inside(v: str, lo: int, hi: int) -> list[str]:
        return [f"greaterThanEqual({v}, ivec4({lo}))", f"lessThan({v}, ivec4({hi}))"]

    fetch = "ivec4 j = i * ivec4(ok); v = vec4(X0(j.x), X0(j.y), X0(j.z), X0(j.w));"
    if st[1] == 1:
        fetch = f"if (row && all(ok)) v = X0v(i.x); else {{ {fetch} }}"
    ok = _all(f"lessThan(o, ivec4({size}))", *inside("ih", 0, ih_), *inside("iw", 0, iw_))
    if is_max:
        update = ["      bvec4 up = bvec4(uvec4(greaterThan(v, acc)) | uvec4(isnan(v)));",
                  "      acc = mix(acc, v, " + _all("ok", "up") + ");"]
        tail = "  return acc;"
    else:
        counted = _all(*inside("ih", -pads[0], ih_ + pads[2]), *inside("iw", -pads[1], iw_ + pads[3])) \
            if include_pad else "ok"
        update = ["      acc += mix(vec4(0.0), v, ok);", f"      cnt += vec4({counted});"]
        tail = "  return acc / cnt;"
    return "\n".join([
        "vec4 compute4(int t) {",
        "  ivec4 o = 4 * t + ivec4(0, 1, 2, 3);",
        f"  ivec4 pl = o / {oh_ * ow_}; ivec4 q = o - pl * {oh_ * ow_};",
        f"  ivec4 oh = q / {ow_}; ivec4 ow = q - oh * {ow_}; ivec4 xb = pl * {ih_ * iw_};",
        "  bool row = pl.x == pl.w && oh.x == oh.w;  // four outputs in one output row",
        f"  vec4 acc = vec4({flt(-np.inf) if is_max else '0.0'}); vec4 cnt = vec4(0.0);",
        *(_interior(is_max, ins, k, st, dl, pads) if st[1] == 1 else []),
        f"  for (int kh = 0; kh < {k[0]}; kh++) {{",
        f"    ivec4 ih = oh * {st[0]} + (kh * {dl[0]} - {pads[0]});",
        f"    for (int kw = 0; kw < {k[1]}; kw++) {{",
        f"      ivec4 iw = ow * {st[1]} + (kw * {dl[1]} - {pads[1]});",
        f"      bvec4 ok = {ok};",
        f"      ivec4 i = xb + ih * {iw_} + iw; vec4 v;",
        f"      {fetch}",
        *update,
        "    }",
        "  }",
        tail,
        "}",
    ])


def _interior(is_max: bool, ins: list[int], k: list[int], st: list[int], dl: list[int], pads: list[int]) -> list[str]:
    """Stride 1, four outputs in one row whose whole windows lie inside the input (most of
    them): every tap is one X0v, no per-tap masks."""
    (ih_, iw_) = ins
    update = "acc = mix(acc, v, bvec4(uvec4(greaterThan(v, acc)) | uvec4(isnan(v))));" if is_max else "acc += v;"
    h0, w0 = f"oh.x * {st[0]} - {pads[0]}", f"ow.x - {pads[1]}"
    return [
        f"  if (row && {h0} >= 0 && {h0} + {(k[0] - 1) * dl[0]} < {ih_} && {w0} >= 0"
        f" && {w0} + {(k[1] - 1) * dl[1] + 3} < {iw_}) {{",
        f"    int b = xb.x + ({h0}) * {iw_} + {w0};",
        f"    for (int kh = 0; kh < {k[0]}; kh++) {{",
        f"      for (int kw = 0; kw < {k[1]}; kw++) {{",
        f"        vec4 v = X0v(b + kh * {dl[0] * iw_} + kw * {dl[1]}); {update}",
        "      }",
        "    }",
        f"    return {'acc' if is_max else f'acc / {flt(k[0] * k[1])}'};",
        "  }",
    ]


@kernel("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(ctx: Ctx, node: Node) -> list[Pass]:
    x = ins(node, ctx)[0]
    need_float(node, ctx, [x])
    xs = shape(x)
    size = sym_prod(xs[2:])
    if node.op_type == "GlobalMaxPool":
        step, init, tail = "acc = (v > acc || isnan(v)) ? v : acc;", flt(-np.inf), "acc"
    else:
        step, init, tail = "acc += v;", "0.0", f"acc / {flt(size)}"
    body = (
        f"float compute(int o) {{\n  int b = o * {size}; float acc = {init};\n"
        f"  for (int i = 0; i < {size}; i++) {{ float v = X0(b + i); {step} }}\n  return {tail};\n}}\n"
    )
    return [Pass(node.op_type, node.name, [x], node.outputs[0], body)]
