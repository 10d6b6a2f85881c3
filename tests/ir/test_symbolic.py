"""Symbolic sizes: canonical form, simplification, bounds, evaluation and the JSON form."""

from __future__ import annotations

import pytest

from webdnn.ir.symbolic import (
    SymbolicShapeError,
    align,
    bounds,
    ceildiv,
    evaluate,
    floordiv,
    hint,
    mod,
    provably_equal,
    smax,
    smin,
    substitute,
    symbol,
    text,
    to_json,
)

SEQ = symbol("seq", 1, 512)
B = symbol("batch")


def test_canonical_form_makes_equal_expressions_equal() -> None:
    assert 384 * SEQ == SEQ * 384 and hash(384 * SEQ) == hash(SEQ * 384)
    assert (SEQ + 1) * B == B * SEQ + B
    assert SEQ - SEQ == 0 and isinstance(SEQ - SEQ, int)  # constant results are plain ints
    assert (SEQ + 5) - SEQ == 5
    assert text(12 * SEQ * SEQ + 3 * SEQ - 1) == "3*seq + 12*seq*seq - 1"


def test_division_simplifies_when_exact() -> None:
    assert floordiv(384 * B * SEQ, 384) == B * SEQ
    assert floordiv(384 * B * SEQ, 384 * B) == SEQ
    assert ceildiv(16 * SEQ + 32, 16) == SEQ + 2
    assert mod(384 * SEQ, 384) == 0
    assert text(ceildiv(SEQ, 16)) == "cdiv(seq, 16)"
    assert text(floordiv(2 * SEQ + 1, 2)) == "((2*seq + 1) // 2)"
    assert align(4 * SEQ, 16) == 16 * ceildiv(4 * SEQ, 16)


def test_min_and_max_use_the_bounds() -> None:
    assert smin(SEQ, 512) == SEQ and smax(SEQ, 512) == 512  # seq <= 512
    assert smax(SEQ, 0) == SEQ and smax(2 * SEQ, SEQ) == 2 * SEQ
    assert text(smax(SEQ, B)) == "max(batch, seq)"  # undecided: kept
    assert smax(smax(SEQ, B), SEQ) == smax(SEQ, B)  # nested and repeated arguments merge
    assert bounds(ceildiv(SEQ, 16)) == (1, 32)


def test_comparisons_decide_by_bounds_or_refuse() -> None:
    assert SEQ >= 1 and SEQ <= 512 and not SEQ < 0 and SEQ < 513
    with pytest.raises(SymbolicShapeError, match="depends on the input size"):
        _ = SEQ < 100
    assert provably_equal(SEQ, SEQ) and provably_equal(SEQ, -1) is False and provably_equal(SEQ, 7) is None


@pytest.mark.parametrize("use", [int, bool, float, lambda s: range(s), lambda s: [0][s]])
def test_a_symbol_is_never_silently_a_number(use) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SymbolicShapeError):
        use(SEQ - 1)  # may be 0
    if use is not bool:
        with pytest.raises(SymbolicShapeError):
            use(SEQ)
    assert bool(SEQ)  # seq >= 1: nonzero at every size


def test_evaluation_substitution_and_json() -> None:
    e = smax(3072 * SEQ, 48 * SEQ * SEQ) + ceildiv(SEQ, 16)
    for n in (1, 7, 64, 65, 512):
        assert evaluate(e, {"seq": n}) == max(3072 * n, 48 * n * n) + -(-n // 16)
        assert substitute(e, {"seq": n}) == evaluate(e, {"seq": n})
    assert hint(e) == evaluate(e, {"seq": 512})  # planned at the bound
    assert hint(B) == 512  # an unbounded symbol is planned at DEFAULT_HINT
    assert to_json(384 * SEQ + 1) == ["+", 1, ["*", 384, "seq"]]
    assert to_json(ceildiv(SEQ, 16) * 16) == ["*", 16, ["cdiv", "seq", 16]]
    assert to_json(SEQ) == "seq" and to_json(7) == 7


def test_bad_symbols_are_refused() -> None:
    with pytest.raises(Exception, match="not a name"):
        symbol("1x")
    with pytest.raises(Exception, match="empty or negative"):
        symbol("n", 5, 4)
