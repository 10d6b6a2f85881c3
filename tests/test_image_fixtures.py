"""runtime/test/fixtures/image/image.json (read by runtime/test/image.test.mjs) is what tests/make_image_fixtures.py
writes with the installed Pillow and numpy: the Node test checks the runtime's image module against current
Pillow, not against a stale file."""

from __future__ import annotations

import json

from tests.make_image_fixtures import OUT, build


def test_image_fixtures_are_current() -> None:
    committed = json.loads(OUT.read_text())
    fresh = json.loads(json.dumps(build()))
    for key in fresh:
        assert committed[key] == fresh[key], f"{OUT} is stale in {key!r}: run python tests/make_image_fixtures.py"
