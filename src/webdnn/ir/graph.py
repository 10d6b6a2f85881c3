"""Graph, Node and Value: the IR every pass and backend works on.

A Value is a tensor: a name, an element type, a static shape once inference ran,
and constant data if it is known at conversion time. A Node applies an ONNX-style
operator (op_type + attributes) to input Values and defines output Values.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from webdnn.ir.dtypes import DType
from webdnn.ir.symbolic import Dim, prod


@dataclass(eq=False)
class Value:
    name: str
    dtype: DType | None = None
    shape: tuple[Dim, ...] | None = None
    const: np.ndarray | None = None
    producer: Node | None = None
    # A small int tensor whose values are known as expressions of the input symbols (a Shape
    # of a symbolic tensor and what is computed from it): an object array of Dims.
    dims: np.ndarray | None = None

    @property
    def is_const(self) -> bool:
        return self.const is not None

    @property
    def size(self) -> Dim:
        assert self.shape is not None, f"value '{self.name}' has no static shape"
        return prod(self.shape)

    @property
    def nbytes(self) -> Dim:
        assert self.dtype is not None, f"value '{self.name}' has no dtype"
        return self.size * self.dtype.itemsize

    def set_const(self, data: np.ndarray) -> None:
        data = np.asarray(data)
        self.const = data
        self.dtype = DType.from_numpy(data.dtype)
        self.shape = tuple(int(d) for d in data.shape)

    def __repr__(self) -> str:
        c = " const" if self.is_const else ""
        return f"Value({self.name!r}, {self.dtype and self.dtype.value}, {self.shape}{c})"


@dataclass(eq=False)
class Node:
    op_type: str
    name: str
    inputs: list[Value | None]
    outputs: list[Value]
    attrs: dict[str, Any] = field(default_factory=dict)
    domain: str = ""

    def input(self, i: int) -> Value | None:
        """The i-th input, or None when omitted (optional inputs)."""
        return self.inputs[i] if i < len(self.inputs) else None

    def attr(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)

    def __repr__(self) -> str:
        ins = ", ".join(v.name if v else "-" for v in self.inputs)
        outs = ", ".join(v.name for v in self.outputs)
        return f"Node({self.op_type} {self.name!r}: {ins} -> {outs})"


class Graph:
    """A static dataflow graph. Node order is kept topological by the passes."""

    def __init__(self, name: str, opset: int) -> None:
        self.name = name
        self.opset = opset
        self.nodes: list[Node] = []
        self.inputs: list[Value] = []
        self.outputs: list[Value] = []
        # Inputs whose values decide sizes (`--value-input`): their elements' symbols, flattened.
        self.value_inputs: dict[str, list[Dim]] = {}
        # Equalities of sizes that conversion cannot decide (a Reshape to a shape given at run):
        # (lhs, rhs, what is wrong otherwise), checked by the runtime for each input size.
        self.requires: list[tuple[Dim, Dim, str]] = []
        # The model's element type of an input/output held in another type (ir/narrow_types.py):
        # {name: "float8e4m3fn"}; the value's dtype is the storage type.
        self.element_types: dict[str, str] = {}
        self._names: set[str] = set()

    # --- construction -----------------------------------------------------------------
    def unique_name(self, base: str) -> str:
        name, i = base, 0
        while name in self._names:
            i += 1
            name = f"{base}_{i}"
        self._names.add(name)
        return name

    def new_value(
        self, base: str, dtype: DType | None = None, shape: tuple[Dim, ...] | None = None
    ) -> Value:
        return Value(self.unique_name(base), dtype, shape)

    def const_value(self, base: str, data: np.ndarray) -> Value:
        v = Value(self.unique_name(base))
        v.set_const(np.asarray(data))
        return v

    def reserve_name(self, name: str) -> None:
        self._names.add(name)

    def add_node(
        self,
        op_type: str,
        inputs: list[Value | None],
        outputs: list[Value],
        attrs: dict[str, Any] | None = None,
        name: str | None = None,
        before: Node | None = None,
    ) -> Node:
        node = Node(op_type, self.unique_name(name or op_type), list(inputs), list(outputs), attrs or {})
        for o in outputs:
            o.producer = node
        if before is None:
            self.nodes.append(node)
        else:
            self.nodes.insert(self.nodes.index(before), node)
        return node

    def remove_node(self, node: Node) -> None:
        self.nodes.remove(node)
        for o in node.outputs:
            if o.producer is node:
                o.producer = None

    # --- queries ----------------------------------------------------------------------
    def input_symbol_dims(self) -> list[tuple[Dim, ...]]:
        """What the runtime binds the symbols from: the inputs' shapes and the value inputs' elements."""
        return [*(v.shape or () for v in self.inputs), *(tuple(d) for d in self.value_inputs.values())]

    def values(self) -> Iterator[Value]:
        """Every distinct value: graph inputs, then node inputs/outputs in order."""
        seen: set[int] = set()
        for v in self._all_values():
            if id(v) not in seen:
                seen.add(id(v))
                yield v

    def _all_values(self) -> Iterable[Value]:
        yield from self.inputs
        for n in self.nodes:
            yield from (v for v in n.inputs if v is not None)
            yield from n.outputs
        yield from self.outputs

    def users(self) -> dict[int, list[Node]]:
        """Map id(value) -> nodes reading it (a node reading twice appears twice)."""
        out: dict[int, list[Node]] = {}
        for n in self.nodes:
            for v in n.inputs:
                if v is not None:
                    out.setdefault(id(v), []).append(n)
        return out

    def is_graph_output(self, v: Value) -> bool:
        return any(o is v for o in self.outputs)

    # --- rewriting --------------------------------------------------------------------
    def replace_uses(self, old: Value, new: Value) -> None:
        """Make every reader of `old` (nodes and graph outputs) read `new`."""
        for n in self.nodes:
            n.inputs = [new if v is old else v for v in n.inputs]
        if any(o is old for o in self.outputs):
            # Graph outputs keep their public name: rename the replacement.
            self.outputs = [new if o is old else o for o in self.outputs]
            if new.name != old.name and not any(i is new for i in self.inputs):
                new.name = old.name

    def toposort(self) -> None:
        """Order nodes so every input is defined before use (stable for ordered graphs)."""
        defined: set[int] = {id(v) for v in self.inputs}
        pending = list(self.nodes)
        ordered: list[Node] = []
        while pending:
            rest: list[Node] = []
            progress = False
            for n in pending:
                ready = all(
                    v is None or v.is_const or id(v) in defined or v.producer is None for v in n.inputs
                )
                if ready:
                    ordered.append(n)
                    defined.update(id(o) for o in n.outputs)
                    progress = True
                else:
                    rest.append(n)
            if not progress:
                names = ", ".join(n.name for n in rest[:5])
                raise ValueError(f"graph '{self.name}' has a cycle through nodes: {names}")
            pending = rest
        self.nodes = ordered

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for n in self.nodes:
            counts[n.op_type] = counts.get(n.op_type, 0) + 1
        return dict(sorted(counts.items()))
