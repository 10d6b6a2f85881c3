"""Fold inference BatchNormalization into the preceding Conv or Gemm.

y = s * (conv(x) + b - mean) + beta with s = scale / sqrt(var + eps) becomes a conv
with weights W * s (per output channel) and bias (b - mean) * s + beta.
"""

from __future__ import annotations

import numpy as np

from webdnn.ir.graph import Graph, Node, Value


def _bn_params(bn: Node) -> tuple[np.ndarray, np.ndarray] | None:
    """(multiplier s, offset t) of y = s*x + t, or None when not constant."""
    ins = bn.inputs[1:5]
    if len(ins) != 4 or any(v is None or v.const is None for v in ins):
        return None
    scale, beta, mean, var = (np.asarray(v.const, dtype=np.float64) for v in ins if v is not None)
    s = scale / np.sqrt(var + float(bn.attr("epsilon", 1e-5)))
    return s, beta - mean * s


def _single_use(graph: Graph, v: Value, users: dict[int, list[Node]]) -> bool:
    return len(users.get(id(v), [])) == 1 and not graph.is_graph_output(v)


def _fold_into_conv(graph: Graph, conv: Node, s: np.ndarray, t: np.ndarray) -> bool:
    w = conv.input(1)
    if w is None or w.const is None or w.dtype is None or len(s) != w.const.shape[0]:
        return False
    dt = w.const.dtype
    shape = (-1,) + (1,) * (w.const.ndim - 1)
    new_w = (w.const.astype(np.float64) * s.reshape(shape)).astype(dt)
    b = conv.input(2)
    if b is not None and b.const is None:
        return False
    old_b = b.const.astype(np.float64) if b is not None and b.const is not None else 0.0
    new_b = ((old_b * s) + t).astype(dt)
    conv.inputs[1] = graph.const_value(f"{conv.name}_W_bn", new_w)
    if len(conv.inputs) < 3:
        conv.inputs.append(None)
    conv.inputs[2] = graph.const_value(f"{conv.name}_B_bn", new_b)
    return True


def _fold_into_gemm(graph: Graph, gemm: Node, s: np.ndarray, t: np.ndarray) -> bool:
    b = gemm.input(1)
    out = gemm.outputs[0]
    if b is None or b.const is None or out.shape is None or len(out.shape) != 2 or out.shape[1] != len(s):
        return False
    dt = b.const.dtype
    trans_b = int(gemm.attr("transB", 0))
    sb = s.reshape(-1, 1) if trans_b else s.reshape(1, -1)
    new_b = (b.const.astype(np.float64) * sb).astype(dt)
    c = gemm.input(2)
    if c is not None and c.const is None:
        return False
    beta = float(gemm.attr("beta", 1.0))
    old_c = beta * c.const.astype(np.float64) if c is not None and c.const is not None else 0.0
    new_c = np.asarray(old_c * s + t).astype(dt)
    gemm.inputs[1] = graph.const_value(f"{gemm.name}_B_bn", new_b)
    while len(gemm.inputs) < 3:
        gemm.inputs.append(None)
    gemm.inputs[2] = graph.const_value(f"{gemm.name}_C_bn", new_c)
    gemm.attrs["beta"] = 1.0
    return True


def run(graph: Graph) -> int:
    folded = 0
    users = graph.users()
    for bn in list(graph.nodes):
        if bn.op_type != "BatchNormalization" or len([o for o in bn.outputs if graph.is_graph_output(o)]) > 1:
            continue
        x = bn.input(0)
        if x is None or x.producer is None or not _single_use(graph, x, users):
            continue
        params = _bn_params(bn)
        if params is None or "activation" in x.producer.attrs:
            continue
        prod = x.producer
        ok = False
        if prod.op_type == "Conv":
            ok = _fold_into_conv(graph, prod, *params)
        elif prod.op_type == "Gemm":
            ok = _fold_into_gemm(graph, prod, *params)
        if ok:
            y = bn.outputs[0]
            graph.remove_node(bn)
            prod.outputs[0] = y
            y.producer = prod
            folded += 1
    return folded
