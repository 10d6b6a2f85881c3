"""convert(): backends chosen by default, skipped when they lack an op, errors when asked for explicitly."""

from __future__ import annotations

import json

import numpy as np
import pytest
from onnx import helper

from tests.conftest import F32, make_model
from webdnn.backends import BACKENDS
from webdnn.convert import convert
from webdnn.errors import UnsupportedOperatorError


def _where_model():  # type: ignore[no-untyped-def]
    nodes = [helper.make_node("Less", ["x", "zero"], ["neg"]), helper.make_node("Where", ["neg", "zero", "x"], ["y"])]
    return make_model(nodes, [("x", F32, [2, 3])], ["y"], {"zero": np.zeros(1, np.float32)})


def test_default_converts_for_every_backend_that_can_run_the_model(tmp_path) -> None:  # type: ignore[no-untyped-def]
    messages: list[str] = []
    r = convert(_where_model(), tmp_path / "out", backends=None, progress=messages.append)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert set(manifest["backends"]) == set(r.backends) and "fallback" in r.backends
    assert set(r.backends) | set(r.skipped) == set(BACKENDS)
    for b, why in r.skipped.items():  # a skipped backend says which node it lacks
        assert b in why and any(f"skipping backend {b}" in m for m in messages)


def test_explicit_backend_that_lacks_an_op_is_an_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = convert(_where_model(), tmp_path / "probe", backends=None)
    if not r.skipped:
        pytest.skip("every backend supports Less/Where now")
    b = next(iter(r.skipped))
    with pytest.raises(UnsupportedOperatorError, match=b):
        convert(_where_model(), tmp_path / "out", backends=[b])
    assert not (tmp_path / "out").exists()
