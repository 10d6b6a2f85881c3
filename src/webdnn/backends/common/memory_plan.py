"""Static memory plan: place every runtime tensor in one arena.

Liveness-based, greedy by size (as TFLite's arena planner): tensors are placed
largest first, each at the lowest aligned offset that does not overlap a placed
tensor whose lifetime intersects its own. Zero-copy views (Reshape and friends)
share the storage of the tensor they view, extending its lifetime.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from webdnn.ir.graph import Graph, Node, Value

# Ops whose output is the input's bytes under another shape.
VIEW_OPS = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"})


def is_view(node: Node) -> bool:
    x = node.input(0)
    if node.op_type not in VIEW_OPS or x is None or x.is_const:
        return False
    if node.op_type == "Dropout" and len(node.outputs) > 1:
        return False
    return x.dtype == node.outputs[0].dtype


def align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


@dataclass
class MemoryPlan:
    alignment: int
    offsets: dict[int, int] = field(default_factory=dict)  # id(value) -> byte offset in the arena
    arena_size: int = 0
    naive_size: int = 0  # every tensor in its own aligned slot
    views: dict[int, Value] = field(default_factory=dict)  # id(view value) -> root value

    def offset(self, v: Value) -> int:
        return self.offsets[id(self.root(v))]

    def root(self, v: Value) -> Value:
        return self.views.get(id(v), v)

    def saved_fraction(self) -> float:
        return 1.0 - self.arena_size / self.naive_size if self.naive_size else 0.0


def plan(graph: Graph, alignment: int, kernel_nodes: list[Node] | None = None) -> MemoryPlan:
    """Plan the arena for `graph`. Views are the nodes `is_view` accepts."""
    mp = MemoryPlan(alignment)
    nodes = graph.nodes if kernel_nodes is None else kernel_nodes
    n_steps = len(nodes)
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    roots: dict[int, Value] = {}

    def touch(v: Value, step: int) -> None:
        r = mp.root(v)
        roots[id(r)] = r
        first[id(r)] = min(first.get(id(r), step), step)
        last[id(r)] = max(last.get(id(r), step), step)

    for v in graph.inputs:
        touch(v, -1)
    for step, node in enumerate(nodes):
        if is_view(node):
            x = node.input(0)
            assert x is not None
            mp.views[id(node.outputs[0])] = mp.root(x)
        for v in node.inputs:
            if v is not None and not v.is_const:
                touch(v, step)
        for o in node.outputs:
            touch(o, step)
    for v in graph.outputs:
        if not v.is_const:
            touch(v, n_steps)

    placed: list[tuple[int, int, int, int]] = []  # (offset, end, first, last)
    order = sorted(roots.values(), key=lambda v: (-v.nbytes, first[id(v)]))
    for v in order:
        size = align(max(v.nbytes, 1), alignment)
        mp.naive_size += size
        lo, hi = first[id(v)], last[id(v)]
        busy = sorted((o, e) for o, e, f, la in placed if not (la < lo or f > hi))
        offset = 0
        for o, e in busy:  # first gap that fits (busy is sorted by offset)
            if offset + size <= o:
                break
            offset = max(offset, align(e, alignment))
        placed.append((offset, offset + size, lo, hi))
        mp.offsets[id(v)] = offset
        mp.arena_size = max(mp.arena_size, offset + size)
    return mp
