"""RoiAlign, ReverseSequence and EyeLike, which have no kernels (passes/decompose.py rewrites them into gathers
of computed indices and a constant), against onnxruntime: rois partly or wholly outside the image, rois under a
pixel, several images, avg and max, both coordinate modes and opset 10; sequences of length 0, 1 and full on
either axis order, float and int64 data; eye matrices off the diagonal and of another type."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from tests.conftest import F32, make_model
from tests.passes.ir_onnx import run_ir
from webdnn.errors import UnsupportedOperatorError
from webdnn.frontend.onnx import from_onnx
from webdnn.passes.pipeline import optimize
from webdnn.verify import reference_outputs

I64 = TensorProto.INT64


def _check(model, feeds: dict[str, np.ndarray], gone: str, tol: float = 1e-5) -> None:  # type: ignore[no-untyped-def]
    ref = reference_outputs(model, feeds)
    g = from_onnx(model, {k: v.shape for k, v in feeds.items()})
    optimize(g)
    assert gone not in {n.op_type for n in g.nodes}
    got = run_ir(g, feeds)
    for name, want in ref.items():
        assert got[name].dtype == want.dtype
        np.testing.assert_allclose(got[name], want, rtol=tol, atol=tol)


def _roi_model(n: int, c: int, h: int, w: int, r: int, opset: int = 16, **attrs: object):  # type: ignore[no-untyped-def]
    node = helper.make_node("RoiAlign", ["x", "rois", "bi"], ["y"], **attrs)
    return make_model([node], [("x", F32, [n, c, h, w]), ("rois", F32, [r, 4]), ("bi", I64, [r])], ["y"],
                      opset=opset)


def _rois() -> tuple[np.ndarray, np.ndarray]:
    rois = np.array([[0, 0, 9, 9],  # the whole image
                     [2.3, 1.7, 6.1, 8.4],  # inside, fractional
                     [-3, -2, 4, 5],  # partly outside (taps below 0 and below -1)
                     [8.5, 7.2, 14, 13],  # past the far edges
                     [4.2, 4.4, 4.6, 4.5],  # under a pixel
                     [-9, -9, -4, -5]], np.float32)  # wholly outside
    return rois, np.array([0, 1, 1, 0, 1, 0], np.int64)


@pytest.mark.parametrize("mode", ["avg", "max"])
@pytest.mark.parametrize("coords", ["half_pixel", "output_half_pixel"])
def test_roi_align(mode: str, coords: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 10, 11)).astype(np.float32)
    rois, bi = _rois()
    model = _roi_model(2, 3, 10, 11, len(bi), mode=mode, coordinate_transformation_mode=coords, output_height=3,
                       output_width=4, sampling_ratio=2, spatial_scale=1.0)
    _check(model, {"x": x, "rois": rois, "bi": bi}, "RoiAlign")


def test_roi_align_opset10_scale_and_ratio() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 2, 8, 8)).astype(np.float32)
    rois, bi = _rois()
    model = _roi_model(2, 2, 8, 8, len(bi), opset=10, output_height=2, output_width=2, sampling_ratio=3,
                       spatial_scale=0.5)
    _check(model, {"x": x, "rois": rois * 2, "bi": bi}, "RoiAlign")


def test_roi_align_adaptive_sampling_is_a_clear_error() -> None:
    model = _roi_model(1, 1, 4, 4, 2, output_height=2, output_width=2)  # sampling_ratio defaults to 0
    with pytest.raises(UnsupportedOperatorError, match="sampling_ratio 0"):
        optimize(from_onnx(model))


@pytest.mark.parametrize(("batch_axis", "time_axis"), [(1, 0), (0, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_reverse_sequence(batch_axis: int, time_axis: int, dtype: type) -> None:
    shape = [5, 4, 3]
    shape[batch_axis], shape[time_axis] = 4, 5  # 4 sequences of 5 steps
    x = (np.arange(np.prod(shape)).reshape(shape) * 3 - 7).astype(dtype)
    lens = np.array([0, 1, 5, 3], np.int64)
    node = helper.make_node("ReverseSequence", ["x", "lens"], ["y"], batch_axis=batch_axis, time_axis=time_axis)
    elem = F32 if dtype == np.float32 else I64
    model = make_model([node], [("x", elem, shape), ("lens", I64, [4])], ["y"])
    _check(model, {"x": x, "lens": lens}, "ReverseSequence")


@pytest.mark.parametrize(("k", "dtype"), [(0, None), (1, TensorProto.INT64), (-2, TensorProto.FLOAT)])
def test_eye_like(k: int, dtype: int | None) -> None:
    node = helper.make_node("EyeLike", ["x"], ["y"], k=k, **({} if dtype is None else {"dtype": dtype}))
    model = make_model([node, helper.make_node("Add", ["y", "y"], ["z"])], [("x", I64, [3, 5])], ["z"])
    _check(model, {"x": np.zeros((3, 5), np.int64)}, "EyeLike")


@pytest.mark.node
def test_decomposed_ops_run_on_the_cpu_backends(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from webdnn.browser.node import run_model_node
    from webdnn.convert import convert

    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 10, 11)).astype(np.float32)
    rois, bi = _rois()
    model = _roi_model(2, 3, 10, 11, len(bi), mode="avg", output_height=3, output_width=4, sampling_ratio=2)
    feeds = {"x": x, "rois": rois, "bi": bi}
    ref = reference_outputs(model, feeds)["y"]
    convert(model, tmp_path / "roi", ["fallback", "wasm"])
    for b in ("fallback", "wasm"):
        got = run_model_node(str(tmp_path / "roi"), feeds, [b]).outputs["y"]
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
