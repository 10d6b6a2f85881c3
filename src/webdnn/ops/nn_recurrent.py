"""Recurrent layers: LSTM, GRU and RNN. They have no kernels of their own: passes/decompose_recurrent.py
unrolls them over the (fixed) sequence length into MatMuls and elementwise nodes every backend runs.

Canonical form (set here, read by the decomposition): `direction`, `hidden_size`, `layout`,
`activations` (one list per direction, with the spec's defaults), `activation_alpha` /
`activation_beta` (one value per activation, the op's own default where the model gives none),
`clip` (None: no clipping), `input_forget` and `linear_before_reset` (ints).
"""

from __future__ import annotations

from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Node
from webdnn.ir.symbolic import is_sym
from webdnn.ops._util import in_dtype, in_shape, set_out
from webdnn.ops.nn_common import fail
from webdnn.ops.registry import shape_rule, unsupported

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
DEFAULT_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}
# (alpha, beta) defaults of the activations that take them (ONNX's, and onnxruntime's for the two
# functions that exist only here); None: the activation takes no such parameter
ACTIVATION_PARAMS: dict[str, tuple[float | None, float | None]] = {
    "Relu": (None, None), "Tanh": (None, None), "Sigmoid": (None, None), "Softsign": (None, None),
    "Softplus": (None, None), "Affine": (1.0, 0.0), "LeakyRelu": (0.01, None), "ThresholdedRelu": (1.0, None),
    "ScaledTanh": (1.0, 1.0), "HardSigmoid": (0.2, 0.5), "Elu": (1.0, None),
}
_BY_LOWER = {k.lower(): k for k in ACTIVATION_PARAMS}


def _activations(node: Node, graph: Graph, dirs: int) -> tuple[list[str], list[float], list[float]]:
    """The activation names per position (dirs × the op's count), with one alpha and beta each:
    the model's lists are consumed in order by the activations that take the parameter."""
    count = len(DEFAULT_ACTIVATIONS[node.op_type])
    given = node.attrs.get("activations")
    names = [str(a.decode() if isinstance(a, bytes) else a) for a in given] if given \
        else DEFAULT_ACTIVATIONS[node.op_type] * dirs
    if len(names) != count * dirs:
        raise fail(node, f"'activations' lists {len(names)} functions; {node.op_type} with {dirs} direction(s) "
                         f"takes {count * dirs}")
    alphas = [float(a) for a in node.attrs.get("activation_alpha") or []]
    betas = [float(b) for b in node.attrs.get("activation_beta") or []]
    out: list[str] = []
    alpha_out: list[float] = []
    beta_out: list[float] = []
    for name in names:
        canon = _BY_LOWER.get(name.lower())
        if canon is None:
            raise unsupported(node, graph, f"activation '{name}' (supported: {', '.join(ACTIVATION_PARAMS)})")
        da, db = ACTIVATION_PARAMS[canon]
        alpha_out.append(alphas.pop(0) if da is not None and alphas else da or 0.0)
        beta_out.append(betas.pop(0) if db is not None and betas else db or 0.0)
        out.append(canon)
    return out, alpha_out, beta_out


@shape_rule("LSTM", "GRU", "RNN")
def recurrent(node: Node, graph: Graph) -> None:
    op = node.op_type
    gates = GATES[op]
    layout = int(node.attrs.get("layout", 0))
    if layout not in (0, 1):
        raise fail(node, f"layout {layout} is not 0 or 1")
    direction = node.attrs.get("direction", "forward")
    direction = direction.decode() if isinstance(direction, bytes) else str(direction)
    if direction not in ("forward", "reverse", "bidirectional"):
        raise fail(node, f"direction '{direction}' is not forward, reverse or bidirectional")
    dirs = 2 if direction == "bidirectional" else 1
    for i in range(3):
        if node.input(i) is None:
            raise fail(node, f"input {('X', 'W', 'R')[i]} is required")
    if in_dtype(node, 0) != DType.FLOAT32:
        raise unsupported(node, graph, f"{op} over {in_dtype(node, 0).value} tensors (float32 only)")
    x, w, r = in_shape(node, 0), in_shape(node, 1), in_shape(node, 2)
    if len(x) != 3:
        raise fail(node, f"X has rank {len(x)}, expected 3")
    seq, batch, width = (x[1], x[0], x[2]) if layout else (x[0], x[1], x[2])
    if is_sym(seq):
        raise unsupported(node, graph, f"a sequence length that varies ({seq}): {op} is unrolled over it at "
                                       "conversion; fix it with --input-shape (e.g. --input-shape X=32,1,64)")
    hidden = node.attrs.get("hidden_size")
    hidden = int(hidden) if hidden is not None else (int(r[-1]) if len(r) == 3 and not is_sym(r[-1]) else None)
    if hidden is None or hidden < 1:
        raise fail(node, "attribute 'hidden_size' is required")
    if tuple(w) != (dirs, gates * hidden, width):
        raise fail(node, f"W has shape {tuple(w)}, expected {(dirs, gates * hidden, width)}")
    if tuple(r) != (dirs, gates * hidden, hidden):
        raise fail(node, f"R has shape {tuple(r)}, expected {(dirs, gates * hidden, hidden)}")
    state = (batch, dirs, hidden) if layout else (dirs, batch, hidden)
    expected = {3: (dirs, 2 * gates * hidden), 4: (batch,), 5: state}
    if op == "LSTM":
        expected.update({6: expected[5], 7: (dirs, 3 * hidden)})
    for i in range(3, len(node.inputs)):
        if node.input(i) is None:
            continue
        if i not in expected:
            raise fail(node, f"{op} takes at most {max(expected) + 1} inputs")
        if tuple(in_shape(node, i)) != expected[i]:
            raise fail(node, f"input {i} has shape {tuple(in_shape(node, i))}, expected {expected[i]}")
        if i == 4 and in_dtype(node, 4) not in (DType.INT32, DType.INT64):
            raise fail(node, f"sequence_lens is {in_dtype(node, 4).value}, expected int32")
    names, alphas, betas = _activations(node, graph, dirs)
    clip = node.attrs.get("clip")
    node.attrs.update(
        direction=direction, hidden_size=hidden, layout=layout, activations=names, activation_alpha=alphas,
        activation_beta=betas, clip=None if clip is None else float(clip),
        input_forget=int(node.attrs.get("input_forget", 0)),
        linear_before_reset=int(node.attrs.get("linear_before_reset", 0)),
    )
    y = [batch, seq, dirs, hidden] if layout else [seq, dirs, batch, hidden]
    for i, shape in enumerate([y, state, state][: 3 if op == "LSTM" else 2]):
        if i < len(node.outputs):
            set_out(node, i, DType.FLOAT32, shape)
    if len(node.outputs) > (3 if op == "LSTM" else 2):
        raise fail(node, f"{op} has at most {3 if op == 'LSTM' else 2} outputs")
