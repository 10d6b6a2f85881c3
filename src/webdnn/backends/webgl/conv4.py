"""Vectorized Conv (constant weights): each fragment computes one output texel, i.e. four
consecutive output pixels of one output channel, with vec4 arithmetic.

The weights are re-packed at conversion so that one texel fetch brings four useful values:
- depthwise-like convs (one input channel per group): the taps of output channel m,
  W'[m][tap] padded to a multiple of 4 (one fetch per four taps, loaded once per fragment);
- otherwise four input channels per texel: W'[m][kh][kw][c] with c padded to a multiple of 4.
Inputs are read four pixels at a time (`X0v`: one texel fetch when aligned, else two), so a
tap costs one or two fetches per four multiply-adds instead of eight. Depthwise convs whose rows
start on texels read each window row as a few whole texels shared by all its taps
(`segment_ok`, `_depthwise_segments`).

A texel whose four outputs are not four neighbours on one output row of one channel (a
texel crossing a row or channel boundary when OW or OH*OW is not a multiple of 4) takes the
scalar path: `compute(o)` per output, on the same re-packed weights.
"""

from __future__ import annotations

import numpy as np

from webdnn.backends.webgl.core import Ctx
from webdnn.ir.graph import Value
from webdnn.ir.symbolic import is_static
from webdnn.ir.symbolic import prod as sym_prod


