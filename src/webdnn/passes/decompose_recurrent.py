"""LSTM, GRU and RNN unrolled over their fixed sequence length into ops every backend runs.

Per direction: one MatMul of the whole sequence with W^T (plus both biases where they add
outside the recurrence) gives every step's input projection at once; each step then adds
H_prev · R^T (a [batch, gates·hidden] MatMul against R^T folded at conversion), slices the gates
and applies the activations as elementwise nodes, which the backends fuse into few kernels. A
missing initial state is zero, so the first step skips its recurrent MatMul and peephole terms.
`sequence_lens` masks each step with a Where (state kept, output 0 past a sequence's end, which
for the reverse direction means the state stays initial until the sequence's last element);
a constant `sequence_lens` equal to the full length everywhere needs no masks.

Equations and gate orders are the ONNX spec's (LSTM: i o f c, peepholes i o f; GRU: z r h).
`clip` bounds every gate's pre-activation, as onnxruntime does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from webdnn.ir.graph import Graph, Node, Value
from webdnn.ops.registry import infer_node
from webdnn.passes.expr_nodes import NodeEmitter
from webdnn.passes.fold_constants import fold_node

RECURRENT = frozenset({"LSTM", "GRU", "RNN"})


class _Step:
    """Emits one layer's nodes; `v` is a value or None (a zero state)."""

    def __init__(self, graph: Graph, node: Node) -> None:
        self.node = node
        self.em = NodeEmitter(graph, [], node, node.name)
        self.hidden = int(node.attrs["hidden_size"])

    def const(self, data: object, dtype: type = np.float32) -> Value:
        return self.em.const(data, dtype)

    def op(self, op: str, *inputs: Value | None, **attrs: object) -> Value:
        return self.em.node(op, list(inputs), dict(attrs) or None)

    def cols(self, v: Value, lo: int, hi: int, axis: int = 1) -> Value:
        """v[..., lo:hi] along `axis`."""
        i64 = np.int64
        return self.op("Slice", v, self.const([lo], i64), self.const([hi], i64), self.const([axis], i64))

    def gate(self, v: Value, k: int) -> Value:
        """Gate k ([batch, hidden]) of a [batch, gates·hidden] value."""
        return self.cols(v, k * self.hidden, (k + 1) * self.hidden)

    def pick(self, v: Value, d: int, axis: int = 0) -> Value:
        return self.op("Gather", v, self.const(d, np.int64), axis=axis)

    def add(self, a: Value | None, b: Value | None) -> Value | None:
        return b if a is None else a if b is None else self.op("Add", a, b)

    def mul(self, a: Value | None, b: Value | None) -> Value | None:
        return None if a is None or b is None else self.op("Mul", a, b)

    def act(self, v: Value, name: str, alpha: float, beta: float) -> Value:
        if name == "Affine":
            return self.op("Add", self.op("Mul", v, self.const(alpha)), self.const(beta))
        if name == "ScaledTanh":
            return self.op("Mul", self.op("Tanh", self.op("Mul", v, self.const(beta))), self.const(alpha))
        if name in ("LeakyRelu", "ThresholdedRelu", "Elu"):
            return self.op(name, v, alpha=alpha)
        if name == "HardSigmoid":
            return self.op(name, v, alpha=alpha, beta=beta)
        return self.op(name, v)

    def clip(self, v: Value) -> Value:
        c = self.node.attrs["clip"]
        return v if c is None else self.op("Clip", v, self.const(-c), self.const(c))


def _mask(s: _Step, lens: Value | None, full: bool, t: int) -> Value | None:
    """[batch, 1] bool: which sequences have step t (None: all of them)."""
    if lens is None or full:
        return None
    return s.op("Unsqueeze", s.op("Less", s.const(t, np.int32), lens), s.const([1], np.int64))


def _keep(s: _Step, mask: Value | None, new: Value, old: Value | None) -> Value:
    """The state after a step: the new one where the sequence goes on, else the old (zero if None)."""
    if mask is None:
        return new
    return s.op("Where", mask, new, old if old is not None else s.const(0.0))


