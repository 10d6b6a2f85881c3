"""Einsum as Transposes, Reshapes, ReduceSums and batched MatMuls (ops/nn_einsum.py parses it).

Letters that only one operand has and nothing later needs are summed first (ReduceSum). Operands
are then contracted pairwise, left to right: the letters both share and still needed later are
batch dims (kept as separate leading dims, so MatMul's broadcasting of size-1 dims applies), the
shared ones needed no longer are contracted, the rest are the rows (left operand) and columns
(right operand); each side is transposed to (batch, rows, contracted) / (batch, contracted,
columns) and reshaped to one rows and one columns dim for the MatMul, whose result is reshaped
back. A last Transpose puts the output's letters in order. "bhqd,bhkd->bhqk" is one Transpose
(of the second operand) and one MatMul, as an exporter would have written it.
"""

from __future__ import annotations

import numpy as np

from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Node, Value
from webdnn.ir.symbolic import Dim, is_static
from webdnn.ir.symbolic import prod as sym_prod
from webdnn.ops.registry import infer_node
from webdnn.passes.expr_nodes import NodeEmitter
from webdnn.passes.fold_constants import fold_node
from webdnn.passes.fold_symbolic import set_dims


class _Emit:
    """Nodes before the Einsum, each typed (or folded) at once: the next step reads its shape."""

    def __init__(self, graph: Graph, node: Node) -> None:
        self.graph, self.em = graph, NodeEmitter(graph, [], node, node.name)

    def node(self, op: str, inputs: list[Value | None], attrs: dict[str, object] | None = None) -> Value:
        out = self.em.node(op, inputs, attrs)
        new = self.em.nodes[-1]
        if not fold_node(new, self.graph):
            infer_node(new, self.graph)
        return out

    def shape(self, dims: list[Dim]) -> Value:
        """A Reshape's shape input: a constant, or a size value where a dim is symbolic."""
        if is_static(dims):
            return self.em.const([int(d) for d in dims], np.int64)
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


def decompose_einsum(graph: Graph, node: Node) -> list[Node]:
    e = _Emit(graph, node)
    terms: list[str] = list(node.attrs["terms"])
    out: str = node.attrs["output"]
    sizes: dict[str, Dim] = {}
    for v, t in zip(node.inputs, terms, strict=True):
        assert v is not None and v.shape is not None
        for c, d in zip(t, v.shape, strict=True):
            if c not in sizes or sizes[c] == 1:
                sizes[c] = d
    ops: list[tuple[Value, str]] = []
    for i, (v, t) in enumerate(zip(node.inputs, terms, strict=True)):
        assert v is not None
        elsewhere = set(out).union(*(terms[j] for j in range(len(terms)) if j != i))
        ops.append(e.reduce(v, t, "".join(c for c in t if c not in elsewhere)))
    acc, at = ops[0]
    for k in range(1, len(ops)):
        b, bt = ops[k]
        later = set(out).union(*(t for _, t in ops[k + 1:]))
        batch = "".join(c for c in at if c in bt and c in later)
        contract = "".join(c for c in at if c in bt and c not in later)
        left = "".join(c for c in at if c not in bt)
        right = "".join(c for c in bt if c not in at)
        av = e.transpose(acc, at, batch + left + contract)
        bv = e.transpose(b, bt, batch + contract + right)
        assert acc.shape is not None and b.shape is not None
        a_batch = [acc.shape[at.index(c)] for c in batch]  # each side's own: size-1 dims broadcast
        b_batch = [b.shape[bt.index(c)] for c in batch]
        rows, cols, inner = (sym_prod([sizes[c] for c in g]) for g in (left, right, contract))
        av = e.reshape(av, [*a_batch, rows, inner])
        bv = e.reshape(bv, [*b_batch, inner, cols])
        prod = e.node("MatMul", [av, bv])
        acc, at = e.reshape(prod, [*(sizes[c] for c in batch + left + right)]), batch + left + right
        # a letter of the result needed neither by the output nor by the operands still to come
        acc, at = e.reduce(acc, at, "".join(c for c in at if c not in later))
    acc, at = e.reduce(acc, at, "".join(c for c in at if c not in out))
    result = e.transpose(acc, at, out)
    y = node.outputs[0]
    last = graph.add_node("Identity", [result], [y], name=node.name, before=node)
    graph.remove_node(node)
    y.producer = last
    return [last]  # the others were typed as they were made
