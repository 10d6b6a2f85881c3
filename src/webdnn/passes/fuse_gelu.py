"""Fuse the exact GELU written with Erf into one ONNX `Gelu` node (approximate="none").

Recognized, by structure and constants, in any operand order and association:

    e = Erf(Div(x, sqrt(2)) | Mul(x, 1/sqrt(2)))
    a = Add(e, 1)
    y = x * a * 0.5  as any tree of two Muls: (x * a) * 0.5, (a * 0.5) * x, (x * 0.5) * a, x * (a * 0.5), ...

Every intermediate value must be read only inside the pattern (and be no graph output), and
y must have x's shape. `Gelu` is an opset-20 op; the IR's op set is ONNX's whatever the model's
opset, and every backend has a kernel for it (fallback, wasm, webgl, webgpu).
"""

from __future__ import annotations

import math

import numpy as np

from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Node, Value
from webdnn.ops.registry import infer_node

SQRT2 = math.sqrt(2.0)


def _scalar(v: Value | None) -> float | None:
    if v is None or v.const is None or v.const.size != 1:
        return None
    return float(np.asarray(v.const, dtype=np.float64).reshape(()))


def _close(v: Value | None, want: float) -> bool:
    s = _scalar(v)
    return s is not None and abs(s - want) <= 1e-6 * abs(want)


def _other(node: Node, v: Value) -> Value | None:
    a, b = node.input(0), node.input(1)
    if len(node.inputs) != 2 or (a is v) == (b is v):
        return None
    return b if a is v else a


def _only_user(users: dict[int, list[Node]], v: Value) -> Node | None:
    us = users.get(id(v), [])
    return us[0] if len(us) == 1 else None


def _erf_arg(u: Value | None) -> tuple[Value, Node] | None:
    """x and the scaling node of u = x / sqrt(2) or x * (1/sqrt(2))."""
    n = u.producer if u is not None else None
    if n is None or len(n.inputs) != 2:
        return None
    a, b = n.input(0), n.input(1)
    if n.op_type == "Div" and a is not None and not a.is_const and _close(b, SQRT2):
        return a, n
    if n.op_type == "Mul":
        for x, c in ((a, b), (b, a)):
            if x is not None and not x.is_const and _close(c, 1.0 / SQRT2):
                return x, n
    return None


def _match(users: dict[int, list[Node]], erf: Node) -> tuple[Value, list[Node], Value] | None:
    """(x, pattern nodes, y) of the GELU around `erf`."""
    found = _erf_arg(erf.input(0))
    if found is None:
        return None
    x, scale = found
    add = _only_user(users, erf.outputs[0])
    if add is None or add.op_type != "Add" or not _close(_other(add, erf.outputs[0]), 1.0):
        return None
    a = add.outputs[0]
    nodes = [scale, erf, add]
    m1 = _only_user(users, a)
    if m1 is None or m1.op_type != "Mul":
        return None
    o1 = _other(m1, a)
    if o1 is None:
        return None
    if o1.producer is not None and o1.producer.op_type == "Mul" and o1 is not x:
        half = o1.producer
        if _close(_other(half, x), 0.5):
            return x, [*nodes, half, m1], m1.outputs[0]  # (x * 0.5) * a
        return None
    if o1 is not x and not _close(o1, 0.5):
        return None
    m2 = _only_user(users, m1.outputs[0])
    if m2 is None or m2.op_type != "Mul":
        return None
    o2 = _other(m2, m1.outputs[0])
    if (o1 is x and _close(o2, 0.5)) or (o2 is x and _close(o1, 0.5)):
        return x, [*nodes, m1, m2], m2.outputs[0]
    return None


def _valid(graph: Graph, users: dict[int, list[Node]], x: Value, nodes: list[Node], y: Value) -> bool:
    inside = {id(n) for n in nodes}
    if len(inside) != len(nodes):
        return False
    for n in nodes:
        for o in n.outputs:
            if o is y:
                continue
            if graph.is_graph_output(o) or any(id(u) not in inside for u in users.get(id(o), [])):
                return False
    return x.dtype == DType.FLOAT32 and y.dtype == x.dtype and y.shape == x.shape and x.shape is not None


def run(graph: Graph) -> int:
    fused = 0
    users = graph.users()
    for node in list(graph.nodes):
        if node.op_type != "Erf" or node not in graph.nodes:
            continue
        m = _match(users, node)
        if m is None or not _valid(graph, users, *m):
            continue
        x, nodes, y = m
        last = max(nodes, key=graph.nodes.index)
        gelu = graph.add_node("Gelu", [x], [y], {"approximate": "none"}, name=f"{node.name}_gelu", before=last)
        for n in nodes:
            graph.remove_node(n)
        y.producer = gelu
        infer_node(gelu, graph)
        users = graph.users()
        fused += 1
    return fused
