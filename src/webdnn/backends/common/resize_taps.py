"""Resize / Upsample source taps, computed once per resized axis at conversion (the GPU
backends store them as a small weight tensor; their shaders only sum taps × weights).

The coordinate transformation is done in float32 as onnxruntime and the fallback kernel do
(every product and quotient rounded to float32), nearest rounding per `nearest_mode`, linear
taps clamped to the input, cubic taps with `cubic_coeff_a` and `exclude_outside`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from webdnn.ir.symbolic import provably_equal

f32 = np.float32
# (output index, scale, output length, input length, roi start, roi end) -> input coordinate
Coord = Callable[[int, float, int, int, float, float], float]
TAPS = {"nearest": 1, "linear": 2, "cubic": 4}


def _half_pixel(x: int, s: float, lo: int, li: int, a: float, b: float) -> float:
    return float(f32(f32(f32(x + 0.5) / f32(s)) - f32(0.5)))


def _half_pixel_symmetric(x: int, s: float, lo: int, li: int, a: float, b: float) -> float:
    adj = f32(f32(lo) / f32(f32(s) * f32(li)))
    off = f32(f32(f32(li) / f32(2)) * f32(f32(1) - adj))
    return float(f32(f32(off + f32(f32(x + 0.5) / f32(s))) - f32(0.5)))


def _pytorch_half_pixel(x: int, s: float, lo: int, li: int, a: float, b: float) -> float:
    return _half_pixel(x, s, lo, li, a, b) if lo > 1 else 0.0


def _align_corners(x: int, s: float, lo: int, li: int, a: float, b: float) -> float:
    return 0.0 if lo == 1 else float(f32(f32(f32(x) * f32(li - 1)) / f32(lo - 1)))


def _asymmetric(x: int, s: float, lo: int, li: int, a: float, b: float) -> float:
    return float(f32(f32(x) / f32(s)))


def _tf_half_pixel_for_nn(x: int, s: float, lo: int, li: int, a: float, b: float) -> float:
    return float(f32(f32(x + 0.5) / f32(s)))


def _tf_crop_and_resize(x: int, s: float, lo: int, li: int, a: float, b: float) -> float:
    if lo > 1:
        span = f32(f32(f32(f32(x) * f32(f32(b) - f32(a))) * f32(li - 1)) / f32(lo - 1))
        return float(f32(f32(f32(a) * f32(li - 1)) + span))
    return float(f32(f32(0.5 * (a + b)) * f32(li - 1)))


COORD: dict[str, Coord] = {
    "half_pixel": _half_pixel, "half_pixel_symmetric": _half_pixel_symmetric,
    "pytorch_half_pixel": _pytorch_half_pixel, "align_corners": _align_corners, "asymmetric": _asymmetric,
    "tf_half_pixel_for_nn": _tf_half_pixel_for_nn, "tf_crop_and_resize": _tf_crop_and_resize,
}


def _round_away(x: float) -> float:
    return -math.floor(-x + 0.5) if x < 0 else math.floor(x + 0.5)


# (coordinate, downscaling) -> source index before clamping
NEAREST: dict[str, Callable[[float, bool], float]] = {
    "round_prefer_floor": lambda x, d: math.floor(x) if x == math.trunc(x) + 0.5 else _round_away(x),
    "round_prefer_ceil": lambda x, d: _round_away(x),
    "floor": lambda x, d: math.floor(x),
    "ceil": lambda x, d: math.ceil(x),
    "simple": lambda x, d: math.ceil(x) if d else math.trunc(x),
}


def cubic_weights(s: float, a: float) -> list[float]:
    """Keys' cubic convolution weights of the 4 taps around a point at fraction `s`."""
    t = abs(s)
    return [
        ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
        ((a + 2) * t - (a + 3)) * t * t + 1,
        ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1,
        ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a,
    ]


def axis_taps(mode: str, coord_mode: str, nearest_mode: str, li: int, lo: int, scale: float, *,
              cubic_a: float = -0.75, exclude: bool = False, roi: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """(lo, taps, 2) float64 array of (source index, weight) for one axis (taps: 1 nearest, 2
    linear, 4 cubic). For tf_crop_and_resize an output mapped outside the input gets source
    index -1 on its first tap (the kernel writes the extrapolation value there). Raises
    KeyError for an unknown mode."""
    coord, nearest, taps = COORD[coord_mode], NEAREST[nearest_mode], TAPS[mode]
    ra, rb = float(f32(roi[0])), float(f32(roi[1]))
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
            c = cubic_weights(x - base, cubic_a)
            if exclude:
                c = [w if 0 <= base + k - 1 < li else 0.0 for k, w in enumerate(c)]
                total = sum(c)
                c = [w / total for w in c] if total != 0 else c
            for k in range(4):
                t[o, k] = (min(max(base + k - 1, 0), li - 1), c[k])
        if coord_mode == "tf_crop_and_resize" and (x < 0 or x > li - 1):
            t[o, 0, 0] = -1
    return t


def unresized(li: Any, lo: Any, scale: float) -> bool:
    """An axis not resized at any size: scale 1 and the same length (a batch or channel axis, whose length may be
    symbolic: axis_taps maps each output to its own input with weight 1 then, in every mode)."""
    return float(f32(scale)) == 1.0 and provably_equal(li, lo) is True


def is_identity(t: np.ndarray, li: int) -> bool:
    """Same length, and every output takes its own input element with weight 1 (the axis need
    not be resized)."""
    lo = t.shape[0]
    if lo != li:
        return False
    idx, w = t[..., 0], t[..., 1]
    for o in range(lo):
        own = idx[o] == o
        if float(w[o][own].sum()) != 1.0 or np.any(w[o][~own] != 0):
            return False
    return True
