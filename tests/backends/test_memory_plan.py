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


def _concat_graph() -> tuple[Graph, dict[str, Value]]:
    """x -> Relu a (1,3,5), Relu b (1,2,5), Relu s (1,1,5) also read by Neg; Concat(a, b, x, s) -> c;
    Relu c2 (1,4,5); Concat(c, c2) -> y (nested)."""
    g = Graph("cat", 17)
    v: dict[str, Value] = {}

    def val(name: str, *shape: int, dtype: DType = DType.FLOAT32) -> Value:
        v[name] = g.new_value(name, dtype, shape)
        return v[name]

    x = val("x", 1, 1, 5)
    g.inputs.append(x)
    for name, ch in (("a", 3), ("b", 2), ("s", 1), ("c2", 4)):
        g.add_node("Expand", [x], [val(name, 1, ch, 5)])
    g.add_node("Neg", [v["s"]], [val("ns", 1, 1, 5)])
    g.add_node("Concat", [v["a"], v["b"], x, v["s"]], [val("c", 1, 7, 5)], {"axis": 1})
    g.add_node("Concat", [v["c"], v["c2"]], [val("y", 1, 11, 5)], {"axis": 1})
    g.outputs += [v["y"], v["ns"]]
    return g, v


def test_concat_aliasing_is_opt_in() -> None:
    g, _ = _concat_graph()
    default, off = plan(g, 256), plan(g, 256, alias_concat=False)
    assert not default.slices and default.offsets == off.offsets and default.arena_size == off.arena_size


def test_concat_inputs_are_placed_in_their_output() -> None:
    g, v = _concat_graph()
    p = plan(g, 256, alias_concat=True)
    # a, b at 0 and 60 bytes in c; x (graph input) and s (also read by Neg) keep their own storage
    assert p.slice_of(v["a"]) == (v["c"], 0) and p.slice_of(v["b"]) == (v["c"], 60)
    assert p.slice_of(v["x"]) is None and p.slice_of(v["s"]) is None
    # nested: c (a Concat output read only by the outer Concat) lies in y, and a, b with it
    assert p.slice_of(v["c"]) == (v["y"], 0) and p.slice_of(v["c2"]) == (v["y"], 140)
    assert p.offset(v["b"]) == p.offset(v["y"]) + 60 and p.owner(v["b"]) is v["y"]
    assert id(v["a"]) not in p.offsets  # only owners are placed
    # y is live from the first slice's producer: nothing else live then may share its bytes
    y0, y1 = p.offset(v["y"]), p.offset(v["y"]) + align(v["y"].nbytes, 256)
    for name in ("x", "s", "ns"):
        o = p.offset(v[name])
        assert o >= y1 or o + v[name].nbytes <= y0, name


def test_packed_slices_must_be_whole_words() -> None:
    g = Graph("b", 17)
    x = g.new_value("x", DType.BOOL, (1, 1, 3))
    g.inputs.append(x)
    parts = [g.new_value(f"p{k}", DType.BOOL, (1, ch, 3)) for k, ch in enumerate((4, 2, 2, 4))]
    for p in parts:
        g.add_node("Expand", [x], [p])
    y = g.new_value("y", DType.BOOL, (1, 12, 3))
    g.add_node("Concat", parts, [y], {"axis": 1})
    g.outputs.append(y)
    mp = plan(g, 256, alias_concat=True)
    # 12 bytes at 0: in place; 6 bytes at 12 and at 18: not whole words; 12 bytes at 24: in place
    assert [mp.slice_of(p) for p in parts] == [(y, 0), None, None, (y, 24)]


def test_concat_with_a_batch_before_its_axis_is_not_aliased() -> None:
    g = Graph("n2", 17)
    x = g.new_value("x", DType.FLOAT32, (2, 1, 5))
    g.inputs.append(x)
    a, b = g.new_value("a", DType.FLOAT32, (2, 3, 5)), g.new_value("b", DType.FLOAT32, (2, 2, 5))
    g.add_node("Expand", [x], [a])
    g.add_node("Expand", [x], [b])
    y = g.new_value("y", DType.FLOAT32, (2, 5, 5))
    g.add_node("Concat", [a, b], [y], {"axis": 1})  # a's rows interleave with b's in y
    g.outputs.append(y)
    assert not plan(g, 256, alias_concat=True).slices


def test_a_symbolic_plan_never_overlaps_at_any_size_and_is_the_greedy_plan_at_the_bound() -> None:
    """MiniLM-like lifetimes with sizes linear and quadratic in a symbol: at every size the
    expression offsets keep live tensors apart, and at the bound they equal the plan made there."""
    from webdnn.ir.symbolic import evaluate, substitute, symbol

    seq = symbol("seq", 1, 64)
    g = Graph("sym", 17)
    x = g.new_value("x", DType.FLOAT32, (seq, 8))
    g.inputs.append(x)
    cur, keep = x, x
    for i in range(6):
        s = g.new_value(f"s{i}", DType.FLOAT32, (seq, seq))
        g.add_node("MatMul", [cur, cur], [s])
        h = g.new_value(f"h{i}", DType.FLOAT32, (seq, 8))
        g.add_node("MatMul", [s, cur], [h])
        r = g.new_value(f"r{i}", DType.FLOAT32, (seq, 8))
        g.add_node("Add", [h, keep], [r])
        cur, keep = r, h
    g.outputs.append(cur)
    p = plan(g, 16)
    values = {id(v): v for v in g.values()}
    steps: dict[int, list[int]] = {}
    for i, n in enumerate(g.nodes):
        for v in [*n.inputs, *n.outputs]:
            if v is not None:
                steps.setdefault(id(v), []).append(i)
    for n in (1, 2, 7, 31, 63, 64):
        env = {"seq": n}
        spans = {k: (evaluate(off, env), evaluate(off, env) + evaluate(values[k].nbytes, env))
                 for k, off in p.offsets.items()}
        assert evaluate(p.arena_size, env) >= max(e for _, e in spans.values())
        for a in spans:
            for b in spans:
                live = min(steps[a]) <= max(steps[b]) and min(steps[b]) <= max(steps[a])
                if a < b and live:
                    assert not _overlaps(spans[a], spans[b]), (n, values[a].name, values[b].name)
    # at the bound the plan is the static greedy plan of the same graph at that size
    fixed = Graph("fixed", 17)
    fixed.nodes, fixed.inputs, fixed.outputs = g.nodes, g.inputs, g.outputs
    for v in g.values():
        v.shape = tuple(substitute(d, {"seq": 64}) for d in v.shape)  # type: ignore[union-attr]
    q = plan(fixed, 16)
    assert evaluate(p.arena_size, {"seq": 64}) == q.arena_size
