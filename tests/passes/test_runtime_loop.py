"""Loops decided at run time (passes/runtime_control.py defer_loop, the control program's `loop` step in
runtime/src/control.ts): the body converted once as a stage, run while the trip count and the condition
allow, carried values passed on, scan values stacked (their length, the iteration count, a symbol of the stages
after the Loop). Against onnxruntime with iteration counts of none, one, some and the trip count, in Node and in
Chromium on every backend; and the refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h

from tests.passes.staged_runs import check_like_onnxruntime, skip_without_node_webgpu
from tests.shared_page import shared_page
from webdnn.convert import convert
from webdnn.errors import UnsupportedOperatorError

BACKENDS = ["fallback", "wasm", "webgl", "webgpu"]


def _converging(trip_input: bool) -> onnx.ModelProto:
    """v <- v / 2 + 1 until it moves by 0.05 or less (the condition, computed in the body from the carried
    value), s <- s + sum(v), scan: v times the iteration number; then the scans' column sums. The trip count is
    the input `m` (`trip_input`) or the constant 10."""
    body = h.make_graph(
        [h.make_node("Mul", ["v", "half"], ["vh"]), h.make_node("Add", ["vh", "one"], ["v2"]),
         h.make_node("Sub", ["v2", "v"], ["d"]), h.make_node("Abs", ["d"], ["ad"]),
         h.make_node("ReduceSum", ["ad"], ["delta"], keepdims=0), h.make_node("Greater", ["delta", "tol"], ["c2"]),
         h.make_node("ReduceSum", ["v2"], ["sv"], keepdims=0), h.make_node("Add", ["s", "sv"], ["s2"]),
         h.make_node("Cast", ["i"], ["fi"], to=T.FLOAT), h.make_node("Mul", ["v2", "fi"], ["scan"])],
        "body",
        [h.make_tensor_value_info("i", T.INT64, []), h.make_tensor_value_info("c", T.BOOL, []),
         h.make_tensor_value_info("v", T.FLOAT, [4]), h.make_tensor_value_info("s", T.FLOAT, [])],
        [h.make_tensor_value_info("c2", T.BOOL, []), h.make_tensor_value_info("v2", T.FLOAT, [4]),
         h.make_tensor_value_info("s2", T.FLOAT, []), h.make_tensor_value_info("scan", T.FLOAT, [4])])
    nodes = [h.make_node("Loop", ["m" if trip_input else "ten", "", "x", "zero"], ["v_final", "s_final", "scans"],
                         body=body),
             h.make_node("ReduceSum", ["scans", "ax0"], ["total"], keepdims=0)]
    inputs = [h.make_tensor_value_info("x", T.FLOAT, [4])]
    inputs += [h.make_tensor_value_info("m", T.INT64, [])] if trip_input else []
    g = h.make_graph(nodes, "converging", inputs,
                     [h.make_tensor_value_info(o, T.FLOAT, None) for o in ("v_final", "s_final", "scans", "total")],
                     [h.make_tensor("zero", T.FLOAT, [], [0.0]), h.make_tensor("half", T.FLOAT, [], [0.5]),
                      h.make_tensor("one", T.FLOAT, [], [1.0]), h.make_tensor("tol", T.FLOAT, [], [0.05]),
                      h.make_tensor("ax0", T.INT64, [1], [0]), h.make_tensor("ten", T.INT64, [], [10])])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def _feeds(trip_input: bool) -> list[dict[str, np.ndarray]]:
    """Iteration counts: 8, 1 (v already at the fixed point 2), 3 (the trip count) and 0."""
    rng = np.random.default_rng(0)
    cases = [(rng.standard_normal(4), 10), (np.full(4, 2.0), 10), (rng.standard_normal(4) * 5, 3), (np.zeros(4), 0)]
    if not trip_input:
        cases = cases[:2]
    return [{"x": x.astype(np.float32), **({"m": np.array(m, np.int64)} if trip_input else {})} for x, m in cases]


@pytest.fixture(scope="module", params=[True, False], ids=["trip-input", "trip-10"])
def converted(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[bool, Path, Path]:
    d = tmp_path_factory.mktemp("loop")
    onnx.save(_converging(request.param), d / "m.onnx")
    convert(str(d / "m.onnx"), d / "out", BACKENDS)
    return request.param, d / "m.onnx", d / "out"


@pytest.mark.node
@pytest.mark.parametrize("backend", ["fallback", "wasm", "webgpu"])
def test_every_iteration_count_in_node(converted: tuple[bool, Path, Path], backend: str) -> None:
    skip_without_node_webgpu(backend)
    trip_input, model, out = converted
    for feeds in _feeds(trip_input):
        check_like_onnxruntime(model, out, feeds, backend,
                               lambda ref: f"{backend}, {ref['scans'].shape[0]} iterations: ")


@pytest.fixture(scope="module")
def page(browser: Any) -> Any:
    """One harness page for the Chromium runs (tests/shared_page.py): a page of its own cost each run 0.6 s more."""
    with shared_page(browser) as p:
        yield p


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_iteration_count_in_chromium(converted: tuple[bool, Path, Path], backend: str, page: Any) -> None:
    trip_input, model, out = converted
    for feeds in _feeds(trip_input):
        check_like_onnxruntime(model, out, feeds, backend,
                               lambda ref: f"{backend} in Chromium, {ref['scans'].shape[0]} iterations: ", page)


def test_a_carried_value_that_changes_shape_is_refused(tmp_path: Path) -> None:
    body = h.make_graph(
        [h.make_node("Concat", ["v", "v"], ["v2"], axis=0), h.make_node("Identity", ["c"], ["c2"])], "body",
        [h.make_tensor_value_info("i", T.INT64, []), h.make_tensor_value_info("c", T.BOOL, []),
         h.make_tensor_value_info("v", T.FLOAT, [2])],
        [h.make_tensor_value_info("c2", T.BOOL, []), h.make_tensor_value_info("v2", T.FLOAT, None)])
    g = h.make_graph([h.make_node("Loop", ["m", "", "x"], ["y"], body=body)], "grows",
                     [h.make_tensor_value_info("x", T.FLOAT, [2]), h.make_tensor_value_info("m", T.INT64, [])],
                     [h.make_tensor_value_info("y", T.FLOAT, None)])
    with pytest.raises(UnsupportedOperatorError, match=r"carried value 0 \('x'\) comes in as float32 \[2\] and leaves"):
        convert(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), tmp_path / "out", ["fallback"])
    assert not (tmp_path / "out").exists()