def pack_weights(ctx: Ctx, w: Value, depthwise: bool) -> tuple[Value, int]:
    """(re-packed weight constant, texels per output channel)."""
    assert w.const is not None
    data = w.const.astype(np.float32)
    m, cg = data.shape[:2]
    taps = sym_prod(data.shape[2:])
    if depthwise:
        per = -(-taps // 4) * 4
        out = np.zeros((m, per), np.float32)
        out[:, :taps] = data.reshape(m, taps)
        return ctx.const(w.name + ".taps4", out), per // 4
    cg4 = -(-cg // 4) * 4
    out = np.zeros((m, taps, cg4), np.float32)
    out[:, :, :cg] = data.reshape(m, cg, taps).transpose(0, 2, 1)
    return ctx.const(w.name + ".c4", out), taps * cg4 // 4


def weight_index(depthwise: bool, per: int, cg: int, kw: int) -> str:
    """GLSL element index of W[m][c][kh][kw] in the re-packed layout (for the scalar path)."""
    if depthwise:
        return f"m * {per * 4} + kh * {kw} + kw"
    cg4 = -(-cg // 4) * 4
    return f"m * {per * 4} + (kh * {kw} + kw) * {cg4} + c"


def _load(stride: int, aligned: bool) -> str:
    """GLSL expression of the four inputs at e, e + stride, e + 2 * stride, e + 3 * stride."""
    if stride == 1:
        return "X0t(E >> 2)" if aligned else "X0v(E)"
    if stride == 2:
        return "ld2(E)"
    return f"vec4(X0(E), X0(E + {stride}), X0(E + {2 * stride}), X0(E + {3 * stride}))"


def _inside(iw: int) -> str:
    """bvec4: which of the four input columns `iw` lie inside the row (a select, not a product,
    so a non-finite value read outside the row cannot leak in)."""
    return f"equal(clamp(iw, 0, {iw - 1}), iw)"


LD2 = "vec4 ld2(int e) { vec4 a = X0v(e); vec4 b = X0v(e + 4); return vec4(a.xz, b.xz); }\n"


def _channel_sum(cg: int, ihw: int, load: str, wi: str, indent: str) -> list[str]:
    """Statements adding sum over the group's input channels of x(e + c * ihw) * w to `s`
    (full quads in a loop, the remainder unrolled); `e` and the weight texel `wi` advance."""
    full, rest = divmod(cg, 4)
    ld = [load.replace("E", "e" if j == 0 else f"e + {j * ihw}") for j in range(4)]
    lines = []
    if full:
        lines += [
            f"{indent}for (int c = 0; c < {full}; c++) {{",
            f"{indent}  vec4 w = X1t({wi});",
            f"{indent}  s += {ld[0]} * w.x + {ld[1]} * w.y + {ld[2]} * w.z + {ld[3]} * w.w;",
            f"{indent}  e += {4 * ihw}; {wi}++;",
            f"{indent}}}",
        ]
    if rest:
        comps = " + ".join(f"{ld[j]} * w.{'xyzw'[j]}" for j in range(rest))
        lines.append(f"{indent}{{ vec4 w = X1t({wi}); s += {comps}; }}")
    return lines


def compute4(g: dict[str, int], c: int, m: int, group: int, cg: int, mg: int, per: int, depthwise: bool,
             has_bias: bool, size: int, x_size: int) -> str:
    """GLSL `vec4 compute4(int t)` (plus helpers) for a Conv over re-packed weights; relies
    on the scalar `compute(o)` and `act(v)` defined next to it."""
    oh_, ow_ = g["OH"], g["OW"]
    ihw, ohw = g["IH"] * g["IW"], oh_ * ow_
    # the flat depthwise kernel's texel offsets follow the row length: fixed sizes only
    if depthwise and not segment_ok(g) and is_static(g.values()) and flat_ok(g, mg):
        return _depthwise_flat(g, m, mg, per, has_bias, (x_size + 3) // 4)
    no_pad = g["PT"] == g["PL"] == g["PB"] == g["PR"] == 0
    pointwise = g["KH"] * g["KW"] == 1 and g["SH"] == g["SW"] == 1 and no_pad and ihw == ohw
    lines = [
        LD2 if g["SW"] == 2 and not pointwise and not (depthwise and segment_ok(g)) else "",
        "vec4 slow4(int o) {",
        "  return vec4(" + ", ".join(
            "compute(o)" if k == 0 else f"(o + {k} < {size} ? compute(o + {k}) : 0.0)" for k in range(4)) + ");",
        "}",
        "vec4 compute4(int t) {",
        "  int o = 4 * t;",
        f"  int n = o / {m * ohw}; int m = (o / {ohw}) % {m}; int p = o % {ohw};",
    ]
    # the four outputs must be neighbours: in one plane (pointwise) or on one row (else)
    if pointwise:
        if ohw % 4 != 0:
            lines.append(f"  if (p > {ohw - 4}) return slow4(o);")
    else:
        lines.append(f"  int oh = p / {ow_}; int ow = p % {ow_};")
        if ow_ % 4 != 0:
            lines.append(f"  if (ow > {ow_ - 4}) return slow4(o);")
    xb = f"(n * {c} + (m / {mg}) * {cg}) * {ihw}" if group > 1 else f"n * {c * ihw}"
    lines += [
        f"  vec4 acc = vec4({'X2(m)' if has_bias else '0.0'});",
        f"  int xb = {xb};",
        f"  int wb = m * {per};",
    ]
    if pointwise:
        # ihw % 4 == 0: the plane, hence every channel's four pixels, starts on a texel
        load = _load(1, ihw % 4 == 0)
        lines += ["  int e = xb + p; int wi = wb; vec4 s = vec4(0.0);",
                  *_channel_sum(cg, ihw, load, "wi", "  "), "  acc += s;"]
    else:
        lines += _window(g, cg, ihw, depthwise, per, (x_size + 3) // 4)
    lines += ["  return vec4(act(acc.x), act(acc.y), act(acc.z), act(acc.w));", "}"]
    return "\n".join(lines)


def _window(g: dict[str, int], cg: int, ihw: int, depthwise: bool, per: int, x_texels: int) -> list[str]:
    """The KH x KW window of four neighbouring outputs (oh, ow..ow+3)."""
    sw = g["SW"]
    load = _load(sw, False)
    lines = [
        f"  ivec4 iw0 = ivec4(ow * {sw} - {g['PL']}) + ivec4(0, {sw}, {2 * sw}, {3 * sw});",
    ]
    if depthwise:
        # every tap's weight is loaded once; kh and kw are unrolled so the weights are named
        taps = g["KH"] * g["KW"]
        lines += [f"  vec4 w{q} = X1t(wb + {q});" for q in range(per)]
        if segment_ok(g):
            return lines + _depthwise_segments(g, x_texels)
        for kh in range(g["KH"]):
            lines += [
                f"  {{ int ih = oh * {g['SH']} + {kh * g['DH'] - g['PT']};",
                f"    if (ih >= 0 && ih < {g['IH']}) {{ int rb = xb + ih * {g['IW']};",
            ]
            for kw in range(g["KW"]):
                j = kh * g["KW"] + kw
                assert j < taps
                lines += [
                    f"      {{ ivec4 iw = iw0 + {kw * g['DW']}; int e = rb + iw.x;",
                    f"        vec4 x = {load.replace('E', 'e')};",
                    f"        acc += mix(vec4(0.0), x * w{j // 4}.{'xyzw'[j % 4]}, {_inside(g['IW'])}); }}",
                ]
            lines.append("  } }")
        return lines
    cq = per // (g["KH"] * g["KW"])  # weight texels per tap
    lines += [
        f"  for (int kh = 0; kh < {g['KH']}; kh++) {{",
        f"    int ih = oh * {g['SH']} - {g['PT']} + kh * {g['DH']};",
        f"    if (ih < 0 || ih >= {g['IH']}) continue;",
        f"    int rb = xb + ih * {g['IW']};",
        f"    for (int kw = 0; kw < {g['KW']}; kw++) {{",
        f"      ivec4 iw = iw0 + kw * {g['DW']};",
        f"      int e = rb + iw.x; int wi = wb + (kh * {g['KW']} + kw) * {cq}; vec4 s = vec4(0.0);",
        *_channel_sum(cg, ihw, load, "wi", "      "),
        f"      acc += mix(vec4(0.0), s, {_inside(g['IW'])});",
        "    }",
        "  }",
    ]
    return lines


def segment_ok(g: dict[str, int]) -> bool:
    """Depthwise window read as whole texels: rows and output texels start on texels (IW, OW
    multiples of 4, so the four outputs start at a column ow % 4 == 0) and stride 1 or 2 with no
    dilation, so every tap's four inputs sit at offsets of the row segment known at conversion."""
    return g["IW"] % 4 == 0 and g["OW"] % 4 == 0 and g["SW"] in (1, 2) and g["DW"] == 1


def _depthwise_segments(g: dict[str, int], x_texels: int) -> list[str]:
    """Each window row loads the texels covering its KW + 3 * SW inputs once (stride 1, 3x3: three
    fetches instead of six unaligned reads) and builds every tap's four inputs with constant
    swizzles. rb + SW * ow is a multiple of 4, so the segment starts `s` = -PL mod 4 elements into
    its first texel. Columns outside the row (read from a neighbouring row or clamped) are
    dropped by the same select as the other paths."""
    sw, kw_ = g["SW"], g["KW"]
    s = -g["PL"] % 4
    nt = (s + kw_ - 1 + 3 * sw) // 4 + 1
    last = x_texels - 1

    def comp(q: int) -> str:
        return f"T{q // 4}.{'xyzw'[q % 4]}"

    lines: list[str] = []
    for kh in range(g["KH"]):
        lines += [
            f"  {{ int ih = oh * {g['SH']} + {kh * g['DH'] - g['PT']};",
            f"    if (ih >= 0 && ih < {g['IH']}) {{",
            f"      int bt = (xb + ih * {g['IW']} + ow * {sw} - {g['PL'] + s}) >> 2;",
            *[f"      vec4 T{i} = X0t(clamp(bt + {i}, 0, {last}));" for i in range(nt)],
        ]
        for kw in range(kw_):
            j = kh * kw_ + kw
            x = "vec4(" + ", ".join(comp(s + kw + sw * lane) for lane in range(4)) + ")"
            lines += [
                f"      {{ ivec4 iw = iw0 + {kw};",
                f"        acc += mix(vec4(0.0), {x} * w{j // 4}.{'xyzw'[j % 4]}, {_inside(g['IW'])}); }}",
            ]
        lines.append("  } }")
    return lines


def flat_ok(g: dict[str, int], mg: int) -> bool:
    """Depthwise "same" conv at stride 1 (IH == OH, IW == OW, no dilation): the input of output
    element o at tap (kh, kw) is element o + (kh - PT) * IW + kw - PL of its input plane, so the
    four outputs of a texel read four consecutive inputs per tap even when the texel crosses a
    row, and each window row is one run of texels whose start mod 4 is known at conversion (rows
    of any width: MobileNetV2's 14x14 and 7x7 blocks). With one output channel per input channel
    (mg == 1) the planes line up too, so a texel may cross a plane; else planes must not be
    crossed (OH * OW a multiple of 4, so every plane starts on a texel)."""
    return (g["SH"] == g["SW"] == g["DH"] == g["DW"] == 1 and g["IH"] == g["OH"] and g["IW"] == g["OW"]
            and (mg == 1 or g["OH"] * g["OW"] % 4 == 0))


def _depthwise_flat(g: dict[str, int], m: int, mg: int, per: int, has_bias: bool, x_texels: int) -> str:
    """`vec4 compute4(int t)` of a `flat_ok` depthwise conv: every lane has its own (oh, ow) (the
    texel may cross a row, or with mg == 1 a plane: lanes of the next plane take the next
    channel's weights and bias by a select). Window row kh loads the texels covering the inputs
    o + off .. o + off + KW + 2 (off = (kh - PT) * IW - PL) once; `s` = off mod 4 is constant, so
    every tap's four inputs are constant swizzles of them. Taps outside the row or plane (read
    from a neighbouring row or plane, or clamped at the tensor's ends) are dropped by selects."""
    ohw, iw_, kw_ = g["OH"] * g["OW"], g["IW"], g["KW"]
    cross = ohw % 4 != 0  # a texel may hold outputs of two channels (mg == 1 then)
    last = x_texels - 1
    lines = [
        "vec4 compute4(int t) {",
        "  int o = 4 * t;",
        "  ivec4 q = ivec4(o) + ivec4(0, 1, 2, 3);",
        f"  ivec4 pl = q / {ohw}; ivec4 p4 = q - pl * {ohw};",
        f"  ivec4 oh4 = p4 / {g['OW']}; ivec4 ow4 = p4 - oh4 * {g['OW']};",
        f"  int m = pl.x % {m};",
    ]
    # the first input element of lane 0: with mg == 1 input and output flat indices line up
    lines.append("  int e = o;" if mg == 1 else
                 f"  int e = ((pl.x / {m}) * {m // mg} + m / {mg}) * {ohw} + p4.x;")
    lines += [f"  vec4 w{j} = X1t(m * {per} + {j});" for j in range(per)]
    if cross:
        lines += [
            f"  int mb = pl.w % {m};",  # the channel of the lanes past the plane's end
            "  bvec4 nb = notEqual(pl, ivec4(pl.x));",
            *[f"  vec4 v{j} = X1t(mb * {per} + {j});" for j in range(per)],
        ]
        bias = "mix(vec4(X2(m)), vec4(X2(mb)), nb)" if has_bias else "vec4(0.0)"
    else:
        bias = "vec4(X2(m))" if has_bias else "vec4(0.0)"
    lines.append(f"  vec4 acc = {bias};")
    for kw in range(kw_):
        d = kw - g["PL"]
        lines.append(f"  bvec4 c{kw} = equal(clamp(ow4 + {d}, 0, {iw_ - 1}), ow4 + {d});")

    def comp(i: int) -> str:
        return f"T{i // 4}.{'xyzw'[i % 4]}"

    for kh in range(g["KH"]):
        off = (kh - g["PT"]) * iw_ - g["PL"]
        s = off % 4
        nt = (s + kw_ + 2) // 4 + 1
        dh = kh - g["PT"]
        lines += [
            "  {",
            f"    int bt = (e + {off - s}) >> 2;",
            *[f"    vec4 T{i} = X0t(clamp(bt + {i}, 0, {last}));" for i in range(nt)],
            "    vec4 r = vec4(0.0);",
        ]
        for kw in range(kw_):
            j = kh * kw_ + kw
            x = "vec4(" + ", ".join(comp(s + kw + lane) for lane in range(4)) + ")"
            wv = f"w{j // 4}.{'xyzw'[j % 4]}"
            if cross:
                wv = f"mix(vec4({wv}), vec4(v{j // 4}.{'xyzw'[j % 4]}), nb)"
            lines.append(f"    r += mix(vec4(0.0), {x} * {wv}, c{kw});")
        lines += [
            f"    acc += mix(vec4(0.0), r, equal(clamp(oh4 + {dh}, 0, {g['IH'] - 1}), oh4 + {dh}));",
            "  }",
        ]
    lines += ["  return vec4(act(acc.x), act(acc.y), act(acc.z), act(acc.w));", "}"]
    return "\n".join(lines)
