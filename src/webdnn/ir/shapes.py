"""Shape arithmetic every layer shares: element counts, row-major strides, broadcasting."""

from __future__ import annotations

import math
from collections.abc import Sequence


def prod(xs: Sequence[int]) -> int:
    """The number of elements of a static shape (1 for a scalar)."""
    return math.prod(int(x) for x in xs)


def strides(shape: Sequence[int]) -> list[int]:
    """Row-major (C order) element strides of a contiguous tensor of `shape`."""
    out = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        out[i] = out[i + 1] * int(shape[i + 1])
    return out


def broadcast_strides(shape: Sequence[int], out_shape: Sequence[int]) -> list[int]:
    """Element strides of a contiguous `shape` read at the coordinates of `out_shape` it
    broadcasts to (numpy rules: leading axes added, 0 along broadcast axes)."""
    pad = [1] * (len(out_shape) - len(shape)) + [int(d) for d in shape]
    return [0 if d == 1 and o != 1 else s for d, o, s in zip(pad, out_shape, strides(pad), strict=True)]
