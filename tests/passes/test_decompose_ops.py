"""AffineGrid, GroupNormalization, RMSNormalization, LpPool and CenterCropPad decomposed (passes/decompose.py), against
onnxruntime on the same ONNX nodes."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from tests.conftest import F32, make_model
from tests.passes.ir_onnx import run_ir
from webdnn.frontend.onnx import from_onnx
from webdnn.passes.pipeline import optimize
from webdnn.verify import reference_outputs


def _check(model, feeds: dict[str, np.ndarray], gone: str) -> None:  # type: ignore[no-untyped-def]
    ref = reference_outputs(model, feeds)["y"]
    g = from_onnx(model, {k: v.shape for k, v in feeds.items()})
    optimize(g)
    assert gone not in {n.op_type for n in g.nodes}
    np.testing.assert_allclose(run_ir(g, feeds)["y"], ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("align", [0, 1])
@pytest.mark.parametrize("size", [[2, 3, 4, 5], [1, 2, 3, 4, 2]], ids=["2d", "3d"])
def test_affine_grid(size: list[int], align: int) -> None:
    d = len(size) - 2
    theta = np.random.default_rng(0).standard_normal((size[0], d, d + 1)).astype(np.float32)
    node = helper.make_node("AffineGrid", ["t", "s"], ["y"], align_corners=align)
    model = make_model([node], [("t", F32, list(theta.shape))], ["y"], {"s": np.array(size, np.int64)}, opset=20)
    _check(model, {"t": theta}, "AffineGrid")


@pytest.mark.parametrize("shape", [(2, 6, 5), (1, 6, 3, 4)])
@pytest.mark.parametrize("groups", [1, 2, 3, 6])
def test_group_normalization_21(shape: tuple[int, ...], groups: int) -> None:
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(shape) * 3 + 1).astype(np.float32)
    scale, bias = rng.standard_normal(shape[1]).astype(np.float32), rng.standard_normal(shape[1]).astype(np.float32)
    node = helper.make_node("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=groups, epsilon=1e-3)
    model = make_model([node], [("x", F32, list(shape))], ["y"], {"s": scale, "b": bias}, opset=21)
    _check(model, {"x": x}, "GroupNormalization")


def test_group_normalization_18_per_group_scale() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 6, 4)).astype(np.float32)
    scale, bias = rng.standard_normal(3).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    node = helper.make_node("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=3)
    model = make_model([node], [("x", F32, [2, 6, 4]), ("s", F32, [3]), ("b", F32, [3])], ["y"], opset=18)
    _check(model, {"x": x, "s": scale, "b": bias}, "GroupNormalization")


@pytest.mark.parametrize(("shape", "axes"), [([3, 8, 5], None), ([6, 5], [-2, -1]), ([5, 2], [0, 1]), ([4], [1])])
def test_center_crop_pad(shape: list[int], axes: list[int] | None) -> None:
    x = np.random.default_rng(3).standard_normal((4, 5, 6)).astype(np.float32)
    attrs = {} if axes is None else {"axes": axes}
    node = helper.make_node("CenterCropPad", ["x", "s"], ["y"], **attrs)
    model = make_model([node], [("x", F32, [4, 5, 6])], ["y"], {"s": np.array(shape, np.int64)}, opset=18)
    _check(model, {"x": x}, "CenterCropPad")


@pytest.mark.parametrize(("shape", "axis", "scale"), [((2, 5, 8), -1, (8,)), ((2, 3, 4, 5), 1, (3, 1, 5)),
                                                       ((4, 6), 0, (4, 6))])
def test_rms_normalization(shape: tuple[int, ...], axis: int, scale: tuple[int, ...]) -> None:
    rng = np.random.default_rng(4)
    x = (rng.standard_normal(shape) * 2).astype(np.float32)
    node = helper.make_node("RMSNormalization", ["x", "s"], ["y"], axis=axis, epsilon=1e-3)
    model = make_model([node], [("x", F32, list(shape))], ["y"], {"s": rng.standard_normal(scale).astype(np.float32)},
                       opset=23)
    _check(model, {"x": x}, "RMSNormalization")


@pytest.mark.parametrize(("p", "attrs"), [(2, {"kernel_shape": [3, 3]}),
                                          (3, {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [1, 0, 1, 1]}),
                                          (1, {"kernel_shape": [3], "auto_pad": "SAME_UPPER"})])
def test_lp_pool(p: int, attrs: dict) -> None:  # type: ignore[type-arg]
    shape = (2, 3, 7) if len(attrs["kernel_shape"]) == 1 else (2, 3, 6, 7)
    x = np.random.default_rng(6).standard_normal(shape).astype(np.float32)
    node = helper.make_node("LpPool", ["x"], ["y"], p=p, **attrs)
    _check(make_model([node], [("x", F32, list(shape))], ["y"], opset=18), {"x": x}, "LpPool")
