"""Fuse an activation into the Conv/ConvTranspose/Gemm/MatMul that feeds it.

The producer gets `attrs["activation"] = {"type": T, ...params}`; backends apply it
in the kernel's epilogue, saving a pass over memory.
"""

from __future__ import annotations

from typing import Any

from webdnn.ir.graph import Graph, Node

PRODUCERS = {"Conv", "ConvTranspose", "Gemm", "MatMul"}


def activation_spec(node: Node) -> dict[str, Any] | None:
    """The fused-activation record for `node`, or None if it is no fusable activation."""
    op = node.op_type
    if op in ("Relu", "Sigmoid", "Tanh", "HardSwish"):
        return {"type": op}
    if op == "LeakyRelu":
        return {"type": op, "alpha": float(node.attr("alpha", 0.01))}
    if op == "HardSigmoid":
        return {"type": op, "alpha": float(node.attr("alpha", 0.2)), "beta": float(node.attr("beta", 0.5))}
    if op == "Clip" and len([v for v in node.inputs if v is not None]) == 1:  # min/max already attrs
        return {"type": op, "min": float(node.attr("min", float("-inf"))), "max": float(node.attr("max", float("inf")))}
    return None


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
