"""Elementwise kernels: unary math and activations, broadcasting binary/variadic arithmetic,
Clip, Cast. One thread per output element; each input is read at the output coordinates
through baked broadcast strides (the direct index when its shape equals the output's).
"""

from __future__ import annotations

import math
import re

import numpy as np

from webdnn.backends.webgpu.wgsl import (
    Ctx,
    Dispatch,
    Shader,
    Unsupported,
    broadcast_strides,
    dot,
    elem_type,
    elementwise_dispatch,
    f32,
    ins,
    need_f32,
    register,
    shape,
    unravel,
)
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Node, Value

# erf as the fallback kernel computes it (Maclaurin series below 0.5, Chebyshev interpolants
# on [0.5, 2) and [2, 4.5), 1 beyond), evaluated in f32.
_ERF_LOW = [
    0.6614876207892914, 0.48304843687473753, -0.17245578123826305, 0.01735816885948163, 0.008712277069831716,
    -0.0029154067018557495, -6.550447800276027e-05, 0.0001760313679580487, -1.8871035719487958e-05,
    -6.214076184801114e-06, 1.4534796242862801e-06, 1.1534347293872741e-07, -6.404616206866467e-08,
    1.0022077621131271e-09, 2.015710750175714e-09, -1.6733948896460915e-10, -4.845784210564722e-11,
]
_ERF_HIGH = [
    0.9992127598600163, 0.0014417033811851227, -0.0011065228834449164, 0.0007109168962504838,
    -0.00038097952841418235, 0.00016890783857738504, -6.08659080810254e-05, 1.713023950486749e-05,
    -3.376268835332612e-06, 2.6104345499036103e-07, 1.0672482717680322e-07, -5.150191051805089e-08,
    1.0767557084229866e-08, -6.203141737817356e-10, -3.388518836275276e-10, 1.170941822673112e-10,
    -1.5339443032495187e-11,
]
_ERF_SERIES = [c * 2 / math.sqrt(math.pi) for c in (1, -1 / 3, 1 / 10, -1 / 42, 1 / 216, -1 / 1320, 1 / 9360,
                                                     -1 / 75600, 1 / 685440)]


def _clenshaw(name: str, c: list[float]) -> str:
    lines = [f"fn {name}(t: f32) -> f32 {{", "    var b1 = 0.0;", "    var b2 = 0.0;"]
    for ck in reversed(c[1:]):
        lines.append(f"    {{ let b0 = 2.0 * t * b1 - b2 + {f32(ck)}; b2 = b1; b1 = b0; }}")
    lines.append(f"    return t * b1 - b2 + {f32(c[0])};\n}}")
    return "\n".join(lines) + "\n"


def _erf_helpers() -> str:
    series = f32(_ERF_SERIES[-1])
    for c in reversed(_ERF_SERIES[:-1]):
        series = f"({series} * z + {f32(c)})"
    return (
        _clenshaw("erf_low", _ERF_LOW) + _clenshaw("erf_high", _ERF_HIGH)
        + "fn erf_(x: f32) -> f32 {\n    let a = abs(x);\n"
        + f"    if (a < 0.5) {{ let z = x * x; return x * {series}; }}\n"
        + "    var r = 1.0;\n"
        + "    if (a < 2.0) { r = erf_low(a - 1.0); } else if (a < 4.5) { r = erf_high((a - 2.0) * 0.8 - 1.0); }\n"
        + "    else if (a != a) { r = a; }\n"
        + "    return select(r, -r, x < 0.0);\n}\n"
    )


# ONNX Pow for any sign of the base: integral exponents of negative bases are defined.
_POW = """fn pow_(x: f32, y: f32) -> f32 {
    if (y == 2.0) { return x * x; }
    if (y == 1.0) { return x; }
    if (y == 0.0) { return 1.0; }
    if (y == 0.5) { return sqrt(x); }
    if (x >= 0.0) { return pow(x, y); }
    if (fract(y) != 0.0) { return bitcast<f32>(NAN_BITS); }
    let r = pow(-x, y);
    return select(r, -r, fract(y * 0.5) != 0.0);
}
"""

_SOFTPLUS = "select(log(1.0 + exp(x)), x, x > 20.0)"

# f32 unary ops: WGSL expression of x (attrs substituted by _unary_expr).
UNARY: dict[str, str] = {
    "Relu": "max(x, 0.0)",
    "LeakyRelu": "select(x * ALPHA, x, x >= 0.0)",
    "Elu": "select(ALPHA * (exp(x) - 1.0), x, x >= 0.0)",
    "Selu": "GAMMA * select(ALPHA * (exp(x) - 1.0), x, x > 0.0)",
    "Celu": "max(0.0, x) + min(0.0, ALPHA * (exp(x / ALPHA) - 1.0))",
    "Sigmoid": "1.0 / (1.0 + exp(-x))",
    "HardSigmoid": "clamp(ALPHA * x + BETA, 0.0, 1.0)",
    "HardSwish": "x * clamp(x / 6.0 + 0.5, 0.0, 1.0)",
    "Softplus": _SOFTPLUS,
    "Softsign": "x / (1.0 + abs(x))",
    "Tanh": "tanh(clamp(x, -15.0, 15.0))",
    "Exp": "exp(x)",
    "Log": "log(x)",
    "Sqrt": "sqrt(x)",
    "Reciprocal": "1.0 / x",
    "Neg": "-x",
    "Abs": "abs(x)",
    "Floor": "floor(x)",
    "Ceil": "ceil(x)",
    "Round": "round(x)",
    "Sign": "sign(x)",
    "Erf": "erf_(x)",
    "Mish": f"x * tanh(clamp({_SOFTPLUS}, -15.0, 15.0))",
    "ThresholdedRelu": "select(0.0, x, x > ALPHA)",
    "Identity": "x",
}

