"""Conv and ConvTranspose (1-D/2-D, groups, depthwise, strides, pads, dilations) as direct
convolutions, no materialized im2col. Bias and the fused activation are applied in the same
pass. A Conv with constant weights runs the vectorized kernel of conv4.py (a fragment computes
four neighbouring outputs); the scalar `compute(o)` here is its fallback for texels that cross
a row, and the whole kernel when the weights are computed at run time."""

from __future__ import annotations

from webdnn.backends.webgl import im2col
from webdnn.backends.webgl.conv4 import compute4, pack_weights, weight_index
from webdnn.backends.webgl.core import Ctx, Pass, ins, kernel, need_float, shape
from webdnn.backends.webgl.expr_glsl import activation
from webdnn.ir.graph import Node


def spatial2(node: Node, ctx: Ctx, xs: tuple[int, ...], ys: tuple[int, ...], kernel_shape: list[int]) -> dict[str, int]:
    """Window geometry padded to 2-D (a 1-D window is H=1)."""
    nd = len(xs) - 2
    if nd not in (1, 2):
        raise ctx.fail(node, f"supports 1-D and 2-D windows only (this one is {nd}-D)")
    ones = [1] * nd
    s = list(node.attrs.get("strides", ones))
    d = list(node.attrs.get("dilations", ones))
    p = list(node.attrs.get("pads", [0] * 2 * nd))
    k = list(kernel_shape)
    ih, iw = ([1] + list(xs[2:]))[-2:]
    oh, ow = ([1] + list(ys[2:]))[-2:]
    if nd == 1:
        s, d, k, p = [1] + s, [1] + d, [1] + k, [0, p[0], 0, p[1]]
    return {"IH": ih, "IW": iw, "OH": oh, "OW": ow, "KH": k[0], "KW": k[1], "SH": s[0], "SW": s[1],
            "DH": d[0], "DW": d[1], "PT": p[0], "PL": p[1], "PB": p[2], "PR": p[3]}


@kernel("Conv")
def _conv(ctx: Ctx, node: Node) -> list[Pass]:
    xs_ = ins(node, ctx)
    need_float(node, ctx, xs_)
    x, w = xs_[0], xs_[1]
    has_bias = node.input(2) is not None
    y = node.outputs[0]
    xs, ws, ys = shape(x), shape(w), shape(y)
    g = spatial2(node, ctx, xs, ys, list(node.attrs.get("kernel_shape", ws[2:])))
    group = int(node.attrs.get("group", 1))
    c, m = xs[1], ys[1]
    cg, mg = c // group, m // group
    ihw, khw = g["IH"] * g["IW"], g["KH"] * g["KW"]
    ohw = g["OH"] * g["OW"]
    packed = w.const is not None  # constant weights: re-packed for the vec4 kernel
    no_pad = g["PT"] == g["PL"] == g["PB"] == g["PR"] == 0
    aligned_pointwise = khw == 1 and g["SH"] == g["SW"] == 1 and no_pad and ihw == ohw and ohw % 4 == 0
    if packed and group == 1 and (aligned_pointwise or im2col.fits(xs[0], cg * khw, ohw)):
        # an aligned pointwise conv's input already is the Col matrix: the product pass alone
        return im2col.passes(node, ctx, x, w, xs_[2] if has_bias else None, y, g,
                             activation(node.attrs.get("activation")), x_is_col=aligned_pointwise)
    depthwise = cg == 1
    if packed:
        w, per = pack_weights(ctx, w, depthwise)
        xs_[1] = w
        w_idx, w_step = weight_index(depthwise, per, cg, g["KW"]), 1
    else:
        w_idx, w_step = f"m * {cg * khw} + c * {khw} + kh * {g['KW']} + kw", khw
    lines = [
        activation(node.attrs.get("activation")),
        "float compute(int o) {",
        f"  int n = o / {m * ohw}; int m = (o / {ohw}) % {m};",
        f"  int oh = (o / {g['OW']}) % {g['OH']}; int ow = o % {g['OW']};",
        f"  float acc = {'X2(m)' if has_bias else '0.0'};",
        f"  int xb = (n * {c} + (m / {mg}) * {cg}) * {ihw};" if group > 1 else f"  int xb = n * {c * ihw};",
        f"  for (int kh = 0; kh < {g['KH']}; kh++) {{",
        f"    int ih = oh * {g['SH']} - {g['PT']} + kh * {g['DH']};",
        f"    if (ih < 0 || ih >= {g['IH']}) continue;",
        f"    for (int kw = 0; kw < {g['KW']}; kw++) {{",
        f"      int iw = ow * {g['SW']} - {g['PL']} + kw * {g['DW']};",
        f"      if (iw < 0 || iw >= {g['IW']}) continue;",
        f"      int xi = xb + ih * {g['IW']} + iw; int c = 0; int wi = {w_idx};",
        f"      for (; c < {cg}; c++) {{ acc += X0(xi) * X1(wi); xi += {ihw}; wi += {w_step}; }}",
        "    }",
        "  }",
        "  return act(acc);",
        "}",
    ]
    if packed:
        lines.append(compute4(g, c, m, group, cg, mg, per, depthwise, has_bias, y.size, x.size))
    return [Pass("Conv", node.name, xs_, y, "\n".join(lines), vec4=packed)]


