"""Static memory plan: place every runtime tensor in one arena.

Liveness-based, greedy by size (as TFLite's arena planner): tensors are placed
largest first, each at the lowest aligned offset that does not overlap a placed
tensor whose lifetime intersects its own. Zero-copy views (Reshape and friends)
share the storage of the tensor they view, extending its lifetime.

Opt-in (`alias_concat=True`, used by webgpu): a Concat whose inputs are contiguous slices of
its output (every dimension before the axis is 1) gets those inputs placed *inside* its output,
so their producers write straight into their slice and the Concat has nothing left to copy for
them. An input is aliased only when it is written by a kernel of this graph and read by nothing
but this one Concat (see `_concat_slices`); nested Concats nest their slices. Slices are not
aligned: a backend binds them from the alignment boundary below (`MemoryPlan.slice_of`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from webdnn.ir.graph import Graph, Node, Value
from webdnn.ir.symbolic import Dim, hint, is_static, smax
from webdnn.ir.symbolic import align as sym_align
from webdnn.ir.symbolic import prod as sym_prod

# Ops whose output is the input's bytes under another shape.
VIEW_OPS = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"})


def is_view(node: Node) -> bool:
    x = node.input(0)
    if node.op_type not in VIEW_OPS or x is None or x.is_const:
        return False
    if node.op_type == "Dropout" and len(node.outputs) > 1:
        return False
    return x.dtype == node.outputs[0].dtype


def align(n: Dim, a: int) -> Dim:
    return sym_align(n, a)


@dataclass
class MemoryPlan:
    alignment: int
    offsets: dict[int, Dim] = field(default_factory=dict)  # id(value) -> byte offset in the arena
    arena_size: Dim = 0
    naive_size: Dim = 0  # every tensor in its own aligned slot
    views: dict[int, Value] = field(default_factory=dict)  # id(view value) -> root value
    # id(value) -> (the tensor it lies in, byte offset in it): aliased Concat inputs (alias_concat)
    slices: dict[int, tuple[Value, int]] = field(default_factory=dict)

    def offset(self, v: Value) -> Dim:
        r = self.root(v)
        s = self.slices.get(id(r))
        return self.offset(s[0]) + s[1] if s is not None else self.offsets[id(r)]

    def root(self, v: Value) -> Value:
        """The tensor `v` is a view of (itself when it is none): a distinct tensor, maybe a slice."""
        return self.views.get(id(v), v)

    def owner(self, v: Value) -> Value:
        """The placed tensor holding `v`'s bytes: through views and (nested) slices."""
        r = self.root(v)
        s = self.slices.get(id(r))
        return self.owner(s[0]) if s is not None else r

    def slice_of(self, v: Value) -> tuple[Value, int] | None:
        """(Concat output, byte offset) when `v` was placed inside a Concat's output."""
        return self.slices.get(id(self.root(v)))

    def add_slice(self, v: Value, parent: Value, byte_offset: int) -> None:
        """Place `v` at `byte_offset` from `parent`'s start (after planning: a backend's binding
        window, a tensor that starts at an aligned offset below a slice and ends with it)."""
        self.slices[id(v)] = (parent, byte_offset)

    def saved_fraction(self) -> float:
        """At the symbols' planning hints when the sizes are symbolic."""
        naive = hint(self.naive_size)
        return 1.0 - hint(self.arena_size) / naive if naive else 0.0


def plan(
    graph: Graph, alignment: int, kernel_nodes: list[Node] | None = None, alias_concat: bool = False,
    itemsize: Callable[[Value], int] | None = None,
) -> MemoryPlan:
    """Plan the arena for `graph`. Views are the nodes `is_view` accepts; `alias_concat` places
    eligible Concat inputs inside the Concat's output (module docstring). `itemsize` gives the
    bytes per element a value is stored with when that differs from its dtype's (webgpu-fp16
    stores float32 intermediates as float16)."""
    item = itemsize or (lambda v: v.dtype.itemsize if v.dtype is not None else 4)

    def nbytes(v: Value) -> Dim:
        return v.size * item(v) if itemsize is not None else v.nbytes

    mp = MemoryPlan(alignment)
    nodes = graph.nodes if kernel_nodes is None else kernel_nodes
    n_steps = len(nodes)
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    roots: dict[int, Value] = {}
    if alias_concat:
        mp.slices.update(_concat_slices(graph, nodes, item))

    def touch(v: Value, step: int) -> None:
        r = mp.owner(v)
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

    sizes = {id(r): nbytes(r) for r in roots.values()}
    symbolic = not is_static(sizes.values())
    at = {k: hint(v) for k, v in sizes.items()} if symbolic else sizes  # the sizes placement decides by
    placed: list[tuple[int, int, int, int, Value]] = []  # (offset, end, first step, last step, tensor)
    for t in sorted(roots.values(), key=lambda r: (-at[id(r)], first[id(r)])):
        size = align(max(at[id(t)], 1), alignment)
        lo, hi = first[id(t)], last[id(t)]
        busy = sorted((off, end) for off, end, f, la, _ in placed if not (la < lo or f > hi))
        offset = _best_fit(busy, size, alignment)
        placed.append((offset, offset + size, lo, hi, t))
        mp.offsets[id(t)] = offset
        mp.arena_size = max(mp.arena_size, offset + size)  # type: ignore[call-overload]
        mp.naive_size += size
    if symbolic:
        _symbolic_offsets(mp, placed, sizes)
    return mp


