"""Sizes found in the data: NonZero, NonMaxSuppression, Compress, Unique, a TopK whose k is computed (passes/
runtime_control.py is_host_op; the runtime's `nonzero`, `nms`, `compress`, `unique`, `topk` steps, control.ts).
The model is cut at the op; the stages after it are symbolic in the size it finds (0 <= size <= its
input's) and run at each run's size. Checked against onnxruntime at sizes of none, some and all, in Node
and in Chromium on every backend: the values picked by a mask, detection-style post-processing (the best
min(count, 5) scores and where they are; NonMaxSuppression of computed boxes and scores), Compress by
computed conditions, Unique (elements and rows), and a TopK whose k is computed from the data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h

from tests.passes.staged_runs import check_like_onnxruntime, skip_without_node_webgpu
from tests.shared_page import shared_page
from tests.zoo_cases import assert_matches
from webdnn.browser.node import run_model_node
from webdnn.convert import convert
from webdnn.errors import ShapeError
from webdnn.verify import reference_outputs

BACKENDS = ["fallback", "wasm", "webgl", "webgpu"]


def _masked_values() -> onnx.ModelProto:
    """idx = NonZero(x > 0); y = 2 * GatherND(x, idx^T) (the positive values, in row-major order); s = the
    sum of y (one element however many there are); n = ReduceSum(x) before the cut, passed through."""
    nodes = [h.make_node("Greater", ["x", "zero"], ["mask"]), h.make_node("NonZero", ["mask"], ["idx"]),
             h.make_node("Transpose", ["idx"], ["idxT"], perm=[1, 0]), h.make_node("GatherND", ["x", "idxT"], ["vals"]),
             h.make_node("Mul", ["vals", "two"], ["y"]), h.make_node("ReduceSum", ["y"], ["s"], keepdims=1),
             h.make_node("ReduceSum", ["x"], ["n"], keepdims=0)]
    g = h.make_graph(nodes, "masked", [h.make_tensor_value_info("x", T.FLOAT, [3, 4])],
                     [h.make_tensor_value_info(o, t, None) for o, t in
                      (("idx", T.INT64), ("y", T.FLOAT), ("s", T.FLOAT), ("n", T.FLOAT))],
                     [h.make_tensor("zero", T.FLOAT, [], [0.0]), h.make_tensor("two", T.FLOAT, [], [2.0])])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def _top_scores() -> onnx.ModelProto:
    """Detection-style post-processing: the scores above 0.5, then the best min(count, 5) of them and their
    positions (TopK's k from the Shape of the kept scores: an expression of the count)."""
    nodes = [h.make_node("Greater", ["x", "thr"], ["mask"]), h.make_node("NonZero", ["mask"], ["idx"]),
             h.make_node("Transpose", ["idx"], ["idxT"], perm=[1, 0]), h.make_node("GatherND", ["x", "idxT"], ["kept"]),
             h.make_node("Shape", ["kept"], ["shp"]), h.make_node("Min", ["shp", "five"], ["k"]),
             h.make_node("TopK", ["kept", "k"], ["top", "where"]),
             h.make_node("Gather", ["idxT", "where"], ["top_idx"], axis=0)]
    g = h.make_graph(nodes, "top_scores", [h.make_tensor_value_info("x", T.FLOAT, [4, 6])],
                     [h.make_tensor_value_info("top", T.FLOAT, None),
                      h.make_tensor_value_info("top_idx", T.INT64, None)],
                     [h.make_tensor("thr", T.FLOAT, [], [0.5]), h.make_tensor("five", T.INT64, [1], [5])])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def _topk_of_counted_k() -> onnx.ModelProto:
    """TopK whose k is computed from the data: k = the fewest positives in any row; the best k of each row,
    where they are, and a sum of those positions (one element however large k is)."""
    nodes = [h.make_node("Greater", ["x", "zero"], ["pos"]), h.make_node("Cast", ["pos"], ["posf"], to=T.FLOAT),
             h.make_node("ReduceSum", ["posf", "ax1"], ["cnt"], keepdims=0),
             h.make_node("ReduceMin", ["cnt"], ["kf"], keepdims=1), h.make_node("Cast", ["kf"], ["k"], to=T.INT64),
             h.make_node("TopK", ["x", "k"], ["vals", "where"], axis=1),
             h.make_node("Mul", ["vals", "two"], ["y"]), h.make_node("Cast", ["where"], ["wf"], to=T.FLOAT),
             h.make_node("ReduceSum", ["wf"], ["s"], keepdims=1)]
    g = h.make_graph(nodes, "topk_k", [h.make_tensor_value_info("x", T.FLOAT, [3, 8])],
                     [h.make_tensor_value_info(o, t, None) for o, t in
                      (("y", T.FLOAT), ("where", T.INT64), ("s", T.FLOAT))],
                     [h.make_tensor("zero", T.FLOAT, [], [0.0]), h.make_tensor("two", T.FLOAT, [], [2.0]),
                      h.make_tensor("ax1", T.INT64, [1], [1])])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def _detections() -> onnx.ModelProto:
    """NonMaxSuppression on computed boxes and scores: x [1, 8, 5] holds each box's corners and a logit;
    boxes (corners in any order) and sigmoid scores above 0.5, at most 8, IoU 0.3; then the kept boxes'
    corners (a Gather by the selected indices)."""
    i64 = lambda name, v: h.make_tensor(name, T.INT64, [len(v)], v)  # noqa: E731
    nodes = [h.make_node("Slice", ["x", "s0", "s4", "ax2"], ["boxes"]),
             h.make_node("Slice", ["x", "s4", "s5", "ax2"], ["logit"]),
             h.make_node("Transpose", ["logit"], ["logitT"], perm=[0, 2, 1]),
             h.make_node("Sigmoid", ["logitT"], ["scores"]),
             h.make_node("NonMaxSuppression", ["boxes", "scores", "max_out", "iou", "thr"], ["sel"]),
             h.make_node("Gather", ["sel", "two"], ["which"], axis=1),
             h.make_node("Squeeze", ["boxes", "ax0"], ["boxes2"]),
             h.make_node("Gather", ["boxes2", "which"], ["kept"], axis=0)]
    g = h.make_graph(nodes, "detections", [h.make_tensor_value_info("x", T.FLOAT, [1, 8, 5])],
                     [h.make_tensor_value_info(o, t, None) for o, t in
                      (("sel", T.INT64), ("kept", T.FLOAT))],
                     [i64("s0", [0]), i64("s4", [4]), i64("s5", [5]), i64("ax2", [2]), i64("ax0", [0]),
                      h.make_tensor("two", T.INT64, [], [2]),
                      i64("max_out", [8]), h.make_tensor("iou", T.FLOAT, [1], [0.3]),
                      h.make_tensor("thr", T.FLOAT, [1], [0.5])])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def _compressed() -> onnx.ModelProto:
    """Compress by computed conditions: the rows whose largest value is positive (axis 0), then their column
    sums (4 elements however many rows); and x flattened where it is positive (no axis), times 2."""
    nodes = [h.make_node("ReduceMax", ["x"], ["rmax"], axes=[1], keepdims=0),
             h.make_node("Greater", ["rmax", "zero"], ["rows"]),
             h.make_node("Compress", ["x", "rows"], ["kept"], axis=0),
             h.make_node("ReduceSum", ["kept", "ax0"], ["colsum"], keepdims=0),
             h.make_node("Greater", ["x", "zero"], ["pos"]), h.make_node("Reshape", ["pos", "flat"], ["pos1"]),
             h.make_node("Compress", ["x", "pos1"], ["vals"]), h.make_node("Mul", ["vals", "two"], ["y"])]
    g = h.make_graph(nodes, "compressed", [h.make_tensor_value_info("x", T.FLOAT, [3, 4])],
                     [h.make_tensor_value_info(o, T.FLOAT, None) for o in ("kept", "colsum", "y")],
                     [h.make_tensor("zero", T.FLOAT, [], [0.0]), h.make_tensor("two", T.FLOAT, [], [2.0]),
                      h.make_tensor("ax0", T.INT64, [1], [0]), h.make_tensor("flat", T.INT64, [1], [-1])])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 13)])


