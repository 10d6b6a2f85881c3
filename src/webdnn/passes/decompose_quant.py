"""Quantization ops written out as float arithmetic every backend runs (ops/nn_quant.py has the
rules). Integer tensors are widened with Cast, zero points subtracted, the product computed by
the float32 MatMul or Conv kernel, and requantized as ONNX's reference does: divide (or multiply
by the combined scale), round half to even, add the zero point, clip to the type's range, Cast.

The integer products are exact in float32 while every partial sum stays below 2^24 (a dot of K
8-bit values is exact for K <= 258 in the worst case, far beyond in practice); past that the
int32 result of MatMulInteger/ConvInteger can differ from integer arithmetic in its last bits.
Scales and zero points that are constants (as exporters write them) fold at conversion, so a
QDQ model's weight DequantizeLinear becomes float32 weights and only its activation
Quantize/Dequantize pairs remain as a few elementwise nodes, which the GPU backends fuse.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Node, Value
from webdnn.ops.nn_quant import RANGES
from webdnn.passes.expr_nodes import TypedEmitter


def _finish(graph: Graph, node: Node, results: list[Value]) -> list[Node]:
    """Identity nodes write the original outputs (same values, same names)."""
    made = []
    for i, (y, r) in enumerate(zip(node.outputs, results, strict=True)):
        last = graph.add_node("Identity", [r], [y], name=node.name if i == 0 else f"{node.name}/out{i}", before=node)
        y.producer = last
        made.append(last)
    graph.remove_node(node)
    return made


def _cast(e: TypedEmitter, v: Value, to: DType) -> Value:
    return v if v.dtype == to else e.node("Cast", [v], {"to": to.to_onnx()})


def _along(e: TypedEmitter, p: Value, rank: int, axis: int) -> Value:
    """A per-axis vector reshaped to broadcast along `axis` of a rank-`rank` tensor (a scalar or a
    one-element vector as it is)."""
    assert p.shape is not None
    if len(p.shape) == 0 or (len(p.shape) == 1 and p.shape[0] == 1) or axis == rank - 1:
        return p
    return e.node("Reshape", [p, e.em.const([-1] + [1] * (rank - axis - 1), np.int64)])


def _param(e: TypedEmitter, p: Value, x: Value, axis: int, block: int) -> Value:
    """A scale or zero point broadcast against x: per tensor, per axis, or repeated over its blocks."""
    assert x.shape is not None and p.shape is not None
    if not block:
        return _along(e, p, len(x.shape), axis)
    n = int(x.shape[axis])
    if p.const is not None:
        return e.em.const(np.repeat(p.const, block, axis=axis).take(range(n), axis=axis), p.const.dtype)
    up = e.node("Unsqueeze", [p, e.em.const([axis + 1], np.int64)])
    shape = [int(d) for d in p.shape]
    wide = e.node("Expand", [up, e.em.const([*shape[:axis + 1], block, *shape[axis + 1:]], np.int64)])
    flat = e.node("Reshape", [wide, e.em.const([*shape[:axis], shape[axis] * block, *shape[axis + 1:]], np.int64)])
    if shape[axis] * block == n:
        return flat
    return e.node("Slice", [flat, e.em.const([0], np.int64), e.em.const([n], np.int64), e.em.const([axis], np.int64)])


def _requantize(e: TypedEmitter, v: Value, zero_point: Value | None, to: DType) -> Value:
    """round(v) (+ zero point), saturated to `to`'s range, as `to`."""
    assert v.dtype is not None
    r = e.node("Round", [v])
    if zero_point is not None:
        r = e.node("Add", [r, _cast(e, zero_point, v.dtype)])
    lo, hi = RANGES[to]
    r = e.node("Clip", [r, e.em.const(lo, v.dtype.numpy), e.em.const(hi, v.dtype.numpy)])
    return e.node("Cast", [r], {"to": to.to_onnx()})


def quantize_linear(graph: Graph, node: Node) -> list[Node]:
    e = TypedEmitter(graph, node)
    x, scale, zp = node.inputs[0], node.inputs[1], node.input(2)
    assert x is not None and scale is not None and x.dtype is not None
    axis, block = int(node.attrs["axis"]), int(node.attrs["block_size"])
    q = e.node("Div", [x, _cast(e, _param(e, scale, x, axis, block), x.dtype)])
    zpb = None if zp is None else _param(e, zp, x, axis, block)
    return _finish(graph, node, [_requantize(e, q, zpb, DType(node.attrs["to"]))])


def dequantize_linear(graph: Graph, node: Node) -> list[Node]:
    e = TypedEmitter(graph, node)
    x, scale, zp = node.inputs[0], node.inputs[1], node.input(2)
    assert x is not None and scale is not None
    to = DType(node.attrs["to"])
    axis, block = int(node.attrs["axis"]), int(node.attrs["block_size"])
    if x.const is not None and scale.const is not None and (zp is None or zp.const is not None):
        return _dequantized_weights(graph, node, to, axis, block)
    d = _cast(e, x, to)
    if zp is not None:
        d = e.node("Sub", [d, _cast(e, _param(e, zp, x, axis, block), to)])
    return _finish(graph, node, [e.node("Mul", [d, _cast(e, _param(e, scale, x, axis, block), to)])])


