"""Every shape rule over symbols, on the ONNX node conformance cases: each case's first input gets
symbolic dims (one symbol per axis), the model is converted once, and every output shape
expression, evaluated at the case's real input sizes, must be the shape the case expects. A rule
may refuse a size that varies (a clear error naming the node); it may never give a wrong shape."""

from __future__ import annotations

import os

import onnx

from webdnn.conformance.cases import load_cases
from webdnn.errors import WebDNNError
from webdnn.frontend.onnx import from_onnx
from webdnn.ir.symbolic import evaluate
from webdnn.passes.pipeline import optimize


def _symbolic_first_input(model: onnx.ModelProto, inits: set[str]) -> tuple[str, int] | None:
    for inp in model.graph.input:
        if inp.name in inits or not inp.type.HasField("tensor_type"):
            continue
        dims = inp.type.tensor_type.shape.dim
        if not len(dims):
            return None
        for i, d in enumerate(dims):
            d.ClearField("dim_value")
            d.dim_param = f"s{i}"
        return inp.name, len(dims)
    return None


def test_symbolic_shapes_of_every_conformance_case() -> None:
    cases = [c for c in load_cases() if not c.non_tensor_io]
    checked = refused = 0
    wrong: list[str] = []
    for case in cases:
        model = onnx.load(case.model_path)
        try:
            static = from_onnx(model)
            optimize(static)
        except (WebDNNError, Exception):
            continue  # not converted at a fixed size either: nothing to compare
        inits = {i.name for i in model.graph.initializer}
        first = _symbolic_first_input(model, inits)
        if first is None:
            continue
        arrays = case.input_arrays()
        env = {f"s{i}": int(n) for i, n in enumerate(arrays[first[0]].shape)}
        try:
            g = from_onnx(model, dynamic=True)
            optimize(g)
        except WebDNNError:
            refused += 1
            continue
        expected = case.expected_outputs()
        for v in g.outputs:
            if v.shape is None or v.name not in expected:
                continue
            got = tuple(evaluate(d, env) for d in v.shape)
            if got != tuple(expected[v.name].shape):
                wrong.append(f"{case.name}: {v.name} {tuple(str(d) for d in v.shape)} -> {got}, "
                             f"expected {expected[v.name].shape} at {env}")
        checked += 1
    print(f"symbolic shapes: {checked} cases checked, {refused} refused a varying size")
    assert not wrong, "\n".join(wrong[:20])
    assert checked > 450, checked


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    test_symbolic_shapes_of_every_conformance_case()
