"""The declarative test cases of the float unary ops (one definition each in
src/webdnn/ops/unary_ops.py): every op of the table has at least one case here
(test_unary_table.py checks it), and every backend's tests run them all.

Adding an op to the table: add its case(s) below; nothing else in the tests changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class UnaryCase:
    op: str
    attrs: dict[str, Any] = field(default_factory=dict)
    domain: tuple[float, float] = (-4.0, 4.0)  # where the random inputs are drawn
    opset: int = 18  # an opset where the op exists with these attributes
    tol: float = 1e-5  # relative to max(1, |ref|), on top of float32 rounding
    quarters: bool = False  # inputs rounded to multiples of 0.25 (exact halves for rounding ops)
    # the GPU printers reduce trig arguments by pi/2 in float32 (Cody-Waite, three parts):
    # exact to |x| ~ 1e5, so their tests leave out the huge special values for these ops
    huge_on_gpu: bool = True

    @property
    def name(self) -> str:
        return self.op + ("" if not self.attrs else " " + ",".join(f"{k}={v}" for k, v in self.attrs.items()))


UNARY_CASES: list[UnaryCase] = [
    UnaryCase("Relu"),
    UnaryCase("LeakyRelu"),
    UnaryCase("LeakyRelu", {"alpha": 0.3}),
    UnaryCase("Elu"),
    UnaryCase("Elu", {"alpha": 0.7}),
    UnaryCase("Selu"),
    UnaryCase("Celu"),
    UnaryCase("Celu", {"alpha": 2.0}),
    UnaryCase("Sigmoid"),
    UnaryCase("HardSigmoid"),
    UnaryCase("HardSigmoid", {"alpha": 0.3, "beta": 0.4}),
    UnaryCase("HardSwish"),
    UnaryCase("Softplus"),
    UnaryCase("Softsign"),
    UnaryCase("Swish", opset=24),
    UnaryCase("Swish", {"alpha": 0.5}, opset=24),
    UnaryCase("Tanh"),
    UnaryCase("Gelu", opset=20, domain=(-6.0, 6.0)),
    UnaryCase("Gelu", {"approximate": "tanh"}, opset=20, domain=(-6.0, 6.0)),
    UnaryCase("Mish"),
    UnaryCase("ThresholdedRelu"),
    UnaryCase("ThresholdedRelu", {"alpha": 0.5}),
    UnaryCase("Shrink"),
    UnaryCase("Shrink", {"lambd": 1.0, "bias": 0.25}),
    UnaryCase("Clip", {"min": -0.5, "max": 1.0}, opset=6),
    UnaryCase("Exp"),
    UnaryCase("Log", domain=(0.01, 5.0)),
    UnaryCase("Sqrt", domain=(0.0, 9.0)),
    UnaryCase("Reciprocal", domain=(0.2, 4.0)),
    UnaryCase("Neg"),
    UnaryCase("Abs"),
    UnaryCase("Sign"),
    UnaryCase("Floor", quarters=True),
    UnaryCase("Ceil", quarters=True),
    UnaryCase("Round", quarters=True),
    UnaryCase("Erf"),
    UnaryCase("Sin", huge_on_gpu=False),
    UnaryCase("Cos", huge_on_gpu=False),
    UnaryCase("Tan", domain=(-1.4, 1.4), huge_on_gpu=False),
    UnaryCase("Asin", domain=(-0.99, 0.99)),
    UnaryCase("Acos", domain=(-0.99, 0.99)),
    UnaryCase("Atan"),
    UnaryCase("Sinh"),
    UnaryCase("Cosh"),
    UnaryCase("Asinh"),
    UnaryCase("Acosh", domain=(1.0, 6.0)),
    UnaryCase("Atanh", domain=(-0.95, 0.95)),
    UnaryCase("Identity"),
]

# NaN, the infinities, signed zeros, exact halves, tiny and huge values: every op must agree
# with onnxruntime on these too (outside an op's domain the result is NaN or ±inf as the spec says).
SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 0.5, 1.5, 2.5, -0.5, -2.5, 1e-30, 1e30, -1e30,
                     1.0, -1.0, 20.0, -20.0, 88.0, -88.0, 100.0, -100.0], np.float32)


def case_input(case: UnaryCase, rng: np.random.Generator, shape: tuple[int, ...] = (3, 7)) -> np.ndarray:
    lo, hi = case.domain
    x = np.asarray(rng.uniform(lo, hi, shape), np.float32)
    if case.quarters:
        x = (np.round(x * 4) / 4).astype(np.float32)
    return x


def fusable(case: UnaryCase) -> bool:
    """Whether the op fuses into a Conv/Gemm/MatMul epilogue (passes/fuse_activation.py)."""
    from webdnn.ops.expr import primitives_of
    from webdnn.ops.unary_ops import EPILOGUE_PRIMITIVES, unary_expr

    return case.op != "Identity" and primitives_of(unary_expr(case.op, case.attrs)) <= EPILOGUE_PRIMITIVES


def unary_models(rng: np.random.Generator, gpu: bool = False) -> list[tuple[Any, dict[str, np.ndarray]]]:
    """Every case of the table as ONNX models for a backend's browser test: one model per opset,
    a branch per case (output `c<i>_y`) on random inputs of its domain followed by SPECIALS
    (for `gpu`, without the huge ones where the case says so),
    and for each op that fuses, the op after a 1×1 Conv and after a depthwise Conv (identity
    weights, so the activation sees the same inputs) that the converter fuses it into."""
    from onnx import TensorProto, helper, numpy_helper

    by_opset: dict[int, tuple[list[Any], list[Any], list[Any], list[Any], dict[str, np.ndarray]]] = {}
    for i, case in enumerate(UNARY_CASES):
        nodes, vis, outs, inits, feeds = by_opset.setdefault(max(case.opset, 7), ([], [], [], [], {}))
        specials = SPECIALS if case.huge_on_gpu or not gpu else SPECIALS[~(np.abs(SPECIALS) > 1e5)]
        x = np.concatenate([case_input(case, rng, (37,)), specials]).astype(np.float32)
        p = f"c{i}"
        nodes.append(helper.make_node(case.op, [f"{p}_x"], [f"{p}_y"], name=f"{p}_{case.op}", **case.attrs))
        vis.append(helper.make_tensor_value_info(f"{p}_x", TensorProto.FLOAT, list(x.shape)))
        outs.append(helper.make_empty_tensor_value_info(f"{p}_y"))
        feeds[f"{p}_x"] = x
        if not fusable(case):
            continue
        xc = case_input(case, rng, (1, 4, 3, 5))
        feeds[f"{p}_xc"] = xc
        vis.append(helper.make_tensor_value_info(f"{p}_xc", TensorProto.FLOAT, list(xc.shape)))
        for kind, w, group in (("conv", np.eye(4, dtype=np.float32).reshape(4, 4, 1, 1), 1),
                               ("dw", np.ones((4, 1, 1, 1), np.float32), 4)):
            inits.append(numpy_helper.from_array(w, f"{p}_{kind}_w"))
            nodes.append(helper.make_node("Conv", [f"{p}_xc", f"{p}_{kind}_w"], [f"{p}_{kind}_c"],
                                          name=f"{p}_{kind}", group=group))
            nodes.append(helper.make_node(case.op, [f"{p}_{kind}_c"], [f"{p}_{kind}_y"],
                                          name=f"{p}_{kind}_{case.op}", **case.attrs))
            outs.append(helper.make_empty_tensor_value_info(f"{p}_{kind}_y"))
    models = []
    for opset, (nodes, vis, outs, inits, feeds) in sorted(by_opset.items()):
        g = helper.make_graph(nodes, f"unary_table_opset{opset}", vis, outs, inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
        models.append((m, feeds))
    return models
