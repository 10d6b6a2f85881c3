"""Fuse a decomposed layer normalization into one ONNX `LayerNormalization` node.

Exporters below opset 17 (and some above) write LayerNorm as elementwise ops over the
trailing axes. Recognized, by structure and constants (never by node names):

    mean = ReduceMean(x)                    trailing axes, keepdims=1
    d    = Sub(x, mean)                     (the numerator may use a second, identical Sub)
    sq   = Pow(d, 2) | Mul(d, d)
    var  = ReduceMean(sq)                   same axes
    ve   = Add(var, eps) | Add(eps, var)    eps a constant scalar
    then either (torch, onnx-tf, hand-written)
        n = Div(d, Sqrt(ve))  |  Mul(d, R)  with R = Reciprocal(Sqrt(ve)) | Div(1, Sqrt(ve)) | Pow(ve, -0.5)
        y = n [* gamma] [+ beta]            constant gamma/beta, any operand order
    or (tf2onnx's rendering of tf.nn.batch_normalization over tf.nn.moments)
        g = R [* gamma]
        y = Add(Mul(x, g), Sub(beta, Mul(mean, g)))  |  Sub(Mul(x, g), Mul(mean, g))

Every intermediate value must be read only inside the pattern (and be no graph output);
gamma/beta must broadcast over the normalized axes only. The result is
LayerNormalization(x, gamma (ones when absent), beta?, axis=first normalized axis, epsilon=eps),
which every backend runs (fallback, wasm, webgl and webgpu all have a kernel for it). Over the symbolic H, W of
an NCHW image (a model converted for any image size), where no gamma of that shape can be a constant, it is
InstanceNormalization with per-channel scale and bias instead (gamma/beta absent or scalars only).
"""

from __future__ import annotations

import numpy as np

from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Node, Value
from webdnn.ops.registry import infer_node


def _prod(v: Value | None, *ops: str) -> Node | None:
    """The producer of `v` when it is one of `ops`."""
    if v is None or v.producer is None or v.producer.op_type not in ops:
        return None
    return v.producer


def _scalar(v: Value | None) -> float | None:
    if v is None or v.const is None or v.const.size != 1:
        return None
    return float(np.asarray(v.const, dtype=np.float64).reshape(()))


def _other(node: Node, v: Value) -> Value | None:
    """The other operand of a binary node that reads `v` once."""
    a, b = node.input(0), node.input(1)
    if len(node.inputs) != 2 or (a is v) == (b is v):
        return None
    return b if a is v else a


def _trailing_axes(node: Node, rank: int) -> list[int] | None:
    axes = sorted(int(a) % rank for a in node.attrs.get("axes", []))
    if not axes or int(node.attrs.get("keepdims", 1)) != 1 or axes != list(range(axes[0], rank)):
        return None
    return axes


def _only_user(users: dict[int, list[Node]], v: Value) -> Node | None:
    us = users.get(id(v), [])
    return us[0] if len(us) == 1 else None


def _is_sub_of(node: Node | None, x: Value, mean: Value) -> bool:
    return node is not None and node.op_type == "Sub" and node.input(0) is x and node.input(1) is mean


def _rstd(users: dict[int, list[Node]], ve: Value) -> tuple[list[Node], Value, Value | None] | None:
    """From var + eps: (nodes, value, sqrt) where value is 1/sqrt(ve) (sqrt None) or sqrt(ve) itself."""
    u = _only_user(users, ve)
    if u is None:
        return None
    if u.op_type == "Pow" and u.input(0) is ve and _scalar(u.input(1)) == -0.5:
        return [u], u.outputs[0], None
    if u.op_type != "Sqrt":
        return None
    s = u.outputs[0]
    r = _only_user(users, s)
    if r is not None and r.op_type == "Reciprocal":
        return [u, r], r.outputs[0], None
    if r is not None and r.op_type == "Div" and r.input(1) is s and _scalar(r.input(0)) == 1.0:
        return [u, r], r.outputs[0], None
    return [u], s, s  # divided by directly


class _Match:
    def __init__(self, x: Value, axes: list[int], eps: float) -> None:
        self.x, self.axes, self.eps = x, axes, eps
        self.nodes: list[Node] = []
        self.gamma: Value | None = None
        self.beta: Value | None = None
        self.y: Value | None = None


