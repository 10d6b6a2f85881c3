"""QDQ patterns as integer ops: what `quantize_static(..., quant_format=QDQ)` writes around each float op,
folded back into the one integer op it stands for, so that a backend with integer kernels (wasm) runs
them on the 8-bit tensors instead of dequantizing every activation.

- DequantizeLinear(x_q) -> Conv(DequantizeLinear(W_q), DequantizeLinear(B_q)) -> QuantizeLinear
  becomes QLinearConv(x_q, ..., W_q, ..., B_q): x per tensor, W constant int8/uint8 per tensor or per
  output channel, the int32 bias (if any) at scale x_scale * w_scale with zero point 0, as the
  quantizer writes it (another bias leaves the pattern alone). A Relu or a Clip between the Conv and the
  QuantizeLinear (onnxruntime's quantizer drops them, other exporters keep them) becomes a Clip of the
  8-bit result at the quantized bounds: the same values, as quantization is monotonic.
- DequantizeLinear(a_q) -> MatMul(DequantizeLinear(B_q)) -> QuantizeLinear becomes QLinearMatMul: a per
  tensor, B constant 2-D 8-bit per tensor or per output column.
- QuantizeLinear(Add(DequantizeLinear(a_q), DequantizeLinear(b_q))) of same-shape 8-bit tensors
  becomes QLinearAdd (ops/nn_quant.py): the same three steps in one node.
- DequantizeLinear(x_q) -> MaxPool -> QuantizeLinear at the same scale and zero point becomes MaxPool on
  x_q itself (exact: the maximum commutes with the monotonic maps, which invert each other).

Each rewrite computes what the QDQ graph computes, up to float rounding at a tie of the requantizing
division (QLinearConv multiplies by x_scale * w_scale / y_scale once, the QDQ graph divides a float
sum): a step of the output scale at most, where onnxruntime (which makes the same fusions) also
differs from the reference. These integer ops are decomposed again into float arithmetic by each
backend that has no kernel for them (decompose_quant.run_deferred). Runs after infer_shapes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Node, Value
from webdnn.ops.registry import infer_node

EIGHT_BIT = (DType.UINT8, DType.INT8)


@dataclass
class _Quant:
    """A (de)quantization's integer side and its parameters."""

    q: Value  # the integer tensor (DequantizeLinear's input; QuantizeLinear's output)
    scale: np.ndarray
    zero_point: np.ndarray
    axis: int
    node: Node


def _params(node: Node, q: Value) -> _Quant | None:
    scale, zp = node.input(1), node.input(2)
    if int(node.attrs.get("block_size", 0)) or scale is None or scale.const is None or q.dtype is None:
        return None
    if zp is not None and zp.const is None:
        return None
    z = zp.const if zp is not None and zp.const is not None else np.zeros(scale.const.shape, q.dtype.numpy)
    return _Quant(q, scale.const.astype(np.float32), z, int(node.attrs.get("axis", 0)), node)


def _dequantized(v: Value | None) -> _Quant | None:
    """The DequantizeLinear (to float32) that defines `v`."""
    p = v.producer if v is not None else None
    if p is None or p.op_type != "DequantizeLinear" or v is None or v.dtype != DType.FLOAT32:
        return None
    x = p.inputs[0]
    return _params(p, x) if x is not None else None


def _scalar(qt: _Quant | None) -> bool:
    return qt is not None and qt.scale.size == 1 and qt.zero_point.size == 1 and qt.q.dtype in EIGHT_BIT


def _requantized(graph: Graph, v: Value, users: dict[int, list[Node]]) -> _Quant | None:
    """The one QuantizeLinear (per tensor, to 8 bits) that reads `v`, when nothing else does."""
    us = users.get(id(v), [])
    if len(us) != 1 or graph.is_graph_output(v) or us[0].op_type != "QuantizeLinear" or us[0].inputs[0] is not v:
        return None
    qt = _params(us[0], us[0].outputs[0])
    return qt if _scalar(qt) else None


def _scalar_const(graph: Graph, base: str, data: np.ndarray) -> Value:
    return graph.const_value(base, np.ascontiguousarray(data.reshape(())))


