"""LSTM, GRU and RNN unrolled (passes/decompose_recurrent.py), against onnxruntime on the same
ONNX node: the attributes and optional inputs the conformance suite does not reach
(sequence_lens in every direction, linear_before_reset, clip, input_forget, activations with
parameters, layout 1 with initial states)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from onnx import TensorProto, helper

from tests.conftest import F32, make_model
from tests.passes.ir_onnx import run_ir
from webdnn.errors import UnsupportedOperatorError
from webdnn.frontend.onnx import from_onnx
from webdnn.ir.graph import Graph
from webdnn.passes import decompose_recurrent
from webdnn.passes.pipeline import optimize
from webdnn.verify import reference_outputs

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
SEQ, BATCH, WIDTH, HIDDEN = 5, 3, 4, 6


def _model(op: str, *, direction: str = "forward", layout: int = 0, bias: bool = True, lens: list[int] | None = None,
           h0: bool = False, c0: bool = False, peep: bool = False, const_weights: bool = True,
           **attrs: Any) -> tuple[Any, dict[str, np.ndarray]]:
    rng = np.random.default_rng(sum(map(ord, op + direction)) + 7 * bias + 3 * h0 + peep)  # layout 1: layout 0's draws
    dirs = 2 if direction == "bidirectional" else 1
    g = GATES[op]
    xs = [BATCH, SEQ, WIDTH] if layout else [SEQ, BATCH, WIDTH]
    state = [BATCH, dirs, HIDDEN] if layout else [dirs, BATCH, HIDDEN]
    feeds = {"x": rng.standard_normal(xs).astype(np.float32)}
    inits = {"w": (rng.standard_normal((dirs, g * HIDDEN, WIDTH)) * 0.5).astype(np.float32),
             "r": (rng.standard_normal((dirs, g * HIDDEN, HIDDEN)) * 0.5).astype(np.float32)}
    names = ["x", "w", "r"]
    extra = {"b": (rng.standard_normal((dirs, 2 * g * HIDDEN)) * 0.5).astype(np.float32) if bias else None,
             "lens": np.array(lens, np.int32) if lens is not None else None,
             "h0": rng.standard_normal(state).astype(np.float32) if h0 else None,
             "c0": rng.standard_normal(state).astype(np.float32) if c0 else None,
             "p": (rng.standard_normal((dirs, 3 * HIDDEN)) * 0.5).astype(np.float32) if peep else None}
    inputs = [("x", F32, xs)]
    for k, v in extra.items():
        names.append(k if v is not None else "")
        if v is None:
            continue
        if k in ("h0", "c0", "lens"):
            feeds[k] = v
            inputs.append((k, TensorProto.INT32 if k == "lens" else F32, list(v.shape)))
        else:
            inits[k] = v
    while names[-1] == "":
        names.pop()
    if not const_weights:
        for k in ("w", "r"):
            feeds[k] = inits.pop(k)
            inputs.append((k, F32, list(feeds[k].shape)))
    outs = ["y", "yh", "yc"][: 3 if op == "LSTM" else 2]
    node = helper.make_node(op, names, outs, direction=direction, hidden_size=HIDDEN, layout=layout, **attrs)
    return make_model([node], inputs, outs, inits, opset=14), feeds


def _reference(op: str, kw: dict[str, Any], model: Any, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """onnxruntime's outputs; for layout 1 (which onnxruntime refuses for LSTM), the same layer at
    layout 0 (the same weights) on the inputs transposed, outputs transposed back, as the spec defines it."""
    if not kw.get("layout"):
        return reference_outputs(model, feeds)
    m0, _ = _model(op, **{**kw, "layout": 0})
    swap = {"x": (1, 0, 2), "h0": (1, 0, 2), "c0": (1, 0, 2)}
    out = reference_outputs(m0, {k: v.transpose(swap[k]) if k in swap else v for k, v in feeds.items()})
    return {k: v.transpose((2, 0, 1, 3) if k == "y" else (1, 0, 2)) for k, v in out.items()}


def _unrolled(model: Any, shapes: dict[str, Any]) -> Graph:
    """The model's graph optimized and its recurrent layers unrolled (the backends' pass)."""
    g = from_onnx(model, shapes)
    optimize(g)
    assert {n.op_type for n in g.nodes} & {"LSTM", "GRU", "RNN"}  # left to the backends
    assert decompose_recurrent.run(g) == 1
    assert not {"LSTM", "GRU", "RNN"} & {n.op_type for n in g.nodes}
    return g


def _check(op: str, **kw: Any) -> None:
    model, feeds = _model(op, **kw)
    ref = _reference(op, kw, model, feeds)
    g = _unrolled(model, {k: v.shape for k, v in feeds.items()})
    got = run_ir(g, feeds)
    for name, want in ref.items():  # fp32 tolerance: 1e-4 · max(1, |ref|)
        np.testing.assert_allclose(got[name], want, rtol=1e-4, atol=1e-4, err_msg=name)


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_sequence_lens(op: str, direction: str) -> None:
    _check(op, direction=direction, lens=[5, 2, 3], h0=True, c0=op == "LSTM")


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
def test_sequence_lens_zero_state_layout1(op: str) -> None:
    _check(op, direction="bidirectional", layout=1, lens=[1, 5, 4])


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
def test_layout1_initial_states(op: str) -> None:
    _check(op, direction="bidirectional", layout=1, h0=True, c0=op == "LSTM")


@pytest.mark.parametrize("h0", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_gru_linear_before_reset(h0: bool, bias: bool) -> None:
    _check("GRU", direction="bidirectional", bias=bias, h0=h0, linear_before_reset=1)


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
def test_clip(op: str) -> None:
    _check(op, h0=True, clip=0.7)


def test_lstm_input_forget_peepholes() -> None:
    _check("LSTM", direction="bidirectional", h0=True, c0=True, peep=True, input_forget=1)


def test_lstm_weights_as_inputs() -> None:
    _check("LSTM", h0=True, c0=True, const_weights=False)


def test_full_constant_lens_need_no_masks() -> None:
    model, feeds = _model("LSTM", lens=None)
    model.graph.initializer.append(helper.make_tensor("lens", TensorProto.INT32, [BATCH], [SEQ] * BATCH))
    node = model.graph.node[0]
    while len(node.input) < 5:
        node.input.append("")
    node.input[4] = "lens"
    g = _unrolled(model, {"x": feeds["x"].shape})
    assert "Where" not in {n.op_type for n in g.nodes}
    ref = reference_outputs(model, feeds)
    np.testing.assert_allclose(run_ir(g, feeds)["y"], ref["y"], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("op", "acts", "alpha", "beta"), [
    ("RNN", ["LeakyRelu"], [0.2], []),
    ("RNN", ["Affine"], [0.5], [0.25]),
    ("RNN", ["ScaledTanh"], [1.5], [0.5]),
    ("GRU", ["HardSigmoid", "Softsign"], [0.3], [0.4]),
    ("GRU", ["ThresholdedRelu", "Elu"], [0.1, 0.9], []),
    ("LSTM", ["HardSigmoid", "Tanh", "Softplus"], [], []),
    ("LSTM", ["Sigmoid", "LeakyRelu", "Relu"], [0.05], []),
])
def test_activations(op: str, acts: list[str], alpha: list[float], beta: list[float]) -> None:
    attrs: dict[str, Any] = {"activations": acts}
    if alpha:
        attrs["activation_alpha"] = alpha
    if beta:
        attrs["activation_beta"] = beta
    _check(op, h0=True, **attrs)


def _dynamic(model: Any, dims: list[int | str]) -> Any:
    """The model with input x's dims named where `dims` gives a name."""
    for d, v in zip(model.graph.input[0].type.tensor_type.shape.dim, dims, strict=True):
        if isinstance(v, str):
            d.dim_param = v
    return model


