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

from webdnn.ir.graph import Graph, Node, Value
from webdnn.ir.symbolic import Dim
from webdnn.ir.symbolic import prod as sym_prod
from webdnn.passes.expr_nodes import TypedEmitter


def decompose_einsum(graph: Graph, node: Node) -> list[Node]:
    e = TypedEmitter(graph, node)
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