def _affine(users: dict[int, list[Node]], m: _Match, n: Value) -> None:
    """n [* gamma] [+ beta] with constant gamma/beta: sets m.y (and gamma/beta)."""
    y = n
    u = _only_user(users, y)
    if u is not None and u.op_type == "Mul":
        g = _other(u, y)
        if g is not None and g.is_const:
            m.gamma, y = g, u.outputs[0]
            m.nodes.append(u)
            u = _only_user(users, y)
    if u is not None and u.op_type == "Add":
        b = _other(u, y)
        if b is not None and b.is_const:
            m.beta, y = b, u.outputs[0]
            m.nodes.append(u)
    m.y = y


def _match(graph: Graph, var_node: Node, users: dict[int, list[Node]]) -> _Match | None:
    sq = var_node.input(0)
    sq_node = _prod(sq, "Pow", "Mul")
    if sq_node is None:
        return None
    d = sq_node.input(0)
    if sq_node.op_type == "Pow" and _scalar(sq_node.input(1)) != 2.0:
        return None
    if sq_node.op_type == "Mul" and sq_node.input(1) is not d:
        return None
    sub = _prod(d, "Sub")
    mean_node = _prod(sub.input(1) if sub else None, "ReduceMean")
    if sub is None or mean_node is None or mean_node.input(0) is not sub.input(0):
        return None
    x, mean = sub.input(0), mean_node.outputs[0]
    if x is None or x.shape is None or x.dtype != DType.FLOAT32:
        return None
    axes = _trailing_axes(mean_node, len(x.shape))
    if axes is None or _trailing_axes(var_node, len(x.shape)) != axes:
        return None
    add = _only_user(users, var_node.outputs[0])
    if add is None or add.op_type != "Add":
        return None
    eps = _scalar(_other(add, var_node.outputs[0]))
    if eps is None or not eps >= 0.0:
        return None
    found = _rstd(users, add.outputs[0])
    if found is None:
        return None
    rnodes, r, sqrt = found
    m = _Match(x, axes, eps)
    m.nodes = [mean_node, sub, sq_node, var_node, add, *rnodes]
    if sqrt is not None:  # n = Div(d', sqrt)
        div = _only_user(users, sqrt)
        if div is None or div.op_type != "Div" or div.input(1) is not sqrt:
            return None
        num = div.input(0)
        if num is not d:
            if not _is_sub_of(_prod(num, "Sub"), x, mean):
                return None
            m.nodes.append(num.producer)  # type: ignore[union-attr,arg-type]
        m.nodes.append(div)
        _affine(users, m, div.outputs[0])
        return m
    # r = 1/sqrt(var + eps): either n = d' * r, or tf2onnx's x * g - mean * g form
    g = r
    u = _only_user(users, r)
    if u is not None and u.op_type == "Mul":
        num = _other(u, r)
        if num is not None and (num is d or _is_sub_of(_prod(num, "Sub"), x, mean)):
            if num is not d:
                m.nodes.append(num.producer)  # type: ignore[arg-type]
            m.nodes.append(u)
            _affine(users, m, u.outputs[0])
            return m
        if num is not None and num.is_const:  # g = r * gamma
            m.gamma, g = num, u.outputs[0]
            m.nodes.append(u)
    return _match_batchnorm_form(users, m, mean, g)


def _match_batchnorm_form(users: dict[int, list[Node]], m: _Match, mean: Value, g: Value) -> _Match | None:
    us = users.get(id(g), [])
    if len(us) != 2 or any(u.op_type != "Mul" for u in us):
        return None
    xg = next((u for u in us if _other(u, g) is m.x), None)
    mg = next((u for u in us if _other(u, g) is mean), None)
    if xg is None or mg is None or xg is mg:
        return None
    m.nodes += [xg, mg]
    top = _only_user(users, mg.outputs[0])
    if top is None:
        return None
    if top.op_type == "Sub" and top.input(0) is xg.outputs[0] and top.input(1) is mg.outputs[0]:
        m.nodes.append(top)
        m.y = top.outputs[0]
        return m
    if top.op_type != "Sub" or top.input(1) is not mg.outputs[0] or top.input(0) is None or not top.input(0).is_const:  # type: ignore[union-attr]
        return None
    m.beta = top.input(0)
    add = _only_user(users, top.outputs[0])
    if add is None or add.op_type != "Add" or _other(add, top.outputs[0]) is not xg.outputs[0]:
        return None
    m.nodes += [top, add]
    m.y = add.outputs[0]
    return m


