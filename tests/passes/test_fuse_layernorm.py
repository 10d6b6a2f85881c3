"""fuse_layernorm: decomposed LayerNorm variants fuse into LayerNormalization (same outputs as
onnxruntime on the unfused model); near-misses stay as they are."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pytest
from onnx import helper

from tests.conftest import F32, make_model
from tests.passes.ir_onnx import run_ir
from webdnn.frontend.onnx import from_onnx
from webdnn.ir.graph import Graph
from webdnn.passes import eliminate_dead, fuse_layernorm, infer_shapes
from webdnn.verify import reference_outputs

RNG = np.random.default_rng(3)
X_SHAPE = [2, 3, 8]


class B:
    """A tiny model builder: nodes with generated names, scalar/array constants."""

    def __init__(self, opset: int = 17) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: dict[str, np.ndarray] = {}
        self.opset = opset
        self.outputs = ["y"]

    def c(self, v: float | np.ndarray) -> str:
        name = f"k{len(self.inits)}"
        self.inits[name] = np.asarray(v, np.float32)
        return name

    def op(self, op: str, *ins: str, out: str | None = None, **attrs: Any) -> str:
        out = out or f"t{len(self.nodes)}"
        self.nodes.append(helper.make_node(op, list(ins), [out], **attrs))
        return out

    def mean(self, x: str, axes: list[int]) -> str:
        if self.opset >= 18:
            return self.op("ReduceMean", x, self.c_i64(axes))
        return self.op("ReduceMean", x, axes=axes)

    def c_i64(self, v: list[int]) -> str:
        name = f"k{len(self.inits)}"
        self.inits[name] = np.asarray(v, np.int64)
        return name

    def model(self, shape: list[int] | None = None) -> onnx.ModelProto:
        dims: list[int | str] = list(shape or X_SHAPE)
        return make_model(self.nodes, [("x", F32, dims)], self.outputs, self.inits, self.opset)


def _optimized(model: onnx.ModelProto) -> tuple[Graph, int]:
    g = from_onnx(model)
    infer_shapes.run(g)
    n = fuse_layernorm.run(g)
    eliminate_dead.run(g)
    return g, n


def _check(model: onnx.ModelProto, fuses: int, shape: list[int] | None = None) -> Graph:
    feeds = {"x": (RNG.standard_normal(shape or X_SHAPE) * 3 + 1).astype(np.float32)}
    g, n = _optimized(model)
    assert n == fuses, g.summary()
    want = reference_outputs(model, feeds)
    got = run_ir(g, feeds)
    for k, v in want.items():
        np.testing.assert_allclose(got[k], v, rtol=1e-5, atol=1e-5)
    if fuses:
        ops = g.summary()
        assert ops.get("LayerNormalization") == fuses and "ReduceMean" not in ops and "Sqrt" not in ops, ops
    return g


def _torch(b: B, x: str = "x", axes: list[int] | None = None, eps: float = 1e-5, affine: bool = True,
           gamma_shape: tuple[int, ...] = (8,)) -> str:
    axes = axes or [-1]
    d = b.op("Sub", x, b.mean(x, axes))
    var = b.mean(b.op("Pow", d, b.c(2.0)), axes)
    n = b.op("Div", d, b.op("Sqrt", b.op("Add", var, b.c(eps))))
    if not affine:
        return b.op("Identity", n, out="y")
    g = b.op("Mul", n, b.c(RNG.standard_normal(gamma_shape)))
    return b.op("Add", g, b.c(RNG.standard_normal(gamma_shape)), out="y")


@pytest.mark.parametrize("opset", [13, 17, 18])
def test_torch_form(opset: int) -> None:
    b = B(opset)
    _torch(b)
    g = _check(b.model(), 1)
    (ln,) = [n for n in g.nodes if n.op_type == "LayerNormalization"]
    assert ln.attrs["axis"] == 2 and abs(ln.attrs["epsilon"] - 1e-5) < 1e-12
    assert ln.outputs[0].name == "y" and g.outputs[0] is ln.outputs[0]


def test_without_affine_and_two_layers_in_a_row() -> None:
    b = B()
    y1 = _torch(b, affine=True)
    b.nodes[-1].output[0] = "h"  # first LayerNorm feeds the second
    del y1
    _torch(b, x="h", affine=False)
    g = _check(b.model(), 2)
    scales = [n.inputs[1] for n in g.nodes if n.op_type == "LayerNormalization"]
    assert any(s is not None and s.const is not None and np.all(s.const == 1) for s in scales)


def test_mul_square_reciprocal_and_operand_orders() -> None:
    b = B()
    m = b.mean("x", [2])
    d = b.op("Sub", "x", m)
    var = b.mean(b.op("Mul", d, d), [2])
    r = b.op("Reciprocal", b.op("Sqrt", b.op("Add", b.c(1e-6), var)))
    n = b.op("Mul", r, d)
    b.op("Add", b.c(RNG.standard_normal(8)), b.op("Mul", b.c(RNG.standard_normal(8)), n), out="y")
    _check(b.model(), 1)


def test_pow_minus_half_and_second_sub_for_the_numerator() -> None:
    b = B()
    m = b.mean("x", [-1])
    var = b.mean(b.op("Pow", b.op("Sub", "x", m), b.c(2.0)), [-1])
    r = b.op("Pow", b.op("Add", var, b.c(1e-5)), b.c(-0.5))
    n = b.op("Mul", b.op("Sub", "x", m), r)
    b.op("Mul", n, b.c(RNG.standard_normal((1, 1, 8))), out="y")  # rank-3 gamma, no beta
    _check(b.model(), 1)


def test_tf2onnx_batchnorm_form() -> None:
    """tf.nn.moments + tf.nn.batch_normalization: x * g + (beta - mean * g), g = rsqrt(var + eps) * gamma."""
    b = B()
    m = b.mean("x", [-1])
    d = b.op("Sub", "x", m)
    var = b.mean(b.op("Mul", d, d), [-1])
    r = b.op("Reciprocal", b.op("Sqrt", b.op("Add", var, b.c(1e-3))))
    g = b.op("Mul", r, b.c(RNG.standard_normal(8)))
    xg = b.op("Mul", "x", g)
    mg = b.op("Mul", m, g)
    b.op("Add", xg, b.op("Sub", b.c(RNG.standard_normal(8)), mg), out="y")
    _check(b.model(), 1)
    # without offset: x * r - mean * r
    b = B()
    m = b.mean("x", [-1])
    d = b.op("Sub", "x", m)
    var = b.mean(b.op("Mul", d, d), [-1])
    r = b.op("Div", b.c(1.0), b.op("Sqrt", b.op("Add", var, b.c(1e-3))))
    b.op("Sub", b.op("Mul", "x", r), b.op("Mul", m, r), out="y")
    _check(b.model(), 1)


def test_trailing_two_axes() -> None:
    b = B()
    _torch(b, axes=[1, 2], gamma_shape=(3, 8))
    g = _check(b.model(), 1)
    (ln,) = [n for n in g.nodes if n.op_type == "LayerNormalization"]
    assert ln.attrs["axis"] == 1


def _near_miss(edit: str) -> onnx.ModelProto:
    b = B()
    axes_mean, axes_var = ([1], [1]) if edit == "middle_axis" else ([-1], [-2, -1] if edit == "axes_differ" else [-1])
    x2 = "x2" if edit == "other_x" else "x"
    if x2 == "x2":
        b.op("Neg", "x", out="x2")
    m = b.mean("x", axes_mean)
    d = b.op("Sub", x2, m)
    var = b.mean(b.op("Pow", d, b.c(3.0 if edit == "cube" else 2.0)), axes_var)
    eps = b.c(np.full(8, 1e-5) if edit == "vector_eps" else 1e-5)
    n = b.op("Div", d, b.op("Sqrt", b.op("Add", var, eps)))
    gamma = RNG.standard_normal((3, 1) if edit == "gamma_over_rows" else (8,))
    b.op("Mul", n, b.c(gamma), out="y")
    if edit == "var_used_elsewhere":
        b.outputs.append(var)
    return b.model()


@pytest.mark.parametrize("edit", ["middle_axis", "axes_differ", "other_x", "cube", "vector_eps", "gamma_over_rows",
                                  "var_used_elsewhere"])
def test_near_misses_do_not_fuse(edit: str) -> None:
    _check(_near_miss(edit), 0)


def test_untouched_reference_model() -> None:
    assert _check(_near_miss("none"), 1) is not None


@pytest.mark.parametrize("affine", [False, True])
def test_spatial_normalization_of_an_image_of_any_size_becomes_instance_norm(affine: bool) -> None:
    """Over the symbolic H, W of an NCHW image no gamma of shape [H, W] can be a constant: the pattern (no affine,
    or scalar gamma/beta) becomes InstanceNormalization with per-channel scale/bias, right at every size."""
    b = B()
    _torch(b, axes=[2, 3], affine=affine, gamma_shape=(1, 1))
    model = b.model([1, 4, "h", "w"])
    g = from_onnx(model, {"x": (1, 4, "2<=h<=64", "2<=w<=64")})
    infer_shapes.run(g)
    assert fuse_layernorm.run(g) == 1
    eliminate_dead.run(g)
    ops = g.summary()
    assert ops.get("InstanceNormalization") == 1 and "ReduceMean" not in ops and "LayerNormalization" not in ops, ops
    for h, w in [(5, 7), (16, 3)]:
        feeds = {"x": (RNG.standard_normal((1, 4, h, w)) * 3 + 1).astype(np.float32)}
        want = reference_outputs(model, feeds)
        got = run_ir(g, feeds)
        for k, v in want.items():
            np.testing.assert_allclose(got[k], v, rtol=1e-5, atol=1e-5)


def test_spatial_normalization_with_a_per_position_gamma_and_any_size_stays_unfused() -> None:
    b = B()
    _torch(b, axes=[2, 3], gamma_shape=(1, 4, 1, 1))  # per channel: not over the normalized axes only
    g = from_onnx(b.model([1, 4, "h", "w"]), {"x": (1, 4, "2<=h<=64", "2<=w<=64")})
    infer_shapes.run(g)
    assert fuse_layernorm.run(g) == 0
