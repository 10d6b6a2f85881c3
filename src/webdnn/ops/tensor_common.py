"""Helpers shared by the elementwise and tensor shape rules (parameters, axes, dtypes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from webdnn.errors import ShapeError, where
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Node
from webdnn.ir.symbolic import Sym, dim
from webdnn.ops._util import const_input, in_dtype
from webdnn.ops.registry import unsupported

FLOATS = frozenset({DType.FLOAT32, DType.FLOAT64, DType.FLOAT16})
INTS = frozenset({DType.INT64, DType.INT32, DType.INT16, DType.INT8, DType.UINT8})
NUMERIC = FLOATS | INTS


def fail(node: Node, why: str) -> ShapeError:
    return ShapeError(f"{where(node.name, node.op_type)}: {why}")


def const_array(node: Node, i: int) -> np.ndarray | None:
    """Constant data of input i (None if omitted); the slot is cleared, trailing Nones trimmed."""
    data = const_input(node, i)
    if data is None:
        return None
    node.inputs[i] = None
    while node.inputs and node.inputs[-1] is None:
        node.inputs.pop()
    return data


def ints_param(node: Node, i: int, key: str | None = None) -> list[int] | None:
    """An ints parameter given as constant input i (newer opsets) or attribute `key` (older).

    The input wins when both are there. An empty tensor counts as "not given" (exporters
    write empty axes/split inputs for the default). The attribute is not written back.
    """
    data = const_array(node, i)
    if data is not None:
        return [dim(x) for x in data.reshape(-1).tolist()] or None  # sizes may be symbolic
    v = None if key is None else node.attrs.get(key)
    if v is None:
        return None
    vals = [dim(v)] if isinstance(v, int | np.integer | Sym) else [dim(x) for x in v]
    return vals or None


def scalar_param(node: Node, i: int) -> Any:
    """A scalar constant input (0-d or a 1-element tensor) as a Python value, None if omitted."""
    data = const_array(node, i)
    if data is None or data.size == 0:
        return None
    if data.size != 1:
        raise fail(node, f"input {i} must hold one value, got shape {tuple(data.shape)}")
    x = data.reshape(-1)[0]
    return x if isinstance(x, Sym) else x.item()  # a size computed from the input symbols stays one


def norm_axes(node: Node, axes: Sequence[int], rank: int, *, what: str = "axes") -> list[int]:
    """Axes made non-negative and sorted; out-of-range or repeated axes are errors."""
    out: list[int] = []
    for a in axes:
        if not -rank <= a < rank:
            raise fail(node, f"{what} {list(axes)} out of range for rank {rank}")
        out.append(a + rank if a < 0 else a)
    if len(set(out)) != len(out):
        raise fail(node, f"{what} {list(axes)} repeat an axis")
    return sorted(out)


def norm_axis_upto(node: Node, axis: int, base: int, hi: int) -> int:
    """An axis allowed in [-base, hi] (negative counts from `base`), made non-negative."""
    if not -base <= axis <= hi:
        raise fail(node, f"axis {axis} out of range [{-base}, {hi}]")
    return axis + base if axis < 0 else axis


def check_dtype(node: Node, graph: Graph, i: int, allowed: frozenset[DType], what: str) -> DType:
    dt = in_dtype(node, i)
    if dt not in allowed:
        raise unsupported(node, graph, f"input {i} has element type {dt.value}; {what}")
    return dt


def py_scalar(value: Any, dtype: DType) -> float | int:
    """A parameter value as the Python type the runtime expects for `dtype` (int or float)."""
    if dtype in FLOATS:
        return float(value)
    return int(value)


def all_inputs(node: Node, minimum: int = 1) -> None:
    """Variadic/fixed-arity ops: every input slot must be given."""
    if len(node.inputs) < minimum or any(v is None for v in node.inputs):
        raise fail(node, f"expects {minimum}+ inputs, all given; got {len(node.inputs)}")
