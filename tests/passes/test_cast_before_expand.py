"""cast_before_expand: Cast(Expand(x)) becomes Expand(Cast(x)) (sentence-transformers' mean pooling), same values."""

from __future__ import annotations

import numpy as np
from onnx import helper

from tests.conftest import F32, I64, make_model
from tests.passes.ir_onnx import run_ir
from webdnn.frontend.onnx import from_onnx
from webdnn.passes import cast_before_expand, infer_shapes
from webdnn.verify import reference_outputs

MASK = np.array([[1, 1, 1, 0, 0]], np.int64)
EMB = np.random.default_rng(0).standard_normal((1, 5, 6)).astype(np.float32)


def _pooling(extra_reader: bool = False) -> object:
    """sum(emb * mask, 1) / sum(mask, 1) with the mask expanded to emb's shape and then cast, as exported."""
    nodes = [helper.make_node("Unsqueeze", ["mask", "axis"], ["m1"]),
             helper.make_node("Shape", ["emb"], ["shape"]),
             helper.make_node("Expand", ["m1", "shape"], ["me"]),
             helper.make_node("Cast", ["me"], ["mf"], to=F32),
             helper.make_node("Mul", ["emb", "mf"], ["prod"]),
             helper.make_node("ReduceSum", ["prod", "axis1"], ["num"], keepdims=0),
             helper.make_node("ReduceSum", ["mf", "axis1"], ["den"], keepdims=0),
             helper.make_node("Div", ["num", "den"], ["y"])]
    outputs = ["y"]
    if extra_reader:
        nodes.append(helper.make_node("Neg", ["me"], ["neg"]))
        outputs.append("neg")
    return make_model(nodes, [("mask", I64, [1, 5]), ("emb", F32, [1, 5, 6])], outputs,
                      {"axis": np.array([-1], np.int64), "axis1": np.array([1], np.int64)})


def test_the_cast_moves_to_the_small_tensor() -> None:
    m = _pooling()
    g = from_onnx(m)
    infer_shapes.run(g)
    assert cast_before_expand.run(g) == 1
    (cast,) = (n for n in g.nodes if n.op_type == "Cast")
    (expand,) = (n for n in g.nodes if n.op_type == "Expand")
    assert cast.outputs[0].shape == (1, 5, 1) and expand.inputs[0] is cast.outputs[0]
    assert g.nodes.index(cast) < g.nodes.index(expand)
    feeds = {"mask": MASK, "emb": EMB}
    np.testing.assert_array_equal(run_ir(g, feeds)["y"], reference_outputs(m, feeds)["y"])


def test_an_expanded_tensor_read_elsewhere_stays() -> None:
    g = from_onnx(_pooling(extra_reader=True))
    infer_shapes.run(g)
    assert cast_before_expand.run(g) == 0
