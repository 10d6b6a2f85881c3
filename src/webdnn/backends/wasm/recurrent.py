"""wasm's own LSTM and GRU: the input projection of the whole sequence as one GEMM call, then the
recurrence as one `lstm_f32` / `gru_f32` call (kernels/wasm/{lstm,gru}_f32_simd128.c) with the gates
fused in registers and R^T pre-packed here. Layers they do not cover (other activations, clip,
input_forget, a sequence_lens shorter than the sequence, layout 1, weights computed at run time) and
RNN are unrolled by the shared `decompose_recurrent` pass instead, as on every other backend.

Gate columns are interleaved by blocks of 8 hidden units (hidden padded to Hp = 8·⌈H/8⌉): column
(G·u + g)·8 + lane of a direction is gate g (ONNX's order: LSTM i, o, f, c; GRU z, r, h) of unit
8u + lane, so a unit block's G gates are G consecutive 8-wide GEMM panels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from webdnn.backends.wasm.tiles import NR
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Node, Value
from webdnn.ir.symbolic import is_sym

if TYPE_CHECKING:
    from webdnn.backends.wasm.lower import _Lowering

GATES = {"LSTM": 4, "GRU": 3}
DEFAULT_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"]}
MODES = {"forward": 0, "reverse": 1, "bidirectional": 2}


def native(node: Node) -> bool:
    """Whether lstm_f32 / gru_f32 runs this node (the decompose_recurrent pass keeps it then)."""
    if node.op_type not in GATES:
        return False
    a = node.attrs
    dirs = 2 if a["direction"] == "bidirectional" else 1
    x = node.input(0)
    if (a["activations"] != DEFAULT_ACTIVATIONS[node.op_type] * dirs or a["clip"] is not None or a["input_forget"]
            or a["layout"] or x is None or x.dtype != DType.FLOAT32 or x.shape is None or is_sym(x.shape[0])):
        return False
    if any(node.input(i) is not None and node.input(i).const is None for i in (1, 2, 3, 7)):  # type: ignore[union-attr]
        return False
    lens = node.input(4)
    return lens is None or (lens.const is not None and bool(np.all(lens.const == x.shape[0])))


def _interleave(m: np.ndarray, hidden: int, gates: int) -> np.ndarray:
    """[..., G·H] (the gates in blocks of H) -> [..., G·Hp] in unit-block order, zero padded."""
    hp = -(-hidden // NR) * NR
    g = np.zeros((*m.shape[:-1], gates, hp), np.float32)
    g[..., :hidden] = m.reshape(*m.shape[:-1], gates, hidden)
    blocks = g.reshape(*m.shape[:-1], gates, hp // NR, NR)
    return np.ascontiguousarray(np.moveaxis(blocks, -3, -2)).reshape(*m.shape[:-1], gates * hp)


def _pack_r(panels: np.ndarray, op: str, hidden: int, gates: int) -> np.ndarray:
    """R^T in GEMM panels ([G·Hp/8][H][8]) -> the kernel's layout. gru_f32 reads the panels as they are;
    lstm_f32 reads a unit block's four gate panels interleaved by k ([Hp/8][H][G][8]): one stream from one
    pointer, every load at an offset clang folds into the instruction."""
    if op != "LSTM":
        return panels
    blocks = panels.reshape(-1, gates, hidden, NR)
    return np.ascontiguousarray(blocks.transpose(0, 2, 1, 3)).reshape(-1)


def lower_recurrent(lw: _Lowering, node: Node) -> bool:
    from webdnn.backends.wasm.lower import act_params, block_rows, pack_gemm_b

    if not native(node):
        return False
    op, a = node.op_type, node.attrs
    gates = GATES[op]
    x = node.inputs[0]
    assert x is not None and x.shape is not None
    hidden, dirs = int(a["hidden_size"]), 2 if a["direction"] == "bidirectional" else 1
    hp = -(-hidden // NR) * NR
    seq, batch, width = x.shape
    w, r, b, peep = (node.input(i) for i in (1, 2, 3, 7))
    assert w is not None and r is not None and w.const is not None and r.const is not None
    wc, rc = w.const.astype(np.float32), r.const.astype(np.float32)
    bc = np.zeros((dirs, 2 * gates * hidden), np.float32) if b is None else b.const.astype(np.float32)  # type: ignore[union-attr]
    wb, rb = bc[:, : gates * hidden], bc[:, gates * hidden:].copy()
    lbr = op == "GRU" and bool(a["linear_before_reset"])
    rbh = None
    if lbr:  # R_h's bias stays inside the reset gate's product: passed to the kernel, not folded
        rbh = np.zeros((dirs, hp), np.float32)
        rbh[:, :hidden] = rb[:, 2 * hidden:]
        rb[:, 2 * hidden:] = 0
    # the input projection of every step and direction: [seq·batch, dirs·G·Hp]
    wt = np.concatenate([_interleave(wc[d].T, hidden, gates) for d in range(dirs)], axis=1)
    bt = np.concatenate([_interleave(wb[d] + rb[d], hidden, gates) for d in range(dirs)])
    xw = lw.new_value(f"{node.name}_xw", DType.FLOAT32, (seq, batch, dirs * gates * hp))
    rows = seq * batch
    lw.emit("MatMul", f"{node.name}/input_projection", [lw.nchw(x), lw.const(f"{node.name}_w", pack_gemm_b(wt)),
            lw.const(f"{node.name}_wb", bt)], [xw], {}, "gemm_f32",
            [{"in": 0}, {"in": 1}, {"in": 2}, {"out": 0}, 0, rows, width, dirs * gates * hp, *act_params(None),
             block_rows(width, rows)])
    rp = np.concatenate([_pack_r(pack_gemm_b(_interleave(rc[d].T, hidden, gates)), op, hidden, gates)
                         for d in range(dirs)])
    p_val = None
    if op == "LSTM" and peep is not None:
        assert peep.const is not None
        pc = np.zeros((dirs, 3, hp), np.float32)
        pc[:, :, :hidden] = peep.const.astype(np.float32).reshape(dirs, 3, hidden)
        p_val = lw.const(f"{node.name}_p", pc.reshape(-1))
    if rbh is not None:
        p_val = lw.const(f"{node.name}_rbh", rbh.reshape(-1))
    h0, c0 = node.input(5), node.input(6) if op == "LSTM" else None
    n_out = 3 if op == "LSTM" else 2
    outs: list[Value] = []
    for i, shape in enumerate([(seq, dirs, batch, hidden), (dirs, batch, hidden), (dirs, batch, hidden)][:n_out]):
        o = node.outputs[i] if i < len(node.outputs) else None
        outs.append(lw.defined(o, nhwc=False) if o is not None
                    else lw.new_value(f"{node.name}_out{i}", DType.FLOAT32, shape))
    inputs: list[Value | None] = [xw, lw.const(f"{node.name}_r", rp)]

    def optional(v: Value | None) -> dict[str, int] | int:  # an optional operand's address word (0: absent)
        if v is None:
            return 0
        inputs.append(v)
        return {"in": len(inputs) - 1}

    states = (h0, c0) if op == "LSTM" else (h0,)
    opt = [optional(p_val), *(optional(None if v is None else lw.nchw(v)) for v in states)]
    lw.need_stack(4 * batch * hp + 64 if op == "LSTM" else 4 * 2 * hp + 64)
    fn = "lstm_f32" if op == "LSTM" else "gru_f32"
    lw.emit(op, node.name, inputs, outs, {"hidden_size": hidden, "direction": a["direction"]}, fn,
            [{"in": 0}, {"in": 1}, *opt, *({"out": i} for i in range(n_out)), seq, batch, hidden, dirs,
             MODES[a["direction"]], *([int(lbr)] if op == "GRU" else [])])
    return True
