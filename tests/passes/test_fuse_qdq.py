"""QDQ patterns folded into integer ops (passes/fuse_qdq.py) and decomposed again where a backend has no
kernel for them (decompose_quant.run_deferred): what is fused, what is left alone, and that the
decomposed graph still computes onnxruntime's result (its optimizations off: the QDQ graph as written),
within one step of the output scale where a requantization lands on a tie."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from tests.backends.wasm.test_wasm_quantized import _qdq_block
from tests.passes.ir_onnx import run_ir
from tests.passes.test_decompose_quant import _ort
from webdnn.frontend.onnx import from_onnx
from webdnn.ir.dtypes import DType
from webdnn.passes import decompose_quant
from webdnn.passes.pipeline import optimize


def test_conv_add_and_max_pool_become_integer_ops() -> None:
    model, _ = _qdq_block()
    g = from_onnx(model)
    optimize(g)
    ops = [n.op_type for n in g.nodes]
    assert ops.count("QLinearConv") == 1 and ops.count("QLinearAdd") == 1, ops
    assert "Conv" not in ops and "MaxPool" in ops
    pool = next(n for n in g.nodes if n.op_type == "MaxPool")
    assert pool.inputs[0] is not None and pool.inputs[0].dtype == DType.UINT8


@pytest.mark.parametrize("act", [None, "relu", "clip"])
def test_decomposed_again_it_matches_onnxruntime(act: str | None) -> None:
    model, feeds = _qdq_block(act)
    g = from_onnx(model)
    optimize(g)
    if act:  # the activation became a Clip of the 8-bit result at the quantized bounds
        clip = next(n for n in g.nodes if n.op_type == "Clip" and n.inputs[0] is not None
                    and n.inputs[0].producer is not None and n.inputs[0].producer.op_type == "QLinearConv")
        assert (clip.attrs["min"], clip.attrs["max"]) == ((60, 255) if act == "relu" else (40, 148))
    # the conv, the add, the 8-bit MaxPool and Clip (widened)
    assert decompose_quant.run_deferred(g) == (4 if act else 3)
    assert not {"QLinearConv", "QLinearAdd"} & {n.op_type for n in g.nodes}
    got, want = run_ir(g, feeds)["y"], _ort(model, feeds)["y"]
    step = float(np.diff(np.unique(want)).min())
    assert np.abs(got - want).max() <= step + 1e-6


def test_a_bias_at_another_scale_is_left_alone() -> None:
    model, _ = _qdq_block()
    bs = next(i for i in model.graph.initializer if i.name == "bs")
    bs.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(bs) * np.float32(2), "bs"))
    g = from_onnx(model)
    optimize(g)
    ops = [n.op_type for n in g.nodes]
    assert "QLinearConv" not in ops and "Conv" in ops and "QLinearAdd" in ops
