"""fuse_gelu: x * 0.5 * (1 + erf(x / sqrt(2))) in every operand order/association becomes Gelu
(same outputs as onnxruntime on the unfused model); near-misses stay as they are."""

from __future__ import annotations

import math

import numpy as np
import onnx
import pytest
from onnx import helper

from tests.conftest import F32, make_model
from tests.passes.ir_onnx import run_ir
from webdnn.frontend.onnx import from_onnx
from webdnn.passes import eliminate_dead, fuse_gelu, infer_shapes
from webdnn.verify import reference_outputs

RNG = np.random.default_rng(5)
SHAPE = [2, 5, 7]


class B:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: dict[str, np.ndarray] = {}
        self.outputs = ["y"]

    def c(self, v: float) -> str:
        name = f"k{len(self.inits)}"
        self.inits[name] = np.asarray(v, np.float32)
        return name

    def op(self, op: str, *ins: str, out: str | None = None) -> str:
        out = out or f"t{len(self.nodes)}"
        self.nodes.append(helper.make_node(op, list(ins), [out]))
        return out


def _gelu(b: B, form: str, x: str = "x", out: str = "y", arg: str = "div", one_first: bool = False,
          half: float = 0.5, root2: float = math.sqrt(2.0)) -> str:
    u = b.op("Div", x, b.c(root2)) if arg == "div" else b.op("Mul", b.c(1.0 / root2), x)
    e = b.op("Erf", u)
    a = b.op("Add", b.c(1.0), e) if one_first else b.op("Add", e, b.c(1.0))
    if form == "(x*a)*h":
        return b.op("Mul", b.op("Mul", x, a), b.c(half), out=out)
    if form == "h*(a*x)":
        return b.op("Mul", b.c(half), b.op("Mul", a, x), out=out)
    if form == "(x*h)*a":
        return b.op("Mul", b.op("Mul", x, b.c(half)), a, out=out)
    if form == "x*(a*h)":
        return b.op("Mul", x, b.op("Mul", a, b.c(half)), out=out)
    if form == "(h*a)*x":
        return b.op("Mul", b.op("Mul", b.c(half), a), x, out=out)
    raise ValueError(form)


def _check(b: B, fuses: int) -> None:
    dims: list[int | str] = list(SHAPE)
    model = make_model(b.nodes, [("x", F32, dims)], b.outputs, b.inits)
    feeds = {"x": (RNG.standard_normal(SHAPE) * 3).astype(np.float32)}
    g = from_onnx(model)
    infer_shapes.run(g)
    assert fuse_gelu.run(g) == fuses
    eliminate_dead.run(g)
    ops = g.summary()
    if fuses:
        assert ops.get("Gelu") == fuses and "Erf" not in ops and "Mul" not in ops, ops
    else:
        assert "Gelu" not in ops and "Erf" in ops, ops
    want = reference_outputs(model, feeds)
    got = run_ir(g, feeds)
    for k, v in want.items():
        np.testing.assert_allclose(got[k], v, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("form", ["(x*a)*h", "h*(a*x)", "(x*h)*a", "x*(a*h)", "(h*a)*x"])
@pytest.mark.parametrize("arg", ["div", "mul"])
def test_forms_fuse(form: str, arg: str) -> None:
    b = B()
    _gelu(b, form, arg=arg, one_first=arg == "mul")
    _check(b, 1)


def test_two_gelus_on_a_relu_output() -> None:
    b = B()
    b.op("Relu", "x", out="r")
    _gelu(b, "(x*a)*h", x="r", out="h")
    _gelu(b, "(x*h)*a", x="h", out="y")
    _check(b, 2)


@pytest.mark.parametrize("edit", ["half", "root2", "erf_used_elsewhere", "other_x"])
def test_near_misses_do_not_fuse(edit: str) -> None:
    b = B()
    if edit == "half":
        _gelu(b, "(x*a)*h", half=0.6)
    elif edit == "root2":
        _gelu(b, "(x*a)*h", root2=1.5)
    elif edit == "other_x":  # multiplies a different tensor than the erf's argument
        b.op("Neg", "x", out="n")
        u = b.op("Div", "x", b.c(math.sqrt(2.0)))
        a = b.op("Add", b.op("Erf", u), b.c(1.0))
        b.op("Mul", b.op("Mul", "n", a), b.c(0.5), out="y")
    else:
        _gelu(b, "(x*a)*h")
        erf_out = next(n.output[0] for n in b.nodes if n.op_type == "Erf")
        b.outputs.append(erf_out)
    _check(b, 0)
