"""A stacked bidirectional LSTM sequence encoder, as PyTorch's exporter writes `nn.LSTM(bidirectional=True)`:
one ONNX LSTM per layer (weights in ONNX's i o f c gate order, both biases), the [seq, 2, batch, hidden]
output reshaped to [seq, batch, 2·hidden] for the next layer. The benchmark's recurrent model
(2 layers, hidden 256, 100 steps), with PyTorch's uniform(-1/sqrt(hidden), 1/sqrt(hidden)) initialization."""

from __future__ import annotations

import math

import onnx
from onnx import TensorProto

from ._graph_builder import Dim, GraphBuilder


def build_lstm(*, seed: int = 0, opset: int = 17, batch: Dim = 1, steps: int = 100, features: int = 64,
               hidden: int = 256, layers: int = 2, **kw: object) -> onnx.ModelProto:
    gb = GraphBuilder("lstm", seed=seed, opset=opset)
    x = gb.input("input", TensorProto.FLOAT, [steps, batch, features])
    width, bound = features, 1.0 / math.sqrt(hidden)
    for layer in range(layers):
        with gb.scope(f"lstm.l{layer}"):
            w = gb.initializer(gb.uniform([2, 4 * hidden, width], -bound, bound), f"lstm.weight_ih_l{layer}")
            r = gb.initializer(gb.uniform([2, 4 * hidden, hidden], -bound, bound), f"lstm.weight_hh_l{layer}")
            b = gb.initializer(gb.uniform([2, 8 * hidden], -bound, bound), f"lstm.bias_l{layer}")
            y = gb.node("LSTM", [x, w, r, b], 3, direction="bidirectional", hidden_size=hidden)[0]
            y = gb.op("Transpose", y, perm=[0, 2, 1, 3])  # [seq, batch, 2, hidden]
            x = gb.op("Reshape", y, gb.constant([0, 0, -1]))
        width = 2 * hidden
    gb.output(x, "output", TensorProto.FLOAT, [steps, batch, 2 * hidden])
    return gb.make_model()
