from __future__ import annotations

import numpy as np
from onnx import helper

from tests.conftest import F32, make_model
from webdnn.frontend.onnx import from_onnx
from webdnn.passes import eliminate_dead, eliminate_identity, infer_shapes


def test_shape_chain_folds_to_constant_reshape() -> None:
    # Exporter pattern: Shape -> Gather -> Unsqueeze -> Concat -> Reshape.
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "i0"], ["b"], axis=0),
        helper.make_node("Unsqueeze", ["b", "ax0"], ["bu"]),
        helper.make_node("Concat", ["bu", "m1"], ["shape"], axis=0),
        helper.make_node("Reshape", ["x", "shape"], ["y"]),
    ]
    inits = {"i0": np.array(0, np.int64), "ax0": np.array([0], np.int64), "m1": np.array([-1], np.int64)}
    g = from_onnx(make_model(nodes, [("x", F32, [2, 3, 4])], ["y"], inits, opset=13))
    stats = infer_shapes.run(g)
    assert stats["shape_ops_folded"] == 1 and stats["folded"] == 3
    (reshape,) = g.nodes
    assert reshape.op_type == "Reshape" and g.outputs[0].shape == (2, 12)
    assert reshape.attrs["shape"] == [2, 12] and [v for v in reshape.inputs if v is not None] == [g.inputs[0]]


def test_constant_subgraph_is_folded_with_onnx_semantics() -> None:
    nodes = [
        helper.make_node("Range", ["a", "b", "c"], ["r"]),
        helper.make_node("Cast", ["r"], ["rf"], to=1),
        helper.make_node("Add", ["x", "rf"], ["y"]),
    ]
    inits = {"a": np.array(0, np.int64), "b": np.array(4, np.int64), "c": np.array(1, np.int64)}
    g = from_onnx(make_model(nodes, [("x", F32, [4])], ["y"], inits))
    infer_shapes.run(g)
    (add,) = g.nodes
    rf = add.inputs[1]
    assert rf is not None and rf.const is not None
    np.testing.assert_array_equal(rf.const, np.arange(4, dtype=np.float32))


def test_one_hot_with_one_element_depth_folds() -> None:
    # Paddle2ONNX writes OneHot's depth as a one-element tensor [30] (the spec allows it; onnx.reference's
    # OneHot takes a scalar only): a OneHot of constant indices folds all the same (PP-Structure's SLANet).
    nodes = [
        helper.make_node("OneHot", ["i", "depth", "values"], ["oh"]),
        helper.make_node("Add", ["x", "oh"], ["y"]),
    ]
    inits = {"i": np.array([1, 3], np.int64), "depth": np.array([4], np.int32),
             "values": np.array([0, 1], np.float32)}
    g = from_onnx(make_model(nodes, [("x", F32, [2, 4])], ["y"], inits, opset=13))
    infer_shapes.run(g)
    (add,) = g.nodes
    oh = add.inputs[1]
    assert oh is not None and oh.const is not None
    np.testing.assert_array_equal(oh.const, np.eye(4, dtype=np.float32)[[1, 3]])


def test_identity_and_dead_code_removed() -> None:
    nodes = [
        helper.make_node("Identity", ["x"], ["a"]),
        helper.make_node("Dropout", ["a"], ["b"]),
        helper.make_node("Relu", ["b"], ["y"]),
        helper.make_node("Relu", ["x"], ["unused"]),
    ]
    g = from_onnx(make_model(nodes, [("x", F32, [4])], ["y"]))
    infer_shapes.run(g)
    assert eliminate_identity.run(g) == 2
    assert eliminate_dead.run(g) == 1
    (relu,) = g.nodes
    assert relu.inputs[0] is g.inputs[0] and relu.outputs[0] is g.outputs[0]


def test_identity_between_input_and_output_is_kept() -> None:
    g = from_onnx(make_model([helper.make_node("Identity", ["x"], ["y"])], [("x", F32, [4])], ["y"]))
    infer_shapes.run(g)
    assert eliminate_identity.run(g) == 0
    assert g.outputs[0].name == "y"
