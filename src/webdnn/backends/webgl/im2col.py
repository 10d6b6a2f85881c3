"""Conv (group 1, constant weights) as im2col + a vec4 matrix product, for the convs whose
direct vec4 kernel would read unaligned texels (KxK windows, planes of a size not a multiple
of 4).

Pass 1 writes Col[n][r][q] = x[n, c, oh*SH - PT + kh*DH, ow*SW - PL + kw*DW] (0 in the
padding), r = (c, kh, kw) row-major, q = oh * OW + ow, each row padded to Q4 = ceil(OH*OW / 4)
* 4 elements so that every row starts on a texel.
Pass 2 computes the output with planes padded the same way, Y'[n][m][q] = sum over r of
W'[m][r] * Col[n][r][q] (bias and activation fused), so every texel is four positions of one
channel and each row costs one aligned texel fetch per four multiply-adds (plus one weight
fetch per four rows). With batch 1 and a multiple of 4 channels, a fragment computes four
channels at once, one per render target (`_matmul_targets`). When OH*OW is not a multiple
of 4, pass 3 drops the padding (a copy).
"""

from __future__ import annotations

import numpy as np

from webdnn.backends.webgl.core import Ctx, Pass
from webdnn.ir.graph import Node, Value

# Col buffers beyond this many elements (a 64 MB texture) are not worth the memory: such
# convs use the direct kernel instead.
MAX_COL = 1 << 24
# Render targets of the batch-1 product (the minimum MAX_DRAW_BUFFERS of WebGL2): four
# channels per fragment, one per target.
TARGETS = 4


def col_rows(cg: int, khw: int) -> int:
    return cg * khw


