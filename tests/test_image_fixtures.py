"""runtime/test/fixtures/image/image.json (read by runtime/test/image.test.mjs) is what tests/make_image_fixtures.py
writes with the installed Pillow and numpy: the Node test checks the runtime's image module against current
Pillow, not against a stale file. Floats compare to 1e-12 relative: numpy releases differ in the last bit of a
float64 exp (numpy 2.4 vs the version that wrote the file), which is no staleness."""

from __future__ import annotations

import json
import math
from typing import Any

from tests.make_image_fixtures import OUT, build


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, int | float) and isinstance(b, int | float) and math.isclose(a, b, rel_tol=1e-12,
                                                                                          abs_tol=1e-15)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def test_image_fixtures_are_current() -> None:
    committed = json.loads(OUT.read_text())
    fresh = json.loads(json.dumps(build()))
    for key in fresh:
        assert _same(committed[key], fresh[key]), f"{OUT} is stale in {key!r}: run python tests/make_image_fixtures.py"


def test_a_changed_value_is_stale() -> None:
    fresh = json.loads(json.dumps(build()))
    changed = json.loads(json.dumps(fresh))
    changed["softmax"][0]["expected"][0] += 1e-6
    assert not _same(fresh["softmax"], changed["softmax"])
    assert _same(fresh["softmax"], json.loads(json.dumps(fresh["softmax"])))