def _symbolic_offsets(mp: MemoryPlan, placed: list[tuple[int, int, int, int, Value]], sizes: dict[int, Dim]) -> None:
    """Offsets as expressions, from the plan made at the planning hints: each tensor goes right above
    every tensor it lies above at the hints and shares steps with, so no two live tensors overlap
    at any size, and at the hints the plan is the greedy one."""
    a = mp.alignment
    ends: dict[int, Dim] = {}
    order = sorted(placed, key=lambda p: p[0])
    mp.arena_size, mp.naive_size = 0, 0
    for i, (off, _, lo, hi, t) in enumerate(order):
        below = [ends[id(u)] for uoff, uend, f, la, u in order[:i] if uend <= off and not (la < lo or f > hi)]
        start = align(smax(0, *below), a) if below else 0
        mp.offsets[id(t)] = start
        size = align(smax(sizes[id(t)], 1), a)
        ends[id(t)] = start + size
        mp.naive_size = mp.naive_size + size
    mp.arena_size = smax(*ends.values()) if ends else 0


def _concat_slices(graph: Graph, nodes: list[Node], item: Callable[[Value], int]) -> dict[int, tuple[Value, int]]:
    """id(input) -> (Concat output, byte offset) for the Concat inputs that can be written in place:
    the Concat's dims before its axis are all 1 (the inputs are contiguous runs of its output);
    the input is made by a single-output, non-view kernel node of `nodes`, is no graph input,
    output or constant, is read by this Concat alone and once (no views of it either), and its
    slice starts and ends on a 4-byte word (packed 1- and 2-byte types are stored 4 or 2 per word,
    and a kernel writes whole words)."""
    kernels = {id(n) for n in nodes if not is_view(n)}
    users = graph.users()
    outputs = {id(v) for v in graph.outputs}
    out: dict[int, tuple[Value, int]] = {}
    for node in nodes:
        if node.op_type != "Concat" or id(node) not in kernels:
            continue
        y = node.outputs[0]
        axis = int(node.attrs.get("axis", 0))
        if y.shape is None or y.dtype is None or any(d != 1 for d in y.shape[:axis % max(len(y.shape), 1)]):
            continue
        inner = sym_prod(y.shape[axis % len(y.shape) + 1:]) * item(y)
        start = 0
        for x in node.inputs:
            if x is None or x.shape is None:
                break
            nbytes = x.shape[axis % len(y.shape)] * inner
            p = x.producer
            if (p is not None and id(p) in kernels and len(p.outputs) == 1 and not x.is_const and x.dtype == y.dtype
                    and item(x) == item(y)
                    and id(x) not in outputs and all(x is not i for i in graph.inputs)
                    and users.get(id(x), []) == [node] and sum(v is x for v in node.inputs) == 1
                    and nbytes > 0 and start % 4 == 0 and nbytes % 4 == 0):
                out[id(x)] = (y, start)
            start += nbytes
    return out


def _best_fit(busy: list[tuple[int, int]], size: int, alignment: int) -> int:
    """Offset of the smallest free gap between `busy` ranges (sorted) that holds `size`; else the end."""
    best: tuple[int, int] | None = None  # (gap size, offset)
    cursor = 0
    for off, end in busy:
        if off - cursor >= size and (best is None or off - cursor < best[0]):
            best = (off - cursor, cursor)
        cursor = max(cursor, align(end, alignment))
    return best[1] if best is not None else cursor
