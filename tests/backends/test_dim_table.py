"""The descriptor's expression table: nested sizes written once, by reference, in an order the
runtime evaluates in one pass; generated source with sizes in it as $concat parts."""

from __future__ import annotations

from typing import Any

from webdnn.backends.common.descriptor import jsonable
from webdnn.backends.common.dim_table import DimTable, symbol_specs
from webdnn.ir.symbolic import align, evaluate, in_source, smax, symbol

SEQ = symbol("seq", 1, 512)


def _eval(table: list[Any], env: dict[str, int]) -> list[int]:
    """The runtime's evaluation (dims.ts), re-done: entries in order, references backwards only."""
    vals: list[int] = []

    def ev(e: Any) -> int:
        if isinstance(e, int):
            return e
        if isinstance(e, str):
            return env[e]
        if isinstance(e, dict):
            assert e["$dim"] < len(vals), "a reference must point backwards"
            return vals[e["$dim"]]
        op, *args = e
        xs = [ev(a) for a in args]
        return {"+": sum, "*": lambda v: __import__("math").prod(v), "max": max, "min": min}.get(
            op, lambda v: {"//": v[0] // v[1], "cdiv": -(-v[0] // v[1]), "%": v[0] % v[1], "-": v[0] - v[1]}[op])(xs)

    for e in table:
        vals.append(ev(e))
    return vals


def test_nested_sizes_are_written_once_and_evaluate_right() -> None:
    t = DimTable()
    a = align(smax(3072 * SEQ, 48 * SEQ * SEQ), 16)
    b = align(a + 1536 * SEQ, 16)
    c = smax(a, b + 7)
    refs = [t.ref(x) for x in (a, b, c, a, 5)]
    assert refs[3] == refs[0] and refs[4] == 5  # the same size is one entry; ints stay ints
    assert len(t.entries) < 12
    for n in (1, 3, 64, 65, 512):
        vals = _eval(t.entries, {"seq": n})
        assert [vals[r["$dim"]] for r in refs[:3]] == [evaluate(x, {"seq": n}) for x in (a, b, c)]


def test_source_with_sizes_becomes_concat_parts() -> None:
    t = DimTable()
    with in_source():
        src = f"let n = {SEQ * 384}u; let m = {7}u;"
    out = jsonable({"code": src, "plain": "x"}, t)
    parts = out["code"]["$concat"]
    assert parts[0] == "let n = " and parts[2] == "u; let m = 7u;" and "$dim" in parts[1]
    assert _eval(t.entries, {"seq": 2})[parts[1]["$dim"]] == 768
    assert out["plain"] == "x"
    assert f"{SEQ * 384}" == "384*seq"  # outside generated source a size reads as a formula


def test_symbol_specs_list_each_symbol_once_with_bounds() -> None:
    b = symbol("batch")
    assert symbol_specs([(b, SEQ), (b, SEQ, 384)]) == [
        {"name": "batch", "min": 1, "max": None}, {"name": "seq", "min": 1, "max": 512}]
