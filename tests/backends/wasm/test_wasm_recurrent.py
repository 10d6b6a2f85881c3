"""wasm's own LSTM and GRU kernels (lstm_f32, gru_f32, backends/wasm/recurrent.py) against onnxruntime,
driven from Node: directions, batch > 1, hidden sizes that are not a multiple of 8, peepholes, initial
states, both linear_before_reset forms, the outputs Y_h and Y_c, an unused Y, both thread counts.
Layers they do not cover go through the unrolling (tests/passes/test_decompose_recurrent.py) and must
not reach the kernels.
fp32 tolerance as webdnn.verify.compare: |ours - ref| <= 1e-4 * max(1, |ref|)."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import pytest

from tests.passes.test_decompose_recurrent import _model
from webdnn.browser.node import run_model_node
from webdnn.convert import convert
from webdnn.verify import DEFAULT_TOLERANCE, compare, reference_outputs

pytestmark = pytest.mark.node


def _wasm_calls(out: str) -> list[str]:
    with open(os.path.join(out, "wasm", "descriptor.json")) as f:
        return [k["attrs"]["wasm"]["fn"] for k in json.load(f)["kernels"] if "wasm" in k["attrs"]]


def _run(tmp_path: Any, model: Any, feeds: dict[str, np.ndarray], native: bool, threads: int = 1,
         fn: str = "lstm_f32") -> None:
    out = str(tmp_path / "m")
    convert(model, out, backends=["wasm"])
    assert (fn in _wasm_calls(out)) == native
    ref = reference_outputs(model, feeds)
    got = run_model_node(out, feeds, ("wasm",), backend_options={"wasm": {"threads": threads}}).outputs
    for name, want in ref.items():
        res = compare(name, want, got.get(name), DEFAULT_TOLERANCE)
        assert res.ok, res


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_directions_states_peepholes(tmp_path: Any, direction: str, threads: int) -> None:
    model, feeds = _model("LSTM", direction=direction, h0=True, c0=True, peep=True)
    _run(tmp_path, model, feeds, native=True, threads=threads)


def test_zero_state_no_bias(tmp_path: Any) -> None:
    _run(tmp_path, *_model("LSTM", direction="bidirectional", bias=False), native=True)


def test_only_final_states_read(tmp_path: Any) -> None:
    model, feeds = _model("LSTM", h0=True)
    node = model.graph.node[0]
    node.output[0] = ""  # Y not asked for: the kernel still keeps the steps' h in scratch
    del model.graph.output[0]
    _run(tmp_path, model, feeds, native=True)


def test_wide_hidden_and_full_lens(tmp_path: Any) -> None:
    from onnx import TensorProto, helper

    model, feeds = _model("LSTM", direction="bidirectional", h0=True)
    node = model.graph.node[0]
    model.graph.initializer.append(helper.make_tensor("lens", TensorProto.INT32, [3], [5, 5, 5]))
    while len(node.input) < 5:
        node.input.append("")
    node.input[4] = "lens"  # every sequence full: still native
    _run(tmp_path, model, feeds, native=True)


@pytest.mark.parametrize("attrs", [{"clip": 0.5}, {"input_forget": 1},
                                   {"activations": ["Sigmoid", "Tanh", "Relu"]}])
def test_uncovered_lstms_are_unrolled(tmp_path: Any, attrs: dict[str, Any]) -> None:
    _run(tmp_path, *_model("LSTM", h0=True, **attrs), native=False)


def test_partial_lens_are_unrolled(tmp_path: Any) -> None:
    _run(tmp_path, *_model("LSTM", lens=[5, 2, 4]), native=False)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("lbr", [0, 1])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_gru(tmp_path: Any, direction: str, lbr: int, threads: int) -> None:
    model, feeds = _model("GRU", direction=direction, h0=True, linear_before_reset=lbr)
    _run(tmp_path, model, feeds, native=True, threads=threads, fn="gru_f32")


@pytest.mark.parametrize("lbr", [0, 1])
def test_gru_zero_state_no_bias(tmp_path: Any, lbr: int) -> None:
    _run(tmp_path, *_model("GRU", direction="bidirectional", bias=False, linear_before_reset=lbr), native=True,
         fn="gru_f32")


def test_gru_other_activations_are_unrolled(tmp_path: Any) -> None:
    _run(tmp_path, *_model("GRU", h0=True, activations=["HardSigmoid", "Tanh"]), native=False, fn="gru_f32")
