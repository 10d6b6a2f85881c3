"""Helpers shared by the shape rules."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from webdnn.errors import ShapeError, where
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Node, Value


def in_shape(node: Node, i: int) -> tuple[int, ...]:
    v = node.input(i)
    if v is None or v.shape is None:
        raise ShapeError(f"{where(node.name, node.op_type)}: input {i} has no static shape")
    return v.shape


def in_dtype(node: Node, i: int) -> DType:
    v = node.input(i)
    if v is None or v.dtype is None:
        raise ShapeError(f"{where(node.name, node.op_type)}: input {i} has no element type")
    return v.dtype


def set_out(node: Node, i: int, dtype: DType, shape: Sequence[int]) -> None:
    o = node.outputs[i]
    o.dtype = dtype
    o.shape = tuple(int(d) for d in shape)


def broadcast(node: Node, *shapes: Sequence[int]) -> tuple[int, ...]:
    """Numpy-style multidirectional broadcasting (ONNX semantics)."""
    try:
        return tuple(int(d) for d in np.broadcast_shapes(*[tuple(s) for s in shapes]))
    except ValueError:
        raise ShapeError(
            f"{where(node.name, node.op_type)}: shapes {', '.join(str(tuple(s)) for s in shapes)} "
            "do not broadcast"
        ) from None


def norm_axis(node: Node, axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        raise ShapeError(f"{where(node.name, node.op_type)}: axis {axis} out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


def const_input(node: Node, i: int) -> np.ndarray | None:
    """Constant data of input i, None when the input is omitted or empty-named."""
    v = node.input(i)
    if v is None:
        return None
    if v.const is None:
        raise ShapeError(
            f"{where(node.name, node.op_type)}: input {i} ('{v.name}') must be a constant at conversion "
            "time (it decides a shape). Fix the input shapes with --input-shape so it can be folded."
        )
    return v.const


def take_const_input(node: Node, i: int, attr: str, dtype: type = int) -> None:
    """Move constant input i into attribute `attr` (list of ints/floats, or scalar if 0-d).

    The input slot is set to None (trailing None slots are trimmed by `trim_inputs`).
    An omitted input leaves the attribute as it is (default set by the caller).
    """
    data = const_input(node, i)
    if data is None:
        return
    if data.ndim == 0:
        node.attrs[attr] = dtype(data.item())
    else:
        node.attrs[attr] = [dtype(x) for x in data.reshape(-1).tolist()]
    node.inputs[i] = None


def trim_inputs(node: Node) -> None:
    while node.inputs and node.inputs[-1] is None:
        node.inputs.pop()


def defaults(node: Node, **kw: object) -> None:
    """Fill ONNX attribute defaults that the model left out."""
    for k, v in kw.items():
        node.attrs.setdefault(k, v)


def is_graph_value(graph: Graph, v: Value) -> bool:
    return any(v is x for x in graph.inputs)
