"""Expressions (ops/expr.py) as graph nodes: the math of an op that has no kernel of its own,
written once as an expression, becomes ordinary elementwise nodes every backend runs (and that
the GPU backends fuse back into a few kernels). Used by the decompose pass."""

from __future__ import annotations

from typing import Any

import numpy as np

from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Node, Value
from webdnn.ir.symbolic import Dim, is_static
from webdnn.ops.expr import Expr, topo
from webdnn.ops.registry import infer_node

_ONNX = {
    "neg": "Neg", "abs": "Abs", "floor": "Floor", "ceil": "Ceil", "round": "Round", "sign": "Sign",
    "sqrt": "Sqrt", "exp": "Exp", "log": "Log", "tanh": "Tanh", "sigmoid": "Sigmoid", "erf": "Erf",
    "sin": "Sin", "cos": "Cos", "tan": "Tan", "asin": "Asin", "acos": "Acos", "atan": "Atan",
    "sinh": "Sinh", "cosh": "Cosh", "asinh": "Asinh", "acosh": "Acosh", "atanh": "Atanh",
    "add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow",
    "lt": "Less", "le": "LessOrEqual", "gt": "Greater", "ge": "GreaterOrEqual", "eq": "Equal", "where": "Where",
}


class NodeEmitter:
    """Emits expressions over `inputs` (float32 values; `x(i)` is inputs[i]) as nodes placed before
    `before`, sharing equal subexpressions across every `emit` call; `nodes` lists them in order."""

    def __init__(self, graph: Graph, inputs: list[Value], before: Node, prefix: str) -> None:
        self.graph, self.inputs, self.before, self.prefix = graph, inputs, before, prefix
        self.nodes: list[Node] = []
        self._done: dict[tuple[Any, ...], Value] = {}

    def node(self, op: str, inputs: list[Value | None], attrs: dict[str, Any] | None = None) -> Value:
        out = self.graph.new_value(f"{self.prefix}/{op}")
        self.nodes.append(self.graph.add_node(op, inputs, [out], attrs, name=f"{self.prefix}/{op}", before=self.before))
        return out

    def const(self, data: Any, dtype: type = np.float32) -> Value:
        return self.graph.const_value(f"{self.prefix}/c", np.asarray(data, dtype))

    def emit(self, root: Expr) -> Value:
        for e in topo(root):
            if e._key in self._done:
                continue
            a = [self._done[x._key] for x in e.args]
            if e.op == "x":
                v = self.inputs[int(e.value)]
            elif e.op == "c":
                v = self.const(e.value)
            elif e.op in ("min", "max"):  # b < a ? b : a, a < b ? b : a (expr.py's NaN rule)
                first, second = (a[1], a[0]) if e.op == "min" else (a[0], a[1])
                v = self.node("Where", [self.node("Less", [first, second]), a[1], a[0]])
            elif e.op == "expm1":
                v = self.node("Sub", [self.node("Exp", a), self.const(1.0)])
            elif e.op == "log1p":
                v = self.node("Log", [self.node("Add", [self.const(1.0), a[0]])])
            else:
                v = self.node(_ONNX[e.op], list(a))
            self._done[e._key] = v
        return self._done[root._key]


class TypedEmitter:
    """Nodes placed before `node`, each typed (or folded) as it is made, so the next step can read its
    shape (the decompositions that branch on shapes: Einsum, DFT)."""

    def __init__(self, graph: Graph, node: Node) -> None:
        self.graph, self.em = graph, NodeEmitter(graph, [], node, node.name)

    def node(self, op: str, inputs: list[Value | None], attrs: dict[str, object] | None = None) -> Value:
        from webdnn.passes.fold_constants import fold_node

        out = self.em.node(op, inputs, attrs)
        new = self.em.nodes[-1]
        if not fold_node(new, self.graph):
            infer_node(new, self.graph)
        return out

    def shape(self, dims: list[Dim]) -> Value:
        """A Reshape's shape input: a constant, or a size value where a dim is symbolic."""
        if is_static(dims):
            return self.em.const([int(d) for d in dims], np.int64)
        from webdnn.passes.fold_symbolic import set_dims

        v = self.graph.new_value(f"{self.em.prefix}/shape")
        set_dims(v, np.array(list(dims), dtype=object), DType.INT64)
        return v

    def transpose(self, v: Value, term: str, order: str) -> Value:
        perm = [term.index(c) for c in order]
        return v if perm == sorted(perm) else self.node("Transpose", [v], {"perm": perm})

    def reshape(self, v: Value, dims: list[Dim]) -> Value:
        return self.node("Reshape", [v, self.shape(dims)])

    def reduce(self, v: Value, term: str, drop: str) -> tuple[Value, str]:
        axes = [i for i, c in enumerate(term) if c in drop]
        if not axes:
            return v, term
        out = self.node("ReduceSum", [v, self.em.const(axes, np.int64)], {"keepdims": 0})
        return out, "".join(c for c in term if c not in drop)