def test_symbolic_sequence_length_is_refused() -> None:
    model = _dynamic(_model("LSTM")[0], ["seq", BATCH, WIDTH])
    with pytest.raises(UnsupportedOperatorError, match="sequence length that varies.*--input-shape"):
        optimize(from_onnx(model, {"x": ["seq<=64", BATCH, WIDTH]}))  # the shape rule refuses it


def test_symbolic_batch_is_kept() -> None:
    model = _dynamic(_model("GRU", direction="bidirectional")[0], [SEQ, "batch", WIDTH])
    g = _unrolled(model, {"x": [SEQ, "batch<=8", WIDTH]})
    assert str(g.outputs[0].shape[2]) == "batch"


def test_unread_outputs_are_not_computed() -> None:
    model, feeds = _model("LSTM", direction="bidirectional", h0=True)
    model.graph.node[0].output[0] = ""  # Y and Y_c not read: no per-step output stacking
    model.graph.node[0].output[2] = ""
    del model.graph.output[2]
    del model.graph.output[0]
    g = _unrolled(model, {k: v.shape for k, v in feeds.items()})
    assert "Concat" in {n.op_type for n in g.nodes}  # Y_h's two directions
    assert sum(n.op_type == "Unsqueeze" for n in g.nodes) == 2
    ref = reference_outputs(model, feeds)
    np.testing.assert_allclose(run_ir(g, feeds)["yh"], ref["yh"], rtol=1e-4, atol=1e-4)