def _cell(s: _Step, xw_t: Value, rt: Any, p: Value | None, h: Value | None, c: Value | None,
          acts: tuple[list[str], list[float], list[float]]) -> tuple[Value, Value | None]:
    """One step of one direction: the new (H, C) (C None outside LSTM)."""
    op, node = s.node.op_type, s.node
    names, alphas, betas = acts
    f = [(names[i], alphas[i], betas[i]) for i in range(len(names))]
    if op == "RNN":
        return s.act(s.clip(s.add(xw_t, s.op("MatMul", h, rt) if h is not None else None)), *f[0]), None
    if op == "GRU":
        rt_zr, rt_h, rbh = rt  # type: ignore[misc]
        zr = xw_t if h is None else s.op("Add", s.cols(xw_t, 0, 2 * s.hidden), s.op("MatMul", h, rt_zr))
        z = s.act(s.clip(s.gate(zr, 0)), *f[0])
        r = s.act(s.clip(s.gate(zr, 1)), *f[0])
        if node.attrs["linear_before_reset"]:  # r gates H_prev · R_h^T + Rb_h
            hr = s.add(None if h is None else s.op("MatMul", h, rt_h), rbh)
            hpre = s.add(s.gate(xw_t, 2), s.mul(r, hr))
        else:  # R_h multiplies r ⊙ H_prev
            hpre = s.add(s.gate(xw_t, 2), None if h is None else s.op("MatMul", s.op("Mul", r, h), rt_h))
        assert hpre is not None
        hcand = s.act(s.clip(hpre), *f[1])
        # H = (1 - z) h~ + z H_prev = h~ + z (H_prev - h~)
        new_h = s.op("Sub", hcand, s.op("Mul", z, hcand)) if h is None \
            else s.op("Add", hcand, s.op("Mul", z, s.op("Sub", h, hcand)))
        return new_h, None
    # LSTM: gates i o f c, peepholes i o f
    pre = xw_t if h is None else s.op("Add", xw_t, s.op("MatMul", h, rt))
    pi, po, pf = (None, None, None) if p is None else (s.gate(p, 0), s.gate(p, 1), s.gate(p, 2))
    i = s.act(s.clip(s.add(s.gate(pre, 0), s.mul(pi, c))), *f[0])
    if node.attrs["input_forget"]:
        fg: Value | None = s.op("Sub", s.const(1.0), i)
    else:
        fg = s.act(s.clip(s.add(s.gate(pre, 2), s.mul(pf, c))), *f[0])
    cand = s.act(s.clip(s.gate(pre, 3)), *f[1])
    new_c = s.add(s.mul(fg, c), s.op("Mul", i, cand))
    assert new_c is not None
    o = s.act(s.clip(s.add(s.gate(pre, 1), s.mul(po, new_c))), *f[0])
    return s.op("Mul", o, s.act(new_c, *f[2])), new_c


