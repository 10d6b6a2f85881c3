"""Elementwise ops as GLSL expressions: unary math and activations, broadcasting binary and
variadic ops, Where, Clip, Cast. `expression(node, ctx, args)` is an op's output element from
its operands' elements (GLSL float names); compose.py writes one pass from them, for a single
node or a fused group. Also BatchNormalization (inference), a per-channel kernel of its own."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from webdnn.backends.webgl import expr_glsl
from webdnn.backends.webgl.core import FLOATS, INTS, Ctx, Pass, attr_float, ins, kernel, need_float, shape
from webdnn.backends.webgl.glsl import flt, is_nan
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Node, Value
from webdnn.ir.symbolic import prod as sym_prod
from webdnn.ops.unary_ops import UNARY, unary_expr


def _other_expr(node: Node) -> str:
    """The GLSL expression of `x` for a unary op outside the unary table: moves, casts, tests."""
    op = node.op_type
    if op in ("Identity", "Dropout", "Reshape", "Flatten", "Squeeze", "Unsqueeze"):
        return "x"
    if op in ("Cast", "CastLike"):
        to = node.outputs[0].dtype
        if to == DType.BOOL:
            return "x != 0.0 ? 1.0 : 0.0"
        if to in INTS:
            return f"float({wrap_int(to, 'int(trunc(x))')})"
        return "x"  # float16 outputs are rounded as they are written
    if op == "IsNaN":
        return "(floatBitsToUint(x) & 0x7fffffffu) > 0x7f800000u ? 1.0 : 0.0"
    if op == "IsInf":
        pos, neg = int(node.attrs.get("detect_positive", 1)), int(node.attrs.get("detect_negative", 1))
        sign = "" if pos and neg else (" && x > 0.0" if pos else (" && x < 0.0" if neg else " && false"))
        return f"((floatBitsToUint(x) & 0x7fffffffu) == 0x7f800000u{sign}) ? 1.0 : 0.0"
    if op == "Not":
        return "x != 0.0 ? 0.0 : 1.0"
    if op == "BitwiseNot":  # integers are exact floats: int() recovers them
        return f"float({wrap_int(node.outputs[0].dtype, '~int(x)')})"
    raise AssertionError(op)


# the unary table's ops (ops/unary_ops.py, printed by expr_glsl) and the moves, casts and tests
UNARY_OPS = (*UNARY, "Dropout", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Cast", "CastLike", "IsNaN", "IsInf",
             "Not", "BitwiseNot")
# Ops that only move values: any dtype whose values are exact in float32.
MOVES = frozenset({"Identity", "Dropout", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Cast", "CastLike", "Not"})
# Ops exact on integers held in float32 (the result is an integer of the same range).
INT_EXACT = frozenset({"Relu", "Neg", "Abs", "Sign", "Clip", "Shrink", "BitwiseNot"})


def wrap_int(dtype: DType | None, expr: str) -> str:
    """GLSL int `expr` wrapped to the range of a narrow integer type (two's complement)."""
    if dtype == DType.INT8:
        return f"((({expr}) + 128) & 255) - 128"
    if dtype == DType.UINT8:
        return f"(({expr}) & 255)"
    if dtype == DType.INT16:
        return f"((({expr}) + 32768) & 65535) - 32768"
    return f"({expr})"


def _unary(node: Node, ctx: Ctx, x: str) -> Expr:
    src = node.inputs[0]
    assert src is not None
    op = node.op_type
    int_exact = op in INT_EXACT and src.dtype in INTS
    if op not in MOVES and not int_exact:
        _need_f32(node, ctx, [src])
    if op in UNARY and op != "Identity":  # (integers held in float32: the same expression is exact)
        return Expr(expr_glsl.call(unary_expr(op, node.attrs), x))
    return Expr(_subst(_other_expr(node), x=x))


BINARY = {
    "Add": "a + b", "Sub": "a - b", "Mul": "a * b", "Div": "a / b", "Max": "max_nan(a, b)", "Min": "min_nan(a, b)",
    "PRelu": "a < 0.0 ? a * b : a",
    "Equal": "a == b ? 1.0 : 0.0", "Less": "a < b ? 1.0 : 0.0", "Greater": "a > b ? 1.0 : 0.0",
    "LessOrEqual": "a <= b ? 1.0 : 0.0", "GreaterOrEqual": "a >= b ? 1.0 : 0.0",
    "And": "(a != 0.0 && b != 0.0) ? 1.0 : 0.0", "Or": "(a != 0.0 || b != 0.0) ? 1.0 : 0.0",
    "Xor": "((a != 0.0) != (b != 0.0)) ? 1.0 : 0.0",
}
COMPARE = frozenset({"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor"})
# Max/Min: NaN if either operand is NaN, as onnxruntime (GLSL's max/min leave it undefined)
MINMAX_NAN = (
    f"float max_nan(float a, float b) {{ return (a > b || {is_nan('a')}) ? a : b; }}\n"
    f"float min_nan(float a, float b) {{ return (a < b || {is_nan('a')}) ? a : b; }}\n"
)


def _need_f32(node: Node, ctx: Ctx, vals: list[Value]) -> None:
    need_float(node, ctx, vals)


def _pow_expr(node: Node) -> tuple[str, str]:
    e = node.input(1)
    if e is not None and e.const is not None and e.const.size and np.all(e.const == e.const.flat[0]):
        k = float(e.const.flat[0])
        special = {1.0: "a", 2.0: "a * a", 3.0: "a * a * a", 0.5: "sqrt(a)", -1.0: "1.0 / a", 0.0: "1.0"}
        if k in special:
            return "", special[k]
    return "", "pow_(a, b)"  # (defined by glsl.fragment: expr_glsl.POW)


# Integer arithmetic (a, b are GLSL ints; exact while values stay within 2**24 in textures).
INT_BINARY = {
    "Add": "a + b", "Sub": "a - b", "Mul": "a * b", "Max": "max(a, b)", "Min": "min(a, b)",
    "PRelu": "a < 0 ? a * b : a",
    "Div": "b == 0 ? 0 : ((a < 0) != (b < 0) ? -(abs(a) / abs(b)) : abs(a) / abs(b))",
}
INT_HELPERS = """
int fmod_i(int a, int b) { if (b == 0) return 0; int r = abs(a) % abs(b); return a < 0 ? -r : r; }
int mod_i(int a, int b) { int r = fmod_i(a, b); return (r != 0 && (r < 0) != (b < 0)) ? r + b : r; }
int pow_i(int a, int b) {
  if (b < 0) return a == 1 ? 1 : (a == -1 ? (b % 2 == 0 ? 1 : -1) : 0);
  int r = 1;
  for (int i = 0; i < 64; i++) { if (i >= b) break; r *= a; }
  return r;
}
"""
# Integer-only binary ops: the bitwise ops (on GLSL ints, wrapped like the rest) and BitShift.
BITWISE = {"BitwiseAnd": "a & b", "BitwiseOr": "a | b", "BitwiseXor": "a ^ b"}
# BitShift as ONNX (opset 28) defines it: a count that is negative or the type's width or more
# leaves the sign fill (right: -1 for a negative value, else 0; left: 0). int8/int16/int32/uint8 shift
# GLSL ints (a >> 31 is the sign fill); int64 shifts its float by an exact power of two, wrapping a
# left shift to 64 bits (exact while the value is, as every integer here: up to 2**24 in a texture).
SHIFT64_F = """
float p2_(int e) { return intBitsToFloat((e + 127) << 23); }
float shl64_(float a, float b) {
  if (b < 0.0 || b >= 64.0) return 0.0;
  float r = a * p2_(int(b));
  if (abs(r) < 9223372036854775808.0) return r;
  float m = r - 18446744073709551616.0 * floor(r / 18446744073709551616.0);
  return m >= 9223372036854775808.0 ? m - 18446744073709551616.0 : m;
}
float shr64_(float a, float b) { return floor(a * p2_(-((b < 0.0 || b >= 64.0) ? 63 : int(b)))); }
"""
FMOD_F = """
float fmod_f(float a, float b) { return a - b * trunc(a / b); }
float mod_f(float a, float b) { float r = fmod_f(a, b); return (r != 0.0 && (r < 0.0) != (b < 0.0)) ? r + b : r; }
"""


def _int_binary(node: Node, args: list[str]) -> Expr:
    op, to = node.op_type, node.outputs[0].dtype
    if op == "Mod":
        expr = "fmod_i(a, b)" if int(node.attrs.get("fmod", 0)) else "mod_i(a, b)"
    elif op == "Pow":
        expr = "pow_i(a, b)"
    elif op == "BitShift":
        left = node.attrs.get("direction", "LEFT") == "LEFT"
        if to == DType.INT64:
            f = "shl64_(a, b)" if left else "shr64_(a, b)"
            return Expr(_subst(f, a=args[0], b=args[1]), (SHIFT64_F,))
        assert to is not None
        out = f"(b < 0 || b >= {8 * to.itemsize})"
        expr = f"({out} ? 0 : a << b)" if left else f"(a >> ({out} ? 31 : b))"
    elif op in BITWISE:
        expr = BITWISE[op]
    else:
        expr = INT_BINARY[op]
    # integers travel as exact floats: int() recovers them, float() stores the wrapped result
    code = _subst(expr, a=f"int({args[0]})", b=f"int({args[1]})")
    return Expr(f"float({wrap_int(to, code)})", (INT_HELPERS,))


def _binary(node: Node, ctx: Ctx, args: list[str]) -> Expr:
    op = node.op_type
    out_int = node.outputs[0].dtype in INTS
    if out_int and len(args) == 2 and (op in INT_BINARY or op in BITWISE or op in ("Mod", "Pow", "BitShift")):
        return _int_binary(node, args)
    if op == "BitShift" or op in BITWISE:
        raise ctx.fail(node, f"computes {op} on integer tensors only")
    if op == "Pow":  # float base, any numeric exponent
        _need_f32(node, ctx, [v for v in node.inputs[:1] if v is not None])
    elif op in ("Max", "Min") and (out_int or node.outputs[0].dtype in FLOATS):
        pass  # comparisons are exact on integers held in float32
    elif op not in COMPARE:
        _need_f32(node, ctx, [v for v in node.inputs if v is not None])
    if op == "Mod":
        f = "fmod_f(a, b)" if int(node.attrs.get("fmod", 0)) else "mod_f(a, b)"
        return Expr(_subst(f, a=args[0], b=args[1]), (FMOD_F,))
    if len(args) == 1:
        return Expr(args[0])
    if op == "Pow":
        helpers, expr = _pow_expr(node)
        return Expr(_subst(expr, a=args[0], b=args[1]), (helpers,) if helpers else ())
    helpers = (MINMAX_NAN,) if op in ("Max", "Min") else ()
    if op in ("Sum", "Mean") or (op in ("Max", "Min") and len(args) > 2):
        f = {"Sum": "a + b", "Mean": "a + b", "Max": "max_nan(a, b)", "Min": "min_nan(a, b)"}[op]
        acc = args[0]
        for r in args[1:]:  # left to right, as the fallback kernel sums
            acc = "(" + _subst(f, a=acc, b=r) + ")"
        return Expr(f"{acc} / {flt(len(args))}" if op == "Mean" else acc, helpers)
    return Expr(_subst(BINARY[op], a=args[0], b=args[1]), helpers)


@dataclass(frozen=True)
class Expr:
    code: str  # GLSL float expression of the operands' elements
    helpers: tuple[str, ...] = ()  # GLSL function blocks it calls


UNARY_SET = frozenset(UNARY_OPS)
# every op `expression` writes (compose.py registers their kernels)
ELEMENTWISE_OPS = (*UNARY_OPS, *BINARY, *BITWISE, "Pow", "Sum", "Mean", "Mod", "BitShift", "Where")


def operands(node: Node, ctx: Ctx) -> list[Value]:
    """The inputs `expression` reads, in the order of its `args` (unary ops: the first only;
    Clip's bounds are attributes by now)."""
    if node.op_type in UNARY_SET or node.op_type == "Where":
        count = 1 if node.op_type in UNARY_SET else 3
        vals = node.inputs[:count]
        for i in range(count):
            if i >= len(vals) or vals[i] is None:
                raise ctx.fail(node, f"needs input {i}")
        return [v for v in vals if v is not None]
    return [v for v in node.inputs if v is not None]


def expression(node: Node, ctx: Ctx, args: list[str]) -> Expr:
    """`node`'s output element from its operands' elements `args` (GLSL float expressions), as
    its own pass would compute it before the store. Raises the op's UnsupportedOperatorError
    for dtypes it does not compute."""
    if node.op_type in UNARY_SET:
        return _unary(node, ctx, args[0])
    if node.op_type == "Where":
        c, a, b = (_paren(x) for x in args)
        return Expr(f"{c} != 0.0 ? {a} : {b}")
    return _binary(node, ctx, args)


def _paren(x: str) -> str:
    return x if re.fullmatch(r"\w+", x) else f"({x})"


def _subst(template: str, **names: str) -> str:
    """Put each operand for its whole-word variable (x, or a and b) in an expression template
    (`0x7f800000u` holds no whole-word x)."""
    pattern = r"\b(" + "|".join(names) + r")\b"
    return re.sub(pattern, lambda m: _paren(names[m.group(1)]), template)


@kernel("BatchNormalization")
def _batchnorm(ctx: Ctx, node: Node) -> list[Pass]:
    xs = ins(node, ctx, 5)
    _need_f32(node, ctx, xs)
    xshape = shape(xs[0])
    inner = sym_prod(xshape[2:])
    c = xshape[1]
    eps = flt(attr_float(node.attrs.get("epsilon", 1e-5)))
    body = (
        f"float compute(int o) {{ int c = (o / {inner}) % {c};\n"
        f"  return (X0(o) - X3(c)) * (X1(c) / sqrt(X4(c) + {eps})) + X2(c); }}\n"
    )
    return [Pass(node.op_type, node.name, xs, node.outputs[0], body)]