def _qlinear_inputs(graph: Graph, name: str, x: _Quant, w: _Quant, y: _Quant) -> list[Value | None]:
    """The first eight inputs of QLinearConv / QLinearMatMul: x, its scale and zero point (scalars), the weights,
    theirs (vectors), the output's scale and zero point."""
    g = graph.const_value
    return [x.q, _scalar_const(graph, f"{name}/x_scale", x.scale), _scalar_const(graph, f"{name}/x_zero_point",
                                                                                  x.zero_point),
            w.q, g(f"{name}/w_scale", w.scale.reshape(-1)), g(f"{name}/w_zero_point", w.zero_point.reshape(-1)),
            y.node.inputs[1], _scalar_const(graph, f"{name}/y_zero_point", y.zero_point)]


def _replace(graph: Graph, old: list[Node], op: str, inputs: list[Value | None], out: Value,
             attrs: dict[str, object], name: str) -> Node:
    """`op` defining `out` (the last QuantizeLinear's output) in place of the `old` nodes."""
    anchor = old[0]
    node = graph.add_node(op, inputs, [out], attrs, name=f"{name}/quantized", before=anchor)
    for n in old:
        graph.remove_node(n)
    out.producer = node
    if op != "MaxPool":  # MaxPool's rule takes float32 only; `out` is typed already, and the attributes canonical
        infer_node(node, graph)
    return node


def _activation(graph: Graph, v: Value, users: dict[int, list[Node]]) -> tuple[Node, float, float] | None:
    """The one Relu, or Clip with constant bounds, that reads `v` (nothing else does): (node, lo, hi)."""
    us = users.get(id(v), [])
    if len(us) != 1 or graph.is_graph_output(v) or us[0].inputs[0] is not v:
        return None
    if us[0].op_type == "Relu":
        return us[0], 0.0, float("inf")
    if us[0].op_type == "Clip" and len(us[0].inputs) == 1:  # canonical: the bounds in attributes
        return us[0], float(us[0].attrs["min"]), float(us[0].attrs["max"])
    return None


def _quantized_bound(bound: float, y: _Quant, lo: bool) -> int:
    """QuantizeLinear of a float bound (the type's limit for an infinite one): a clamp at the bound before
    quantizing is a clamp at this after (quantization is monotonic)."""
    assert y.q.dtype is not None
    qmin, qmax = (-128, 127) if y.q.dtype == DType.INT8 else (0, 255)
    if np.isinf(bound):
        return qmin if lo else qmax
    q = np.round(np.float32(bound) / y.scale.reshape(()).astype(np.float32)) + float(y.zero_point.reshape(()))
    return int(np.clip(q, qmin, qmax))


def _conv(graph: Graph, conv: Node, users: dict[int, list[Node]]) -> bool:
    x, w = _dequantized(conv.input(0)), _dequantized(conv.input(1))
    b_val = conv.input(2)
    b = _dequantized(b_val) if b_val is not None else None
    y = _requantized(graph, conv.outputs[0], users)
    act = None
    if y is None:  # Conv -> Relu / Clip -> QuantizeLinear (exporters that keep the activation)
        act = _activation(graph, conv.outputs[0], users)
        y = _requantized(graph, act[0].outputs[0], users) if act is not None else None
    if (not _scalar(x) or w is None or y is None or w.q.const is None or w.q.dtype not in EIGHT_BIT
            or w.axis != 0 or (b_val is not None and b is None)):
        return False
    assert x is not None and w.q.shape is not None
    m = int(w.q.shape[0])
    w_scale = np.broadcast_to(w.scale.reshape(-1), (m,)) if w.scale.size in (1, m) else None
    if w_scale is None or w.zero_point.size not in (1, m):
        return False
    if b is not None:
        want = (x.scale.reshape(()) * w_scale).astype(np.float32)  # the quantizer's bias scale
        if (b.q.const is None or b.q.dtype != DType.INT32 or np.any(b.zero_point != 0)
                or b.scale.size not in (1, m) or not np.allclose(np.broadcast_to(b.scale.reshape(-1), (m,)), want,
                                                                  rtol=1e-6, atol=0)):
            return False
    name = conv.name
    inputs = _qlinear_inputs(graph, name, x, w, y)
    if b is not None:
        inputs.append(b.q)
    attrs = {k: conv.attrs[k] for k in ("kernel_shape", "pads", "strides", "dilations", "group", "auto_pad")
             if k in conv.attrs}
    if act is None:
        _replace(graph, [conv, y.node], "QLinearConv", inputs, y.q, attrs, name)
        return True
    node, lo, hi = act
    mid = graph.new_value(f"{y.q.name}/unclipped", y.q.dtype, y.q.shape)
    qconv = _replace(graph, [conv, node, y.node], "QLinearConv", inputs, mid, attrs, name)
    clip = graph.add_node("Clip", [mid], [y.q], {"min": _quantized_bound(lo, y, True),
                                                 "max": _quantized_bound(hi, y, False)}, name=f"{node.name}/quantized")
    graph.nodes.remove(clip)
    graph.nodes.insert(graph.nodes.index(qconv) + 1, clip)
    infer_node(clip, graph)
    return True


