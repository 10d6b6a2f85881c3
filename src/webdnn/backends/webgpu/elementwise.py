"""Elementwise kernels: unary math and activations, broadcasting binary/variadic arithmetic,
comparisons and logic, Where, Clip, Cast.

Each op is an *expression*: `expression(node, args)` gives the node's output element as a WGSL
expression of its operands' elements (`operands(node)`, one WGSL expression each). `compose`
turns a topologically ordered list of such nodes into one kernel: every external input is
read once per output element, at the output coordinates through its own baked broadcast
strides, every intermediate is a `let`, and the last node's output is stored. A single op is
the one-node case; fuse_elementwise.py builds the longer lists. `host_epilogue` applies such a
list to a Conv/MatMul/Gemm output element before that kernel stores it (fuse_epilogues).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from webdnn.backends.webgpu import expr_wgsl
from webdnn.backends.webgpu.wgsl import (
    MINMAX_NAN,
    Ctx,
    Dispatch,
    Shader,
    Unsupported,
    arith_type,
    broadcast_strides,
    dot,
    f32,
    ins,
    literal,
    map_dispatch,
    narrow,
    need_f32,
    need_float,
    prod,
    register,
    shape,
    u32,
    unravel,
    zero,
)
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Node, Value
from webdnn.ops.unary_ops import UNARY, unary_expr

BINARY: dict[str, str] = {
    "Add": "a + b", "Sub": "a - b", "Mul": "a * b", "Div": "a / b", "Pow": "pow_(a, b)",
    "Max": "max_nan(a, b)", "Min": "min_nan(a, b)", "Sum": "a + b", "Mean": "a + b",
    "PRelu": "select(a * b, a, a >= 0.0)",
    "Mod": "a - b * trunc(a / b)",
}
# integer (i32 / u32 arithmetic types: int32, int16, int8, uint8) forms
INT_BINARY: dict[str, str] = {
    "Add": "a + b", "Sub": "a - b", "Mul": "a * b", "Div": "select(a / b, a - a, b == b - b)", "Max": "max(a, b)",
    "Min": "min(a, b)", "Sum": "a + b",
}
COMPARE: dict[str, str] = {
    "Equal": "a == b", "Less": "a < b", "Greater": "a > b", "LessOrEqual": "a <= b", "GreaterOrEqual": "a >= b",
}
# int64 comparisons on (low, high) words
I64_COMPARE: dict[str, str] = {
    "Equal": "all(a == b)", "Less": "lt64(a, b)", "Greater": "lt64(b, a)", "LessOrEqual": "!lt64(b, a)",
    "GreaterOrEqual": "!lt64(a, b)",
}
_LT64 = """fn lt64(a: vec2<u32>, b: vec2<u32>) -> bool {
    let ah = bitcast<i32>(a.y);
    let bh = bitcast<i32>(b.y);
    return ah < bh || (ah == bh && a.x < b.x);
}
"""
LOGIC: dict[str, str] = {"And": "a && b", "Or": "a || b", "Xor": "a != b"}
# int64 arithmetic on (low, high) words, wrapping as int64 does
I64_BINARY: dict[str, str] = {
    "Add": "add64(a, b)", "Sum": "add64(a, b)", "Sub": "sub64(a, b)", "Mul": "mul64(a, b)",
    "Max": "select(a, b, lt64(a, b))", "Min": "select(a, b, lt64(b, a))",
}
_I64 = """fn add64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let lo = a.x + b.x;
    return vec2<u32>(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}
