"""Resize / Upsample: nearest (every nearest_mode), linear and cubic, with the coordinate
modes of the fallback kernel. Interpolation is separable, so the lowering computes per-axis
tap tables (source index and weight per output index, float32 coordinates as onnxruntime)
at conversion; they travel as one small weight texture and each fragment sums the
product of its axes' taps."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from webdnn.backends.webgl.core import Ctx, Pass, attr_float, ins, kernel, need_float, shape
from webdnn.backends.webgl.glsl import coords, flt, strides
from webdnn.ir.graph import Node

f32 = np.float32
Coord = Callable[[int, float, int, int, float, float], float]


def _coord_fn(mode: str) -> Coord | None:
    def half_pixel(x: int, s: float, lo: int, li: int, a: float, b: float) -> float:
        return float(f32(f32(f32(x + 0.5) / f32(s)) - f32(0.5)))

    def half_pixel_symmetric(x: int, s: float, lo: int, li: int, a: float, b: float) -> float:
        adj = f32(f32(lo) / f32(f32(s) * f32(li)))
        off = f32(f32(f32(li) / f32(2)) * f32(f32(1) - adj))
        return float(f32(f32(off + f32(f32(x + 0.5) / f32(s))) - f32(0.5)))

    def pytorch_half_pixel(x: int, s: float, lo: int, li: int, a: float, b: float) -> float:
        return half_pixel(x, s, lo, li, a, b) if lo > 1 else 0.0

    def align_corners(x: int, s: float, lo: int, li: int, a: float, b: float) -> float:
        return 0.0 if lo == 1 else float(f32(f32(f32(x) * f32(li - 1)) / f32(lo - 1)))

    def asymmetric(x: int, s: float, lo: int, li: int, a: float, b: float) -> float:
        return float(f32(f32(x) / f32(s)))

    def tf_half_pixel_for_nn(x: int, s: float, lo: int, li: int, a: float, b: float) -> float:
        return float(f32(f32(x + 0.5) / f32(s)))

    def tf_crop_and_resize(x: int, s: float, lo: int, li: int, a: float, b: float) -> float:
        if lo > 1:
            return float(f32(f32(f32(a) * f32(li - 1)) + f32(f32(f32(f32(x) * f32(f32(b) - f32(a))) * f32(li - 1))
                                                           / f32(lo - 1))))
        return float(f32(f32(0.5 * (a + b)) * f32(li - 1)))

    fns: dict[str, Coord] = {
        "half_pixel": half_pixel, "half_pixel_symmetric": half_pixel_symmetric,
        "pytorch_half_pixel": pytorch_half_pixel, "align_corners": align_corners, "asymmetric": asymmetric,
        "tf_half_pixel_for_nn": tf_half_pixel_for_nn, "tf_crop_and_resize": tf_crop_and_resize,
    }
    return fns.get(mode)


def _round_away(x: float) -> float:
    return -math.floor(-x + 0.5) if x < 0 else math.floor(x + 0.5)


def _nearest_fn(mode: str) -> Callable[[float, bool], float] | None:
    fns: dict[str, Callable[[float, bool], float]] = {
        "round_prefer_floor": lambda x, d: math.floor(x) if x == math.trunc(x) + 0.5 else _round_away(x),
        "round_prefer_ceil": lambda x, d: _round_away(x),
        "floor": lambda x, d: math.floor(x),
        "ceil": lambda x, d: math.ceil(x),
        "simple": lambda x, d: math.ceil(x) if d else math.trunc(x),
    }
    return fns.get(mode)


def _cubic(s: float, a: float) -> list[float]:
    t = abs(s)
    return [
        ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
        ((a + 2) * t - (a + 3)) * t * t + 1,
        ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1,
        ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a,
    ]


def axis_table(mode: str, coord: Coord, nearest: Callable[[float, bool], float], cubic_a: float, exclude: bool,
               li: int, lo: int, scale: float, ra: float, rb: float, extrapolate: bool = False) -> np.ndarray:
    """(lo, taps, 2) array of (source index, weight); with `extrapolate` (tf_crop_and_resize), an
    output index mapped outside the input gets source index -1 on its first tap."""
    taps = {"nearest": 1, "linear": 2, "cubic": 4}[mode]
    t = np.zeros((lo, taps, 2), np.float64)
    for o in range(lo):
        x = float(o) if scale == 1 else coord(o, scale, lo, li, ra, rb)
        if mode == "nearest":
            t[o, 0] = (min(max(nearest(x, scale < 1), 0), li - 1), 1.0)
        elif mode == "linear":
            xc = max(0.0, min(x, li - 1))
            i1 = min(math.trunc(xc), li - 1)
            i2 = min(i1 + 1, li - 1)
            t[o, 0] = (i1, 0.5 if i1 == i2 else abs(xc - i2))
            t[o, 1] = (i2, 0.5 if i1 == i2 else abs(xc - i1))
        else:
            base = math.floor(x)
            c = _cubic(x - base, cubic_a)
            for k in range(4):
                if exclude and not 0 <= base + k - 1 < li:
                    c[k] = 0.0
            total = sum(c)
            for k in range(4):
                t[o, k] = (min(max(base + k - 1, 0), li - 1), c[k] / total if exclude and total != 0 else c[k])
        if extrapolate and (x < 0 or x > li - 1):
            t[o, 0, 0] = -1
    return t


def _is_identity(t: np.ndarray, li: int, lo: int) -> bool:
    if li != lo:
        return False
    for o in range(lo):
        self_w = sum(w for i, w in t[o] if int(i) == o)
        if self_w != 1.0 or any(w != 0 for i, w in t[o] if int(i) != o):
            return False
    return True


@kernel("Resize", "Upsample")
def _resize(node: Node, ctx: Ctx) -> list[Pass]:
    x = ins(node, ctx)[0]
    need_float(node, ctx, [x])
    xs, y = shape(x), node.outputs[0]
    ys = shape(y)
    rank = len(xs)
    mode = node.attrs.get("mode", "nearest")
    cmode = node.attrs.get("coordinate_transformation_mode", "half_pixel")
    coord = _coord_fn(cmode)
    nearest = _nearest_fn(node.attrs.get("nearest_mode", "round_prefer_floor"))
    if mode not in ("nearest", "linear", "cubic") or coord is None or nearest is None:
        raise ctx.fail(node, f"does not support Resize mode {mode!r} with {cmode!r} and its nearest_mode")
    scales = [float(f32(attr_float(s))) for s in node.attrs["scales"]]
    roi = [attr_float(r) for r in node.attrs.get("roi", [0.0] * rank + [1.0] * rank)]
    cubic_a = attr_float(node.attrs.get("cubic_coeff_a", -0.75))
    exclude = int(node.attrs.get("exclude_outside", 0)) == 1
    extrapolate = cmode == "tf_crop_and_resize"
    tables = [axis_table(mode, coord, nearest, cubic_a, exclude, xs[a], ys[a], scales[a],
                         float(f32(roi[a])), float(f32(roi[rank + a])), extrapolate) for a in range(rank)]
    axes = [a for a in range(rank) if not _is_identity(tables[a], xs[a], ys[a])]
    xst = strides(xs)
    taps = tables[0].shape[1] if tables else 1
    offsets, parts, off = {}, [], 0
    for a in axes:
        offsets[a] = off
        parts.append(tables[a].reshape(-1))
        off += tables[a].size
    base = " + ".join([f"c{d} * {xst[d]}" for d in range(rank) if d not in axes and xs[d] > 1] or ["0"])
    lines = ["float compute(int o) {", "  " + coords("o", ys, "c"), f"  int b = {base};", "  float acc = 0.0;"]
    indent = "  "
    for a in axes:
        lines.append(f"{indent}for (int t{a} = 0; t{a} < {taps}; t{a}++) {{")
        indent += "  "
        lines.append(f"{indent}int q{a} = {offsets[a]} + (c{a} * {taps} + t{a}) * 2;")
        lines.append(f"{indent}int i{a} = int(X1(q{a})); float w{a} = X1(q{a} + 1);")
        if extrapolate:
            lines.append(f"{indent}if (i{a} < 0) return {flt(attr_float(node.attrs.get('extrapolation_value', 0.0)))};")
    idx = " + ".join(["b"] + [f"i{a} * {xst[a]}" for a in axes])
    w = " * ".join([f"w{a}" for a in axes] or ["1.0"])
    lines.append(f"{indent}acc += {w} * X0({idx});")
    for _ in axes:
        indent = indent[:-2]
        lines.append(f"{indent}}}")
    lines += ["  return acc;", "}"]
    inputs = [x]
    if axes:
        inputs.append(ctx.const(y.name + ".taps", np.concatenate(parts).astype(np.float32)))
    return [Pass(node.op_type, node.name, inputs, y, "\n".join(lines))]
