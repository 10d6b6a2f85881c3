"""Elementwise TensorFlow ops, reductions, Softmax and casts (layout kept: see tf_ops.py)."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto

from webdnn.frontend.keras_builder import KTensor
from webdnn.frontend.tf_ops import TfNode, aligned, norm_axes, removed_axes_layout, tf_op

UNARY = {"Relu": "Relu", "Elu": "Elu", "Selu": "Selu", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "Exp": "Exp",
         "Log": "Log", "Sqrt": "Sqrt", "Neg": "Neg", "Abs": "Abs", "Floor": "Floor", "Ceil": "Ceil",
         "Round": "Round", "Sin": "Sin", "Cos": "Cos", "Tan": "Tan", "Asin": "Asin", "Acos": "Acos",
         "Atan": "Atan", "Sinh": "Sinh", "Cosh": "Cosh", "Asinh": "Asinh", "Acosh": "Acosh", "Atanh": "Atanh",
         "Softplus": "Softplus", "Softsign": "Softsign", "Sign": "Sign", "Erf": "Erf", "Reciprocal": "Reciprocal",
         "Inv": "Reciprocal", "IsNan": "IsNaN", "LogicalNot": "Not", "Identity": "Identity",
         "StopGradient": "Identity", "Snapshot": "Identity"}
BINARY = {"Add": "Add", "AddV2": "Add", "Sub": "Sub", "Mul": "Mul", "RealDiv": "Div", "Div": "Div",
          "Maximum": "Max", "Minimum": "Min", "Pow": "Pow", "Greater": "Greater", "GreaterEqual": "GreaterOrEqual",
          "Less": "Less", "LessEqual": "LessOrEqual", "Equal": "Equal", "LogicalAnd": "And", "LogicalOr": "Or"}
# TensorFlow's DataType names -> ONNX element types (what Cast and ArgMax produce)
TF_TYPES = {"DT_FLOAT": TensorProto.FLOAT, "DT_INT32": TensorProto.INT32, "DT_INT64": TensorProto.INT64,
            "DT_BOOL": TensorProto.BOOL, "DT_HALF": TensorProto.FLOAT16, "DT_UINT8": TensorProto.UINT8,
            "DT_INT8": TensorProto.INT8, "DT_INT16": TensorProto.INT16, "DT_UINT16": TensorProto.UINT16,
            "DT_DOUBLE": TensorProto.DOUBLE}


def _same(x: KTensor, name: str) -> list[KTensor]:
    return [KTensor(name, x.shape, x.cf)]


@tf_op(*UNARY)
def unary(n: TfNode) -> list[KTensor]:
    x = n.tensor(0)
    return _same(x, n.b.one(UNARY[n.op], [x.name], n.name))


@tf_op("Relu6")
def relu6(n: TfNode) -> list[KTensor]:
    x, b = n.tensor(0), n.b
    return _same(x, b.one("Clip", [x.name, b.const(0.0, f"{n.name}/min"), b.const(6.0, f"{n.name}/max")], n.name))


@tf_op("LeakyRelu")
def leaky_relu(n: TfNode) -> list[KTensor]:
    x = n.tensor(0)
    return _same(x, n.b.one("LeakyRelu", [x.name], n.name, alpha=float(n.get("alpha", 0.2))))


@tf_op("Rsqrt")
def rsqrt(n: TfNode) -> list[KTensor]:
    x = n.tensor(0)
    return _same(x, n.b.one("Reciprocal", [n.b.one("Sqrt", [x.name], n.name)], n.name))


@tf_op("Square")
def square(n: TfNode) -> list[KTensor]:
    x = n.tensor(0)
    return _same(x, n.b.one("Mul", [x.name, x.name], n.name))


@tf_op(*BINARY)
def binary(n: TfNode) -> list[KTensor]:
    names, shape, cf = aligned(n, 0, 2)
    return [KTensor(n.b.one(BINARY[n.op], names, n.name), shape, cf)]


@tf_op("SquaredDifference")
def squared_difference(n: TfNode) -> list[KTensor]:
    names, shape, cf = aligned(n, 0, 2)
    d = n.b.one("Sub", names, n.name)
    return [KTensor(n.b.one("Mul", [d, d], n.name), shape, cf)]


@tf_op("NotEqual")
def not_equal(n: TfNode) -> list[KTensor]:
    names, shape, cf = aligned(n, 0, 2)
    return [KTensor(n.b.one("Not", [n.b.one("Equal", names, n.name)], n.name), shape, cf)]


@tf_op("FloorDiv")
def floor_div(n: TfNode) -> list[KTensor]:
    names, shape, cf = aligned(n, 0, 2)
    c = n.const(0) if n.const(0) is not None else n.const(1)
    q = n.b.one("Div", names, n.name)
    if c is not None and np.issubdtype(c.dtype, np.integer):  # ONNX integer Div truncates: floor it
        raise n.error("integer FloorDiv is not supported (only floating point)")
    return [KTensor(n.b.one("Floor", [q], n.name), shape, cf)]


@tf_op("FloorMod")
def floor_mod(n: TfNode) -> list[KTensor]:
    names, shape, cf = aligned(n, 0, 2)  # the sign of the divisor, as ONNX Mod with fmod=0
    c = n.const(0) if n.const(0) is not None else n.const(1)
    fmod = 0 if c is None or np.issubdtype(c.dtype, np.integer) else 1
    if fmod:  # floating point: x - floor(x / y) * y
        q = n.b.one("Floor", [n.b.one("Div", names, n.name)], n.name)
        return [KTensor(n.b.one("Sub", [names[0], n.b.one("Mul", [q, names[1]], n.name)], n.name), shape, cf)]
    return [KTensor(n.b.one("Mod", names, n.name, fmod=0), shape, cf)]


@tf_op("AddN")
def add_n(n: TfNode) -> list[KTensor]:
    names, shape, cf = aligned(n)
    return [KTensor(n.b.one("Sum", names, n.name), shape, cf)]


@tf_op("Select", "SelectV2")
def select(n: TfNode) -> list[KTensor]:
    names, shape, cf = aligned(n, 0, 3)
    return [KTensor(n.b.one("Where", names, n.name), shape, cf)]


@tf_op("Prelu")
def prelu(n: TfNode) -> list[KTensor]:
    names, shape, cf = aligned(n, 0, 2)
    return [KTensor(n.b.one("PRelu", names, n.name), shape, cf)]


@tf_op("Cast")
def cast(n: TfNode) -> list[KTensor]:
    x, to = n.tensor(0), str(n.get("DstT", "DT_FLOAT"))
    if to not in TF_TYPES:
        raise n.error(f"cast to {to}")
    return _same(x, n.b.one("Cast", [x.name], n.name, to=TF_TYPES[to]))


@tf_op("Softmax", "LogSoftmax")
def softmax(n: TfNode) -> list[KTensor]:
    x = n.tensor(0)
    return _same(x, n.b.one(n.op, [x.name], n.name, axis=n.b.axis(x, -1)))


REDUCE = {"Mean": "ReduceMean", "Sum": "ReduceSum", "Max": "ReduceMax", "Min": "ReduceMin", "Prod": "ReduceProd",
          "All": "ReduceMin", "Any": "ReduceMax"}


@tf_op(*REDUCE)
def reduce(n: TfNode) -> list[KTensor]:
    x, b = n.tensor(0), n.b
    axes = norm_axes(n.need_const(1, "reduction axes"), x.rank)
    keep = bool(n.get("keep_dims", False))
    if not axes:
        return _same(x, b.one("Identity", [x.name], n.name))
    if keep:
        src, data, cf = x, sorted(b.axis(x, a) for a in axes), x.cf
        shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    else:
        src, data, cf = removed_axes_layout(b, x, axes, n.name)
        shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
    inp = src.name
    boolean = n.op in ("All", "Any")
    if boolean:  # ONNX has no boolean reductions: min/max over 0/1
        inp = b.one("Cast", [inp], n.name, to=TensorProto.INT32)
    op = REDUCE[n.op]
    if op == "ReduceSum":  # opset 13+: axes as an input
        y = b.one(op, [inp, b.const(data, f"{n.name}/axes", np.int64)], n.name, keepdims=int(keep))
    else:
        y = b.one(op, [inp], n.name, axes=data, keepdims=int(keep))
    if boolean:
        y = b.one("Cast", [y], n.name, to=TensorProto.BOOL)
    return [KTensor(y, shape, cf)]


@tf_op("ArgMax", "ArgMin")
def arg_max(n: TfNode) -> list[KTensor]:
    x, b = n.tensor(0), n.b
    axis = norm_axes(n.need_const(1, "axis"), x.rank)[0]
    src, data, cf = removed_axes_layout(b, x, [axis], n.name)
    y = b.one(n.op, [src.name], n.name, axis=data[0], keepdims=0, select_last_index=0)
    to = str(n.get("output_type", "DT_INT64"))
    if to != "DT_INT64":
        y = b.one("Cast", [y], n.name, to=TF_TYPES[to])
    return [KTensor(y, tuple(d for i, d in enumerate(x.shape) if i != axis), cf)]
