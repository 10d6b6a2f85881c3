"""Helpers shared by the shape rules."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from webdnn.errors import ShapeError, where
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Node, Value
from webdnn.ir.symbolic import Dim, Sym, dim, is_static, provably_equal, smax


def in_shape(node: Node, i: int) -> tuple[Dim, ...]:
    v = node.input(i)
    if v is None or v.shape is None:
        raise ShapeError(f"{where(node.name, node.op_type)}: input {i} has no static shape")
    return v.shape


def in_dtype(node: Node, i: int) -> DType:
    v = node.input(i)
    if v is None or v.dtype is None:
        raise ShapeError(f"{where(node.name, node.op_type)}: input {i} has no element type")
    return v.dtype


def set_out(node: Node, i: int, dtype: DType, shape: Sequence[Dim]) -> None:
    o = node.outputs[i]
    o.dtype = dtype
    o.shape = tuple(dim(d) for d in shape)


def broadcast(node: Node, *shapes: Sequence[Dim], graph: Graph | None = None) -> tuple[Dim, ...]:
    """Numpy-style multidirectional broadcasting (ONNX semantics). A symbolic dim against a
    fixed n > 1 is n (the model is valid only when the symbol is n or 1); two different symbols
    give their max (one of them is 1, or they are equal). With `graph`, those conditions become
    runtime requirements (`Graph.requires`) where the bounds do not decide them."""
    def fail() -> ShapeError:
        return ShapeError(
            f"{where(node.name, node.op_type)}: shapes {', '.join(str(tuple(str(d) for d in s)) for s in shapes)} "
            "do not broadcast"
        )

    if all(is_static(s) for s in shapes):
        try:
            return tuple(int(d) for d in np.broadcast_shapes(*[tuple(int(d) for d in s) for s in shapes]))
        except ValueError:
            raise fail() from None
    rank = max(len(s) for s in shapes)
    out: list[Dim] = []
    for axis in range(rank):
        col = [s[len(s) - rank + axis] for s in shapes if len(s) - rank + axis >= 0]
        fixed = {d for d in col if not isinstance(d, Sym) and d != 1}
        if len(fixed) > 1:
            raise fail()
        syms = list(dict.fromkeys(d for d in col if isinstance(d, Sym)))
        if fixed:
            n = fixed.pop()
            for d in syms:
                _require_broadcast(node, graph, (d - 1) * (d - n), f"dim {d} is {n} or 1")
            out.append(n)
            continue
        for i, a in enumerate(syms):
            for b in syms[i + 1:]:
                _require_broadcast(node, graph, (a - b) * (a - 1) * (b - 1), f"dims {a} and {b} are equal or one is 1")
        out.append(1 if not syms else syms[0] if len(syms) == 1 else smax(*syms))
    return tuple(out)


def _require_broadcast(node: Node, graph: Graph | None, zero: Dim, what: str) -> None:
    """Record that `zero` must be 0 at run (a broadcast's condition) where the bounds leave it open."""
    if graph is not None and provably_equal(zero, 0) is None:
        graph.requires.append((zero, 0, f"{where(node.name, node.op_type)}: shapes broadcast only where {what}"))


def norm_axis(node: Node, axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        raise ShapeError(f"{where(node.name, node.op_type)}: axis {axis} out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


def const_input(node: Node, i: int) -> np.ndarray | None:
    """Constant data of input i, None when the input is omitted or empty-named."""
    v = node.input(i)
    if v is None:
        return None
    if v.const is None and v.dims is not None:
        return v.dims  # sizes computed from the input symbols (an object array of Dims)
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
    conv = dim if dtype is int else dtype  # an int parameter may be a symbolic size
    if data.ndim == 0:
        node.attrs[attr] = conv(data.item())
    else:
        node.attrs[attr] = [conv(x) for x in data.reshape(-1).tolist()]
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
