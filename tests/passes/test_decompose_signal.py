"""DFT and STFT decomposed into MatMuls (ops/nn_signal.py, passes/decompose_signal.py) against
onnxruntime on the same node: real and complex input, inverse, one-sided (rfft) and inverse
one-sided (irfft) with even and odd lengths, dft_length truncating and zero-padding, the axis as an
attribute (opset 17) and as an input (opset 20), STFT with a window or a frame length."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.conftest import F32
from tests.passes.ir_onnx import run_ir
from webdnn.frontend.onnx import from_onnx
from webdnn.passes.pipeline import optimize
from webdnn.verify import reference_outputs

RNG = np.random.default_rng(11)


def _check(nodes: list[Any], shape: list[int], opset: int, inits: dict[str, np.ndarray] | None = None) -> None:
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", F32, shape)],
                          [helper.make_empty_tensor_value_info("y")],
                          [numpy_helper.from_array(v, k) for k, v in (inits or {}).items()])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    feeds = {"x": RNG.standard_normal(shape).astype(np.float32)}
    ir = from_onnx(model)
    optimize(ir)
    assert not {"DFT", "STFT"} & {n.op_type for n in ir.nodes}
    ref = reference_outputs(model, feeds)["y"]
    np.testing.assert_allclose(run_ir(ir, feeds)["y"], ref, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(ref).max())))


@pytest.mark.parametrize(("shape", "attrs", "length"), [
    ([2, 12, 1], {}, None),                         # real, full spectrum
    ([2, 12, 2], {}, None),                         # complex
    ([2, 12, 2], {"inverse": 1}, None),
    ([2, 12, 1], {"onesided": 1}, None),            # rfft
    ([2, 11, 1], {"onesided": 1}, None),            # odd length
    ([2, 7, 2], {"inverse": 1, "onesided": 1}, None),   # irfft to length 12
    ([2, 7, 2], {"inverse": 1, "onesided": 1}, 13),     # irfft to an odd length
    ([2, 12, 1], {}, 8),                            # truncated
    ([2, 12, 2], {}, 16),                           # zero padded
])
def test_dft_opset17(shape: list[int], attrs: dict[str, int], length: int | None) -> None:
    inits = {} if length is None else {"n": np.array(length, np.int64)}
    node = helper.make_node("DFT", ["x", "n"] if length else ["x"], ["y"], axis=1, **attrs)
    _check([node], shape, 17, inits)


@pytest.mark.parametrize("axis", [1, 2, -2])
def test_dft_opset20_axis_input(axis: int) -> None:
    node = helper.make_node("DFT", ["x", "", "a"], ["y"])
    _check([node], [2, 6, 10, 2], 20, {"a": np.array(axis, np.int64)})


@pytest.mark.parametrize(("signal", "window", "onesided"), [(1, True, 1), (1, False, 1), (2, True, 0)])
def test_stft(signal: int, window: bool, onesided: int) -> None:
    inits = {"step": np.array(4, np.int64)}
    if window:
        inits["w"] = np.hanning(16).astype(np.float32)
        ins = ["x", "step", "w"]
    else:
        inits["len"] = np.array(16, np.int64)
        ins = ["x", "step", "", "len"]
    _check([helper.make_node("STFT", ins, ["y"], onesided=onesided)], [2, 64, signal], 17, inits)


def test_float64_computes_in_float32() -> None:
    """A float64 DFT runs as float32 MatMuls (frontend/float_compute.py) behind a float64 interface."""
    g = helper.make_graph([helper.make_node("DFT", ["x"], ["y"], axis=1)], "g",
                          [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [1, 8, 1])],
                          [helper.make_tensor_value_info("y", TensorProto.DOUBLE, [1, 8, 2])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    ir = from_onnx(model)
    optimize(ir)
    assert ir.inputs[0].dtype is not None and ir.inputs[0].dtype.value == "float64"
    assert ir.outputs[0].dtype is not None and ir.outputs[0].dtype.value == "float64"
    assert {n.inputs[0].dtype.value for n in ir.nodes if n.op_type == "MatMul" and n.inputs[0]} == {"float32"}
    x = RNG.standard_normal((1, 8, 1))
    want = np.fft.fft(x[0, :, 0])
    got = run_ir(ir, {"x": x})["y"][0]
    np.testing.assert_allclose(got[:, 0] + 1j * got[:, 1], want, rtol=1e-5, atol=1e-5)
