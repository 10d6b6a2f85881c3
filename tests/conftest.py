"""Shared fixtures: tiny ONNX model factory, a headless-Chromium session, Firefox and WebKit sessions."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))


def make_model(
    nodes: list[onnx.NodeProto],
    inputs: list[tuple[str, int, list[int | str]]],
    outputs: list[str],
    inits: dict[str, np.ndarray] | None = None,
    opset: int = 17,
) -> onnx.ModelProto:
    """A one-graph model from nodes; inputs are (name, elem_type, dims)."""
    g = helper.make_graph(
        nodes,
        "t",
        [helper.make_tensor_value_info(n, t, d) for n, t, d in inputs],
        [helper.make_empty_tensor_value_info(o) for o in outputs],
        [numpy_helper.from_array(v, k) for k, v in (inits or {}).items()],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


F32 = TensorProto.FLOAT
I64 = TensorProto.INT64


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from webdnn.browser.driver import Browser

    with Browser() as b:
        yield b


@pytest.fixture(scope="module", params=["firefox", "webkit"])
def engine(request: pytest.FixtureRequest) -> Iterator[object]:
    """A Firefox, then a WebKit session (the tests using it run once per engine); skipped, with the
    reason, where the engine cannot start (`make setup` installs both)."""
    from webdnn.browser.driver import Browser
    from webdnn.errors import WebDNNError

    try:
        b = Browser(engine=request.param).__enter__()
    except WebDNNError as e:
        pytest.skip(f"{request.param} cannot start here: {e}")
    try:
        yield b
    finally:
        b.__exit__(None, None, None)
