"""convert(): backends chosen by default, skipped when they lack an op, errors when asked for explicitly."""

from __future__ import annotations

import json

import numpy as np
import pytest
from onnx import helper

from tests.conftest import F32, make_model
from webdnn.backends import AUTO_BACKENDS
from webdnn.convert import convert
from webdnn.errors import UnsupportedOperatorError


def _conv3d_model():  # type: ignore[no-untyped-def]
    """A 3-D convolution: the fallback (and wasm, through JS kernels) run it, webgl does not."""
    w = np.random.default_rng(0).standard_normal((2, 1, 3, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1] * 6)]
    return make_model(nodes, [("x", F32, [1, 1, 4, 4, 4])], ["y"], {"w": w})


def test_default_converts_for_every_backend_that_can_run_the_model(tmp_path) -> None:  # type: ignore[no-untyped-def]
    messages: list[str] = []
    r = convert(_conv3d_model(), tmp_path / "out", backends=None, progress=messages.append)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert set(manifest["backends"]) == set(r.backends) and "fallback" in r.backends
    assert set(r.backends) | set(r.skipped) == set(AUTO_BACKENDS)
    for b, why in r.skipped.items():  # a skipped backend says which node it lacks
        assert b in why and any(f"skipping backend {b}" in m for m in messages)


def test_explicit_backend_that_lacks_an_op_is_an_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = convert(_conv3d_model(), tmp_path / "probe", backends=None)
    assert "webgl" in r.skipped and "fallback" in r.backends
    b = "webgl"
    with pytest.raises(UnsupportedOperatorError, match=b):
        convert(_conv3d_model(), tmp_path / "out", backends=[b])
    assert not (tmp_path / "out").exists()