def decompose_recurrent(graph: Graph, node: Node) -> list[Node]:
    s = _Step(graph, node)
    op, a = node.op_type, node.attrs
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[op]
    hh = s.hidden
    x, w, r = node.inputs[0], node.inputs[1], node.inputs[2]
    assert x is not None and w is not None and r is not None and x.shape is not None
    bias, lens = node.input(3), node.input(4)
    h0, c0, peep = node.input(5), node.input(6), node.input(7)
    layout = int(a["layout"])
    if layout:  # [batch, seq, width] -> [seq, batch, width]; states [batch, dirs, hidden] -> [dirs, batch, hidden]
        x = s.op("Transpose", x, perm=[1, 0, 2])
        h0 = None if h0 is None else s.op("Transpose", h0, perm=[1, 0, 2])
        c0 = None if c0 is None else s.op("Transpose", c0, perm=[1, 0, 2])
    seq = int(node.inputs[0].shape[1 if layout else 0])  # type: ignore[index]
    full = lens is not None and lens.const is not None and bool(np.all(lens.const == seq))
    if lens is not None and not full and lens.dtype is not None and lens.dtype.value != "int32":
        lens = s.op("Cast", lens, to=6)
    dirs = 2 if a["direction"] == "bidirectional" else 1
    count = len(a["activations"]) // dirs
    users = graph.users()
    want = [bool(users.get(id(o))) or graph.is_graph_output(o) for o in node.outputs] + [False] * 3
    ys, hs, cs = [], [], []
    for d in range(dirs):
        reverse = a["direction"] == "reverse" or d == 1
        wt = s.op("Transpose", s.pick(w, d), perm=[1, 0])  # [width, gates·hidden], folded when W is constant
        rt = s.op("Transpose", s.pick(r, d), perm=[1, 0])
        xw = s.op("MatMul", x, wt)  # [seq, batch, gates·hidden]
        rbh = None
        if bias is not None:
            b = s.pick(bias, d)
            wb, rb = s.cols(b, 0, gates * hh, 0), s.cols(b, gates * hh, 2 * gates * hh, 0)
            if op == "GRU" and a["linear_before_reset"]:  # R_h's bias stays inside the reset gate's product
                rbh = s.cols(rb, 2 * hh, 3 * hh, 0)
                rb = s.op("Concat", s.cols(rb, 0, 2 * hh, 0), s.const(np.zeros(hh, np.float32)), axis=0)
            xw = s.op("Add", xw, s.op("Add", wb, rb))
        rec: object = rt
        if op == "GRU":  # [hidden, 2·hidden] for z and r, [hidden, hidden] for h
            rec = (s.cols(rt, 0, 2 * hh), s.cols(rt, 2 * hh, 3 * hh), rbh)
        p = None if peep is None else s.op("Unsqueeze", s.pick(peep, d), s.const([0], np.int64))
        h = None if h0 is None else s.pick(h0, d)
        c = None if c0 is None else s.pick(c0, d)
        acts = (a["activations"][d * count:(d + 1) * count], a["activation_alpha"][d * count:(d + 1) * count],
                a["activation_beta"][d * count:(d + 1) * count])
        outs: list[Value] = [None] * seq  # type: ignore[list-item]
        for t in (range(seq - 1, -1, -1) if reverse else range(seq)):
            mask = _mask(s, lens, full, t)
            new_h, new_c = _cell(s, s.pick(xw, t), rec, p, h, c, acts)
            if want[0]:
                outs[t] = new_h if mask is None else s.op("Where", mask, new_h, s.const(0.0))
            h = _keep(s, mask, new_h, h)
            c = _keep(s, mask, new_c, c) if new_c is not None else None
        assert h is not None
        if want[0]:
            unsq = s.const([0, 1], np.int64)
            ys.append(s.op("Concat", *[s.op("Unsqueeze", o, unsq) for o in outs], axis=0))  # [seq, 1, batch, hidden]
        hs.append(h)
        if c is not None:
            cs.append(c)
    stacked = [ys, hs, cs]
    for i, out in enumerate(node.outputs):
        if not want[i]:
            continue
        if i == 0:
            v = s.op("Concat", *ys, axis=1) if dirs > 1 else ys[0]  # [seq, dirs, batch, hidden]
        else:  # [dirs, batch, hidden]
            parts = [s.op("Unsqueeze", x, s.const([0], np.int64)) for x in stacked[i]]
            v = s.op("Concat", *parts, axis=0) if dirs > 1 else parts[0]
        if layout:
            v = s.op("Transpose", v, perm=[2, 0, 1, 3] if i == 0 else [1, 0, 2])
        last = v.producer  # a node made here for this result alone: it writes the original output
        assert last is not None and last.outputs == [v]
        last.outputs = [out]
        out.producer = last
    graph.remove_node(node)
    return s.em.nodes


def run(graph: Graph, keep: Callable[[Node], bool] | None = None) -> int:
    """Unroll every LSTM, GRU and RNN node but those `keep` accepts (a backend's own kernel runs
    them); returns how many. A backend pass: each backend lists it in its `passes`, since the
    shared pipeline cannot know which backend has a native kernel. Results nothing reads are not
    computed."""
    count = 0
    for node in list(graph.nodes):
        if node.op_type not in RECURRENT or (keep is not None and keep(node)):
            continue
        for new in decompose_recurrent(graph, node):
            if not fold_node(new, graph):
                infer_node(new, graph)
        count += 1
    return count