BINARY: dict[str, str] = {
    "Add": "a + b", "Sub": "a - b", "Mul": "a * b", "Div": "a / b", "Pow": "pow_(a, b)",
    "Max": "max(a, b)", "Min": "min(a, b)", "Sum": "a + b", "Mean": "a + b", "PRelu": "select(a * b, a, a >= 0.0)",
}
INT_BINARY = frozenset({"Add", "Sub", "Mul", "Div", "Max", "Min", "Sum"})


def _unary_expr(node: Node) -> str:
    op = node.op_type
    if op == "Gelu":
        if node.attrs.get("approximate", "none") == "tanh":
            return "0.5 * x * (1.0 + tanh(clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), -15.0, 15.0)))"
        return "0.5 * x * (1.0 + erf_(x * 0.7071067811865476))"
    if op == "Clip":
        e = "x"
        lo, hi = float(node.attrs.get("min", -math.inf)), float(node.attrs.get("max", math.inf))
        if lo != -math.inf:
            e = f"max({e}, {f32(lo)})"
        if hi != math.inf:
            e = f"min({e}, {f32(hi)})"
        return e
    e = UNARY[op]
    for key in ("alpha", "beta", "gamma"):
        if key.upper() in e:
            e = e.replace(key.upper(), f32(float(node.attrs[key])))
    return e


def _reader(sh: Shader, v: Value, out_shape: tuple[int, ...], elem: str = "f32") -> str:
    """WGSL expression of `v`'s element at the output coordinates c0.. (or at `i`)."""
    buf = sh.read(v, elem)
    s = shape(v)
    if s == out_shape:
        return f"{buf}[i]"
    if int(np.prod(s)) == 1:
        return f"{buf}[0]"
    return f"{buf}[{dot('c', broadcast_strides(s, out_shape))}]"


@register(*UNARY, "Gelu", "Clip")
def unary(ctx: Ctx, node: Node) -> list[Dispatch]:
    (x,) = ins(node)[:1]
    y = node.outputs[0]
    need_f32(x, y)
    sh = Shader(ctx)
    helpers = _erf_helpers() if node.op_type in ("Erf", "Gelu") else ""
    body = f"let x = {sh.read(x)}[i];\n    {sh.write(y)}[i] = {_unary_expr(node)};"
    return [elementwise_dispatch(sh, y.size, body, helpers)]


@register(*BINARY)
def binary(ctx: Ctx, node: Node) -> list[Dispatch]:
    xs = ins(node)
    y = node.outputs[0]
    op = node.op_type
    out_shape = shape(y)
    is_int = y.dtype == DType.INT32 and op in INT_BINARY
    if not is_int:
        need_f32(*xs, y)
    t = elem_type(y.dtype)
    sh = Shader(ctx)
    reads = [_reader(sh, v, out_shape, t) for v in xs]
    expr = BINARY[op]
    acc = reads[0]
    for r in reads[1:]:
        acc = _apply(expr, acc, r)
    if op == "Mean":
        acc = f"({acc}) / {f32(len(reads))}"
    coords = unravel("i", out_shape) if any("[c" in r for r in reads) else ""
    body = f"{coords}\n    {sh.write(y, t)}[i] = {acc};"
    return [elementwise_dispatch(sh, y.size, body, _POW if op == "Pow" else "")]


def _apply(expr: str, a: str, b: str) -> str:
    """Substitute operands into a binary expression over `a` and `b` (whole-word)."""
    return "(" + re.sub(r"\b[ab]\b", lambda m: f"({a})" if m.group(0) == "a" else f"({b})", expr) + ")"


def _cast_expr(src: DType, dst: DType, x: str) -> tuple[str, str, str]:
    """(read type, write type, WGSL expression converting element `x`)."""
    if src == dst:
        t = elem_type(src)
        return t, t, x
    if src == DType.INT64:
        # the low word as i32 when the value fits, else both words (f32 rounds anyway)
        as_i32 = f"bitcast<i32>({x}.x)"
        if dst == DType.FLOAT32:
            fits = f"bitcast<i32>({x}.y) == ({as_i32} >> 31u)"
            big = f"f32(bitcast<i32>({x}.y)) * 4294967296.0 + f32({x}.x)"
            return "vec2<u32>", "f32", f"select({big}, f32({as_i32}), {fits})"
        if dst == DType.INT32:
            return "vec2<u32>", "i32", as_i32
    if dst == DType.INT64 and src in (DType.FLOAT32, DType.INT32):
        v = f"i32({x})"
        return elem_type(src), "vec2<u32>", f"vec2<u32>(bitcast<u32>({v}), select(0u, 0xffffffffu, {v} < 0i))"
    if {src, dst} == {DType.FLOAT32, DType.INT32}:
        return elem_type(src), elem_type(dst), f"{elem_type(dst)}({x})"
    raise Unsupported(f"Cast from {src.value} to {dst.value}")


@register("Cast", "CastLike")
def cast(ctx: Ctx, node: Node) -> list[Dispatch]:
    x, y = ins(node)[0], node.outputs[0]
    assert x.dtype is not None and y.dtype is not None
    rt, wt, expr = _cast_expr(x.dtype, y.dtype, "x")
    sh = Shader(ctx)
    body = f"let x = {sh.read(x, rt)}[i];\n    {sh.write(y, wt)}[i] = {expr};"
    return [elementwise_dispatch(sh, y.size, body)]
