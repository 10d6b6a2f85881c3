"""The GLSL printer of elementwise expressions (ops/expr.py): one `float ex_<hash>(float x)`
per distinct expression, a local per primitive.

Every op of the unary table and every fused activation reaches GLSL through `call`: it names
the function and registers its text with `define`; `glsl.fragment` adds the definitions a
pass calls (each once, with the helpers they call in turn). Only the primitives are written
here, each with the care SwiftShader needs: its exp/log/sign/... of NaN are numbers (so those
are wrapped in `keep_nan`), log of 0 or of a negative number is finite, the trig builtins err by
~2e-4 and sinh/cosh/tanh/asinh lose digits or overflow early (so those are written out).
"""

from __future__ import annotations

from typing import Any

from webdnn.backends.common.expr_print import Language
from webdnn.backends.webgl.glsl import LOG, define, flt, keep_nan
from webdnn.ops.expr import Expr
from webdnn.ops.unary_ops import unary_expr

NAN = "uintBitsToFloat(0x7fc00000u)"
INF = "uintBitsToFloat(0x7f800000u)"

# erf: Maclaurin series below 0.5 (no cancellation near 0), Abramowitz-Stegun 7.1.26 above
# (absolute error < 1.5e-7).
ERF = """
float erf_(float x) {
  float a = abs(x);
  if (a < 0.5) {
    float z = x * x;
    return x * (1.1283791 + z * (-0.37612638 + z * (0.11283792 + z * (-0.026866170 + z * (0.0052239776
      + z * (-0.00085483270 + z * 0.00012055332))))));
  }
  float t = 1.0 / (1.0 + 0.3275911 * a);
  float y = 1.0 - t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027
    + t * 1.061405429)))) * exp(-a * a);
  return sign(x) * y;
}
"""
# sin/cos: Cody-Waite reduction by pi/2 and cephes' minimax polynomials on [-pi/4, pi/4]
SINCOS = """
vec2 sincos_(float x) {
  float k = round(x * 0.63661977236758134);
  float r = ((x - k * 1.5703125) - k * 4.8375129699707031e-4) - k * 7.5497899548918821e-8;
  float z = r * r;
  float s = r + r * z * (-1.6666654611e-1 + z * (8.3321608736e-3 + z * -1.9515295891e-4));
  float c = 1.0 - 0.5 * z + z * z * (4.166664568298827e-2 + z * (-1.388731625493765e-3 + z * 2.443315711809948e-5));
  int q = int(k) & 3;
  if (q == 0) return vec2(s, c);
  if (q == 1) return vec2(c, -s);
  if (q == 2) return vec2(-s, -c);
  return vec2(-c, s);
}
"""
# ONNX Pow for any sign of the base: integral exponents of negative bases are defined.
POW = """
float pow_(float a, float b) {
  if (b == 0.0) return 1.0;
  float r = pow(abs(a), b);
  if (a < 0.0) {
    if (fract(b) != 0.0) return uintBitsToFloat(0x7fc00000u);
    if (mod(b, 2.0) == 1.0) r = -r;
  }
  if (a == 0.0 && b < 0.0) r = uintBitsToFloat(0x7f800000u);
  return r;
}
"""
# tanh from one exp (the series near 0, where 1 - e^-2a cancels)
TANH = """
float tanh_(float x) {
  float a = abs(x);
  if (a < 0.0625) { float x2 = x * x; return x * (1.0 + x2 * (-0.33333334 + x2 * (0.13333334 + x2 * -0.053968254))); }
  float t = exp(-2.0 * a);
  return sign(x) * (1.0 - t) / (1.0 + t);
}
"""
SIGMOID = """
float sigmoid_(float x) {
  if (x >= 0.0) return 1.0 / (1.0 + exp(-x));
  float e = exp(x);
  return e / (1.0 + e);
}
"""
# the series where exp(a) - 1 and log(1 + a) would lose a's digits
EXPM1 = "float expm1_(float a) { return abs(a) < 1e-3 ? a * (1.0 + a * (0.5 + a * 0.16666667)) : exp(a) - 1.0; }\n"
LOG1P = "float log1p_(float a) { return abs(a) < 1e-3 ? a * (1.0 - a * (0.5 - a * 0.33333334)) : log_(1.0 + a); }\n"
# sinh/cosh from exp (the builtins lose digits); asinh/acosh beyond 4096 as log|x| + log 2
# (to 2e-8; the builtins overflow x * x)
SINH = "float sinh_(float a) { return abs(a) < 1e-3 ? a * (1.0 + a * a * 0.16666667) : 0.5 * (exp(a) - exp(-a)); }\n"
ASINH = "float asinh_(float a) { return abs(a) > 4096.0 ? sign(a) * (log(abs(a)) + 0.6931472) : asinh(a); }\n"
ACOSH = ("float acosh_(float a) { return a < 1.0 ? uintBitsToFloat(0x7fc00000u) : "
         "(a > 4096.0 ? log(a) + 0.6931472 : acosh(a)); }\n")

