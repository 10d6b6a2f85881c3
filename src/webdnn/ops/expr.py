"""Elementwise math as small expression DAGs over a fixed set of primitives.

An elementwise op is written once, as a Python function building an `Expr` from its input
`x` and its attributes (see `unary_ops.py`); each backend only *prints* the primitives:
WGSL (`backends/webgpu/expr_wgsl.py`), GLSL (`backends/webgl/expr_glsl.py`), and for the
two CPU backends a serialized `program` (SSA instruction list) that the runtime's JS
interpreter (fallback) and C interpreter (wasm) execute. A new op made of existing primitives
therefore needs no backend code at all; a new primitive is added here and to every printer
(`tests/ops/test_expr_primitives.py` checks that each printer knows each primitive).

Semantics every printer keeps (the numpy evaluator `evaluate` is the reference):
- `max(a, b)` is `a < b ? b : a` and `min(a, b)` is `b < a ? b : a`: a NaN in `a` passes
  through (write the variable first, the constant second), as onnxruntime's activations do.
- comparisons give bools (false for NaN); `where(c, a, b)` selects without evaluating-order
  effects (both sides may be computed).
- every other primitive propagates NaN (printers of GPU languages guard the builtins that do
  not) and rounds to float32 at most once per primitive.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# primitive name -> arity; the order is the opcode numbering of `program` (append only:
# the wasm C interpreter's enum is checked against it by tests/ops/test_expr_primitives.py)
PRIMITIVES: dict[str, int] = {
    "x": 0, "c": 0,
    "neg": 1, "abs": 1, "floor": 1, "ceil": 1, "round": 1, "sign": 1, "sqrt": 1,
    "exp": 1, "expm1": 1, "log": 1, "log1p": 1, "tanh": 1, "sigmoid": 1, "erf": 1,
    "sin": 1, "cos": 1, "tan": 1, "asin": 1, "acos": 1, "atan": 1,
    "sinh": 1, "cosh": 1, "asinh": 1, "acosh": 1, "atanh": 1,
    "add": 2, "sub": 2, "mul": 2, "div": 2, "pow": 2, "min": 2, "max": 2,
    "lt": 2, "le": 2, "gt": 2, "ge": 2, "eq": 2,
    "where": 3,
}
OPCODES: dict[str, int] = {name: i for i, name in enumerate(PRIMITIVES)}
BOOL_PRIMITIVES = frozenset({"lt", "le", "gt", "ge", "eq"})


@dataclass(frozen=True, eq=False)
class Expr:
    """One primitive applied to argument expressions; `value` is the constant of a `c` node and
    the input index of an `x` node. Compared by identity; `program` merges equal subtrees."""

    op: str
    args: tuple[Expr, ...] = ()
    value: float = 0.0
    _key: tuple[Any, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.op not in PRIMITIVES:
            raise ValueError(f"unknown primitive {self.op!r}")
        if len(self.args) != PRIMITIVES[self.op]:
            raise ValueError(f"{self.op} takes {PRIMITIVES[self.op]} arguments, got {len(self.args)}")
        for a in self.args:
            if not isinstance(a, Expr):
                raise TypeError(f"argument of {self.op} is {type(a).__name__}, not Expr")
        object.__setattr__(self, "_key", (self.op, float(self.value), tuple(a._key for a in self.args)))

    @property
    def is_bool(self) -> bool:
        return self.op in BOOL_PRIMITIVES

    @property
    def const(self) -> float | None:
        return self.value if self.op == "c" else None

    # arithmetic builds trees; plain numbers become constants
    def __add__(self, o: Num) -> Expr: return add(self, o)
    def __radd__(self, o: Num) -> Expr: return add(o, self)
    def __sub__(self, o: Num) -> Expr: return sub(self, o)
    def __rsub__(self, o: Num) -> Expr: return sub(o, self)
    def __mul__(self, o: Num) -> Expr: return mul(self, o)
    def __rmul__(self, o: Num) -> Expr: return mul(o, self)
    def __truediv__(self, o: Num) -> Expr: return div(self, o)
    def __rtruediv__(self, o: Num) -> Expr: return div(o, self)
    def __pow__(self, o: Num) -> Expr: return _prim("pow", self, o)
    def __neg__(self) -> Expr: return c(-self.value) if self.op == "c" else _prim("neg", self)
    def __abs__(self) -> Expr: return _prim("abs", self)
    def __lt__(self, o: Num) -> Expr: return _prim("lt", self, o)
    def __le__(self, o: Num) -> Expr: return _prim("le", self, o)
    def __gt__(self, o: Num) -> Expr: return _prim("gt", self, o)
    def __ge__(self, o: Num) -> Expr: return _prim("ge", self, o)


Num = Expr | float | int


def c(v: float) -> Expr:
    return Expr("c", value=float(v))


def x(i: int = 0) -> Expr:
    """Input `i` of the op (0 for unary ops)."""
    return Expr("x", value=float(i))


def _e(v: Num) -> Expr:
    return v if isinstance(v, Expr) else c(v)


def _prim(op: str, *args: Num) -> Expr:
    return Expr(op, tuple(_e(a) for a in args))


# Builders that simplify away identities on constants (so Clip with an infinite bound, or
# `x * 1`, prints nothing for it); no other rewriting: the tree is what the op's author wrote.
def add(a: Num, b: Num) -> Expr:
    a, b = _e(a), _e(b)
    if b.const == 0.0:
        return a
    return b if a.const == 0.0 else _prim("add", a, b)


def sub(a: Num, b: Num) -> Expr:
    a, b = _e(a), _e(b)
    return a if b.const == 0.0 else _prim("sub", a, b)


def mul(a: Num, b: Num) -> Expr:
    a, b = _e(a), _e(b)
    if b.const == 1.0:
        return a
    return b if a.const == 1.0 else _prim("mul", a, b)


def div(a: Num, b: Num) -> Expr:
    a, b = _e(a), _e(b)
    return a if b.const == 1.0 else _prim("div", a, b)


def maximum(a: Num, b: Num) -> Expr:
    """`a < b ? b : a` (NaN in `a` passes)."""
    a, b = _e(a), _e(b)
    return a if b.const == -math.inf else _prim("max", a, b)


def minimum(a: Num, b: Num) -> Expr:
    """`b < a ? b : a` (NaN in `a` passes)."""
    a, b = _e(a), _e(b)
    return a if b.const == math.inf else _prim("min", a, b)


def clamp(a: Num, lo: float, hi: float) -> Expr:
    """min(max(a, lo), hi): hi wins when lo > hi (as onnxruntime's Clip); NaN passes."""
    return minimum(maximum(a, lo), hi)


def where(cond: Expr, a: Num, b: Num) -> Expr:
    if not cond.is_bool:
        raise TypeError("where() needs a comparison as its condition")
    return _prim("where", cond, a, b)


def eq(a: Num, b: Num) -> Expr:
    return _prim("eq", a, b)


def _unary(name: str) -> Callable[[Num], Expr]:
    def f(a: Num) -> Expr:
        return _prim(name, a)

    f.__name__ = name
    return f


floor, ceil, round_even, sign, sqrt = (_unary(n) for n in ("floor", "ceil", "round", "sign", "sqrt"))
exp, expm1, log, log1p, tanh, sigmoid, erf = (
    _unary(n) for n in ("exp", "expm1", "log", "log1p", "tanh", "sigmoid", "erf"))
sin, cos, tan, asin, acos, atan = (_unary(n) for n in ("sin", "cos", "tan", "asin", "acos", "atan"))
sinh, cosh, asinh, acosh, atanh = (_unary(n) for n in ("sinh", "cosh", "asinh", "acosh", "atanh"))


def pow_(a: Num, b: Num) -> Expr:
    return _prim("pow", a, b)


# ---------------------------------------------------------------- walking and serializing


def topo(root: Expr) -> list[Expr]:
    """The distinct subexpressions of `root` (equal subtrees once), operands before users."""
    seen: dict[tuple[Any, ...], Expr] = {}
    order: list[Expr] = []

    def visit(e: Expr) -> None:
        if e._key in seen:
            return
        for a in e.args:
            visit(a)
        seen[e._key] = e
        order.append(e)

    visit(root)
    return order


def primitives_of(root: Expr) -> set[str]:
    return {e.op for e in topo(root)}


def program(root: Expr) -> list[list[Any]]:
    """The SSA instruction list the CPU runtimes execute: `["x", i]`, `["c", value]` or
    `[primitive, arg, ...]` with args indexing earlier instructions; the last one is the result.
    Non-finite constants are written as the strings "inf", "-inf", "nan" (JSON has no literal)."""
    order = topo(root)
    index = {e._key: i for i, e in enumerate(order)}
    out: list[list[Any]] = []
    for e in order:
        if e.op == "x":
            out.append(["x", int(e.value)])
        elif e.op == "c":
            v = e.value
            out.append(["c", v if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))])
        else:
            out.append([e.op, *(index[a._key] for a in e.args)])
    return out