def _dequantized_weights(graph: Graph, node: Node, to: DType, axis: int, block: int) -> list[Node]:
    """Constant (weight) dequantization, computed here in numpy whatever the size: the float weights
    replace the integer ones (the general constant folding refuses results this much larger)."""
    x, scale, zp = (node.input(i) for i in range(3))
    assert x is not None and x.const is not None and scale is not None and scale.const is not None

    def along(p: np.ndarray) -> np.ndarray:
        if block:
            return np.repeat(p, block, axis=axis).take(range(x.const.shape[axis]), axis=axis)  # type: ignore[union-attr]
        return p if p.size == 1 else p.reshape([-1] + [1] * (x.const.ndim - axis - 1))  # type: ignore[union-attr]

    d = x.const.astype(np.int64)
    if zp is not None and zp.const is not None:
        d = d - along(zp.const.astype(np.int64))
    y = node.outputs[0]
    y.set_const((d.astype(to.numpy) * along(scale.const.astype(to.numpy))).astype(to.numpy))
    y.producer = None
    graph.remove_node(node)
    return []


def dynamic_quantize_linear(graph: Graph, node: Node) -> list[Node]:
    """ONNX's formula: the range [min(0, min x), max(0, max x)] mapped onto 0..255 (a scale of 1/255 for an
    empty range), the zero point where 0 lands, rounded."""
    e = TypedEmitter(graph, node)
    x = node.inputs[0]
    assert x is not None and x.dtype is not None
    ft = x.dtype.numpy
    zero = e.em.const(0.0, ft)
    lo = e.node("Min", [e.node("ReduceMin", [x], {"keepdims": 0}), zero])
    hi = e.node("Max", [e.node("ReduceMax", [x], {"keepdims": 0}), zero])
    span = e.node("Sub", [hi, lo])
    span = e.node("Where", [e.node("Equal", [span, zero]), e.em.const(1.0, ft), span])
    scale = e.node("Div", [span, e.em.const(255.0, ft)])
    zp = e.node("Round", [e.node("Clip", [e.node("Neg", [e.node("Div", [lo, scale])]), zero, e.em.const(255.0, ft)])])
    y = _requantize(e, e.node("Div", [x, scale]), zp, DType.UINT8)
    return _finish(graph, node, [y, scale, e.node("Cast", [zp], {"to": DType.UINT8.to_onnx()})])


def _centered(e: TypedEmitter, v: Value, zp: Value | None, rank: int, axis: int) -> Value:
    """An integer tensor as float32, less its zero point (a scalar, or a vector along `axis`)."""
    f = _cast(e, v, DType.FLOAT32)
    if zp is None:
        return f
    return e.node("Sub", [f, _cast(e, _along(e, zp, rank, axis), DType.FLOAT32)])


def _rank(v: Value) -> int:
    assert v.shape is not None
    return len(v.shape)


def matmul_integer(graph: Graph, node: Node) -> list[Node]:
    e = TypedEmitter(graph, node)
    a, b = node.inputs[0], node.inputs[1]
    assert a is not None and b is not None
    ra, rb = _rank(a), _rank(b)
    prod = e.node("MatMul", [_centered(e, a, node.input(2), ra, max(ra - 2, 0)),
                             _centered(e, b, node.input(3), rb, rb - 1)])
    return _finish(graph, node, [e.node("Cast", [prod], {"to": DType.INT32.to_onnx()})])


def _conv_attrs(node: Node) -> dict[str, object]:
    return {k: node.attrs[k] for k in ("kernel_shape", "pads", "strides", "dilations", "group") if k in node.attrs}


def conv_integer(graph: Graph, node: Node) -> list[Node]:
    e = TypedEmitter(graph, node)
    x, w = node.inputs[0], node.inputs[1]
    assert x is not None and w is not None
    conv = e.node("Conv", [_centered(e, x, node.input(2), _rank(x), 1),
                           _centered(e, w, node.input(3), _rank(w), 0)], _conv_attrs(node))
    return _finish(graph, node, [e.node("Cast", [conv], {"to": DType.INT32.to_onnx()})])


def _scale(e: TypedEmitter, s_in: Value, s_w: Value, s_out: Value, rank: int, axis: int) -> Value:
    """The requantization multiplier s_in · s_w / s_out (in that order, as the reference computes it)
    along `axis` of the rank-`rank` product."""
    m = e.node("Div", [e.node("Mul", [_cast(e, s_in, DType.FLOAT32), _cast(e, s_w, DType.FLOAT32)]),
                       _cast(e, s_out, DType.FLOAT32)])
    return _along(e, m, rank, axis)