for _call, _text in {"erf_(": ERF, "sincos_(": SINCOS, "pow_(": POW, "tanh_(": TANH, "sigmoid_(": SIGMOID,
                     "log_(": LOG, "expm1_(": EXPM1, "log1p_(": LOG1P, "sinh_(": SINH, "asinh_(": ASINH,
                     "acosh_(": ACOSH}.items():
    define(_call, _text)

# unary primitive -> GLSL of its argument `a` (a name); wrapped in keep_nan unless NaN-safe
_UNARY: dict[str, str] = {
    "neg": "-{a}", "abs": "abs({a})", "floor": "floor({a})", "ceil": "ceil({a})", "round": "roundEven({a})",
    "sign": "sign({a})", "sqrt": f"({{a}} < 0.0 ? {NAN} : sqrt({{a}}))", "exp": "exp({a})",
    "expm1": "expm1_({a})", "log": "log_({a})", "log1p": "log1p_({a})",
    "tanh": "tanh_({a})", "sigmoid": "sigmoid_({a})", "erf": "erf_({a})",
    "sin": "sincos_({a})[0]", "cos": "sincos_({a})[1]", "tan": "(sincos_({a})[0] / sincos_({a})[1])",
    # outside the domain: NaN (and atanh(+-1) = +-inf), which GLSL leaves undefined
    "asin": f"(abs({{a}}) > 1.0 ? {NAN} : asin({{a}}))", "acos": f"(abs({{a}}) > 1.0 ? {NAN} : acos({{a}}))",
    "atan": "atan({a})", "sinh": "sinh_({a})", "cosh": "(0.5 * (exp({a}) + exp(-{a})))",
    "asinh": "asinh_({a})", "acosh": "acosh_({a})",
    "atanh": f"(abs({{a}}) > 1.0 ? {NAN} : (abs({{a}}) == 1.0 ? sign({{a}}) * {INF} : atanh({{a}})))",
}
_BINARY: dict[str, str] = {
    "add": "{a} + {b}", "sub": "{a} - {b}", "mul": "{a} * {b}", "div": "{a} / {b}", "pow": "pow_({a}, {b})",
    "max": "({a} < {b} ? {b} : {a})", "min": "({b} < {a} ? {b} : {a})",
    "lt": "{a} < {b}", "le": "{a} <= {b}", "gt": "{a} > {b}", "ge": "{a} >= {b}", "eq": "{a} == {b}",
    "where": "({c} ? {a} : {b})",
}
GLSL = Language(_UNARY, _BINARY, frozenset({"neg", "abs"}), keep_nan, flt, "  {ty} {t} = {code};",
                "float {name}(float x) {{\n{body}\n  return {result};\n}}\n")
PRINTED = frozenset({"x", "c", *_UNARY, *_BINARY})


def function(root: Expr) -> tuple[str, str]:
    """(name, text) of the GLSL function `float name(float x)` computing `root` of input 0."""
    return GLSL.function(root)


def call(root: Expr, arg: str) -> str:
    """The GLSL expression applying `root` to the float expression `arg` (its definition
    registered for glsl.fragment)."""
    name, text = function(root)
    define(f"{name}(", text)
    return f"{name}({arg})"


def activation(spec: dict[str, Any] | None) -> str:
    """GLSL `float act(float v)` for a fused activation (attrs["activation"]: a unary-table op and
    its attributes); the identity without one."""
    if not spec:
        return "float act(float v) { return v; }\n"
    return f"float act(float v) {{ return {call(unary_expr(str(spec['type']), spec), 'v')}; }}\n"