# ---------------------------------------------------------------- reference evaluator


def _erf(v: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[np.float64])(v) if v.size else v


def _round_even(v: np.ndarray) -> np.ndarray:
    return np.round(v)  # numpy rounds half to even


_NP: dict[str, Callable[..., np.ndarray]] = {
    "neg": np.negative, "abs": np.abs, "floor": np.floor, "ceil": np.ceil, "round": _round_even,
    "sign": np.sign, "sqrt": np.sqrt, "exp": np.exp, "expm1": np.expm1, "log": np.log, "log1p": np.log1p,
    "tanh": np.tanh, "sigmoid": lambda a: 1.0 / (1.0 + np.exp(-a)), "erf": _erf,
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan,
    "sinh": np.sinh, "cosh": np.cosh, "asinh": np.arcsinh, "acosh": np.arccosh, "atanh": np.arctanh,
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "pow": np.power,
    "min": lambda a, b: np.where(b < a, b, a), "max": lambda a, b: np.where(a < b, b, a),
    "lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal, "eq": np.equal,
    "where": np.where,
}


def evaluate(root: Expr, *inputs: np.ndarray) -> np.ndarray:
    """`root` on numpy inputs, in float64 (the reference the printers are tested against)."""
    vals: dict[tuple[Any, ...], np.ndarray] = {}
    with np.errstate(all="ignore"):
        for e in topo(root):
            if e.op == "x":
                r = np.asarray(inputs[int(e.value)], dtype=np.float64)
            elif e.op == "c":
                r = np.asarray(e.value, dtype=np.float64)
            else:
                r = _NP[e.op](*(vals[a._key] for a in e.args))
            vals[e._key] = r
    return np.asarray(vals[root._key])
