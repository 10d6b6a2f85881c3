"""Shape arithmetic every layer shares: element counts, row-major strides, broadcasting.

Sizes may be symbolic (ir/symbolic.py): the arithmetic is the same, and the results are
expressions of the input symbols."""

from __future__ import annotations

import math
from collections.abc import Sequence

from webdnn.ir.symbolic import Dim, Sym, SymbolicShapeError, bounds


def prod(xs: Sequence[int]) -> int:
    """The number of elements of a static shape (1 for a scalar)."""
    return math.prod(int(x) for x in xs)


def strides(shape: Sequence[Dim]) -> list[Dim]:
    """Row-major (C order) element strides of a contiguous tensor of `shape`."""
    out: list[Dim] = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        out[i] = out[i + 1] * shape[i + 1]
    return out


def broadcast_strides(shape: Sequence[Dim], out_shape: Sequence[Dim]) -> list[Dim]:
    """Element strides of a contiguous `shape` read at the coordinates of `out_shape` it
    broadcasts to (numpy rules: leading axes added, 0 along broadcast axes). A symbolic dim
    broadcasts only where it is the output's own dim (then it is never stretched)."""
    pad: list[Dim] = [1] * (len(out_shape) - len(shape)) + list(shape)
    for d, o in zip(pad, out_shape, strict=True):
        if isinstance(d, Sym) and d != o:
            raise SymbolicShapeError(f"whether a dim {d} broadcasts to {o} depends on the input size")
    return [0 if (d == 1 and o != 1) else s for d, o, s in zip(pad, out_shape, strides(pad), strict=True)]


def above_1(d: Dim) -> bool:
    """May the dim be more than 1? (A symbolic dim is unless its bounds say otherwise): generated
    code leaves out index terms of dims that are always 1."""
    return bounds(d)[1] > 1
