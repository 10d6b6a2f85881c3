"""BERT encoder shaped like all-MiniLM-L6-v2, written the way the PyTorch exporter emits HF BertModel.

Dynamic [batch, sequence] int64 inputs; position ids as a Slice of a constant range; head split/merge with
Shape -> Gather -> Unsqueeze -> Concat -> Reshape chains; extended attention mask (1 - mask) * min_float;
LayerNorm decomposed (ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, Mul, Add) or as LayerNormalization;
exact GELU through Erf. Outputs last_hidden_state and the sentence-transformers sentence_embedding
(masked mean pooling, then L2 normalisation). Parameters carry the HF state-dict names, so trained weights
(`weights=`) drop in unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import onnx
from onnx import TensorProto

from ._graph_builder import Dim, GraphBuilder

FLOAT_MIN = float(np.finfo(np.float32).min)


class _Bert:
    def __init__(self, gb: GraphBuilder, hidden: int, heads: int, eps: float, layernorm: str) -> None:
        if layernorm not in ("decomposed", "op"):
            raise ValueError(f"layernorm must be 'decomposed' or 'op', not {layernorm!r}")
        if layernorm == "op" and gb.opset < 17:
            raise ValueError("layernorm='op' needs opset >= 17 (LayerNormalization)")
        if hidden % heads:
            raise ValueError(f"hidden {hidden} is not a multiple of heads {heads}")
        self.gb, self.hidden, self.heads, self.eps, self.layernorm = gb, hidden, heads, eps, layernorm

    def linear(self, x: str, fin: int, fout: int, name: str) -> str:
        """nn.Linear on a 3-D input: MatMul with the transposed weight, then Add(bias, .)."""
        gb = self.gb
        w = gb.param(f"{name}.weight", [fout, fin], lambda: gb.normal([fout, fin], fin**-0.5))
        b = gb.param(f"{name}.bias", [fout], lambda: gb.normal([fout], 0.02))
        with gb.scope(name):
            y = gb.op("MatMul", x, gb.initializer(w.T, f"{name}.weight_t"))
            return gb.op("Add", gb.initializer(b, f"{name}.bias"), y)

    def layer_norm(self, x: str, name: str) -> str:
        gb, h = self.gb, self.hidden
        w = gb.initializer(
            gb.param(f"{name}.weight", [h], lambda: gb.normal([h], 0.1, mean=1.0)), f"{name}.weight"
        )
        b = gb.initializer(gb.param(f"{name}.bias", [h], lambda: gb.normal([h], 0.1)), f"{name}.bias")
        with gb.scope(name):
            if self.layernorm == "op":
                return gb.op("LayerNormalization", x, w, b, axis=-1, epsilon=self.eps)
            d = gb.op("Sub", x, gb.reduce("ReduceMean", x, [-1]))
            var = gb.reduce("ReduceMean", gb.op("Pow", d, gb.constant(2.0, np.float32)), [-1])
            std = gb.op("Sqrt", gb.op("Add", var, gb.constant(self.eps, np.float32)))
            return gb.op("Add", gb.op("Mul", gb.op("Div", d, std), w), b)

    def dim(self, x: str, axis: int) -> str:
        """Unsqueeze(Gather(Shape(x), axis)): a [1] int64 tensor holding x.shape[axis]."""
        gb = self.gb
        return gb.unsqueeze(gb.op("Gather", gb.op("Shape", x), gb.constant(axis), axis=0), [0])

    def split_heads(self, x: str, perm: list[int]) -> str:
        gb = self.gb
        shape = gb.concat(
            [
                self.dim(x, 0),
                self.dim(x, 1),
                gb.constant([self.heads]),
                gb.constant([self.hidden // self.heads]),
            ],
            axis=0,
        )
        return gb.op("Transpose", gb.op("Reshape", x, shape), perm=perm)

    def attention(self, h: str, mask: str, p: str) -> str:
        gb, hid = self.gb, self.hidden
        with gb.scope(f"{p}.self"):
            q = self.split_heads(self.linear(h, hid, hid, f"{p}.self.query"), [0, 2, 1, 3])
            k = self.split_heads(self.linear(h, hid, hid, f"{p}.self.key"), [0, 2, 3, 1])
            v = self.split_heads(self.linear(h, hid, hid, f"{p}.self.value"), [0, 2, 1, 3])
            scores = gb.op(
                "Div", gb.op("MatMul", q, k), gb.constant(math.sqrt(hid // self.heads), np.float32)
            )
            probs = gb.op("Softmax", gb.op("Add", scores, mask), axis=-1)
            ctx = gb.op("Transpose", gb.op("MatMul", probs, v), perm=[0, 2, 1, 3])
            shape = gb.concat([self.dim(ctx, 0), self.dim(ctx, 1), gb.constant([hid])], axis=0)
            ctx = gb.op("Reshape", ctx, shape)
        out = self.linear(ctx, hid, hid, f"{p}.output.dense")
        return self.layer_norm(gb.op("Add", out, h), f"{p}.output.LayerNorm")

    def gelu(self, x: str) -> str:
        """x * 0.5 * (1 + erf(x / sqrt(2))) as the exporter writes it."""
        gb = self.gb
        with gb.scope("intermediate_act_fn"):
            e = gb.op("Erf", gb.op("Div", x, gb.constant(math.sqrt(2.0), np.float32)))
            y = gb.op("Mul", x, gb.op("Add", e, gb.constant(1.0, np.float32)))
            return gb.op("Mul", y, gb.constant(0.5, np.float32))

    def ffn(self, h: str, intermediate: int, p: str) -> str:
        y = self.gelu(self.linear(h, self.hidden, intermediate, f"{p}.intermediate.dense"))
        y = self.linear(y, intermediate, self.hidden, f"{p}.output.dense")
        return self.layer_norm(self.gb.op("Add", y, h), f"{p}.output.LayerNorm")


def _embeddings(gb: GraphBuilder, bert: _Bert, vocab: int, max_pos: int, type_vocab: int) -> str:
    h = bert.hidden

    def table(name: str, rows: int) -> str:
        arr = gb.param(f"embeddings.{name}.weight", [rows, h], lambda: gb.normal([rows, h], 0.5))
        return gb.initializer(arr, f"embeddings.{name}.weight")

    with gb.scope("embeddings"):
        words = gb.op("Gather", table("word_embeddings", vocab), "input_ids", axis=0)
        types = gb.op("Gather", table("token_type_embeddings", type_vocab), "token_type_ids", axis=0)
        position_ids = gb.initializer(np.arange(max_pos, dtype=np.int64)[None], "embeddings.position_ids")
        seq = bert.dim("input_ids", 1)
        pos_ids = gb.op("Slice", position_ids, gb.constant([0]), seq, gb.constant([1]), gb.constant([1]))
        pos = gb.op("Gather", table("position_embeddings", max_pos), pos_ids, axis=0)
        x = gb.op("Add", gb.op("Add", words, types), pos)
    return bert.layer_norm(x, "embeddings.LayerNorm")


def _extended_mask(gb: GraphBuilder, mask_value: float) -> str:
    """attention_mask[:, None, None, :] -> float -> (1 - m) * mask_value."""
    m = gb.op("Cast", gb.unsqueeze(gb.unsqueeze("attention_mask", [1]), [2]), to=TensorProto.FLOAT)
    m = gb.op("Sub", gb.constant(1.0, np.float32), m)
    return gb.op("Mul", m, gb.constant(mask_value, np.float32))


def _mean_pool_normalize(gb: GraphBuilder, hidden_state: str) -> str:
    """sentence-transformers Pooling(mean) + Normalize."""
    with gb.scope("pooling"):
        m = gb.op("Expand", gb.unsqueeze("attention_mask", [-1]), gb.op("Shape", hidden_state))
        m = gb.op("Cast", m, to=TensorProto.FLOAT)
        total = gb.reduce("ReduceSum", gb.op("Mul", hidden_state, m), [1], keepdims=False)
        count = gb.clip(gb.reduce("ReduceSum", m, [1], keepdims=False), 1e-9, None)
        mean = gb.op("Div", total, count)
    with gb.scope("normalize"):
        norm = gb.clip(gb.reduce("ReduceL2", mean, [1], keepdims=True), 1e-12, None)
        return gb.op("Div", mean, gb.op("Expand", norm, gb.op("Shape", mean)))


def build_minilm(
    *,
    seed: int = 0,
    opset: int = 17,
    batch: Dim = "batch",
    sequence: Dim = "sequence",
    layers: int = 6,
    hidden: int = 384,
    heads: int = 12,
    intermediate: int = 1536,
    vocab_size: int = 30522,
    max_position: int = 512,
    type_vocab_size: int = 2,
    eps: float = 1e-12,
    layernorm: str = "decomposed",
    mask_value: float = FLOAT_MIN,
    weights: Mapping[str, np.ndarray] | None = None,
    **kw: object,
) -> onnx.ModelProto:
    gb = GraphBuilder("minilm", seed=seed, opset=opset, weights=weights)
    bert = _Bert(gb, hidden, heads, eps, layernorm)
    for name in ("input_ids", "attention_mask", "token_type_ids"):
        gb.input(name, TensorProto.INT64, [batch, sequence])
    x = _embeddings(gb, bert, vocab_size, max_position, type_vocab_size)
    mask = _extended_mask(gb, mask_value)
    for i in range(layers):
        p = f"encoder.layer.{i}"
        with gb.scope(p):
            x = bert.attention(x, mask, f"{p}.attention")
            x = bert.ffn(x, intermediate, p)
    embedding = _mean_pool_normalize(gb, x)
    gb.output(x, "last_hidden_state", TensorProto.FLOAT, [batch, sequence, hidden])
    gb.output(embedding, "sentence_embedding", TensorProto.FLOAT, [batch, hidden])
    return gb.make_model()
