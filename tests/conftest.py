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

# The files that take minutes in `make test` (seconds per file on the 2-core CI machine, approximate), started
# first: `make test` hands whole files to its two workers (--dist loadfile) in collection order
# (--no-loadscope-reorder), so a long file never starts at the end of the run while the other worker idles. By
# default xdist orders files by their number of tests, which put the single-test webgpu conformance suite (3.5 min)
# second to last. The files not listed follow, most tests first (xdist's default order).
SLOW_FILES = {
    "tests/e2e/test_zoo_matrix.py": 450,
    "tests/conformance/test_engines_conformance.py": 400,
    "tests/e2e/test_engines.py": 350,
    "tests/frontend/test_keras.py": 250,
    "tests/backends/webgpu/test_webgpu_conformance.py": 210,
    "tests/e2e/test_demo_site_images.py": 180,
    "tests/e2e/test_memory.py": 170,
    "tests/e2e/test_pretrained_models.py": 170,
    "tests/e2e/test_dynamic_shapes.py": 150,
    "tests/test_wheel.py": 130,
    "tests/backends/test_weight_encoding.py": 80,
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Whole files in the order above (each file's tests keep their order)."""
    root = config.rootpath
    files: dict[str, list[pytest.Item]] = {}
    for item in items:
        files.setdefault(item.path.relative_to(root).as_posix() if item.path.is_relative_to(root) else str(item.path),
                         []).append(item)
    order = sorted(files, key=lambda f: (-SLOW_FILES.get(f, 0), -len(files[f])))
    items[:] = [item for f in order for item in files[f]]


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
