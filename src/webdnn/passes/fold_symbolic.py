"""Folding of shape computations over symbolic sizes.

A model exported with dynamic axes computes sizes at run time: Shape -> Gather -> Unsqueeze ->
Concat -> Reshape. With static inputs those chains fold to constants (fold_constants.py); with
symbolic inputs they fold here instead, to *size values*: small int tensors whose entries are
expressions of the input symbols (`Value.dims`, an object array of Dims). The ops that take a
size (Reshape, Expand, Slice, ...) read them as attributes like constants, so no shape
arithmetic is left for the runtime.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from webdnn.errors import where
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Node, Value
from webdnn.ir.symbolic import Dim, Sym, SymbolicShapeError, floordiv, mod, provably_equal, smax, smin

INT_TYPES = {DType.INT64, DType.INT32}


def _data(v: Value | None) -> np.ndarray | None:
    if v is None:
        return None
    if v.dims is not None:
        return v.dims
    return v.const


def _obj(a: np.ndarray) -> np.ndarray:
    return a if a.dtype == object else a.astype(np.int64).astype(object)


def _ints(node: Node, i: int) -> list[int]:
    a = node.input(i)
    if a is None or a.const is None:
        raise SymbolicShapeError(f"input {i} must be a constant")
    return [int(x) for x in np.asarray(a.const).reshape(-1)]


def _axes(node: Node, slot: int) -> list[int] | None:
    if "axes" in node.attrs:
        return [int(x) for x in node.attrs["axes"]]
    return _ints(node, slot) if node.input(slot) is not None else None


def _elementwise(fn: Callable[[Dim, Dim], Dim | bool]) -> Callable[[Node, list[np.ndarray]], np.ndarray]:
    def run(node: Node, xs: list[np.ndarray]) -> np.ndarray:
        a, b = np.broadcast_arrays(_obj(xs[0]), _obj(xs[1]))
        out = np.empty(a.shape, dtype=object)
        for idx in np.ndindex(a.shape):
            out[idx] = fn(a[idx], b[idx])
        return out
    return run


def _equal(a: Dim, b: Dim) -> bool:
    r = provably_equal(a, b)
    if r is None:
        raise SymbolicShapeError(f"whether {a} == {b} depends on the input size")
    return r


def _div(a: Dim, b: Dim) -> Dim:
    if not isinstance(a, Sym) and not isinstance(b, Sym):
        return int(np.trunc(a / b)) if b else 0  # ONNX integer Div truncates
    return floordiv(a, b)  # sizes are non-negative: floor = truncation


def _gather(node: Node, xs: list[np.ndarray]) -> np.ndarray:
    idx = np.asarray(node.input(1).const)  # type: ignore[union-attr]
    axis = int(node.attrs.get("axis", 0))
    n = xs[0].shape[axis]
    return np.take(xs[0], np.where(idx < 0, idx + n, idx), axis=axis)


def _unsqueeze(node: Node, xs: list[np.ndarray]) -> np.ndarray:
    axes = _axes(node, 1) or []
    rank = xs[0].ndim + len(axes)
    out = xs[0]
    for a in sorted(a + rank if a < 0 else a for a in axes):
        out = np.expand_dims(out, a)
    return out


def _squeeze(node: Node, xs: list[np.ndarray]) -> np.ndarray:
    axes = _axes(node, 1)
    return np.squeeze(xs[0], axis=None if axes is None else tuple(axes))


def _concat(node: Node, xs: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([_obj(x) for x in xs], axis=int(node.attrs.get("axis", 0)))


def _slice(node: Node, xs: list[np.ndarray]) -> np.ndarray:
    x = xs[0]
    starts, ends = _ints(node, 1), _ints(node, 2)
    axes = _ints(node, 3) if node.input(3) is not None else list(range(len(starts)))
    steps = _ints(node, 4) if node.input(4) is not None else [1] * len(starts)
    sl = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps, strict=True):
        sl[a] = slice(s, e, st)
    return x[tuple(sl)]


def _cast(node: Node, xs: list[np.ndarray]) -> np.ndarray:
    to = DType.from_onnx(int(node.attrs["to"]))
    if to not in INT_TYPES:
        raise SymbolicShapeError(f"a size cast to {to.value} cannot be folded")
    return xs[0]


def _where(node: Node, xs: list[np.ndarray]) -> np.ndarray:
    c = node.input(0)
    if c is None or c.const is None:
        raise SymbolicShapeError("the condition must be a constant")
    cond, a, b = np.broadcast_arrays(np.asarray(c.const).astype(bool), _obj(xs[1]), _obj(xs[2]))
    return np.where(cond, a, b)


def _reshape(node: Node, xs: list[np.ndarray]) -> np.ndarray:
    shape = [int(s) for s in _ints(node, 1)]
    shape = [xs[0].shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return xs[0].reshape(shape)


FOLDERS: dict[str, Callable[[Node, list[np.ndarray]], np.ndarray]] = {
    "Gather": _gather,
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Concat": _concat,
    "Slice": _slice,
    "Cast": _cast,
    "Identity": lambda node, xs: xs[0],
    "Reshape": _reshape,
    "Where": _where,
    "Add": _elementwise(lambda a, b: a + b),
    "Sub": _elementwise(lambda a, b: a - b),
    "Mul": _elementwise(lambda a, b: a * b),
    "Div": _elementwise(_div),
    "Mod": _elementwise(mod),
    "Max": _elementwise(smax),
    "Min": _elementwise(smin),
    "Equal": _elementwise(_equal),
}


MULTI_DATA = {"Concat", "Add", "Sub", "Mul", "Div", "Mod", "Max", "Min", "Equal"}


def set_dims(v: Value, data: np.ndarray, dtype: DType) -> None:
    """Give `v` the value `data`: a constant when every entry is a number, else a size value."""
    if data.dtype == object and not any(isinstance(x, Sym) for x in data.reshape(-1)):
        data = data.astype(bool if dtype == DType.BOOL else dtype.numpy)
    if data.dtype != object:
        v.set_const(np.asarray(data, dtype=dtype.numpy))
        v.dims = None
        return
    v.dims, v.dtype, v.shape, v.const = data, dtype, tuple(int(d) for d in data.shape), None


def fold_symbolic(node: Node, graph: Graph) -> bool:
    """Fold `node` when it computes on size values (and constants); True when it was removed."""
    ins = [v for v in node.inputs if v is not None]
    if not ins or not any(v.dims is not None for v in ins) or not all(v.dims is not None or v.is_const for v in ins):
        return False
    fn = FOLDERS.get(node.op_type)
    if fn is None or len(node.outputs) != 1:
        return False  # the op's rule sees the size value (and takes it as an attribute, or says why not)
    multi = node.op_type in MULTI_DATA
    data = node.inputs[1:] if node.op_type == "Where" else (node.inputs if multi else node.inputs[:1])
    if not any(v is not None and v.dims is not None for v in data):
        return False  # sizes as parameters of a runtime op (a Slice's ends): its rule takes them
    try:
        out = fn(node, [_data(v) for v in node.inputs])  # type: ignore[misc]
    except SymbolicShapeError as e:
        raise SymbolicShapeError(
            f"{where(node.name, node.op_type, graph.opset)}: computing a size: {e}; fix the input dims with "
            "--input-shape"
        ) from None
    first = next(v for v in ins if v.dims is not None)
    dtype = DType.BOOL if node.op_type == "Equal" else (
        DType.from_onnx(int(node.attrs["to"])) if node.op_type == "Cast" else first.dtype or DType.INT64)
    set_dims(node.outputs[0], np.asarray(out, dtype=object) if not isinstance(out, np.ndarray) else out, dtype)
    node.outputs[0].producer = None
    graph.nodes.remove(node)
    return True
