"""Remove nodes that pass their input through unchanged at inference time."""

from __future__ import annotations

from webdnn.ir.graph import Graph, Node, Value


def is_identity(node: Node) -> bool:
    x = node.input(0)
    y = node.outputs[0]
    if x is None:
        return False
    if node.op_type == "Identity":
        return True
    if node.op_type == "Dropout":  # inference: y = x; a requested mask output keeps the node
        return len(node.outputs) == 1 or node.outputs[1].name.startswith(f"{node.name}_unused")
    if node.op_type in ("Cast", "CastLike", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Expand", "Tile"):
        return x.dtype == y.dtype and x.shape == y.shape
    if node.op_type == "Transpose":
        perm = node.attr("perm")
        return perm is not None and list(perm) == sorted(perm)
    return False


def _removable(graph: Graph, x: Value, y: Value) -> bool:
    # An output that would become a graph input (or constant, or another output)
    # keeps its node: the output needs storage of its own.
    if graph.is_graph_output(y):
        return not (x.is_const or any(i is x for i in graph.inputs) or graph.is_graph_output(x))
    return True


def run(graph: Graph) -> int:
    removed = 0
    for node in list(graph.nodes):
        if not is_identity(node):
            continue
        x, y = node.input(0), node.outputs[0]
        assert x is not None
        if not _removable(graph, x, y):
            continue
        graph.remove_node(node)
        graph.replace_uses(y, x)
        removed += 1
    return removed