def _param(graph: Graph, v: Value | None, x_shape: tuple[int, ...], axis: int, name: str) -> Value | None | bool:
    """gamma/beta as a constant of the normalized shape; None when absent; False when it does not fit."""
    if v is None:
        return None
    assert v.const is not None
    c = np.asarray(v.const)
    rank = len(x_shape)
    if c.ndim > rank:
        return False
    full = c.reshape((1,) * (rank - c.ndim) + c.shape)
    if any(full.shape[i] != 1 for i in range(axis)):
        return False
    inner = x_shape[axis:]
    if any(s not in (1, want) for s, want in zip(full.shape[axis:], inner, strict=True)):
        return False
    data = np.ascontiguousarray(np.broadcast_to(full.reshape(full.shape[axis:]), inner).astype(np.float32))
    return graph.const_value(name, data)


def _valid(graph: Graph, users: dict[int, list[Node]], m: _Match) -> bool:
    """Every value defined inside the pattern, but its result, is read only inside it."""
    inside = {id(n) for n in m.nodes}
    if len(inside) != len(m.nodes) or m.y is None:
        return False
    for n in m.nodes:
        for o in n.outputs:
            if o is m.y:
                continue
            if graph.is_graph_output(o) or any(id(u) not in inside for u in users.get(id(o), [])):
                return False
    return m.y.shape == m.x.shape and m.y.dtype == m.x.dtype


def _scalar_param(v: Value | None, default: float) -> float | None:
    """gamma/beta that is one number broadcast over everything (all dims 1); `default` when absent."""
    if v is None:
        return default
    c = np.asarray(v.const)
    return float(c.reshape(-1)[0]) if c.size == 1 else None


def _as_instance_norm(graph: Graph, node: Node, m: _Match) -> bool:
    """The normalization over H, W of an NCHW tensor whose H, W are symbolic, with no gamma/beta or scalar ones:
    InstanceNormalization with per-channel scale and bias (C is a number), which every backend runs at any size."""
    assert m.y is not None and m.x.shape is not None
    shape = m.x.shape
    g, b = _scalar_param(m.gamma, 1.0), _scalar_param(m.beta, 0.0)
    if len(shape) != 4 or m.axes[0] != 2 or not isinstance(shape[1], int) or g is None or b is None:
        return False
    c = shape[1]
    scale = graph.const_value(f"{node.name}_in_scale", np.full(c, g, np.float32))
    bias = graph.const_value(f"{node.name}_in_bias", np.full(c, b, np.float32))
    last = max(m.nodes, key=graph.nodes.index)
    inorm = graph.add_node("InstanceNormalization", [m.x, scale, bias], [m.y], {"epsilon": m.eps},
                           name=f"{node.name}_instancenorm", before=last)
    for n in m.nodes:
        graph.remove_node(n)
    m.y.producer = inorm
    infer_node(inorm, graph)
    return True


def run(graph: Graph) -> int:
    fused = 0
    users = graph.users()
    for node in list(graph.nodes):
        if node.op_type != "ReduceMean" or node not in graph.nodes:
            continue
        m = _match(graph, node, users)
        if m is None or not _valid(graph, users, m):
            continue
        assert m.y is not None and m.x.shape is not None
        axis = m.axes[0]
        if not all(isinstance(d, int) for d in m.x.shape[axis:]):
            # symbolic normalized dims (an image of any size): no constant of their shape exists
            if _as_instance_norm(graph, node, m):
                users = graph.users()
                fused += 1
            continue
        gamma = _param(graph, m.gamma, m.x.shape, axis, f"{node.name}_ln_scale")
        beta = _param(graph, m.beta, m.x.shape, axis, f"{node.name}_ln_bias")
        if gamma is False or beta is False:
            continue
        if gamma is None:
            gamma = graph.const_value(f"{node.name}_ln_scale", np.ones(m.x.shape[axis:], np.float32))
        assert isinstance(gamma, Value) and (beta is None or isinstance(beta, Value))
        last = max(m.nodes, key=graph.nodes.index)
        ins: list[Value | None] = [m.x, gamma]
        if beta is not None:
            ins.append(beta)
        ln = graph.add_node("LayerNormalization", ins, [m.y],
                            {"axis": axis, "epsilon": m.eps, "stash_type": 1}, name=f"{node.name}_layernorm",
                            before=last)
        for n in m.nodes:
            graph.remove_node(n)
        m.y.producer = ln
        infer_node(ln, graph)
        users = graph.users()
        fused += 1
    return fused
