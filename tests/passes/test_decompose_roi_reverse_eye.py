"""RoiAlign, ReverseSequence, EyeLike, MaxUnpool and Col2Im, which have no kernels (passes/decompose.py rewrites
them into gathers and scatters of computed or constant indices, and a constant), against onnxruntime: rois partly
or wholly outside the image, rois under a pixel, several images, avg and max, both coordinate modes and opset 10;
sequences of length 0, 1 and full on either axis order, float and int64 data; eye matrices off the diagonal and
of another type; unpooling MaxPool's own indices with and without output_shape; Col2Im with overlapping blocks,
strides, dilations, pads, a batch and 3 spatial dims."""

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


@pytest.mark.parametrize("output_shape", [None, [2, 3, 7, 9]])
def test_max_unpool_of_max_pools_indices(output_shape: list[int] | None) -> None:
    """The values and indices of a MaxPool (onnxruntime's; WebDNN's MaxPool has no Indices output yet) unpooled."""
    shape = output_shape or [2, 3, 6, 9]  # without output_shape: the shape the pool's windows cover exactly
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    pool = make_model([helper.make_node("MaxPool", ["x"], ["p", "i"], kernel_shape=[2, 3], strides=[2, 3])],
                      [("x", F32, shape)], ["p", "i"], opset=11)
    pooled = reference_outputs(pool, {"x": x})
    node = helper.make_node("MaxUnpool", ["p", "i", *(["s"] if output_shape else [])], ["y"], kernel_shape=[2, 3],
                            strides=[2, 3])
    inits = {"s": np.array(output_shape, np.int64)} if output_shape else None
    model = make_model([node], [("p", F32, [2, 3, 3, 3]), ("i", I64, [2, 3, 3, 3])], ["y"], inits, opset=11)
    _check(model, {"p": pooled["p"], "i": pooled["i"]}, "MaxUnpool")


@pytest.mark.parametrize(("image", "block", "attrs"), [
    ([5, 6], [2, 3], {}),  # overlapping blocks add up
    ([7, 8], [3, 2], {"strides": [2, 3], "pads": [1, 0, 2, 1]}),
    ([9, 7], [2, 2], {"dilations": [3, 2], "pads": [1, 1, 1, 1]}),
    ([4, 5, 6], [2, 2, 3], {"strides": [1, 2, 2]}),
])
def test_col2im(image: list[int], block: list[int], attrs: dict[str, list[int]]) -> None:
    nd = len(image)
    pads, strides, dil = attrs.get("pads", [0] * 2 * nd), attrs.get("strides", [1] * nd), attrs.get("dilations",
                                                                                                   [1] * nd)
    blocks = int(np.prod([(image[i] + pads[i] + pads[nd + i] - dil[i] * (block[i] - 1) - 1) // strides[i] + 1
                          for i in range(nd)]))
    x = np.random.default_rng(4).standard_normal((2, 3 * int(np.prod(block)), blocks)).astype(np.float32)
    node = helper.make_node("Col2Im", ["x", "image", "block"], ["y"], **attrs)
    model = make_model([node], [("x", F32, list(x.shape))], ["y"],
                       {"image": np.array(image, np.int64), "block": np.array(block, np.int64)}, opset=18)
    _check(model, {"x": x}, "Col2Im")


@pytest.mark.parametrize("mode", ["CRD", "DCR"])
def test_space_to_depth_modes(mode: str) -> None:
    """CRD (opset 25's mode) is decomposed into Reshapes around a Transpose; DCR stays the backends' kernel. The
    reference is ONNX's (onnxruntime does not know the mode yet)."""
    from webdnn.verify import exact_reference_outputs

    x = np.random.default_rng(3).standard_normal((2, 3, 4, 6)).astype(np.float32)
    model = make_model([helper.make_node("SpaceToDepth", ["x"], ["y"], blocksize=2, mode=mode)],
                       [("x", F32, [2, 3, 4, 6])], ["y"], opset=25)
    ref = exact_reference_outputs(model, {"x": x})
    g = from_onnx(model, {"x": x.shape})
    optimize(g)
    assert ("SpaceToDepth" in {n.op_type for n in g.nodes}) == (mode == "DCR")
    if mode == "CRD":
        np.testing.assert_array_equal(run_ir(g, {"x": x})["y"], ref["y"])
        dcr = exact_reference_outputs(make_model([helper.make_node("SpaceToDepth", ["x"], ["y"], blocksize=2)],
                                                 [("x", F32, [2, 3, 4, 6])], ["y"], opset=25), {"x": x})
        assert not np.array_equal(dcr["y"], ref["y"])  # the modes differ on this input


@pytest.mark.parametrize("attrs", [
    {"kernel_shape": [2, 2], "strides": [2, 2]},
    {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "storage_order": 1},
    {"kernel_shape": [3, 2], "strides": [2, 1], "dilations": [1, 2], "pads": [0, 1, 1, 0], "ceil_mode": 1},
])
def test_max_pool_with_indices(attrs: dict) -> None:  # type: ignore[type-arg]
    """MaxPool's Indices (whole-tensor flat, row- or column-major) from the window gather, with padding,
    dilations and ceil_mode, against onnxruntime; ties (an all-equal plane) take the first in window order."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
    x[1, 2] = 0.5
    model = make_model([helper.make_node("MaxPool", ["x"], ["y", "i"], **attrs)], [("x", F32, [2, 3, 7, 6])],
                       ["y", "i"], opset=12)
    _check(model, {"x": x}, "MaxPool", tol=0)


@pytest.mark.parametrize("shape", [(1, 1), (2, 3, 3), (4, 5, 5)])
def test_det_as_the_sum_over_permutations(shape: tuple[int, ...]) -> None:
    """Det up to 5 x 5 (batched), against onnxruntime; 6 x 6 is refused by name."""
    x = np.random.default_rng(5).standard_normal(shape).astype(np.float32)
    model = make_model([helper.make_node("Det", ["x"], ["y"])], [("x", F32, list(shape))], ["y"], opset=11)
    _check(model, {"x": x}, "Det", tol=1e-4)


def test_det_of_a_large_matrix_is_refused() -> None:
    model = make_model([helper.make_node("Det", ["x"], ["y"], name="big")], [("x", F32, [6, 6])], ["y"], opset=11)
    with pytest.raises(UnsupportedOperatorError, match=r"node 'big' \(Det.*6x6"):
        optimize(from_onnx(model, {"x": (6, 6)}))
