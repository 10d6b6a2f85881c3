"""Every float unary elementwise op, defined once as an expression over primitives (expr.py).

This table is the only place such an op is written: the shape rule (ops/elementwise.py) takes
its attribute defaults from here, the fused-activation pass fuses any of them into a
Conv/Gemm/MatMul producer when its primitives are ones every epilogue prints
(`EPILOGUE_PRIMITIVES`), and each backend prints the expression (WGSL, GLSL, or the program the
JS and wasm runtimes interpret). Adding an op: one `@unary(...)` function below and one case in
tests/ops/unary_cases.py.

Attributes: float attributes arrive as constant `Expr`s, others (Gelu's `approximate`) as
their canonical Python value; defaults are the ONNX spec's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from webdnn.ops.expr import (
    Expr,
    acos,
    acosh,
    asin,
    asinh,
    atan,
    atanh,
    c,
    ceil,
    clamp,
    cos,
    cosh,
    erf,
    exp,
    expm1,
    floor,
    log,
    log1p,
    maximum,
    minimum,
    round_even,
    sigmoid,
    sign,
    sin,
    sinh,
    sqrt,
    tan,
    tanh,
    where,
)
from webdnn.ops.expr import x as input_x


@dataclass(frozen=True)
class UnaryOp:
    name: str
    defaults: dict[str, Any]
    build: Callable[..., Expr]
    integer_ok: bool = False  # defined on integer tensors too (their kernels are per backend)
    own_rule: bool = False  # canonicalized by a shape rule of its own (Clip)

    def expr(self, attrs: dict[str, Any], x: Expr | None = None) -> Expr:
        """The op on `x` (input 0 by default) with `attrs` (canonical; missing ones defaulted)."""
        args: dict[str, Any] = {}
        for k, d in self.defaults.items():
            v = attrs.get(k, d)
            args[k] = c(float(v)) if isinstance(d, float) or k in ("min", "max") else v
        return self.build(input_x() if x is None else x, **args)


UNARY: dict[str, UnaryOp] = {}


def unary(name: str, *, integer_ok: bool = False, own_rule: bool = False,
          **defaults: Any) -> Callable[[Callable[..., Expr]], Callable[..., Expr]]:
    def deco(fn: Callable[..., Expr]) -> Callable[..., Expr]:
        if name in UNARY:
            raise ValueError(f"unary op {name} defined twice")
        UNARY[name] = UnaryOp(name, defaults, fn, integer_ok, own_rule)
        return fn

    return deco


def unary_expr(op: str, attrs: dict[str, Any], x: Expr | None = None) -> Expr:
    return UNARY[op].expr(attrs, x)


# Primitives every backend prints inside a Conv/Gemm/MatMul epilogue (the wasm C interpreter
# has the fewest); an op built only from these fuses into its producer everywhere.
EPILOGUE_PRIMITIVES = frozenset({
    "x", "c", "neg", "abs", "floor", "ceil", "round", "sign", "sqrt", "exp", "expm1", "tanh", "sigmoid",
    "add", "sub", "mul", "div", "min", "max", "lt", "le", "gt", "ge", "eq", "where",
})


# ---------------------------------------------------------------- activations


@unary("Relu", integer_ok=True)
def _relu(x: Expr) -> Expr:
    return maximum(x, 0.0)


@unary("LeakyRelu", alpha=0.01)
def _leaky_relu(x: Expr, alpha: Expr) -> Expr:
    return where(x >= 0.0, x, x * alpha)


@unary("Elu", alpha=1.0)
def _elu(x: Expr, alpha: Expr) -> Expr:
    return where(x >= 0.0, x, alpha * expm1(x))


@unary("Selu", alpha=1.67326319217681884765625, gamma=1.05070102214813232421875)
def _selu(x: Expr, alpha: Expr, gamma: Expr) -> Expr:
    return where(x > 0.0, gamma * x, gamma * alpha * expm1(x))


@unary("Celu", alpha=1.0)
def _celu(x: Expr, alpha: Expr) -> Expr:
    return maximum(x, 0.0) + minimum(alpha * expm1(x / alpha), 0.0)


@unary("Sigmoid")
def _sigmoid(x: Expr) -> Expr:
    return sigmoid(x)


@unary("HardSigmoid", alpha=0.2, beta=0.5)
def _hard_sigmoid(x: Expr, alpha: Expr, beta: Expr) -> Expr:
    return clamp(alpha * x + beta, 0.0, 1.0)


@unary("HardSwish")
def _hard_swish(x: Expr) -> Expr:
    return x * clamp(x / 6.0 + 0.5, 0.0, 1.0)


def softplus(x: Expr) -> Expr:
    """log(1 + e^x) without overflow: x + log1p(e^-x) for x > 0."""
    return where(x > 0.0, x + log1p(exp(-x)), log1p(exp(x)))


@unary("Softplus")
def _softplus(x: Expr) -> Expr:
    return softplus(x)


@unary("Swish", alpha=1.0)  # (opset 24; SiLU when alpha = 1)
def _swish(x: Expr, alpha: Expr) -> Expr:
    return x * sigmoid(alpha * x)


@unary("Softsign")
def _softsign(x: Expr) -> Expr:
    return x / (1.0 + abs(x))


@unary("Tanh")
def _tanh(x: Expr) -> Expr:
    return tanh(x)


@unary("Gelu", approximate="none")
def _gelu(x: Expr, approximate: str) -> Expr:
    if approximate == "tanh":
        return 0.5 * x * (1.0 + tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)))
    return 0.5 * x * (1.0 + erf(x * math.sqrt(0.5)))


@unary("Mish")
def _mish(x: Expr) -> Expr:
    return x * tanh(softplus(x))


@unary("ThresholdedRelu", alpha=1.0)
def _thresholded_relu(x: Expr, alpha: Expr) -> Expr:
    return where(x > alpha, x, 0.0)


@unary("Shrink", bias=0.0, lambd=0.5)
def _shrink(x: Expr, bias: Expr, lambd: Expr) -> Expr:
    return where(x < -lambd, x + bias, where(x > lambd, x - bias, 0.0))


@unary("Clip", integer_ok=True, own_rule=True, min=-math.inf, max=math.inf)
def _clip(x: Expr, min: Expr, max: Expr) -> Expr:  # noqa: A002 (ONNX's attribute names)
    assert min.const is not None and max.const is not None
    return clamp(x, min.const, max.const)


# ---------------------------------------------------------------- math


@unary("Exp")
def _exp(x: Expr) -> Expr:
    return exp(x)


@unary("Log")
def _log(x: Expr) -> Expr:
    return log(x)


@unary("Sqrt")
def _sqrt(x: Expr) -> Expr:
    return sqrt(x)


@unary("Reciprocal")
def _reciprocal(x: Expr) -> Expr:
    return 1.0 / x


@unary("Neg", integer_ok=True)
def _neg(x: Expr) -> Expr:
    return -x


@unary("Abs", integer_ok=True)
def _abs(x: Expr) -> Expr:
    return abs(x)


@unary("Sign", integer_ok=True)
def _sign(x: Expr) -> Expr:
    return sign(x)


@unary("Floor")
def _floor(x: Expr) -> Expr:
    return floor(x)


@unary("Ceil")
def _ceil(x: Expr) -> Expr:
    return ceil(x)


@unary("Round")
def _round(x: Expr) -> Expr:
    return round_even(x)


@unary("Erf")
def _erf(x: Expr) -> Expr:
    return erf(x)


for _name, _fn in {"Sin": sin, "Cos": cos, "Tan": tan, "Asin": asin, "Acos": acos, "Atan": atan,
                   "Sinh": sinh, "Cosh": cosh, "Asinh": asinh, "Acosh": acosh, "Atanh": atanh}.items():
    unary(_name)(lambda x, _f=_fn: _f(x))


@unary("Identity", integer_ok=True)
def _identity(x: Expr) -> Expr:
    return x