def qlinear_matmul(graph: Graph, node: Node) -> list[Node]:
    e = TypedEmitter(graph, node)
    a, a_s, a_zp, b, b_s, b_zp, y_s, y_zp = node.inputs[:8]
    assert a is not None and b is not None and a_s is not None and b_s is not None and y_s is not None
    assert y_zp is not None
    ra, rb = _rank(a), _rank(b)
    prod = e.node("MatMul", [_centered(e, a, a_zp, ra, max(ra - 2, 0)), _centered(e, b, b_zp, rb, rb - 1)])
    r = _rank(prod)
    if a_s.shape and int(a_s.shape[0]) > 1:  # per-row a: rows are axis -2 of the product
        m = e.node("Mul", [_along(e, _cast(e, a_s, DType.FLOAT32), r, r - 2),
                           e.node("Div", [_cast(e, b_s, DType.FLOAT32), _cast(e, y_s, DType.FLOAT32)])])
    else:
        m = _scale(e, a_s, b_s, y_s, r, r - 1)
    return _finish(graph, node, [_requantize(e, e.node("Mul", [prod, m]), y_zp, DType(y_zp.dtype.value))])


def qlinear_conv(graph: Graph, node: Node) -> list[Node]:
    e = TypedEmitter(graph, node)
    x, x_s, x_zp, w, w_s, w_zp, y_s, y_zp = node.inputs[:8]
    bias = node.input(8)
    assert x is not None and w is not None and x_s is not None and w_s is not None and y_s is not None
    assert y_zp is not None
    ins = [_centered(e, x, x_zp, _rank(x), 1), _centered(e, w, w_zp, _rank(w), 0)]
    if bias is not None:
        ins.append(_cast(e, bias, DType.FLOAT32))
    conv = e.node("Conv", ins, _conv_attrs(node))
    m = _scale(e, x_s, w_s, y_s, _rank(conv), 1)
    return _finish(graph, node, [_requantize(e, e.node("Mul", [conv, m]), y_zp, DType(y_zp.dtype.value))])


def qlinear_add(graph: Graph, node: Node) -> list[Node]:
    """quantize(dequantize(A) + dequantize(B)), each step as DequantizeLinear / QuantizeLinear compute it."""
    e = TypedEmitter(graph, node)
    a, a_s, a_zp, b, b_s, b_zp, y_s, y_zp = node.inputs[:8]
    assert a is not None and b is not None and a_s is not None and b_s is not None and y_s is not None
    assert y_zp is not None and y_zp.dtype is not None

    def deq(v: Value, s: Value, zp: Value | None) -> Value:
        d = _cast(e, v, DType.FLOAT32)
        if zp is not None:
            d = e.node("Sub", [d, _cast(e, zp, DType.FLOAT32)])
        return e.node("Mul", [d, _cast(e, s, DType.FLOAT32)])

    total = e.node("Add", [deq(a, a_s, a_zp), deq(b, b_s, b_zp)])
    q = e.node("Div", [total, _cast(e, y_s, DType.FLOAT32)])
    return _finish(graph, node, [_requantize(e, q, y_zp, y_zp.dtype)])


QUANT_DECOMPOSITIONS = {
    "QuantizeLinear": quantize_linear, "DequantizeLinear": dequantize_linear,
    "DynamicQuantizeLinear": dynamic_quantize_linear, "MatMulInteger": matmul_integer,
    "ConvInteger": conv_integer, "QLinearMatMul": qlinear_matmul, "QLinearConv": qlinear_conv,
    "QLinearAdd": qlinear_add,
}

# Integer ops a backend may run with kernels of its own (wasm): the shared decompose pass leaves them,
# and each backend's run_deferred pass decomposes those it has no kernel for; 8-bit MaxPool and Clip
# (fuse_qdq makes them, after infer_shapes widened the MaxPools the model had) run in float32 between Casts
# there (exact: the bounds are integers), as the GPU backends have no 8-bit arithmetic.
DEFERRED = frozenset({"QLinearConv", "QLinearAdd", "MatMulInteger", "ConvInteger", "QLinearMatMul"})
WIDENED = frozenset({"MaxPool", "Clip"})


def run_deferred(graph: Graph, keep: Callable[[Node], bool] | None = None) -> int:
    """A backend pass: decompose the DEFERRED ops, and widen 8-bit MaxPools and Clips to float32, but the nodes
    `keep` accepts (the backend's own kernels run them); returns how many were rewritten."""
    from webdnn.ops.registry import infer_node
    from webdnn.passes.fold_constants import fold_node
    from webdnn.passes.infer_shapes import widen_small_ints

    def visit(n: Node) -> None:
        if not fold_node(n, graph):
            infer_node(n, graph)

    count = 0
    for node in list(graph.nodes):
        if keep is not None and keep(node):
            continue
        if node.op_type in DEFERRED:
            for new in QUANT_DECOMPOSITIONS[node.op_type](graph, node):
                visit(new)
            count += 1
        elif widen_small_ints(graph, node, visit, WIDENED):
            count += 1
    return count