fn sub64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    return vec2<u32>(a.x - b.x, a.y - b.y - select(0u, 1u, a.x < b.x));
}
fn mulhi32(x: u32, y: u32) -> u32 {
    let x0 = x & 0xffffu; let x1 = x >> 16u; let y0 = y & 0xffffu; let y1 = y >> 16u;
    let p01 = x0 * y1; let p10 = x1 * y0;
    let mid = ((x0 * y0) >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
    return x1 * y1 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
}
fn mul64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    return vec2<u32>(a.x * b.x, mulhi32(a.x, b.x) + a.x * b.y + a.y * b.x);
}
"""
# integer-only ops on i32 / u32 (narrow types wrap when stored) and, elementwise, on int64's words
BITWISE: dict[str, str] = {"BitwiseAnd": "a & b", "BitwiseOr": "a | b", "BitwiseXor": "a ^ b"}
_INT_T = ("i32", "u32", "vec2<u32>")
# int64 BitShift on (low, high) words; a count that is negative or 64 or more: 0, or the sign fill
# for a right shift (shr64 shifts by 63)
_SHIFT64 = """fn shl64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    if (b.y != 0u || b.x >= 64u) { return vec2<u32>(0u, 0u); }
    if (b.x >= 32u) { return vec2<u32>(0u, a.x << (b.x - 32u)); }
    if (b.x == 0u) { return a; }
    return vec2<u32>(a.x << b.x, (a.y << b.x) | (a.x >> (32u - b.x)));
}
fn shr64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let hi = bitcast<i32>(a.y);
    let s = select(63u, b.x, b.y == 0u && b.x < 64u);
    if (s >= 32u) { return vec2<u32>(bitcast<u32>(hi >> (s - 32u)), bitcast<u32>(hi >> 31u)); }
    if (s == 0u) { return a; }
    return vec2<u32>((a.x >> s) | (a.y << (32u - s)), bitcast<u32>(hi >> s));
}
"""
# ONNX Mod (fmod=0) on integers: the remainder takes the divisor's sign; x % 0 = 0
_IMOD = "select(select(a % b, a % b + b, (a % b != a - a) && ((a % b < a - a) != (b < b - b))), a - a, b == b - b)"


@dataclass(frozen=True)
class Expr:
    """A node's output element as WGSL (typed arith_type of its output dtype) and the helper
    functions it calls (whole blocks, so a composed kernel can define each one once)."""

    code: str
    helpers: tuple[str, ...] = ()


ExprFn = Callable[[Node, list[str]], Expr]
EXPRESSIONS: dict[str, ExprFn] = {}
# ops whose expression reads only input 0 (Clip's bounds and CastLike's target are attributes/types)
_FIRST_ONLY = frozenset({*UNARY, "Not", "BitwiseNot", "IsNaN", "IsInf", "Cast", "CastLike"})


def _expression(*ops: str) -> Callable[[ExprFn], ExprFn]:
    def deco(fn: ExprFn) -> ExprFn:
        for op in ops:
            EXPRESSIONS[op] = fn
        return fn

    return deco


def operands(node: Node) -> list[Value]:
    """The inputs `expression` reads, in the order of its `args`."""
    xs = ins(node)
    return xs[:1] if node.op_type in _FIRST_ONLY else xs


def expression(node: Node, args: list[str]) -> Expr:
    """`node`'s output element from its operands' elements `args` (WGSL expressions typed
    arith_type of each operand's dtype). Raises Unsupported for dtypes/attributes it lacks."""
    return EXPRESSIONS[node.op_type](node, args)


@_expression(*UNARY)
def _unary(node: Node, args: list[str]) -> Expr:
    """Every op of the unary table (ops/unary_ops.py), printed by expr_wgsl."""
    x, y = ins(node)[0], node.outputs[0]
    if node.op_type == "Identity" and x.dtype == y.dtype:  # any dtype: a copy
        return Expr(args[0])
    need_float(x, y)
    return Expr(expr_wgsl.call(unary_expr(node.op_type, node.attrs), args[0]))


@_expression("Not")
def _not(node: Node, args: list[str]) -> Expr:
    return Expr(f"!({args[0]})")


@_expression("BitwiseNot")
def _bitwise_not(node: Node, args: list[str]) -> Expr:
    x = ins(node)[0]
    if arith_type(x.dtype) not in _INT_T:
        raise Unsupported(f"BitwiseNot of {x.dtype.value if x.dtype else '?'} tensors")
    return Expr(f"(~({args[0]}))")  # uint8: the store keeps the low byte


@_expression("IsNaN", "IsInf")
def _is_special(node: Node, args: list[str]) -> Expr:
    need_f32(ins(node)[0])
    x = f"bitcast<u32>({args[0]})"  # on the bits: shader compilers may fold `x != x` away
    if node.op_type == "IsNaN":
        return Expr(f"(({x} & 0x7fffffffu) > 0x7f800000u)")
    pos, neg = int(node.attrs.get("detect_positive", 1)), int(node.attrs.get("detect_negative", 1))
    tests = ([f"{x} == 0x7f800000u"] if pos else []) + ([f"{x} == 0xff800000u"] if neg else [])
    return Expr(f"({' || '.join(tests) or 'false'})")


def _shift(left: bool, dtype: DType) -> tuple[str, tuple[str, ...]]:
    """BitShift as ONNX (opset 28) defines it: arithmetic right shifts; left shifts wrap in the
    type's width; a count that is negative or the width or more gives the sign fill (-1 for a right
    shift of a negative value, else 0). WGSL takes a runtime count modulo 32, hence the clamps."""
    t = arith_type(dtype)
    if t == "vec2<u32>":
        return ("shl64(a, b)" if left else "shr64(a, b)"), (_SHIFT64,)
    bits = 8 * dtype.itemsize
    if t == "u32":  # uint8: below 2**8, so a shift by 8 clears it (left: the store keeps the low byte)
        return (f"a << min(b, {bits}u)" if left else f"a >> min(b, {bits}u)"), ()
    # int8/int16/int32, sign-extended in i32: a negative count is a huge u32
    n = "bitcast<u32>(b)"
    return (f"select(a << {n}, 0i, {n} >= {bits}u)" if left else f"a >> min({n}, {bits - 1}u)"), ()


@_expression(*BINARY, *COMPARE, *LOGIC, *BITWISE, "BitShift")
def _binary(node: Node, args: list[str]) -> Expr:
    xs = ins(node)
    y = node.outputs[0]
    op = node.op_type
    t = arith_type(xs[0].dtype)
    helpers: tuple[str, ...] = ()
    if op in COMPARE:
        if t == "vec2<u32>":
            expr, helpers = I64_COMPARE[op], (_LT64,)
        elif t == "bool" and op != "Equal":
            raise Unsupported(f"{op} of bool tensors")
        else:
            expr = COMPARE[op]
    elif op in LOGIC:
        expr = LOGIC[op]
    elif op in BITWISE or op == "BitShift":
        if t not in _INT_T:
            raise Unsupported(f"{op} of {xs[0].dtype.value if xs[0].dtype else '?'} tensors")
        assert xs[0].dtype is not None
        expr, helpers = (BITWISE[op], ()) if op in BITWISE else _shift(node.attrs["direction"] == "LEFT", xs[0].dtype)
    elif t == "f32":
        if op == "Pow":
            need_float(xs[0], y)
        else:
            need_float(*xs, y)
        expr = BINARY[op]
        helpers = (expr_wgsl.POW,) if op == "Pow" else (MINMAX_NAN,) if op in ("Max", "Min") else ()
    elif t == "vec2<u32>" and op in I64_BINARY:
        expr, helpers = I64_BINARY[op], (_LT64, _I64)
    elif t in ("i32", "u32") and (op in INT_BINARY or op == "Mod"):
        expr = INT_BINARY.get(op) or ("a % b" if int(node.attrs.get("fmod", 0)) else _IMOD)
        if op == "Mod" and int(node.attrs.get("fmod", 0)):
            expr = "select(a % b, a - a, b == b - b)"
    else:
        raise Unsupported(f"{op} of {xs[0].dtype.value if xs[0].dtype else '?'} tensors")
    args = list(args)
    if op == "Pow" and arith_type(xs[1].dtype) != t:  # the exponent may have another type
        assert xs[0].dtype is not None and xs[1].dtype is not None
        args[1] = cast_expr(xs[1].dtype, xs[0].dtype, args[1])
    acc = args[0]
    for r in args[1:]:
        acc = _apply(expr, acc, r)
    if op == "Mean":
        acc = f"(({acc}) / {f32(len(args))})"
    return Expr(acc, helpers)


@_expression("Where")
def _where(node: Node, args: list[str]) -> Expr:
    c, a, b = args
    return Expr(f"select({b}, {a}, {c})")


@_expression("Cast", "CastLike")
def _cast(node: Node, args: list[str]) -> Expr:
    x, y = ins(node)[0], node.outputs[0]
    assert x.dtype is not None and y.dtype is not None
    return Expr(cast_expr(x.dtype, y.dtype, args[0]))


def _apply(expr: str, a: str, b: str) -> str:
    """Substitute operands into a binary expression over `a` and `b` (whole-word)."""
    return "(" + re.sub(r"\b[ab]\b", lambda m: f"({a})" if m.group(0) == "a" else f"({b})", expr) + ")"


def cast_expr(src: DType, dst: DType, x: str) -> str:
    """WGSL expression converting `x` (arith_type(src)) to arith_type(dst)."""
    ts, td = arith_type(src), arith_type(dst)
    if src == dst or (ts == td and ts != "vec2<u32>"):
        return x
    if td == "bool":
        return f"({x} != {zero(src)})" if ts != "vec2<u32>" else f"any({x} != vec2<u32>(0u, 0u))"
    if ts == "bool":
        return f"select({zero(dst)}, {literal(dst, 1)}, {x})"
    if ts == "vec2<u32>":  # int64 -> number: the low word when the value fits (f32 rounds anyway)
        as_i32 = f"bitcast<i32>({x}.x)"
        if td == "f32":
            fits = f"bitcast<i32>({x}.y) == ({as_i32} >> 31u)"
            big = f"f32(bitcast<i32>({x}.y)) * 4294967296.0 + f32({x}.x)"
            return f"select({big}, f32({as_i32}), {fits})"
        return as_i32 if td == "i32" else f"{x}.x"
    if td == "vec2<u32>":
        v = f"i32({x})" if ts != "u32" else f"bitcast<i32>({x})"
        return f"vec2<u32>(bitcast<u32>({v}), select(0u, 0xffffffffu, {v} < 0i))"
    if td == "f32":
        return f"f32({x})"
    if ts == "f32":
        return f"i32({x})" if td == "i32" else f"bitcast<u32>(i32({x}))"
    return f"bitcast<{td}>({x})"  # i32 <-> u32: the bits, narrowed when stored



def _reader(sh: Shader, v: Value, out_shape: tuple[int, ...]) -> str:
    """WGSL expression of `v`'s element at the output coordinates c0.. (or at `i`)."""
    s = shape(v)
    if s == out_shape:
        return sh.at(v, "i")
    if int(np.prod(s)) == 1:
        return sh.at(v, "0u")
    return sh.at(v, dot("c", broadcast_strides(s, out_shape)))


@dataclass
class Chain:
    """Elementwise nodes written as WGSL statements: `lets` (loads of the external inputs, then
    the intermediates) and the last node's output `expr`, plus the helper blocks they call."""

    lets: list[str]
    expr: str
    helpers: dict[str, None]


def chain(nodes: Sequence[Node], read: Callable[[Value], str], given: dict[int, str] | None = None) -> Chain:
    """Walk elementwise `nodes` (topological order): each value they read but do not produce is
    loaded once by `read(value)` into a `let a<j>` (unless `given` names it already: id -> WGSL),
    every node but the last becomes a `let t<k>`, narrowed to what a store would keep."""
    names = dict(given or {})  # id(value) -> its WGSL name
    loads: list[str] = []
    lets: list[str] = []
    helpers: dict[str, None] = {}  # ordered set of helper blocks
    expr = ""
    for k, node in enumerate(nodes):
        args = []
        for v in operands(node):
            if id(v) not in names:
                names[id(v)] = f"a{len(loads)}"
                loads.append(f"let a{len(loads)} = {read(v)};")
            args.append(names[id(v)])
        e = expression(node, args)
        helpers.update(dict.fromkeys(e.helpers))
        expr = e.code
        if k < len(nodes) - 1:
            out = node.outputs[0]
            names[id(out)] = f"t{k}"
            # the value a separate kernel would have stored and read back (uint8/int8 wrap, f16 rounding)
            lets.append(f"let t{k} = {narrow(out.dtype, expr)};")
    return Chain(loads + lets, expr, helpers)


def compose(ctx: Ctx, nodes: Sequence[Node]) -> Dispatch:
    """One kernel for elementwise `nodes` (topological order): the last node's output from the
    values the nodes read but do not produce. Every other node's output must be read only by
    later nodes of the list (it becomes a `let`, never stored). Intermediates broadcast into the
    output's shape, so each external input is read through its broadcast strides against it."""
    y = nodes[-1].outputs[0]
    out_shape = shape(y)
    sh = Shader(ctx)
    reads: list[str] = []

    def read(v: Value) -> str:
        reads.append(_reader(sh, v, out_shape))
        return reads[-1]

    c = chain(nodes, read)
    pre = "\n    ".join(filter(None, [_coords(reads, out_shape), *c.lets]))
    return map_dispatch(sh, y, pre, c.expr, "".join(c.helpers))


def _coords(reads: list[str], out_shape: tuple[int, ...]) -> str:
    return unravel("i", out_shape) if any(re.search(r"\bc\d", r) for r in reads) else ""


def broadcast_index(idx: str, v_shape: Sequence[int], out_shape: Sequence[int]) -> str:
    """WGSL index of the element of a `v_shape` tensor that broadcasts to linear element `idx`
    (a u32 expression) of `out_shape`: only the axes `v` does not broadcast along are decoded,
    each by one division and one modulo (a per-channel bias costs `(idx / HW) % C`)."""
    if tuple(v_shape) == tuple(out_shape):
        return idx
    st = broadcast_strides(v_shape, out_shape)
    terms = []
    for d, s in enumerate(st):
        if s == 0:
            continue
        inner = prod(out_shape[d + 1:])
        c = f"({idx})" if inner == 1 else f"(({idx}) / {u32(inner)})"
        if d > 0:  # the leading axis needs no modulo: idx < the output's size
            c = f"({c} % {u32(out_shape[d])})"
        terms.append(c if s == 1 else f"{c} * {u32(s)}")
    return " + ".join(terms) or "0u"


def epilogue(sh: Shader, nodes: Sequence[Node], x: Value, xv: str, idx: str) -> Chain:
    """Elementwise `nodes` applied to a kernel's computed output element: `x` (the value the
    nodes read, never stored) is the WGSL f32 `xv`, and every other operand is loaded from its
    own binding at the output element `idx` (linear, u32) through its broadcast strides."""
    out_shape = shape(nodes[-1].outputs[0])
    assert shape(x) == out_shape, "an epilogue keeps its kernel's output shape"
    return chain(nodes, lambda v: sh.at(v, broadcast_index(idx, shape(v), out_shape)), {id(x): xv})


def host_epilogue(sh: Shader, node: Node, y: str, idx: str) -> tuple[str, str, str]:
    """The output element of a kernel with an epilogue (Conv, MatMul, Gemm) from `y`, its value
    with bias and fused activation applied: the elementwise nodes fuse_epilogues folded into it
    (attrs["epilogue"]), reading their other operands at linear output element `idx`. Returns
    (statements, f32 expression, helper functions); without an epilogue `y` itself."""
    nodes = node.attrs.get("epilogue")
    if not nodes:
        return "", y, ""
    c = epilogue(sh, nodes, node.attrs["epilogue_x"], "x", idx)
    return "\n    ".join([f"let x = {y};", *c.lets]), c.expr, "".join(c.helpers)


def epilogue_storages(sh: Shader, node: Node) -> set[tuple[str, int]]:
    """The bindings (Shader keys) the epilogue reads as f32: a host operand that shares one must
    not be bound as vec4 (one binding has one element type)."""
    nodes = node.attrs.get("epilogue", [])
    inner = {id(node.attrs.get("epilogue_x"))} | {id(n.outputs[0]) for n in nodes}  # never stored
    return {sh._key(sh.ctx.bound(v)[0]) for n in nodes for v in operands(n) if id(v) not in inner}


@register(*EXPRESSIONS)
def single(ctx: Ctx, node: Node) -> list[Dispatch]:
    return [compose(ctx, [node])]