def _uniques() -> onnx.ModelProto:
    """Unique of floor(x) (sorted), all four outputs, its values doubled after the cut; and the unique rows of
    floor(x) in order of first occurrence."""
    nodes = [h.make_node("Floor", ["x"], ["f"]),
             h.make_node("Unique", ["f"], ["u", "first", "inverse", "counts"], sorted=1),
             h.make_node("Mul", ["u", "two"], ["u2"]),
             h.make_node("Unique", ["f"], ["rows"], axis=0, sorted=0)]
    g = h.make_graph(nodes, "uniques", [h.make_tensor_value_info("x", T.FLOAT, [3, 4])],
                     [h.make_tensor_value_info(o, t, None) for o, t in
                      (("u2", T.FLOAT), ("first", T.INT64), ("inverse", T.INT64), ("counts", T.INT64),
                       ("rows", T.FLOAT))],
                     [h.make_tensor("two", T.FLOAT, [], [2.0])])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 13)])


def _direct(dtype: int, shape: list[int]) -> onnx.ModelProto:
    """NonZero of the model's input itself: no stage before the cut, none after it."""
    g = h.make_graph([h.make_node("NonZero", ["x"], ["idx"])], "direct", [h.make_tensor_value_info("x", dtype, shape)],
                     [h.make_tensor_value_info("idx", T.INT64, None)])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 13)])


