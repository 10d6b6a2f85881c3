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
of 4, pass 3 drops the padding (a copy). A Col beyond MAX_COL elements is split into chunks of
plane positions (passes 1 and 2 per chunk; pass 3 gathers the chunks).
"""

from __future__ import annotations

import numpy as np

from webdnn.backends.webgl.core import TARGETS, Ctx, Pass
from webdnn.backends.webgl.glsl import ACT4
from webdnn.ir.graph import Node, Value
from webdnn.ir.symbolic import Dim, Sym, ceildiv, upper_or_none

# Col buffers beyond this many elements (a 64 MB texture) are not worth the memory: a conv
# whose Col would be larger is computed in chunks of plane positions, each an im2col pass and
# a product pass into its own part of the output, then one pass gathers the parts (VGG16's
# 224x224 convs: two chunks); beyond MAX_CHUNKS chunks, the direct kernel.
MAX_COL = 1 << 24
MAX_CHUNKS = 8


def col_rows(cg: int, khw: int) -> int:
    return cg * khw


def chunk(n: int, rows: int, ohw: Dim) -> Dim:
    """Plane positions per Col chunk (a multiple of 4): the Col of n x rows x chunk elements
    stays within MAX_COL, and the chunks of a plane are as even as possible. A plane of symbolic
    size is one chunk (the passes are fixed at conversion), where it fits at every size."""
    if any(isinstance(v, Sym) for v in (n, rows, ohw)):
        whole = ceildiv(ohw, 4) * 4
        most = upper_or_none(n * rows * whole)  # None: an unbounded batch or plane never surely fits
        return whole if most is not None and most <= MAX_COL else 0
    most = (MAX_COL // (n * rows)) // 4 * 4
    if most == 0:
        return 0
    chunks = -(-ohw // most)
    per = -(-ohw // chunks)
    return -(-per // 4) * 4


def fits(n: int, rows: int, ohw: Dim) -> bool:
    """Whether im2col fits: at most MAX_CHUNKS chunks of at most MAX_COL elements each."""
    qc = chunk(n, rows, ohw)
    if any(isinstance(v, Sym) for v in (n, rows, ohw)):
        return not (isinstance(qc, int) and qc == 0)
    return qc > 0 and -(-ohw // qc) <= MAX_CHUNKS


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
    qc = ceildiv(ohw, 4) * 4 if x_is_col else chunk(n, rows, ohw)  # plane positions per chunk
    chunks = 1 if isinstance(ohw, Sym) else -(-ohw // qc)
    wm = w.const.astype(np.float32).reshape(m, rows)
    targets = TARGETS if n == 1 and m % TARGETS == 0 and (bias is None or bias.const is not None) else 1
    if targets > 1:
        # texel (g, r) of the weights holds rows r of channels g + k * m / TARGETS, k < TARGETS
        wv = ctx.const(w.name + ".t4", wm.reshape(TARGETS, m // TARGETS, rows).transpose(1, 2, 0))
        bv = None if bias is None else ctx.const(bias.name + ".t4", _bias(bias).reshape(TARGETS, -1).T)
        consts = [wv] + ([bv] if bv is not None else [])
        body = _matmul_targets(m, rows, qc // 4, bv is not None, act)
    else:
        r4 = -(-rows // 4) * 4
        wp = np.zeros((m, r4), np.float32)
        wp[:, :rows] = wm
        consts = [ctx.const(w.name + ".r4", wp)] + ([bias] if bias is not None else [])
        body = _matmul(n, m, rows, qc, bias is not None, act)
    out: list[Pass] = []
    parts: list[Value] = []
    for k in range(chunks):
        sfx = f".{k}" if chunks > 1 else ""
        part = y if chunks == 1 and qc == ohw else ctx.scratch(node.name + ".padded" + sfx, (n, m, qc))
        col = x
        if not x_is_col:
            col = ctx.scratch(node.name + ".col" + sfx, (n, rows, qc))
            out.append(Pass("Conv.im2col", node.name + ".im2col" + sfx, [x], col,
                            _im2col(n, c, rows, qc // 4, ohw, g, k * qc), vec4=True))
        name = node.name if part is y else node.name + ".mm" + sfx
        out.append(Pass("Conv", name, [col, *consts], part, body, vec4=targets == 1, targets=targets))
        parts.append(part)
    if parts == [y]:
        return out
    # planes padded to a multiple of 4 and/or split in chunks: one more pass gathers them
    pick = "".join(f"  if (k == {k}) return X{k}(i);\n" for k in range(chunks - 1))
    gather = (f"float compute(int o) {{\n  int p = o / {ohw}; int q = o - p * {ohw}; int k = q / {qc};\n"
              f"  int i = p * {qc} + q - k * {qc};\n{pick}  return X{chunks - 1}(i);\n}}\n")
    return [*out, Pass("Conv.compact", node.name, parts, y, gather)]


def _im2col(n: int, c: int, rows: int, qt: int, ohw: int, g: dict[str, int], q0: int) -> str:
    """`vec4 compute4(int t)` of Col (the chunk of plane positions from q0, qt texels per row):
    texel t is four plane positions q..q+3 of one row r = (c, kh, kw), computed lane-wise
    (ivec4); at stride 1, four positions in one output row read four consecutive inputs, one
    unaligned X0v when all are inside the input."""
    khw, ihw = g["KH"] * g["KW"], g["IH"] * g["IW"]
    lines = [
        "vec4 compute4(int t) {",
        f"  int n = t / {rows * qt}; int r = (t / {qt}) % {rows}; int j = t % {qt};",
        f"  int c = r / {khw}; int kh = (r / {g['KW']}) % {g['KH']}; int kw = r % {g['KW']};",
        f"  ivec4 q = {q0} + 4 * j + ivec4(0, 1, 2, 3);",
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
        ACT4,
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
