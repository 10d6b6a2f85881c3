"""fuse_pad: a zero Pad of the spatial axes becomes the Conv's own padding; anything else stays a Pad."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from tests.conftest import F32, make_model
from tests.passes.ir_onnx import run_ir
from webdnn.frontend.onnx import from_onnx
from webdnn.passes import fuse_pad, infer_shapes
from webdnn.verify import reference_outputs

X = np.random.default_rng(0).standard_normal((1, 3, 6, 7)).astype(np.float32)
W = np.random.default_rng(1).standard_normal((4, 3, 3, 3)).astype(np.float32)


def _model(pads: list[int], conv_pads: list[int], mode: str = "constant", value: float = 0.0,
           extra_reader: bool = False, group_dw: bool = False) -> object:
    w = np.random.default_rng(2).standard_normal((3, 1, 3, 3)).astype(np.float32) if group_dw else W
    nodes = [helper.make_node("Pad", ["x", "pads", "value"], ["p"], mode=mode),
             helper.make_node("Conv", ["p", "w"], ["y"], pads=conv_pads, **({"group": 3} if group_dw else {}))]
    outputs = ["y"]
    if extra_reader:
        nodes.append(helper.make_node("Relu", ["p"], ["r"]))
        outputs.append("r")
    return make_model(nodes, [("x", F32, list(X.shape))], outputs,
                      {"w": w, "pads": np.asarray(pads, np.int64), "value": np.asarray(value, np.float32)})


@pytest.mark.parametrize(("pads", "conv_pads", "dw"), [
    ([0, 0, 1, 1, 0, 0, 1, 1], [0, 0, 0, 0], False),  # ZeroPadding2D(1) + valid conv
    ([0, 0, 0, 1, 0, 0, 1, 0], [1, 0, 1, 1], False),  # asymmetric (TF's SAME at stride 2), added to the conv's own
    ([0, 0, 2, 0, 0, 0, 0, 3], [0, 0, 0, 0], True),  # a depthwise conv
])
def test_zero_pad_folds_into_the_conv(pads: list[int], conv_pads: list[int], dw: bool) -> None:
    m = _model(pads, conv_pads, group_dw=dw)
    g = from_onnx(m)
    infer_shapes.run(g)
    assert fuse_pad.run(g) == 1
    (conv,) = g.nodes
    assert conv.op_type == "Conv" and conv.inputs[0] is g.inputs[0]
    want = reference_outputs(m, {"x": X})["y"]
    np.testing.assert_allclose(run_ir(g, {"x": X})["y"], want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("pads", "kw"), [
    ([0, 0, 1, 1, 0, 0, 1, 1], {"value": 1.0}),  # not zero
    ([0, 0, 1, 1, 0, 0, 1, 1], {"mode": "reflect"}),
    ([0, 1, 1, 1, 0, 0, 1, 1], {}),  # pads the channels
    ([0, 0, -1, 1, 0, 0, 1, 1], {}),  # crops
    ([0, 0, 1, 1, 0, 0, 1, 1], {"extra_reader": True}),  # the padded tensor is also read as it is
])
def test_other_pads_stay(pads: list[int], kw: dict[str, object]) -> None:
    if pads[1]:  # a conv reading 4 channels
        m = make_model([helper.make_node("Pad", ["x", "pads", "value"], ["p"]),
                        helper.make_node("Conv", ["p", "w"], ["y"])], [("x", F32, list(X.shape))], ["y"],
                       {"w": np.zeros((4, 4, 3, 3), np.float32), "pads": np.asarray(pads, np.int64),
                        "value": np.asarray(0.0, np.float32)})
    else:
        m = _model(pads, [0, 0, 0, 0], **kw)  # type: ignore[arg-type]
    g = from_onnx(m)
    infer_shapes.run(g)
    assert fuse_pad.run(g) == 0
    assert [n.op_type for n in g.nodes][:2] == ["Pad", "Conv"]


def _pool_model(op: str, pads: list[int], pool_pads: list[int], relu: bool = True, **attrs: object) -> object:
    nodes = [helper.make_node("Relu" if relu else "Neg", ["x"], ["r"]),
             helper.make_node("Pad", ["r", "pads", "value"], ["p"]),
             helper.make_node(op, ["p"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=pool_pads, **attrs)]
    return make_model(nodes, [("x", F32, list(X.shape))], ["y"],
                      {"pads": np.asarray(pads, np.int64), "value": np.asarray(0.0, np.float32)})


@pytest.mark.parametrize(("op", "pads", "pool_pads", "attrs", "folds"), [
    ("MaxPool", [0, 0, 1, 1, 0, 0, 1, 1], [0, 0, 0, 0], {}, True),  # ResNet's stem from Keras / TF.js
    ("MaxPool", [0, 0, 2, 0, 0, 0, 1, 1], [1, 0, 0, 0], {}, False),  # a window could be only padding
    ("MaxPool", [0, 0, 1, 1, 0, 0, 1, 1], [0, 0, 0, 0], {"ceil_mode": 1}, False),
    ("AveragePool", [0, 0, 1, 1, 0, 0, 1, 1], [0, 0, 0, 0], {}, True),  # then it counts the padding
    ("AveragePool", [0, 0, 1, 1, 0, 0, 1, 1], [1, 1, 1, 1], {"count_include_pad": 1}, True),
    ("AveragePool", [0, 0, 1, 1, 0, 0, 1, 1], [1, 1, 1, 1], {}, False),  # its own padding is not counted
])
def test_zero_pad_into_pools(op: str, pads: list[int], pool_pads: list[int], attrs: dict[str, object],
                             folds: bool) -> None:
    m = _pool_model(op, pads, pool_pads, **attrs)
    g = from_onnx(m)
    infer_shapes.run(g)
    assert fuse_pad.run(g) == int(folds)
    want = reference_outputs(m, {"x": X})["y"]
    np.testing.assert_allclose(run_ir(g, {"x": X})["y"], want, rtol=1e-5, atol=1e-6)


def test_maxpool_of_a_possibly_negative_input_keeps_its_pad() -> None:
    g = from_onnx(_pool_model("MaxPool", [0, 0, 1, 1, 0, 0, 1, 1], [0, 0, 0, 0], relu=False))
    infer_shapes.run(g)
    assert fuse_pad.run(g) == 0
