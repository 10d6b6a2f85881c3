from __future__ import annotations

import numpy as np
from onnx import helper

from tests.conftest import F32, make_model
from webdnn.frontend.onnx import from_onnx
from webdnn.passes import fuse_activation, infer_shapes


def _model(act: helper.NodeProto, extra_inits: dict | None = None, opset: int = 17):  # type: ignore[no-untyped-def,type-arg]
    w = np.ones((2, 3, 1, 1), np.float32)
    return make_model([helper.make_node("Conv", ["x", "w"], ["c"]), act], [("x", F32, [1, 3, 4, 4])], ["y"],
                      {"w": w, **(extra_inits or {})}, opset)


def test_fuses_each_activation_kind() -> None:
    cases = [
        (helper.make_node("Relu", ["c"], ["y"]), {"type": "Relu"}),
        (helper.make_node("LeakyRelu", ["c"], ["y"], alpha=0.2), {"type": "LeakyRelu", "alpha": 0.2}),
        (helper.make_node("Sigmoid", ["c"], ["y"]), {"type": "Sigmoid"}),
        (helper.make_node("HardSigmoid", ["c"], ["y"]), {"type": "HardSigmoid", "alpha": 0.2, "beta": 0.5}),
        (helper.make_node("HardSwish", ["c"], ["y"]), {"type": "HardSwish"}),
        (helper.make_node("Tanh", ["c"], ["y"]), {"type": "Tanh"}),
    ]
    for act, spec in cases:
        g = from_onnx(_model(act))
        infer_shapes.run(g)
        assert fuse_activation.run(g) == 1
        (conv,) = g.nodes
        got = conv.attrs["activation"]
        assert got["type"] == spec["type"]
        for k, v in spec.items():
            assert got[k] == v if isinstance(v, str) else abs(got[k] - v) < 1e-6
        assert conv.outputs[0].name == "y"


def test_fuses_clip_with_constant_bounds_as_inputs() -> None:
    act = helper.make_node("Clip", ["c", "lo", "hi"], ["y"])
    g = from_onnx(_model(act, {"lo": np.array(0, np.float32), "hi": np.array(6, np.float32)}, opset=13))
    infer_shapes.run(g)
    assert fuse_activation.run(g) == 1
    assert g.nodes[0].attrs["activation"] == {"type": "Clip", "min": 0.0, "max": 6.0}


def test_no_fusion_when_output_has_other_users() -> None:
    m = _model(helper.make_node("Relu", ["c"], ["y"]))
    m.graph.node.append(helper.make_node("Add", ["c", "y"], ["z"]))
    m.graph.output.append(helper.make_empty_tensor_value_info("z"))
    g = from_onnx(m)
    infer_shapes.run(g)
    assert fuse_activation.run(g) == 0
