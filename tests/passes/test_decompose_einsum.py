"""Einsum decomposed (ops/nn_einsum.py, passes/decompose_einsum.py) against onnxruntime on the same node:
batched matmuls as transformers write them, contractions, sums, transposes, ellipses with broadcasting,
three operands, implicit outputs, symbolic batch dims; a diagonal and a malformed equation are errors."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from tests.conftest import F32, make_model
from tests.passes.ir_onnx import run_ir
from webdnn.errors import ShapeError, UnsupportedOperatorError
from webdnn.frontend.onnx import from_onnx
from webdnn.passes.pipeline import optimize
from webdnn.verify import reference_outputs

RNG = np.random.default_rng(5)


def _model(eq: str, shapes: list[tuple[int, ...]]):  # type: ignore[no-untyped-def]
    names = [f"x{i}" for i in range(len(shapes))]
    node = helper.make_node("Einsum", names, ["y"], equation=eq)
    return make_model([node], [(n, F32, list(s)) for n, s in zip(names, shapes, strict=True)], ["y"], opset=12), \
        {n: RNG.standard_normal(s).astype(np.float32) for n, s in zip(names, shapes, strict=True)}


@pytest.mark.parametrize(("eq", "shapes"), [
    ("bhqd,bhkd->bhqk", [(2, 3, 5, 4), (2, 3, 6, 4)]),  # attention scores
    ("bhqk,bhkd->bhqd", [(2, 3, 5, 6), (2, 3, 6, 4)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("ij,jk", [(3, 4), (4, 5)]),  # implicit output: ik
    ("i,i->", [(7,), (7,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ij,j->i", [(3, 4), (4,)]),
    ("ij->ji", [(3, 4)]),
    ("ij->", [(3, 4)]),
    ("ijk->ki", [(2, 3, 4)]),
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (1, 5, 4, 6)]),  # ellipsis dims broadcast
    ("b...,b...->b...", [(2, 3, 4), (2, 3, 4)]),  # elementwise: every letter a batch dim
    ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)]),  # three operands (a bilinear layer)
    ("abc,cd,de->abe", [(2, 3, 4), (4, 5), (5, 6)]),
    ("ijk,ik->j", [(2, 3, 4), (2, 4)]),  # a letter summed from one side only
])
def test_equation(eq: str, shapes: list[tuple[int, ...]]) -> None:
    model, feeds = _model(eq, shapes)
    g = from_onnx(model, {k: v.shape for k, v in feeds.items()})
    optimize(g)
    assert "Einsum" not in {n.op_type for n in g.nodes}
    np.testing.assert_allclose(run_ir(g, feeds)["y"], reference_outputs(model, feeds)["y"], rtol=1e-5, atol=1e-5)


def test_symbolic_batch() -> None:
    model, _ = _model("bhqd,bhkd->bhqk", [(2, 3, 5, 4), (2, 3, 6, 4)])
    for inp in model.graph.input:
        inp.type.tensor_type.shape.dim[0].dim_param = "b"
    g = from_onnx(model, {"x0": ["b<=8", 3, 5, 4], "x1": ["b<=8", 3, 6, 4]})
    optimize(g)
    assert "Einsum" not in {n.op_type for n in g.nodes}
    assert str(g.outputs[0].shape[0]) == "b"


def test_diagonal_is_unsupported() -> None:
    model, _ = _model("ii->i", [(3, 3)])
    with pytest.raises(UnsupportedOperatorError, match="diagonal"):
        optimize(from_onnx(model))


@pytest.mark.parametrize("eq", ["ij,jk->iq", "ij->ii", "iJ->i", "ij,jk,kl->il"])
def test_malformed_equation(eq: str) -> None:
    model, _ = _model(eq, [(3, 4), (4, 5)])
    with pytest.raises(ShapeError, match="equation"):
        optimize(from_onnx(model))
