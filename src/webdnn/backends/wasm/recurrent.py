"""wasm's own LSTM: the input projection of the whole sequence as one GEMM call, then the recurrence
as one `lstm_f32` call (kernels/wasm/lstm_f32_simd128.c) with the gates fused in registers and R^T
pre-packed here. LSTMs it does not cover (other activations, clip, input_forget, a sequence_lens
shorter than the sequence, layout 1, weights computed at run time) are unrolled by the shared
`decompose_recurrent` pass instead, like GRU and RNN on every backend.

Gate columns are interleaved by blocks of 8 hidden units (hidden padded to Hp = 8·ceil(H/8)):
column (4u + g)·8 + lane of a direction is gate g (ONNX's order i, o, f, c) of unit 8u + lane, so a
unit block's four gates are four consecutive 8-wide GEMM panels.
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

DEFAULT_ACTIVATIONS = ["Sigmoid", "Tanh", "Tanh"]
MODES = {"forward": 0, "reverse": 1, "bidirectional": 2}


def native(node: Node) -> bool:
    """Whether lstm_f32 runs this node (the decompose_recurrent pass keeps it then)."""
    if node.op_type != "LSTM":
        return False
    a = node.attrs
    dirs = 2 if a["direction"] == "bidirectional" else 1
    x = node.input(0)
    if (a["activations"] != DEFAULT_ACTIVATIONS * dirs or a["clip"] is not None or a["input_forget"]
            or a["layout"] or x is None or x.dtype != DType.FLOAT32 or x.shape is None or is_sym(x.shape[0])):
        return False
    if any(node.input(i) is not None and node.input(i).const is None for i in (1, 2, 3, 7)):  # type: ignore[union-attr]
        return False
    lens = node.input(4)
    return lens is None or (lens.const is not None and bool(np.all(lens.const == x.shape[0])))


def _interleave(m: np.ndarray, hidden: int) -> np.ndarray:
    """[..., 4·H] (gates i, o, f, c in blocks of H) -> [..., 4·Hp] in unit-block order, zero padded."""
    hp = -(-hidden // NR) * NR
    g = np.zeros((*m.shape[:-1], 4, hp), np.float32)
    g[..., :hidden] = m.reshape(*m.shape[:-1], 4, hidden)
    blocks = g.reshape(*m.shape[:-1], 4, hp // NR, NR)
    return np.ascontiguousarray(np.moveaxis(blocks, -3, -2)).reshape(*m.shape[:-1], 4 * hp)


def lower_lstm(lw: _Lowering, node: Node) -> bool:
    from webdnn.backends.wasm.lower import act_params, block_rows, pack_gemm_b

    if not native(node):
        return False
    x = node.inputs[0]
    assert x is not None and x.shape is not None
    a = node.attrs
    hidden, dirs = int(a["hidden_size"]), 2 if a["direction"] == "bidirectional" else 1
    hp = -(-hidden // NR) * NR
    seq, batch, width = x.shape
    w, r, b, peep = (node.input(i) for i in (1, 2, 3, 7))
    assert w is not None and r is not None and w.const is not None and r.const is not None
    wc, rc = w.const.astype(np.float32), r.const.astype(np.float32)
    bias = np.zeros((dirs, 4 * hidden), np.float32)
    if b is not None:
        assert b.const is not None
        bc = b.const.astype(np.float32)
        bias = bc[:, : 4 * hidden] + bc[:, 4 * hidden:]
    # the input projection of every step and direction: [seq·batch, dirs·4·Hp]
    wt = np.concatenate([_interleave(wc[d].T, hidden) for d in range(dirs)], axis=1)
    bt = np.concatenate([_interleave(bias[d], hidden) for d in range(dirs)])
    xw = lw.new_value(f"{node.name}_xw", DType.FLOAT32, (seq, batch, dirs * 4 * hp))
    rows = seq * batch
    lw.emit("MatMul", f"{node.name}/input_projection", [lw.nchw(x), lw.const(f"{node.name}_w", pack_gemm_b(wt)),
            lw.const(f"{node.name}_wb", bt)], [xw], {}, "gemm_f32",
            [{"in": 0}, {"in": 1}, {"in": 2}, {"out": 0}, 0, rows, width, dirs * 4 * hp, *act_params(None),
             block_rows(width, rows)])
    rp = np.concatenate([pack_gemm_b(_interleave(rc[d].T, hidden)) for d in range(dirs)])
    p_val = None
    if peep is not None:
        assert peep.const is not None
        pc = np.zeros((dirs, 3, hp), np.float32)
        pc[:, :, :hidden] = peep.const.astype(np.float32).reshape(dirs, 3, hidden)
        p_val = lw.const(f"{node.name}_p", pc.reshape(-1))
    h0, c0 = node.input(5), node.input(6)
    outs: list[Value] = []
    for i, shape in enumerate([(seq, dirs, batch, hidden), (dirs, batch, hidden), (dirs, batch, hidden)]):
        o = node.outputs[i] if i < len(node.outputs) else None
        outs.append(lw.defined(o, nhwc=False) if o is not None
                    else lw.new_value(f"{node.name}_out{i}", DType.FLOAT32, shape))
    inputs: list[Value | None] = [xw, lw.const(f"{node.name}_r", rp)]

    def optional(v: Value | None) -> dict[str, int] | int:  # an optional operand's address word (0: absent)
        if v is None:
            return 0
        inputs.append(v)
        return {"in": len(inputs) - 1}

    opt = [optional(p_val), *(optional(None if v is None else lw.nchw(v)) for v in (h0, c0))]
    lw.need_stack(4 * batch * hp + 64)
    lw.emit("LSTM", node.name, inputs, outs, {"hidden_size": hidden, "direction": a["direction"]}, "lstm_f32",
            [{"in": 0}, {"in": 1}, *opt, {"out": 0}, {"out": 1}, {"out": 2}, seq, batch, hidden, dirs,
             MODES[a["direction"]]])
    return True
