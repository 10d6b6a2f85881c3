"""Elementwise operators: broadcasting arithmetic, comparisons and logic, Where, unary math,
activations, Clip, Cast/CastLike, Identity and Dropout.

Canonical form: every attribute default is filled in; Clip's min/max inputs become the
`min`/`max` attributes (+-inf when absent); CastLike becomes a one-input node with `to`;
Dropout loses its ratio/training_mode inputs and any mask output nothing reads.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Node
from webdnn.ops._util import broadcast, defaults, in_dtype, in_shape, set_out
from webdnn.ops.registry import shape_rule, unsupported
from webdnn.ops.tensor_common import FLOATS, INTS, NUMERIC, all_inputs, check_dtype, fail, py_scalar, scalar_param
from webdnn.ops.unary_ops import UNARY

ARITHMETIC = ("Add", "Sub", "Mul", "Div", "Pow", "Mod")
COMPARISONS = ("Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual")
LOGICAL = ("And", "Or", "Xor")
# Integer-only binary ops: the bitwise ops (opset 18) and BitShift (signed types since opset 28).
BITWISE = ("BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitShift")
VARIADIC = ("Max", "Min", "Sum", "Mean")

# Unary ops and their attribute defaults: the ops of the table (unary_ops.py) but Clip, whose
# rule is its own.
UNARY_DEFAULTS: dict[str, dict[str, Any]] = {k: u.defaults for k, u in UNARY.items() if not u.own_rule}
# Unary ops defined for integer tensors too (the rest take floats only).
UNARY_ANY_NUMERIC = frozenset(k for k, u in UNARY.items() if u.integer_ok)

# Clip before opset 11 defaulted to the float32 range (not infinity): keep that exactly.
FLT_MAX = float(np.finfo(np.float32).max)


@shape_rule(*ARITHMETIC, *BITWISE)
def _arithmetic(node: Node, graph: Graph) -> None:
    all_inputs(node, 2)
    dt = in_dtype(node, 0)
    op = node.op_type
    if op == "BitShift":
        direction = node.attrs.get("direction")
        if direction not in ("LEFT", "RIGHT"):
            raise fail(node, f"attribute 'direction' must be LEFT or RIGHT, got {direction!r}")
    elif op == "Mod":
        defaults(node, fmod=0)
        node.attrs["fmod"] = int(node.attrs["fmod"])
        if dt in FLOATS and node.attrs["fmod"] != 1:
            raise unsupported(node, graph, "Mod of floating-point tensors needs fmod=1 (ONNX rule)")
    if op != "Pow" and in_dtype(node, 1) != dt:
        raise fail(node, f"inputs have different element types {dt.value} and {in_dtype(node, 1).value}")
    if op in BITWISE:
        check_dtype(node, graph, 0, INTS, f"{op} takes integer tensors")
    else:
        check_dtype(node, graph, 0, NUMERIC, f"{op} takes numeric tensors")
    if op == "Pow":
        check_dtype(node, graph, 1, NUMERIC, "Pow takes a numeric exponent")
    set_out(node, 0, dt, broadcast(node, in_shape(node, 0), in_shape(node, 1), graph=graph))


@shape_rule(*COMPARISONS)
def _compare(node: Node, graph: Graph) -> None:
    all_inputs(node, 2)
    ok = NUMERIC | {DType.BOOL} if node.op_type == "Equal" else NUMERIC
    check_dtype(node, graph, 0, ok, f"{node.op_type} takes numeric tensors")
    if in_dtype(node, 1) != in_dtype(node, 0):
        raise fail(node, "inputs have different element types")
    set_out(node, 0, DType.BOOL, broadcast(node, in_shape(node, 0), in_shape(node, 1), graph=graph))


@shape_rule(*LOGICAL)
def _logical(node: Node, graph: Graph) -> None:
    all_inputs(node, 2)
    for i in (0, 1):
        check_dtype(node, graph, i, frozenset({DType.BOOL}), f"{node.op_type} takes bool tensors")
    set_out(node, 0, DType.BOOL, broadcast(node, in_shape(node, 0), in_shape(node, 1), graph=graph))


@shape_rule("Not")
def _not(node: Node, graph: Graph) -> None:
    check_dtype(node, graph, 0, frozenset({DType.BOOL}), "Not takes bool tensors")
    set_out(node, 0, DType.BOOL, in_shape(node, 0))


@shape_rule("BitwiseNot")
def _bitwise_not(node: Node, graph: Graph) -> None:
    dt = check_dtype(node, graph, 0, INTS, "BitwiseNot takes integer tensors")
    set_out(node, 0, dt, in_shape(node, 0))


@shape_rule(*VARIADIC)
def _variadic(node: Node, graph: Graph) -> None:
    all_inputs(node, 1)
    dt = check_dtype(node, graph, 0, NUMERIC, f"{node.op_type} takes numeric tensors")
    if any(in_dtype(node, i) != dt for i in range(len(node.inputs))):
        raise fail(node, "inputs have different element types")
    set_out(node, 0, dt, broadcast(node, *(in_shape(node, i) for i in range(len(node.inputs))), graph=graph))


@shape_rule("PRelu")
def _prelu(node: Node, graph: Graph) -> None:
    all_inputs(node, 2)
    dt = check_dtype(node, graph, 0, NUMERIC, "PRelu takes numeric tensors")
    x, slope = in_shape(node, 0), in_shape(node, 1)
    if broadcast(node, x, slope) != tuple(x):  # unidirectional: slope broadcasts to x
        raise fail(node, f"slope shape {slope} does not broadcast to input shape {x}")
    set_out(node, 0, dt, x)


@shape_rule("Where")
def _where(node: Node, graph: Graph) -> None:
    all_inputs(node, 3)
    check_dtype(node, graph, 0, frozenset({DType.BOOL}), "Where's condition must be bool")
    dt = in_dtype(node, 1)
    if in_dtype(node, 2) != dt:
        raise fail(node, "X and Y have different element types")
    set_out(node, 0, dt, broadcast(node, in_shape(node, 0), in_shape(node, 1), in_shape(node, 2), graph=graph))


@shape_rule(*UNARY_DEFAULTS)
def _unary(node: Node, graph: Graph) -> None:
    op = node.op_type
    defaults(node, **UNARY_DEFAULTS[op])
    for k, d in UNARY[op].defaults.items():
        if isinstance(d, float):
            node.attrs[k] = float(node.attrs[k])
    if op == "Gelu" and node.attrs["approximate"] not in ("none", "tanh"):
        raise unsupported(node, graph, f"approximate={node.attrs['approximate']!r} (only none, tanh)")
    if op != "Identity":
        ok = NUMERIC if op in UNARY_ANY_NUMERIC else FLOATS
        check_dtype(node, graph, 0, ok, f"{op} takes {'numeric' if ok is NUMERIC else 'float'} tensors")
    set_out(node, 0, in_dtype(node, 0), in_shape(node, 0))


@shape_rule("IsNaN", "IsInf")
def _is_class(node: Node, graph: Graph) -> None:
    if node.op_type == "IsInf":
        defaults(node, detect_negative=1, detect_positive=1)
    check_dtype(node, graph, 0, FLOATS, f"{node.op_type} takes float tensors")
    set_out(node, 0, DType.BOOL, in_shape(node, 0))


@shape_rule("Clip")
def _clip(node: Node, graph: Graph) -> None:
    dt = check_dtype(node, graph, 0, NUMERIC, "Clip takes numeric tensors")
    if len(node.inputs) > 1:  # opset 11+: optional scalar inputs
        lo, hi = scalar_param(node, 1), scalar_param(node, 2)
        inf = float("inf")
        node.attrs["min"] = -inf if lo is None else py_scalar(lo, dt)
        node.attrs["max"] = inf if hi is None else py_scalar(hi, dt)
    elif graph.opset < 11:
        node.attrs["min"] = float(node.attrs.get("min", -FLT_MAX))
        node.attrs["max"] = float(node.attrs.get("max", FLT_MAX))
    else:
        node.attrs.setdefault("min", float("-inf"))
        node.attrs.setdefault("max", float("inf"))
    set_out(node, 0, dt, in_shape(node, 0))


@shape_rule("Cast", "CastLike")
def _cast(node: Node, graph: Graph) -> None:
    if node.op_type == "CastLike" and len(node.inputs) > 1:  # (a canonical CastLike has one input)
        all_inputs(node, 2)
        node.attrs["to"] = in_dtype(node, 1).to_onnx()
        del node.inputs[1:]  # only its element type mattered
    if "to" not in node.attrs:
        raise fail(node, "attribute 'to' is missing")
    defaults(node, saturate=1)
    try:
        to = DType.from_onnx(int(node.attrs["to"]))
    except ValueError as e:
        raise unsupported(node, graph, str(e)) from None
    node.attrs["to"] = int(node.attrs["to"])
    set_out(node, 0, to, in_shape(node, 0))


@shape_rule("Dropout")
def _dropout(node: Node, graph: Graph) -> None:
    if len(node.inputs) > 2 and node.inputs[2] is not None:
        v = node.inputs[2]
        if not v.is_const or bool(np.asarray(v.const).reshape(-1)[0]):
            raise unsupported(node, graph, "training_mode must be a constant false (inference only)")
    del node.inputs[1:]  # ratio and training_mode do not matter at inference
    node.attrs.pop("ratio", None)
    node.attrs.pop("is_test", None)
    if len(node.outputs) > 1:
        mask = node.outputs[1]
        if graph.users().get(id(mask)) or graph.is_graph_output(mask):
            # Opset 10+ masks are bool; before, of the input's type. Always all-true.
            mask_dt = DType.BOOL if graph.opset >= 10 else in_dtype(node, 0)
            set_out(node, 1, mask_dt, in_shape(node, 0))
        else:
            mask.producer = None
            del node.outputs[1:]
    set_out(node, 0, in_dtype(node, 0), in_shape(node, 0))

