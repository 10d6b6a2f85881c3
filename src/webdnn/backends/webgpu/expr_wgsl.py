"""The WGSL printer of elementwise expressions (ops/expr.py): one `fn ex_<hash>(x: f32) -> f32`
per distinct expression, a `let` per primitive.

Every op of the unary table and every fused activation reaches WGSL through `call`: it names
the function and registers its text with `wgsl.define`, and `Shader.finish` adds the
definitions a shader calls (each once, with the helpers they call in turn). Only the
primitives are written here, each with the care software GPUs need: their transcendental
builtins turn NaN into numbers (so those are wrapped in `keep_nan`), `log` of 0 or of a
negative number is finite, `tanh` of a large argument is NaN, and `sin`/`cos` err by ~2e-4
(so those use the reduction of `sincos_`).
"""

from __future__ import annotations

from typing import Any

from webdnn.backends.common.expr_print import Language
from webdnn.backends.webgpu.wgsl import NAN, NEG_INF, POS_INF, define, f32, keep_nan
from webdnn.ops.expr import Expr
from webdnn.ops.unary_ops import unary_expr

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
_ERF_SERIES = [2 / 3.141592653589793 ** 0.5 * k for k in (1, -1 / 3, 1 / 10, -1 / 42, 1 / 216, -1 / 1320, 1 / 9360,
                                                          -1 / 75600, 1 / 685440)]


def _clenshaw(name: str, cs: list[float]) -> str:
    lines = [f"fn {name}(t: f32) -> f32 {{", "    var b1 = 0.0;", "    var b2 = 0.0;"]
    for ck in reversed(cs[1:]):
        lines.append(f"    {{ let b0 = 2.0 * t * b1 - b2 + {f32(ck)}; b2 = b1; b1 = b0; }}")
    lines.append(f"    return t * b1 - b2 + {f32(cs[0])};\n}}")
    return "\n".join(lines) + "\n"


def _erf_block() -> str:
    series = f32(_ERF_SERIES[-1])
    for k in reversed(_ERF_SERIES[:-1]):
        series = f"({series} * z + {f32(k)})"
    return (
        _clenshaw("erf_low", _ERF_LOW) + _clenshaw("erf_high", _ERF_HIGH)
        + "fn erf_(x: f32) -> f32 {\n    let a = abs(x);\n"
        + f"    if (a < 0.5) {{ let z = x * x; return x * {series}; }}\n"
        + "    var r = 1.0;\n"
        + "    if (a < 2.0) { r = erf_low(a - 1.0); } else if (a < 4.5) { r = erf_high((a - 2.0) * 0.8 - 1.0); }\n"
        + "    else if (a != a) { r = a; }\n"
        + "    return select(r, -r, x < 0.0);\n}\n"
    )


# sin/cos: Cody-Waite reduction by pi/2 and cephes' minimax polynomials on [-pi/4, pi/4]
_SINCOS = """fn sincos_(x: f32) -> vec2<f32> {
    let k = round(x * 0.63661977236758134);
    let r = ((x - k * 1.5703125) - k * 4.8375129699707031e-4) - k * 7.5497899548918821e-8;
    let z = r * r;
    let s = r + r * z * (-1.6666654611e-1 + z * (8.3321608736e-3 + z * -1.9515295891e-4));
    let c = 1.0 - 0.5 * z + z * z * (4.166664568298827e-2 + z * (-1.388731625493765e-3 + z * 2.443315711809948e-5));
    let q = i32(k) & 3;
    if (q == 0) { return vec2<f32>(s, c); }
    if (q == 1) { return vec2<f32>(c, -s); }
    if (q == 2) { return vec2<f32>(-s, -c); }
    return vec2<f32>(-c, s);
}
"""

# ONNX Pow for any sign of the base: integral exponents of negative bases are defined.
POW = """fn pow_(x: f32, y: f32) -> f32 {
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

define("erf_(", _erf_block())
define("sincos_(", _SINCOS)
define("pow_(", POW)


def log_ieee(a: str) -> str:
    """WGSL log with IEEE results at 0 (-inf) and below (NaN): SwiftShader's log(0) is about -88."""
    return f"select(select(log({a}), {NEG_INF}, {a} == 0.0), {NAN}, {a} < 0.0)"