MODELS = {"masked": (_masked_values, (3, 4), 0.0), "top_scores": (_top_scores, (4, 6), 0.5),
          "topk_k": (_topk_of_counted_k, (3, 8), 0.0), "detections": (_detections, (1, 8, 5), 0.0),
          "compressed": (_compressed, (3, 4), 0.0), "uniques": (_uniques, (3, 4), 0.0)}


def _inputs(name: str) -> list[np.ndarray]:
    """Inputs with some, none and all of their elements above the model's threshold (with a tie)."""
    _, shape, thr = MODELS[name]
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32) + thr
    x[..., 0] = thr + 1
    x[..., -1, 1] = x[..., -1, 2] = thr + 0.25
    if name == "detections":  # the boxes overlap at random; the logits decide what is kept
        return [np.concatenate([x[..., :4], v[..., 4:]], axis=-1) for v in (x, thr - np.abs(x), thr + 1 + np.abs(x))]
    return [x, thr - np.abs(x), thr + 1 + np.abs(x)]


@pytest.fixture(scope="module", params=sorted(MODELS))
def converted(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    d = tmp_path_factory.mktemp(request.param)
    onnx.save(MODELS[request.param][0](), d / "m.onnx")
    convert(str(d / "m.onnx"), d / "out", BACKENDS)
    return request.param, d / "m.onnx", d / "out"


@pytest.fixture(scope="module")
def masked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("nonzero")
    onnx.save(_masked_values(), d / "m.onnx")
    convert(str(d / "m.onnx"), d / "out", ["fallback"])
    return d / "m.onnx", d / "out"


def test_the_model_is_cut_at_the_nonzero(masked: tuple[Path, Path]) -> None:
    _, out = masked
    desc = json.loads((out / "fallback" / "descriptor.json").read_text())
    steps = [next(iter(s)) for s in desc["program"]]
    assert steps[:3] == ["run", "nonzero", "run"], desc["program"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["version"] == 1 and manifest["counts"] == [{"name": "idx.count", "min": 0, "max": 12}]
    assert {o["name"]: o["shape"] for o in manifest["outputs"]} == {"idx": [2, "idx.count"], "y": ["idx.count"],
                                                                    "s": [1], "n": []}
    after = json.loads((out / "fallback" / "stage-1" / "descriptor.json").read_text())
    assert after["symbols"] == [{"name": "idx.count", "min": 0, "max": 12}]


@pytest.mark.node
@pytest.mark.parametrize("backend", ["fallback", "wasm", "webgpu"])
def test_every_count_in_node(converted: tuple[str, Path, Path], backend: str) -> None:
    skip_without_node_webgpu(backend)
    name, model, out = converted
    for x in _inputs(name):
        check_like_onnxruntime(model, out, {"x": x}, backend,
                               lambda _, x=x: f"{name} on {backend}, {int((x > MODELS[name][2]).sum())} kept: ")


@pytest.mark.node
@pytest.mark.parametrize(("dtype", "shape"), [(T.BOOL, [2, 3, 2]), (T.INT64, [5]), (T.FLOAT, [1, 2, 1, 3])])
def test_nonzero_of_an_input(tmp_path: Path, dtype: int, shape: list[int]) -> None:
    model = _direct(dtype, shape)
    convert(model, tmp_path / "out", ["fallback"])
    rng = np.random.default_rng(5)
    x = rng.integers(-1, 2, shape).astype(onnx.helper.tensor_dtype_to_np_dtype(dtype))
    if dtype == T.FLOAT:
        x[0, 0, 0, 1] = np.nan  # non-zero, as in onnxruntime
    r = run_model_node(str(tmp_path / "out"), {"x": x}, ["fallback"])
    assert_matches(reference_outputs(model, {"x": x}), r.outputs, f"NonZero of {x.dtype}: ")


def test_a_nonzero_of_a_counted_size_is_refused_clearly(tmp_path: Path) -> None:
    nodes = [h.make_node("NonZero", ["x"], ["i1"]), h.make_node("NonZero", ["i1"], ["i2"])]
    g = h.make_graph(nodes, "twice", [h.make_tensor_value_info("x", T.FLOAT, [4])],
                     [h.make_tensor_value_info("i2", T.INT64, None)])
    with pytest.raises(ShapeError, match=r"node 'NonZero_1'.*varies with the model's inputs"):
        convert(h.make_model(g, opset_imports=[h.make_opsetid("", 13)]), tmp_path / "out", ["fallback"])
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def page(browser: Any) -> Any:
    """One harness page for the Chromium runs (tests/shared_page.py): a page of its own cost each run 0.6 s more."""
    with shared_page(browser) as p:
        yield p


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_count_in_chromium(converted: tuple[str, Path, Path], backend: str, page: Any) -> None:
    name, model, out = converted
    for x in _inputs(name):
        check_like_onnxruntime(
            model, out, {"x": x}, backend,
            lambda _, x=x: f"{name} on {backend} in Chromium, {int((x > MODELS[name][2]).sum())} kept: ", page)
