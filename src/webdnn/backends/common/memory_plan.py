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

    for gi in graph.inputs:
        touch(gi, -1)
    for step, node in enumerate(nodes):
        if is_view(node):
            x = node.input(0)
            assert x is not None
            mp.views[id(node.outputs[0])] = mp.root(x)
        for vin in node.inputs:
            if vin is not None and not vin.is_const:
                touch(vin, step)
        for vout in node.outputs:
            touch(vout, step)
    for go in graph.outputs:
        if not go.is_const:
            touch(go, n_steps)

    placed: list[tuple[int, int, int, int]] = []  # (offset, end, first step, last step)
    for t in sorted(roots.values(), key=lambda r: (-r.nbytes, first[id(r)])):
        size = align(max(t.nbytes, 1), alignment)
        mp.naive_size += size
        lo, hi = first[id(t)], last[id(t)]
        busy = sorted((off, end) for off, end, f, la in placed if not (la < lo or f > hi))
        offset = _best_fit(busy, size, alignment)
        placed.append((offset, offset + size, lo, hi))
        mp.offsets[id(t)] = offset
        mp.arena_size = max(mp.arena_size, offset + size)
    return mp


def _best_fit(busy: list[tuple[int, int]], size: int, alignment: int) -> int:
    """Offset of the smallest free gap between `busy` ranges (sorted) that holds `size`; else the end."""
    best: tuple[int, int] | None = None  # (gap size, offset)
    cursor = 0
    for off, end in busy:
        if off - cursor >= size and (best is None or off - cursor < best[0]):
            best = (off - cursor, cursor)
        cursor = max(cursor, align(end, alignment))
    return best[1] if best is not None else cursor