@kernel("ConvTranspose")
def _conv_transpose(ctx: Ctx, node: Node) -> list[Pass]:
    """Gather form: each output element sums the input taps that scatter onto it,
    x[ih, iw] with oh = ih * SH - PT + kh * DH (the same for w)."""
    xs_ = ins(node, ctx)
    need_float(node, ctx, xs_)
    x, w = xs_[0], xs_[1]
    has_bias = node.input(2) is not None
    y = node.outputs[0]
    xs, ws, ys = shape(x), shape(w), shape(y)
    g = spatial2(node, ctx, xs, ys, list(node.attrs.get("kernel_shape", ws[2:])))
    group = int(node.attrs.get("group", 1))
    c, m = xs[1], ys[1]
    cg, mg = c // group, m // group
    ihw, khw, ohw = g["IH"] * g["IW"], g["KH"] * g["KW"], g["OH"] * g["OW"]
    lines = [
        activation(node.attrs.get("activation")),
        "float compute(int o) {",
        f"  int n = o / {m * ohw}; int m = (o / {ohw}) % {m}; int gi = m / {mg}; int ml = m % {mg};",
        f"  int oh = (o / {g['OW']}) % {g['OH']}; int ow = o % {g['OW']};",
        f"  float acc = {'X2(m)' if has_bias else '0.0'};",
        f"  int xb = (n * {c} + gi * {cg}) * {ihw}; int wb = (gi * {cg} * {mg} + ml) * {khw};",
        f"  for (int kh = 0; kh < {g['KH']}; kh++) {{",
        f"    int th = oh + {g['PT']} - kh * {g['DH']};",
        f"    if (th < 0 || th % {g['SH']} != 0) continue;",
        f"    int ih = th / {g['SH']}; if (ih >= {g['IH']}) continue;",
        f"    for (int kw = 0; kw < {g['KW']}; kw++) {{",
        f"      int tw = ow + {g['PL']} - kw * {g['DW']};",
        f"      if (tw < 0 || tw % {g['SW']} != 0) continue;",
        f"      int iw = tw / {g['SW']}; if (iw >= {g['IW']}) continue;",
        f"      int xi = xb + ih * {g['IW']} + iw; int wi = wb + kh * {g['KW']} + kw;",
        f"      for (int c = 0; c < {cg}; c++) {{ acc += X0(xi) * X1(wi); xi += {ihw}; wi += {mg * khw}; }}",
        "    }",
        "  }",
        "  return act(acc);",
        "}",
    ]
    return [Pass("ConvTranspose", node.name, xs_, y, "\n".join(lines))]
