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
    UnaryCase("Sin"),
    UnaryCase("Cos"),
    UnaryCase("Tan", domain=(-1.4, 1.4)),
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
