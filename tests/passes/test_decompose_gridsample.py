"""GridSample's decomposition (passes/decompose.py) against onnxruntime's GridSample: every mode,
padding mode and align_corners, 4-D and 5-D, the grid a runtime input or a constant (folded)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from onnx import helper

from tests.conftest import F32, make_model
from tests.passes.ir_onnx import run_ir
from webdnn.frontend.onnx import from_onnx
from webdnn.passes.pipeline import optimize
from webdnn.verify import reference_outputs

MODES = list(itertools.product(["linear", "nearest", "cubic"], ["zeros", "border", "reflection"], [0, 1]))


def _model(x: np.ndarray, grid: np.ndarray, const_grid: bool, opset: int = 20, **attrs: object):  # type: ignore[no-untyped-def]
    node = helper.make_node("GridSample", ["x", "g"], ["y"], **attrs)
    inputs = [("x", F32, list(x.shape))] + ([] if const_grid else [("g", F32, list(grid.shape))])
    return make_model([node], inputs, ["y"], {"g": grid} if const_grid else None, opset=opset)


def _check(model, feeds: dict[str, np.ndarray]) -> None:  # type: ignore[no-untyped-def]
    ref = reference_outputs(model, feeds)["y"]
    g = from_onnx(model, {k: v.shape for k, v in feeds.items()})
    optimize(g)
    assert "GridSample" not in {n.op_type for n in g.nodes}
    got = run_ir(g, feeds)["y"]
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("mode", "padding", "align"), MODES)
@pytest.mark.parametrize("const_grid", [False, True], ids=["grid-input", "grid-const"])
def test_grid_sample_4d(mode: str, padding: str, align: int, const_grid: bool) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 6)).astype(np.float32)
    # beyond [-1, 1] (padding and reflection over several spans), exact halves for rounding
    grid = rng.uniform(-2.6, 2.6, (2, 4, 7, 2)).astype(np.float32)
    grid[0, 0, :4] = [[-1, -1], [1, 1], [0, 0], [0.2, -0.6]]
    model = _model(x, grid, const_grid, mode=mode, padding_mode=padding, align_corners=align)
    _check(model, {"x": x} if const_grid else {"x": x, "g": grid})


@pytest.mark.parametrize("mode", ["linear", "nearest"])  # (onnxruntime has cubic for 4-D inputs only)
def test_grid_sample_5d(mode: str) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 2, 3, 4, 5)).astype(np.float32)
    grid = rng.uniform(-1.3, 1.3, (1, 2, 3, 4, 3)).astype(np.float32)
    _check(_model(x, grid, False, mode=mode, padding_mode="border"), {"x": x, "g": grid})


def test_grid_sample_opset16_names() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 1, 4, 4)).astype(np.float32)
    grid = rng.uniform(-1, 1, (1, 3, 3, 2)).astype(np.float32)
    for mode in ("bilinear", "bicubic", "nearest"):
        _check(_model(x, grid, False, opset=16, mode=mode), {"x": x, "g": grid})
