"""The wasm backend's transformer kernels (transformer_f32_simd128.c) against onnxruntime, in Node.

LayerNormalization, Gelu/Erf, batched MatMul with two runtime operands (strided operands read
through absorbed Transposes, broadcast batches, fused scale / mask / softmax / output
Transpose, column chunks), general Transposes, the bias Add fused into the constant-weight GEMM,
and the decomposed LayerNorm/GELU of exporters going through the shared passes. Odd sizes
everywhere (tails of the 4-row tiles, 8-wide panels and 4-wide vectors). Same tolerance as
test_wasm_kernels.py; the runtime runs with its default threads (2 here), so the row/task splits
are exercised too.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import pytest
from onnx import TensorProto

from tests.backends.wasm.test_wasm_kernels import RNG, Cases
from tests.conftest import make_model
from webdnn.backends.wasm.transformer import transpose_params
from webdnn.convert import convert

pytestmark = pytest.mark.node


class _Cases(Cases):
    def const_i64(self, v: list[int]) -> str:
        name = f"c{len(self.inits)}"
        self.inits[name] = np.asarray(v, np.int64)
        return name


def _fns(desc: dict[str, Any]) -> list[str]:
    return [k["attrs"]["wasm"]["fn"] for k in desc["kernels"] if "wasm" in k["attrs"]]


def test_layernorm_gelu_erf(tmp_path) -> None:  # type: ignore[no-untyped-def]
    t = Cases()
    for shape, axis, bias in [((3, 7, 37), -1, True), ((2, 5, 6), 1, True), ((4, 1003), -1, False), ((1, 3), -1, True)]:
        inner = shape[axis % len(shape):]
        ins = [t.input(shape), t.const(RNG.standard_normal(inner))]
        if bias:
            ins.append(t.const(RNG.standard_normal(inner)))
        t.output(t.node("LayerNormalization", ins, axis=axis, epsilon=1e-5))
    x = t.input((5, 9))  # scale broadcast from [1], shifted rows (mean far from 0)
    t.output(t.node("LayerNormalization", [t.node("Add", [x, t.const(np.array([30.0]))]), t.const(np.array([1.5]))],
                    epsilon=1e-12))
    for shape in [(7, 13), (1003,), (2, 3, 4)]:
        x = t.input(shape)
        t.feeds[x] = (RNG.standard_normal(shape) * 4).astype(np.float32)  # well into the tails
        t.output(t.node("Gelu", [x]))
        t.output(t.node("Erf", [x]))
    t.output(t.node("Gelu", [t.input((9,))], approximate="tanh"))  # not exact: the JS kernel
    desc = t.run(str(tmp_path), opset=20, expect_js={"Gelu"})
    assert _fns(desc).count("layernorm_f32") == 5 and _fns(desc).count("gelu_f32") == 6


def test_erf_accuracy(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Absolute error of Erf and Gelu <= 1e-6 over [-6, 6] (a finer check than the fp32 tolerance)."""
    from webdnn.browser.node import run_model_node

    t = Cases()
    x = t.input((4001,))
    t.feeds[x] = np.linspace(-6, 6, 4001).astype(np.float32)
    t.output(t.node("Erf", [x]))
    t.output(t.node("Gelu", [x]))
    model = make_model(t.nodes, t.inputs, t.outputs, t.inits, 20)
    out = os.path.join(str(tmp_path), "out")
    convert(model, out, ["wasm"], {x: (4001,)})
    got = run_model_node(out, t.feeds, ["wasm"]).outputs
    xs = t.feeds[x].astype(np.float64)
    erf = np.array([math.erf(v) for v in xs])
    assert np.abs(got[t.outputs[0]] - erf).max() <= 1e-6
    gelu = 0.5 * xs * (1 + np.array([math.erf(v / math.sqrt(2.0)) for v in xs]))
    assert np.abs(got[t.outputs[1]] - gelu).max() <= 2e-6


def _attention(t: _Cases, s: int, heads: int, d: int, masked: bool) -> None:
    """BERT self-attention core as the exporter writes it: head split by Reshape + Transpose, K^T by perm
    [0, 2, 3, 1], scale, additive mask, softmax, attn . V, head merge."""
    h = heads * d
    qkv = [t.node("Reshape", [t.input((1, s, h)), t.const_i64([1, s, heads, d])]) for _ in range(3)]
    q = t.node("Transpose", [qkv[0]], perm=[0, 2, 1, 3])
    k = t.node("Transpose", [qkv[1]], perm=[0, 2, 3, 1])
    v = t.node("Transpose", [qkv[2]], perm=[0, 2, 1, 3])
    scores = t.node("Div", [t.node("MatMul", [q, k]), t.const(np.array(math.sqrt(d)))])
    if masked:
        mask = t.input((1, 1, 1, s))
        t.feeds[mask] = np.where(RNG.random((1, 1, 1, s)) < 0.3, np.finfo(np.float32).min, 0).astype(np.float32)
        scores = t.node("Add", [scores, mask])
    probs = t.node("Softmax", [scores], axis=-1)
    ctx = t.node("Transpose", [t.node("MatMul", [probs, v])], perm=[0, 2, 1, 3])
    t.output(t.node("Reshape", [ctx, t.const_i64([1, s, h])]))


def test_attention_without_transposes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    t = _Cases()
    _attention(t, 13, 3, 5, masked=True)
    _attention(t, 8, 2, 8, masked=False)
    desc = t.run(str(tmp_path))
    ops = [k["op"] for k in desc["kernels"]]
    assert "Transpose" not in ops and "Softmax" not in ops and "Div" not in ops and "Add" not in ops, ops
    assert _fns(desc).count("bmm_f32") == 4


