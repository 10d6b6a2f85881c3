from __future__ import annotations

from webdnn.backends.common.memory_plan import align, plan
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Value


def _chain(n: int, size: int) -> Graph:
    """x -> Relu -> Relu -> ... (n nodes), every tensor `size` floats."""
    g = Graph("chain", 17)
    x = g.new_value("x", DType.FLOAT32, (size,))
    g.inputs.append(x)
    cur = x
    for i in range(n):
        y = g.new_value(f"y{i}", DType.FLOAT32, (size,))
        g.add_node("Relu", [cur], [y])
        cur = y
    g.outputs.append(cur)
    return g


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def test_chain_reuses_two_buffers() -> None:
    g = _chain(10, 1000)
    p = plan(g, 256)
    assert p.naive_size == 11 * align(4000, 256)
    assert p.arena_size == 2 * align(4000, 256)
    assert all(off % 256 == 0 for off in p.offsets.values())


def test_live_tensors_never_overlap() -> None:
    # y = a + b where a and b stay alive while c is computed: a residual-like pattern.
    g = Graph("res", 17)
    x = g.new_value("x", DType.FLOAT32, (300,))
    g.inputs.append(x)
    a = g.new_value("a", DType.FLOAT32, (300,))
    b = g.new_value("b", DType.FLOAT32, (100,))
    c = g.new_value("c", DType.FLOAT32, (300,))
    d = g.new_value("d", DType.FLOAT32, (300,))
    g.add_node("Relu", [x], [a])
    g.add_node("Slice", [a], [b])
    g.add_node("Relu", [a], [c])
    g.add_node("Add", [c, a], [d])
    g.outputs.append(d)
    p = plan(g, 16)
    steps = {"x": (-1, 0), "a": (0, 3), "b": (1, 1), "c": (2, 3), "d": (3, 4)}
    vals = {v.name: v for v in g.values()}
    for n1, s1 in steps.items():
        for n2, s2 in steps.items():
            if n1 < n2 and not (s1[1] < s2[0] or s2[1] < s1[0]):
                r1 = (p.offset(vals[n1]), p.offset(vals[n1]) + vals[n1].nbytes)
                r2 = (p.offset(vals[n2]), p.offset(vals[n2]) + vals[n2].nbytes)
                assert not _overlaps(r1, r2), (n1, n2)
    assert p.arena_size < p.naive_size


def test_views_share_storage_and_extend_lifetime() -> None:
    g = Graph("view", 17)
    x = g.new_value("x", DType.FLOAT32, (2, 8))
    g.inputs.append(x)
    a = g.new_value("a", DType.FLOAT32, (2, 8))
    v = g.new_value("v", DType.FLOAT32, (16,))
    b = g.new_value("b", DType.FLOAT32, (16,))
    g.add_node("Relu", [x], [a])
    g.add_node("Reshape", [a], [v], {"shape": [16]})
    g.add_node("Relu", [v], [b])
    g.outputs.append(b)
    p = plan(g, 16)
    assert p.offset(v) == p.offset(a)
    assert p.root(v) is a
    assert p.offset(b) != p.offset(a)


def test_constants_are_not_in_the_arena() -> None:
    g = Graph("c", 17)
    x = g.new_value("x", DType.FLOAT32, (4,))
    g.inputs.append(x)
    w = Value("w")
    import numpy as np

    w.set_const(np.ones(4, np.float32))
    y = g.new_value("y", DType.FLOAT32, (4,))
    g.add_node("Add", [x, w], [y])
    g.outputs.append(y)
    p = plan(g, 16)
    assert id(w) not in p.offsets
    assert p.arena_size == 32