def fits(n: int, rows: int, ohw: int) -> bool:
    return n * rows * (-(-ohw // 4) * 4) <= MAX_COL


def passes(node: Node, ctx: Ctx, x: Value, w: Value, bias: Value | None, y: Value, g: dict[str, int],
           act: str, x_is_col: bool = False) -> list[Pass]:
    """The passes of the conv; `x_is_col`: x already is Col (an unpadded 1x1/stride-1 conv over
    planes of a multiple of 4 elements), so the product reads it directly."""
    assert w.const is not None and x.shape is not None and y.shape is not None
    n, c = x.shape[:2]
    m = y.shape[1]
    khw = g["KH"] * g["KW"]
    rows = c * khw
    ohw = g["OH"] * g["OW"]
    q4 = -(-ohw // 4) * 4
    col = ctx.scratch(node.name + ".col", (n, rows, q4))
    im2col = _im2col(n, c, rows, q4 // 4, ohw, g)
    out = [] if x_is_col else [Pass("Conv.im2col", node.name + ".im2col", [x], col, im2col, vec4=True)]
    wm = w.const.astype(np.float32).reshape(m, rows)
    targets = TARGETS if n == 1 and m % TARGETS == 0 and (bias is None or bias.const is not None) else 1
    if targets > 1:
        # texel (g, r) of the weights holds rows r of channels g + k * m / TARGETS, k < TARGETS
        wv = ctx.const(w.name + ".t4", wm.reshape(TARGETS, m // TARGETS, rows).transpose(1, 2, 0))
        bv = None if bias is None else ctx.const(bias.name + ".t4", _bias(bias).reshape(TARGETS, -1).T)
        inputs = [x if x_is_col else col, wv] + ([bv] if bv is not None else [])
        product = Pass("Conv", node.name, inputs, y, _matmul_targets(m, rows, q4 // 4, bv is not None, act),
                       targets=targets)
    else:
        r4 = -(-rows // 4) * 4
        wp = np.zeros((m, r4), np.float32)
        wp[:, :rows] = wm
        inputs = [x if x_is_col else col, ctx.const(w.name + ".r4", wp)] + ([bias] if bias is not None else [])
        product = Pass("Conv", node.name, inputs, y, _matmul(n, m, rows, q4, bias is not None, act), vec4=True)
    if q4 == ohw:
        return [*out, product]
    # planes padded to a multiple of 4: one more pass drops the padding
    padded = ctx.scratch(node.name + ".padded", (n, m, q4))
    product.name, product.output = node.name + ".mm", padded
    compact = f"float compute(int o) {{ return X0((o / {ohw}) * {q4} + o % {ohw}); }}\n"
    return [*out, product, Pass("Conv.compact", node.name, [padded], y, compact)]


def _im2col(n: int, c: int, rows: int, qt: int, ohw: int, g: dict[str, int]) -> str:
    """`vec4 compute4(int t)` of Col: texel t is four plane positions q..q+3 of one row r =
    (c, kh, kw), computed lane-wise (ivec4); at stride 1, four positions in one output row
    read four consecutive inputs, one unaligned X0v when all are inside the input."""
    khw, ihw = g["KH"] * g["KW"], g["IH"] * g["IW"]
    lines = [
        "vec4 compute4(int t) {",
        f"  int n = t / {rows * qt}; int r = (t / {qt}) % {rows}; int j = t % {qt};",
        f"  int c = r / {khw}; int kh = (r / {g['KW']}) % {g['KH']}; int kw = r % {g['KW']};",
        "  ivec4 q = 4 * j + ivec4(0, 1, 2, 3);",
        f"  ivec4 oh = q / {g['OW']}; ivec4 ow = q - oh * {g['OW']};",
        f"  ivec4 ih = oh * {g['SH']} + (kh * {g['DH']} - {g['PT']});",
        f"  ivec4 iw = ow * {g['SW']} + (kw * {g['DW']} - {g['PL']});",
        f"  bvec4 ok = bvec4(uvec4(lessThan(q, ivec4({ohw}))) * uvec4(greaterThanEqual(ih, ivec4(0)))"
        f" * uvec4(lessThan(ih, ivec4({g['IH']}))) * uvec4(greaterThanEqual(iw, ivec4(0)))"
        f" * uvec4(lessThan(iw, ivec4({g['IW']}))));",
        f"  ivec4 i = (n * {c} + c) * {ihw} + ih * {g['IW']} + iw;",
    ]
    if g["SW"] == 1:
        lines.append("  if (all(ok) && oh.x == oh.w) return X0v(i.x);")
    lines += [
        "  i *= ivec4(ok);  // lanes outside read element 0 (then dropped)",
        "  return mix(vec4(0.0), vec4(X0(i.x), X0(i.y), X0(i.z), X0(i.w)), ok);",
        "}",
    ]
    return "\n".join(lines)


def _bias(bias: Value) -> np.ndarray:
    assert bias.const is not None
    return bias.const.astype(np.float32).reshape(-1)


def _matmul_targets(m: int, rows: int, qt: int, has_bias: bool, act: str) -> str:
    """`computeN` of Y'[m][q4] = W'[m] . Col (batch 1) over TARGETS render targets: a fragment
    computes four plane positions (one Col texel) of TARGETS channels g + k * m / TARGETS, so
    each Col row costs one aligned texel fetch and one weight texel fetch per 16 multiply-adds
    (4 fetches per 16 in `_matmul`); on SwiftShader this runs 2-2.5x faster."""
    ys = range(TARGETS)
    return "\n".join([
        act,
        "vec4 act4(vec4 v) { return vec4(act(v.x), act(v.y), act(v.z), act(v.w)); }",
        f"void computeN(int t, {', '.join(f'out vec4 y{k}' for k in ys)}) {{",
        f"  int g = t / {qt}; int k = t - g * {qt}; int wi = g * {rows};",
        "  vec4 " + ", ".join(f"s{k} = vec4(0.0)" for k in ys) + ";",
        f"  for (int r = 0; r < {rows}; r++) {{",
        "    vec4 x = X0t(k); vec4 w = X1t(wi);",
        "    " + " ".join(f"s{k} += x * w.{'xyzw'[k]};" for k in ys),
        f"    k += {qt}; wi++;",
        "  }",
        f"  vec4 b = {'X2t(g)' if has_bias else 'vec4(0.0)'};",
        *(f"  y{k} = act4(s{k} + b.{'xyzw'[k]});" for k in ys),
        "}",
    ])


def _matmul(n: int, m: int, rows: int, q4: int, has_bias: bool, act: str) -> str:
    """`vec4 compute4(int t)` of Y'[n][m][q4] = W'[m] . Col[n]: every texel is four plane positions
    of one channel and every Col row starts on a texel, so each row costs one aligned fetch."""
    qt = q4 // 4  # texels per Col row (and per output plane)
    r4 = -(-rows // 4) * 4
    full, rest = divmod(rows, 4)

    def mac(count: int) -> str:
        return "    s += " + " + ".join(
            f"X0t(k{f' + {j * qt}' if j else ''}) * w.{'xyzw'[j]}" for j in range(count)) + ";"

    lines = [
        act,
        "vec4 compute4(int t) {",
        f"  int n = t / {m * qt}; int m = (t / {qt}) % {m};",
        f"  int k = n * {rows * qt} + t % {qt}; int wi = m * {r4 // 4};",
        "  vec4 s = vec4(0.0);",
    ]
    if full:
        lines += [f"  for (int r = 0; r < {full}; r++) {{", "    vec4 w = X1t(wi);", mac(4),
                  f"    k += {4 * qt}; wi++;", "  }"]
    if rest:
        lines += ["  { vec4 w = X1t(wi);", mac(rest), "  }"]
    lines += [f"  s += vec4({'X2(m)' if has_bias else '0.0'});",
              "  return vec4(act(s.x), act(s.y), act(s.z), act(s.w));", "}"]
    return "\n".join(lines)