def test_batched_matmul(tmp_path) -> None:  # type: ignore[no-untyped-def]
    t = _Cases()
    mm = lambda a, b: t.node("MatMul", [a, b])  # noqa: E731
    t.output(mm(t.input((2, 3, 5, 7)), t.input((2, 3, 7, 9))))  # row tail 1, panel tail 1
    t.output(mm(t.input((3, 5, 7)), t.input((7, 6))))  # runtime 2-D B, broadcast over the batch
    t.output(mm(t.input((1, 4, 5, 6)), t.input((3, 1, 6, 11))))  # both operands broadcast
    t.output(mm(t.input((6, 19)), t.input((19, 4))))  # plain 2-D, N < 4
    t.output(mm(t.input((2, 9, 700)), t.input((2, 700, 50))))  # K * N too big for one chunk: column chunks
    bt = t.node("Transpose", [t.input((2, 10, 6))], perm=[0, 2, 1])  # B transposed: read in place
    t.output(mm(t.input((2, 5, 6)), bt))
    at = t.node("Transpose", [t.input((4, 3, 2))], perm=[2, 1, 0])  # A transposed (k stride != 1)
    t.output(mm(at, t.input((2, 4, 5))))
    t.output(t.node("Mul", [t.const(np.array(0.125)), mm(t.input((3, 4, 8)), t.input((3, 8, 4)))]))
    t.output(mm(t.input((2, 5, 3)), t.const(RNG.standard_normal((2, 3, 7)))))  # constant batched B
    # softmax after chunked columns is not fused: a separate kernel
    t.output(t.node("Softmax", [mm(t.input((3, 800)), t.input((800, 30)))], axis=-1))
    # a Transpose read by a MatMul and by something else is executed
    tr = t.node("Transpose", [t.input((3, 4, 5))], perm=[0, 2, 1])
    t.output(mm(tr, t.input((3, 4, 2))))
    t.output(tr)
    desc = t.run(str(tmp_path))
    fns = _fns(desc)
    assert "softmax_f32" in fns and fns.count("transpose_any") == 1, fns


def test_transpose(tmp_path) -> None:  # type: ignore[no-untyped-def]
    t = _Cases()
    t.output(t.node("Transpose", [t.input((3, 5, 7))], perm=[2, 0, 1]))
    t.output(t.node("Transpose", [t.input((2, 3, 4, 5, 6))], perm=[4, 1, 3, 0, 2]))
    t.output(t.node("Transpose", [t.input((2, 1, 3, 2, 2, 3))], perm=[5, 4, 3, 2, 1, 0]))
    t.output(t.node("Transpose", [t.input((2, 3, 4, 5))], perm=[0, 1, 3, 2]))  # adjacent axes merge
    i32 = t.node("Cast", [t.input((4, 6))], to=TensorProto.INT32)
    t.output(t.node("Cast", [t.node("Transpose", [i32], perm=[1, 0])], to=TensorProto.FLOAT))
    i64 = t.node("Cast", [t.input((3, 2, 5))], to=TensorProto.INT64)
    t.output(t.node("Cast", [t.node("Transpose", [i64], perm=[2, 1, 0])], to=TensorProto.FLOAT))
    desc = t.run(str(tmp_path), expect_js={"Cast"})
    assert _fns(desc).count("transpose_any") == 6


def test_transpose_params() -> None:
    got = transpose_params((2, 3, 4, 5), [0, 2, 3, 1])
    assert got is not None
    dims, strides = got
    assert dims == [1, 1, 1, 2, 20, 3] and strides == [0, 0, 0, 60, 1, 20]
    assert transpose_params((2, 3), [0, 1]) == ([1, 1, 1, 1, 1, 6], [0, 0, 0, 0, 0, 1])


def test_linear_bias_residual_and_decomposed_patterns(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """nn.Linear (MatMul + Add(bias)) + residual fuse into one gemm call; torch's decomposed LayerNorm and
    erf-GELU reach the wasm kernels through the shared passes."""
    t = _Cases()
    x = t.input((2, 9, 24))
    w1, b1 = t.const(RNG.standard_normal((24, 37)) / 5), t.const(RNG.standard_normal(37))
    h = t.node("Add", [b1, t.node("MatMul", [x, w1])])
    u = t.node("Div", [h, t.const(np.array(math.sqrt(2.0)))])
    g = t.node("Mul", [t.node("Mul", [h, t.node("Add", [t.node("Erf", [u]), t.const(np.array(1.0))])]),
                       t.const(np.array(0.5))])
    w2, b2 = t.const(RNG.standard_normal((37, 24)) / 6), t.const(RNG.standard_normal((1, 24)))
    r = t.node("Add", [t.node("Add", [t.node("MatMul", [g, w2]), b2]), x])
    m = t.node("ReduceMean", [r], axes=[-1])
    d = t.node("Sub", [r, m])
    var = t.node("ReduceMean", [t.node("Pow", [d, t.const(np.array(2.0))])], axes=[-1])
    n = t.node("Div", [d, t.node("Sqrt", [t.node("Add", [var, t.const(np.array(1e-12))])])])
    t.output(t.node("Add", [t.node("Mul", [n, t.const(RNG.standard_normal(24))]), t.const(RNG.standard_normal(24))]))
    desc = t.run(str(tmp_path))
    assert _fns(desc) == ["gemm_f32", "gelu_f32", "gemm_f32", "layernorm_f32"], _fns(desc)
