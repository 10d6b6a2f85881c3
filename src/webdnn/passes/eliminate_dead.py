"""Dead-code elimination: drop nodes no graph output depends on."""

from __future__ import annotations

from webdnn.ir.graph import Graph


def run(graph: Graph) -> int:
    live: set[int] = {id(v) for v in graph.outputs}
    kept = []
    for node in reversed(graph.nodes):
        if any(id(o) in live for o in node.outputs):
            kept.append(node)
            live.update(id(v) for v in node.inputs if v is not None)
    removed = len(graph.nodes) - len(kept)
    graph.nodes = kept[::-1]
    return removed