def _add(graph: Graph, add: Node, users: dict[int, list[Node]]) -> bool:
    a, b = _dequantized(add.input(0)), _dequantized(add.input(1))
    y = _requantized(graph, add.outputs[0], users)
    if not (_scalar(a) and _scalar(b)) or y is None:
        return False
    assert a is not None and b is not None
    if a.q.shape is None or a.q.shape != b.q.shape or a.q.shape != add.outputs[0].shape:
        return False
    name = add.name
    inputs: list[Value | None] = []
    for tag, qt in (("a", a), ("b", b), ("y", y)):
        inputs += [qt.q if tag != "y" else None, _scalar_const(graph, f"{name}/{tag}_scale", qt.scale),
                   _scalar_const(graph, f"{name}/{tag}_zero_point", qt.zero_point)]
    _replace(graph, [add, y.node], "QLinearAdd", [v for v in inputs if v is not None], y.q, {}, name)
    return True


def _matmul(graph: Graph, mm: Node, users: dict[int, list[Node]]) -> bool:
    a, b = _dequantized(mm.input(0)), _dequantized(mm.input(1))
    y = _requantized(graph, mm.outputs[0], users)
    if (not _scalar(a) or b is None or y is None or b.q.const is None or b.q.const.ndim != 2
            or b.q.dtype not in EIGHT_BIT):
        return False
    assert a is not None
    n = int(b.q.const.shape[1])
    if b.scale.size != 1 and not (b.axis == 1 and b.scale.size == n and b.zero_point.size in (1, n)):
        return False  # per tensor or per output column only (QLinearMatMul's b_scale)
    _replace(graph, [mm, y.node], "QLinearMatMul", _qlinear_inputs(graph, mm.name, a, b, y), y.q, {}, mm.name)
    return True


def _max_pool(graph: Graph, pool: Node, users: dict[int, list[Node]]) -> bool:
    x = _dequantized(pool.input(0))
    if len(pool.outputs) != 1 or not _scalar(x):
        return False
    y = _requantized(graph, pool.outputs[0], users)
    assert x is not None
    if (y is None or y.q.dtype != x.q.dtype or y.scale.reshape(()) != x.scale.reshape(())
            or y.zero_point.reshape(()) != x.zero_point.reshape(())):
        return False
    _replace(graph, [pool, y.node], "MaxPool", [x.q], y.q, dict(pool.attrs), pool.name)
    return True


FUSIONS = {"Conv": _conv, "Add": _add, "MaxPool": _max_pool, "MatMul": _matmul}


def run(graph: Graph) -> int:
    """Fold every matching QDQ pattern; returns how many. The DequantizeLinear nodes nothing reads any
    more are left to eliminate_dead."""
    users = graph.users()  # stays true for what is asked: a fusion removes only its own op and Quantize
    count = 0
    for node in list(graph.nodes):
        fuse = FUSIONS.get(node.op_type)
        if fuse is not None and fuse(graph, node, users):
            count += 1
    return count
