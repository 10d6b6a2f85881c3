from __future__ import annotations

import numpy as np
from onnx import helper

from tests.conftest import F32, make_model
from webdnn.frontend.onnx import from_onnx
from webdnn.passes import fold_batchnorm, infer_shapes
from webdnn.verify import reference_outputs


def _conv_bn(with_bias: bool) -> tuple:  # type: ignore[type-arg]
    rng = np.random.default_rng(0)
    inits = {
        "w": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
        "s": rng.uniform(0.5, 1.5, 4).astype(np.float32),
        "bb": rng.standard_normal(4).astype(np.float32),
        "m": rng.standard_normal(4).astype(np.float32) * 0.1,
        "v": rng.uniform(0.5, 1.5, 4).astype(np.float32),
    }
    conv_in = ["x", "w"]
    if with_bias:
        inits["b"] = rng.standard_normal(4).astype(np.float32)
        conv_in.append("b")
    m = make_model(
        [
            helper.make_node("Conv", conv_in, ["c"], pads=[1, 1, 1, 1]),
            helper.make_node("BatchNormalization", ["c", "s", "bb", "m", "v"], ["y"], epsilon=1e-3),
        ],
        [("x", F32, [1, 3, 5, 5])],
        ["y"],
        inits,
    )
    return m, rng.standard_normal((1, 3, 5, 5)).astype(np.float32)


def test_conv_bn_folds_into_conv_exactly() -> None:
    for with_bias in (False, True):
        m, x = _conv_bn(with_bias)
        g = from_onnx(m)
        infer_shapes.run(g)
        assert fold_batchnorm.run(g) == 1
        (conv,) = g.nodes
        assert conv.op_type == "Conv" and conv.outputs[0].name == "y"
        w, b = conv.inputs[1], conv.inputs[2]
        assert w is not None and b is not None and w.const is not None and b.const is not None
        folded = make_model(
            [helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1])],
            [("x", F32, [1, 3, 5, 5])], ["y"], {"w": w.const, "b": b.const},
        )
        want = reference_outputs(m, {"x": x})["y"]
        got = reference_outputs(folded, {"x": x})["y"]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_gemm_bn_folds() -> None:
    rng = np.random.default_rng(1)
    inits = {
        "w": rng.standard_normal((6, 5)).astype(np.float32),
        "c": rng.standard_normal(6).astype(np.float32),
        "s": rng.uniform(0.5, 1.5, 6).astype(np.float32),
        "bb": rng.standard_normal(6).astype(np.float32),
        "m": rng.standard_normal(6).astype(np.float32),
        "v": rng.uniform(0.5, 1.5, 6).astype(np.float32),
    }
    m = make_model(
        [
            helper.make_node("Gemm", ["x", "w", "c"], ["g"], transB=1, beta=0.5),
            helper.make_node("BatchNormalization", ["g", "s", "bb", "m", "v"], ["y"]),
        ],
        [("x", F32, [2, 5])], ["y"], inits,
    )
    g = from_onnx(m)
    infer_shapes.run(g)
    assert fold_batchnorm.run(g) == 1
    (gemm,) = g.nodes
    x = rng.standard_normal((2, 5)).astype(np.float32)
    b, c = gemm.inputs[1], gemm.inputs[2]
    assert b is not None and c is not None
    folded = make_model([helper.make_node("Gemm", ["x", "w", "c"], ["y"], transB=1, beta=gemm.attrs["beta"])],
                        [("x", F32, [2, 5])], ["y"], {"w": b.const, "c": c.const})
    np.testing.assert_allclose(reference_outputs(folded, {"x": x})["y"], reference_outputs(m, {"x": x})["y"],
                               rtol=1e-5, atol=1e-5)


def test_bn_after_shared_conv_output_is_kept() -> None:
    m, _ = _conv_bn(True)
    m.graph.output.append(helper.make_empty_tensor_value_info("c"))  # conv output also a graph output
    g = from_onnx(m)
    infer_shapes.run(g)
    assert fold_batchnorm.run(g) == 0
    assert [n.op_type for n in g.nodes] == ["Conv", "BatchNormalization"]
