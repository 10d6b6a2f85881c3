"""The wasm backend's kernels against onnxruntime, driven from Node.

Each test builds one ONNX model holding many independent cases (one graph input and one
output per case), converts it for `wasm` and runs it once with the built runtime: odd
channel counts (tails of the 8-wide panels, 4-wide vectors and 4-row tiles), strides,
asymmetric pads, dilations, groups, depthwise, fused activations and residual adds.
fp32 tolerance as webdnn.verify.compare: |ours - ref| <= 1e-4 * max(1, |ref|).
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import helper

from tests.conftest import F32, make_model
from webdnn.backends.wasm.lower import _collapse, pack_gemm_b
from webdnn.convert import convert
from webdnn.verify import DEFAULT_TOLERANCE, compare, reference_outputs

pytestmark = pytest.mark.node

RNG = np.random.default_rng(7)


class Cases:
    """Accumulates independent cases into one model."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inputs: list[tuple[str, int, list[int | str]]] = []
        self.outputs: list[str] = []
        self.inits: dict[str, np.ndarray] = {}
        self.feeds: dict[str, np.ndarray] = {}
        self.n = 0

    def input(self, shape: tuple[int, ...]) -> str:
        name = f"x{len(self.inputs)}"
        self.inputs.append((name, F32, list(shape)))
        self.feeds[name] = RNG.standard_normal(shape).astype(np.float32)
        return name

    def const(self, data: np.ndarray) -> str:
        name = f"c{len(self.inits)}"
        self.inits[name] = data.astype(np.float32)
        return name

    def node(self, op: str, ins: list[str], out: str | None = None, **attrs: Any) -> str:
        self.n += 1
        out = out or f"t{self.n}"
        self.nodes.append(helper.make_node(op, ins, [out], name=f"{op}_{self.n}", **attrs))
        return out

    def output(self, name: str) -> None:
        self.outputs.append(name)

    def conv(self, x: str, c: int, m: int, k: tuple[int, int], group: int = 1, bias: bool = True, **attrs: Any) -> str:
        w = self.const(RNG.standard_normal((m, c // group, *k)) / np.sqrt(c // group * k[0] * k[1]))
        ins = [x, w] + ([self.const(RNG.standard_normal(m))] if bias else [])
        return self.node("Conv", ins, group=group, **attrs)

    def run(self, tmp: str, expect_js: set[str] | None = frozenset(), opset: int = 17,
            tol: float = DEFAULT_TOLERANCE) -> dict[str, Any]:
        """Convert for wasm, run in Node, compare every output with onnxruntime's at `tol`, and
        check which ops ran as JS kernels (`expect_js`; None: don't check). Returns the descriptor."""
        from webdnn.browser.node import run_model_node

        model = make_model(self.nodes, self.inputs, self.outputs, self.inits, opset)
        out = os.path.join(tmp, "out")
        convert(model, out, ["wasm"], {k: v.shape for k, v in self.feeds.items()})
        ref = reference_outputs(model, self.feeds)
        got = run_model_node(out, self.feeds, ["wasm"]).outputs
        bad = []
        for name, want in ref.items():
            c = compare(name, want, got.get(name), tol=tol)
            if not c.ok:
                bad.append(f"{name}: max abs err {c.max_abs_err:.3g} {c.detail}")
        assert not bad, "; ".join(bad)
        with open(os.path.join(out, "wasm", "descriptor.json")) as f:
            desc: dict[str, Any] = json.load(f)
        if expect_js is not None:
            assert set(desc["jsKernels"]) == set(expect_js), desc["jsKernels"]
        return desc


def test_conv(tmp_path) -> None:  # type: ignore[no-untyped-def]
    t = Cases()
    # (input NCHW, out channels, kernel, attrs)
    specs: list[tuple[tuple[int, ...], int, tuple[int, int], dict[str, Any]]] = [
        ((1, 5, 7, 7), 11, (1, 1), {}),  # pointwise: GEMM straight on the input, column tail 3
        ((2, 3, 9, 10), 8, (3, 3), {"pads": [1, 1, 1, 1]}),  # batch 2, exactly one panel
        ((1, 6, 11, 9), 17, (3, 3), {"strides": [2, 2], "pads": [0, 1, 1, 0]}),  # asymmetric pads
        ((1, 4, 10, 10), 9, (3, 3), {"dilations": [2, 2], "pads": [2, 2, 2, 2]}),
        ((1, 6, 8, 7), 10, (3, 3), {"group": 2, "pads": [1, 1, 1, 1]}),  # grouped, 5 outputs per group
        ((1, 13, 9, 9), 13, (3, 3), {"group": 13, "strides": [2, 2], "pads": [1, 1, 1, 1]}),  # depthwise, 8+4+1
        ((1, 24, 7, 7), 24, (5, 5), {"group": 24, "pads": [2, 2, 2, 2], "dilations": [1, 2]}),  # depthwise
        ((1, 4, 6, 6), 8, (3, 3), {"group": 4, "pads": [1, 1, 1, 1]}),  # channel multiplier 2
        ((1, 7, 9, 9), 5, (1, 1), {"strides": [2, 2]}),  # 1x1 strided: im2col path
        ((1, 3, 12, 10), 20, (1, 7), {"pads": [0, 3, 0, 3]}),
        ((1, 3, 12, 10), 6, (5, 5), {"bias": False}),
        ((1, 1, 5, 5), 1, (3, 3), {}),  # single channel
        ((1, 300, 3, 3), 9, (3, 3), {"pads": [1, 1, 1, 1]}),  # K = 2700 > one A block row budget
    ]
    for shape, m, k, attrs in specs:
        attrs = dict(attrs)
        bias = attrs.pop("bias", True)
        t.output(t.conv(t.input(shape), shape[1], m, k, bias=bias, **attrs))
    t.run(str(tmp_path))


def test_conv_fused_epilogues(tmp_path) -> None:  # type: ignore[no-untyped-def]
    t = Cases()
    acts: list[tuple[str, dict[str, Any], list[str]]] = [
        ("Relu", {}, []), ("LeakyRelu", {"alpha": 0.1}, []), ("Sigmoid", {}, []), ("Tanh", {}, []),
        ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}, []), ("HardSwish", {}, []),
    ]
    for i, (op, attrs, _) in enumerate(acts):
        x = t.input((1, 5, 6, 7))
        y = t.conv(x, 5, 6 + i, (3, 3), group=1, pads=[1, 1, 1, 1])
        t.output(t.node(op, [y], **attrs))
    # Clip (ReLU6) with min/max as inputs (opset 11+), on a depthwise conv
    x = t.input((1, 9, 8, 8))
    y = t.conv(x, 9, 9, (3, 3), group=9, pads=[1, 1, 1, 1])
    t.output(t.node("Clip", [y, t.const(np.array(0.0)), t.const(np.array(6.0))]))
    # residual: conv + Add(other) + Relu, where `other` is another conv's output (NHWC) ...
    x = t.input((1, 8, 7, 7))
    a = t.conv(x, 8, 12, (1, 1))
    b = t.conv(x, 8, 12, (3, 3), pads=[1, 1, 1, 1])
    t.output(t.node("Relu", [t.node("Add", [b, a])]))
    # ... or a graph input (NCHW, converted), with no activation after the add
    x = t.input((1, 3, 5, 5))
    r = t.input((1, 10, 5, 5))
    t.output(t.node("Add", [r, t.conv(x, 3, 10, (3, 3), pads=[1, 1, 1, 1])]))
    # a conv output that is also a graph output and feeds another conv
    x = t.input((1, 4, 6, 6))
    y = t.conv(x, 4, 4, (3, 3), pads=[1, 1, 1, 1])
    t.output(y)
    t.output(t.conv(y, 4, 3, (1, 1)))
    desc = t.run(str(tmp_path))
    ops = [k["op"] for k in desc["kernels"]]
    assert "Add" not in ops and "Relu" not in ops and "Clip" not in ops, ops  # all fused into the convs


def test_pool(tmp_path) -> None:  # type: ignore[no-untyped-def]
    t = Cases()
    specs: list[tuple[str, tuple[int, ...], dict[str, Any]]] = [
        ("MaxPool", (1, 5, 9, 9), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
        ("MaxPool", (2, 6, 7, 7), {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1}),
        ("MaxPool", (1, 3, 8, 9), {"kernel_shape": [2, 3], "dilations": [2, 1]}),
        ("AveragePool", (1, 7, 9, 8), {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 0}),
        ("AveragePool", (1, 7, 9, 8), {"kernel_shape": [3, 3], "pads": [1, 0, 1, 2], "count_include_pad": 1}),
        ("AveragePool", (1, 4, 7, 7), {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
        ("GlobalAveragePool", (2, 9, 5, 3), {}),
        ("GlobalMaxPool", (1, 13, 4, 4), {}),
    ]
    for op, shape, attrs in specs:
        t.output(t.node(op, [t.input(shape)], **attrs))
    # pools on NHWC values from a conv, and a GlobalAveragePool -> Flatten (a zero-copy layout view)
    x = t.conv(t.input((1, 3, 10, 10)), 3, 10, (3, 3), pads=[1, 1, 1, 1])
    t.output(t.node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2]))
    t.output(t.node("Flatten", [t.node("GlobalAveragePool", [x])]))
    t.run(str(tmp_path))


def test_elementwise_concat_softmax(tmp_path) -> None:  # type: ignore[no-untyped-def]
    t = Cases()
    # NHWC: two conv outputs, a per-channel constant, a scalar, a concat on channels
    x = t.input((1, 3, 6, 5))
    a = t.conv(x, 3, 7, (3, 3), pads=[1, 1, 1, 1])
    b = t.conv(x, 3, 7, (1, 1))
    t.output(t.node("Add", [a, b]))
    t.output(t.node("Mul", [a, t.const(RNG.standard_normal((7, 1, 1)))]))
    t.output(t.node("Sub", [t.const(np.array(0.5)), b]))
    t.output(t.node("Div", [a, t.const(RNG.uniform(1, 2, (1, 7, 1, 5)))]))
    t.output(t.node("Concat", [a, b, t.conv(x, 3, 5, (1, 1))], axis=1))
    t.output(t.node("Sigmoid", [b]))
    # NCHW / other ranks: broadcasting of non-constants, 3-D, row vectors
    t.output(t.node("Add", [t.input((2, 5, 7)), t.input((7,))]))
    t.output(t.node("Mul", [t.input((3, 1, 5)), t.input((1, 4, 1))]))
    t.output(t.node("Div", [t.input((2, 3, 4, 5)), t.input((1, 3, 1, 1))]))
    t.output(t.node("Sub", [t.input((6, 13)), t.input((6, 1))]))
    t.output(t.node("Relu", [t.input((3, 11))]))
    t.output(t.node("Concat", [t.input((2, 3, 4)), t.input((2, 5, 4))], axis=1))
    t.output(t.node("Concat", [t.input((2, 3, 4)), t.input((2, 3, 1))], axis=-1))
    t.output(t.node("Softmax", [t.input((4, 13))], axis=-1))
    t.output(t.node("Softmax", [t.input((2, 3, 3))], axis=2))
    t.output(t.node("Softmax", [t.input((2, 3, 300))], axis=-1))
    t.run(str(tmp_path))


def test_gemm_matmul(tmp_path) -> None:  # type: ignore[no-untyped-def]
    t = Cases()
    def w(*shape: int) -> str:
        return t.const(RNG.standard_normal(shape))

    t.output(t.node("Gemm", [t.input((3, 17)), w(13, 17), w(13)], transB=1))
    t.output(t.node("Gemm", [t.input((5, 9)), w(9, 21), w(1, 21)], alpha=0.5, beta=2.0))
    t.output(t.node("Gemm", [t.input((1, 40)), t.const(RNG.standard_normal((40, 8)))]))
    t.output(t.node("Relu", [t.node("Gemm", [t.input((2, 6)), t.const(RNG.standard_normal((6, 3)))])]))
    t.output(t.node("MatMul", [t.input((2, 7, 19)), t.const(RNG.standard_normal((19, 10)))]))
    t.output(t.node("MatMul", [t.input((9, 33)), t.const(RNG.standard_normal((33, 1)))]))
    # one row (the GEMV path): K not a multiple of 4, a partial last panel, a residual and an activation
    m1 = t.node("MatMul", [t.input((1, 37)), t.const(RNG.standard_normal((37, 21)))])
    t.output(t.node("Relu", [t.node("Add", [m1, t.input((1, 21))])]))
    t.run(str(tmp_path))


def test_js_kernels_share_the_wasm_memory(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Ops without a wasm kernel run as fallback JS kernels on views of the same memory."""
    t = Cases()
    x = t.conv(t.input((1, 3, 6, 6)), 3, 5, (3, 3), pads=[1, 1, 1, 1])  # NHWC, then NCHW for the JS kernel
    y = t.node("ReduceMax", [x], axes=[1])
    t.output(t.node("Relu", [y]))
    t.output(t.node("Sin", [t.node("MatMul", [t.input((2, 3, 4)), t.input((2, 4, 5))])]))  # wasm, then JS
    t.output(t.node("Add", [t.input((2, 1, 3, 1, 4)), t.input((5, 1, 2, 1))]))  # rank 5 broadcast: JS
    desc = t.run(str(tmp_path), expect_js={"ReduceMax", "Sin", "Add"})
    assert any("wasm" in k["attrs"] for k in desc["kernels"])


def test_pack_gemm_b() -> None:
    b = np.arange(3 * 10, dtype=np.float32).reshape(3, 10)
    p = pack_gemm_b(b).reshape(2, 3, 8)
    assert np.array_equal(p[0], b[:, :8])
    assert np.array_equal(p[1, :, :2], b[:, 8:])
    assert not p[1, :, 2:].any()


def test_collapse_broadcast_axes() -> None:
    # [2,3,4,5] op [1,3,1,1]: nothing merges across the broadcast axis
    dims, sa, sb = _collapse([2, 3, 4, 5], [60, 20, 5, 1], [0, 1, 0, 0])
    assert dims == [1, 2, 3, 20] and sa == [0, 60, 20, 1] and sb == [0, 0, 1, 0]
    # same shapes collapse to one axis
    assert _collapse([2, 3, 4], [12, 4, 1], [12, 4, 1])[0] == [1, 1, 1, 24]