# unary primitive -> WGSL of its argument `a` (a name); wrapped in keep_nan unless NaN-safe
_UNARY: dict[str, str] = {
    "neg": "-{a}", "abs": "abs({a})", "floor": "floor({a})", "ceil": "ceil({a})", "round": "round({a})",
    "sign": "sign({a})", "sqrt": f"select(sqrt({{a}}), {NAN}, {{a}} < 0.0)", "exp": "exp({a})",
    # the series where exp(a) - 1 (and log(1 + a)) would lose a's digits
    "expm1": "select(exp({a}) - 1.0, {a} * (1.0 + {a} * (0.5 + {a} * 0.16666667)), abs({a}) < 1e-3)",
    "log": log_ieee("{a}"),
    "log1p": f"select({log_ieee('(1.0 + {a})')}, {{a}} * (1.0 - {{a}} * (0.5 - {{a}} * 0.33333334)), "
             "abs({a}) < 1e-3)",
    "tanh": "tanh(clamp({a}, -15.0, 15.0))",
    "sigmoid": "1.0 / (1.0 + exp(-{a}))",
    "erf": "erf_({a})",
    "sin": "sincos_({a}).x", "cos": "sincos_({a}).y",
    "tan": "(sincos_({a}).x / sincos_({a}).y)",
    # outside the domain: NaN (and atanh(+-1) = +-inf), which WGSL leaves to the implementation
    "asin": f"select(asin({{a}}), {NAN}, abs({{a}}) > 1.0)",
    "acos": f"select(acos({{a}}), {NAN}, abs({{a}}) > 1.0)",
    "atan": "atan({a})", "sinh": "sinh({a})", "cosh": "cosh({a})",
    # beyond 4096 (where asinh(x) = sign(x) (log|x| + log 2) to 2e-8) the builtins overflow x * x
    "asinh": "select(asinh({a}), sign({a}) * (log(abs({a})) + 0.6931472), abs({a}) > 4096.0)",
    "acosh": f"select(select(acosh({{a}}), log({{a}}) + 0.6931472, {{a}} > 4096.0), {NAN}, {{a}} < 1.0)",
    "atanh": f"select(select(atanh({{a}}), {NAN}, abs({{a}}) > 1.0), sign({{a}}) * {POS_INF}, abs({{a}}) == 1.0)",
}
_BINARY: dict[str, str] = {
    "add": "{a} + {b}", "sub": "{a} - {b}", "mul": "{a} * {b}", "div": "{a} / {b}", "pow": "pow_({a}, {b})",
    "max": "select({a}, {b}, {a} < {b})", "min": "select({a}, {b}, {b} < {a})",
    "lt": "{a} < {b}", "le": "{a} <= {b}", "gt": "{a} > {b}", "ge": "{a} >= {b}", "eq": "{a} == {b}",
    "where": "select({b}, {a}, {c})",
}
WGSL = Language(_UNARY, _BINARY, frozenset({"neg", "abs"}), keep_nan, f32, "    let {t} = {code};",
                "fn {name}(x: f32) -> f32 {{\n{body}\n    return {result};\n}}\n")
PRINTED = frozenset({"x", "c", *_UNARY, *_BINARY})


def function(root: Expr) -> tuple[str, str]:
    """(name, text) of the WGSL function `name(x: f32) -> f32` computing `root` of input 0."""
    return WGSL.function(root)


def call(root: Expr, arg: str) -> str:
    """The WGSL expression applying `root` to the f32 expression `arg` (its definition
    registered for Shader.finish)."""
    name, text = function(root)
    define(f"{name}(", text)
    return f"{name}({arg})"


def activation_expr(spec: dict[str, Any] | None, x: str) -> str:
    """The WGSL expression applying a fused activation (attrs["activation"]: a unary-table op and
    its attributes) to the f32 expression `x`."""
    return call(unary_expr(str(spec["type"]), spec), x) if spec else x


def activation_fn(spec: dict[str, Any] | None) -> str:
    """`fn act(x: f32) -> f32`: the fused activation (identity without one)."""
    return f"fn act(x: f32) -> f32 {{ return {activation_expr(spec, 'x')}; }}\n"
