"""Resize / Upsample, modes nearest, linear and cubic, every coordinate mode but tf_crop_and_resize.

The per-axis source taps are computed here, at conversion, exactly as the fallback kernel
computes them (float32 coordinates, the same rounding rules), and stored as a weight
tensor per resized axis: (out_len, 4) float32 rows [index0, index1, weight0, weight1]
(index1 = index0 and weight1 = 0 for nearest), or for cubic (out_len, 8) rows
[index0..3, weight0..3] (read as two vec4s). The shader visits the T^A tap combinations
of the A resized axes for each output element (T = 1, 2 or 4 taps per axis).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from webdnn.backends.webgpu.wgsl import (
    Ctx,
    Dispatch,
    Shader,
    Unsupported,
    elementwise_dispatch,
    ins,
    need_f32,
    register,
    shape,
    strides,
    u32,
    unravel,
)
from webdnn.ir.graph import Node


def fr(x: float) -> float:
    return float(np.float32(x))


def _coord(mode: str) -> Callable[[float, float, int, int], float]:
    if mode == "half_pixel":
        return lambda x, s, lo, li: fr(fr(fr(x + 0.5) / s) - 0.5)
    if mode == "half_pixel_symmetric":
        def hps(x: float, s: float, lo: int, li: int) -> float:
            adjustment = fr(lo / fr(s * li))
            offset = fr(fr(li / 2) * fr(1 - adjustment))
            return fr(fr(offset + fr(fr(x + 0.5) / s)) - 0.5)
        return hps
    if mode == "pytorch_half_pixel":
        return lambda x, s, lo, li: fr(fr(fr(x + 0.5) / s) - 0.5) if lo > 1 else 0.0
    if mode == "align_corners":
        return lambda x, s, lo, li: 0.0 if lo == 1 else fr(fr(x * (li - 1)) / (lo - 1))
    if mode == "asymmetric":
        return lambda x, s, lo, li: fr(x / s)
    if mode == "tf_half_pixel_for_nn":
        return lambda x, s, lo, li: fr(fr(x + 0.5) / s)
    raise Unsupported(f"coordinate_transformation_mode {mode!r}")


def _round_away(x: float) -> float:
    return -math.floor(-x + 0.5) if x < 0 else math.floor(x + 0.5)


def _nearest(mode: str) -> Callable[[float, bool], float]:
    if mode == "round_prefer_floor":
        return lambda x, down: math.floor(x) if x == math.trunc(x) + 0.5 else _round_away(x)
    if mode == "round_prefer_ceil":
        return lambda x, down: _round_away(x)
    if mode == "floor":
        return lambda x, down: math.floor(x)
    if mode == "ceil":
        return lambda x, down: math.ceil(x)
    if mode == "simple":
        return lambda x, down: math.ceil(x) if down else math.trunc(x)
    raise Unsupported(f"nearest_mode {mode!r}")


def _cubic(t: float, a: float) -> list[float]:
    t = abs(t)
    return [
        ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
        ((a + 2) * t - (a + 3)) * t * t + 1,
        ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1,
        ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a,
    ]


def axis_table(mode: str, coord: str, nearest: str, len_in: int, len_out: int, scale: float,
               cubic_a: float = -0.75, exclude: bool = False) -> np.ndarray:
    """(len_out, 4) float32 rows [i0, i1, w0, w1] for one axis; cubic: (len_out, 8) [i0..i3, w0..w3]."""
    cf, nf = _coord(coord), _nearest(nearest)
    t = np.zeros((len_out, 8 if mode == "cubic" else 4), np.float32)
    for o in range(len_out):
        x = float(o) if scale == 1 else cf(float(o), scale, len_out, len_in)
        if mode == "nearest":
            i = min(max(int(nf(x, scale < 1)), 0), len_in - 1)
            t[o] = (i, i, 1.0, 0.0)
        elif mode == "linear":
            xc = max(0.0, min(x, len_in - 1))
            i1 = min(math.trunc(xc), len_in - 1)
            i2 = min(i1 + 1, len_in - 1)
            t[o] = (i1, i2, 0.5, 0.5) if i1 == i2 else (i1, i2, abs(xc - i2), abs(xc - i1))
        else:
            base = math.floor(x)
            c = _cubic(x - base, cubic_a)
            if exclude:
                c = [w if 0 <= base + k - 1 < len_in else 0.0 for k, w in enumerate(c)]
                total = sum(c)
                c = [w / total for w in c] if total != 0 else c
            t[o] = [min(max(base + k - 1, 0), len_in - 1) for k in range(4)] + c
    return t


@register("Resize", "Upsample")
def resize(ctx: Ctx, node: Node) -> list[Dispatch]:
    x, y = ins(node)[0], node.outputs[0]
    need_f32(x, y)
    mode = node.attrs.get("mode", "nearest")
    if mode not in ("nearest", "linear", "cubic"):
        raise Unsupported(f"mode {mode!r}")
    cubic_a = float(node.attrs.get("cubic_coeff_a", -0.75))
    exclude = int(node.attrs.get("exclude_outside", 0)) == 1
    taps = {"nearest": 1, "linear": 2, "cubic": 4}[mode]
    coord = node.attrs.get("coordinate_transformation_mode", "half_pixel")
    nearest = node.attrs.get("nearest_mode", "round_prefer_floor")
    xs, ys = shape(x), shape(y)
    scales = [fr(s) for s in node.attrs["scales"]]
    st = strides(xs)
    sh = Shader(ctx)
    bx = sh.read(x)
    resized: list[tuple[int, str]] = []
    for a, (li, lo, s) in enumerate(zip(xs, ys, scales, strict=True)):
        table = axis_table(mode, coord, nearest, li, lo, s, cubic_a, exclude)
        cols = table.shape[1] // 2  # index columns, then as many weight columns
        ix, w = table[:, :cols], table[:, cols:]
        identity = li == lo and all(  # every output takes its own input element with weight 1
            float(w[o][ix[o] == o].sum()) == 1.0 and not np.any(w[o][ix[o] != o]) for o in range(lo))
        if not identity:
            tv = ctx.graph.const_value(f"{node.name}_taps{a}", table)
            resized.append((a, sh.read(tv, "vec4<f32>")))
    if len(resized) > 4:
        raise Unsupported("more than 4 resized axes")
    by = sh.write(y)
    lines = [unravel("i", ys)]
    fixed = " + ".join(f"c{d} * {u32(st[d])}" for d in range(len(xs)) if d not in {a for a, _ in resized}) or "0u"
    for a, buf in resized:
        if taps == 4:
            lines.append(f"let t{a} = {buf}[c{a} * 2u];")
            lines.append(f"let w{a} = {buf}[c{a} * 2u + 1u];")
        else:
            lines.append(f"let t{a} = {buf}[c{a}];")
            lines.append(f"let w{a} = t{a}.zw;")
    lines.append("var acc = 0.0;")
    lanes = "xyzw"
    for combo in range(taps ** len(resized)):
        idx, wts = [fixed], []
        for bit, (a, _) in enumerate(resized):
            k = (combo // taps ** bit) % taps
            idx.append(f"u32(t{a}.{lanes[k]}) * {u32(st[a])}")
            wts.append(f"w{a}.{lanes[k]}")
        weight = " * ".join(wts) if mode != "nearest" and wts else "1.0"
        lines.append(f"acc = acc + {weight} * {bx}[{' + '.join(idx)}];")
    lines.append(f"{by}[i] = acc;")
    return [elementwise_dispatch(sh, y.size, "\n    ".join(lines))]
