"""Every case of the bad-input matrix (tests/e2e/bad_input_matrix.py) fails cleanly, and
docs/reliability.md shows the current messages."""

from __future__ import annotations

import pytest

from tests.e2e.bad_input_matrix import DOC, collect, render


@pytest.mark.node
def test_every_bad_input_is_a_clear_error() -> None:
    rows = collect()
    assert len(rows) >= 40
    unclean = [f"{r.layer}: {r.case}: {r.error}: {r.message}" for r in rows if not r.ok]
    assert not unclean, "cases that do not fail cleanly:\n" + "\n".join(unclean)
    with open(DOC) as f:
        assert f.read() == render(rows), (
            "docs/reliability.md is out of date: run `python -m tests.e2e.bad_input_matrix --write`"
        )
