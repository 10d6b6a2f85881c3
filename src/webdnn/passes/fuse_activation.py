"""Fuse an activation into the Conv/ConvTranspose/Gemm/MatMul that feeds it.

The producer gets `attrs["activation"] = {"type": T, ...params}`; backends apply it
in the kernel's epilogue, saving a pass over memory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from webdnn.ir.graph import Graph, Node
from webdnn.ops.expr import primitives_of
from webdnn.ops.tensor_common import FLOATS
from webdnn.ops.unary_ops import EPILOGUE_PRIMITIVES, UNARY, unary_expr

PRODUCERS = {"Conv", "ConvTranspose", "Gemm", "MatMul"}


def activation_spec(node: Node) -> dict[str, Any] | None:
    """The fused-activation record for `node` ({"type": op, **its canonical attributes}), or
    None if it is no fusable activation: a float op of the unary table (ops/unary_ops.py) built
    only from primitives every backend's epilogue prints."""
    op = node.op_type
    u = UNARY.get(op)
    if u is None or op == "Identity" or node.outputs[0].dtype not in FLOATS:
        return None
    if len([v for v in node.inputs if v is not None]) != 1:  # (Clip: min/max must be attributes)
        return None
    spec = {"type": op, **{k: node.attrs.get(k, d) for k, d in u.defaults.items()}}
    for k, d in u.defaults.items():
        if isinstance(d, float) or k in ("min", "max"):
            spec[k] = float(spec[k])
    if not primitives_of(unary_expr(op, spec)) <= EPILOGUE_PRIMITIVES:
        return None
    return spec


def run(graph: Graph) -> int:
    fused = 0
    users = graph.users()
    for act in list(graph.nodes):
        spec = activation_spec(act)
        x = act.input(0)
        if spec is None or x is None or x.producer is None:
            continue
        prod = x.producer
        if (
            prod.op_type not in PRODUCERS
            or "activation" in prod.attrs
            or len(users.get(id(x), [])) != 1
            or graph.is_graph_output(x)
            or x.dtype != act.outputs[0].dtype
        ):
            continue
        prod.attrs["activation"] = spec
        y = act.outputs[0]
        graph.remove_node(act)
        prod.outputs[0] = y
        y.producer = prod
        fused += 1
    return fused


def split(graph: Graph, keeps: Callable[[dict[str, Any], Node], bool]) -> int:
    """Undo the fusion of every activation a backend's kernel for the producer cannot apply
    (`keeps(spec, producer)` is false): the producer writes a new intermediate and the
    activation becomes its own node again, reading it."""
    split_count = 0
    for prod in list(graph.nodes):
        spec = prod.attrs.get("activation")
        if not spec or keeps(spec, prod):
            continue
        y = prod.outputs[0]
        mid = graph.new_value(f"{y.name}_pre", y.dtype, y.shape)
        del prod.attrs["activation"]
        prod.outputs[0] = mid
        mid.producer = prod
        attrs = {k: v for k, v in spec.items() if k != "type"}
        nxt = graph.nodes[graph.nodes.index(prod) + 1] if graph.nodes[-1] is not prod else None
        graph.add_node(str(spec["type"]), [mid], [y], attrs, name=f"{prod.name}_{spec['type']}", before=nxt)
        split_count += 1
    return split_count
