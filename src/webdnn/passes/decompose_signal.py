"""DFT and STFT as MatMuls with constant cosine and sine matrices (ops/nn_signal.py sets the length).

A transform of length L over one axis: the real and imaginary parts (Gather on the last axis) are
moved to the last axis, multiplied by [n, K] matrices of cos(2πkt/L) and sin(2πkt/L) (computed in
float64 at conversion, truncation and zero padding to L folded into their rows, the inverse's sign
and 1/L into their values), and the parts stacked back. An inverse one-sided transform (irfft) sums
the given half spectrum with each bin but the first and the Nyquist counted twice (conjugate
symmetry) and gives a real signal. STFT gathers its frames with a constant index matrix, applies
the window, and transforms them the same way. O(n·K) per signal, fine for the frame and model
sizes these ops see; an FFT would matter only for long transforms.
"""

from __future__ import annotations

import numpy as np

from webdnn.ir.graph import Graph, Node, Value
from webdnn.passes.expr_nodes import TypedEmitter


def _matrices(n: int, length: int, inverse: bool, onesided: bool) -> tuple[np.ndarray, np.ndarray]:
    """(A, B) with out_re = re @ A_re ..., see transform(): [rows, K] cosines and sines."""
    rows = min(n, length) if not (inverse and onesided) else min(n, length // 2 + 1)
    cols = length if (inverse and onesided) or not onesided else length // 2 + 1
    t = np.arange(rows, dtype=np.float64)[:, None]
    k = np.arange(cols, dtype=np.float64)[None, :]
    ang = 2.0 * np.pi * t * k / length
    return np.cos(ang), np.sin(ang)


def transform(e: TypedEmitter, x: Value, axis: int, length: int, inverse: bool, onesided: bool) -> Value:
    """The DFT of `x` ([..., 1 or 2], signal along `axis`) as ONNX defines it."""
    assert x.shape is not None
    r = len(x.shape)
    n = int(x.shape[axis])
    perm = [i for i in range(r - 1) if i != axis] + [axis]  # the signal last, without the re/im axis
    back = [perm.index(i) for i in range(r - 1)]

    def part(i: int) -> Value:
        v = e.node("Gather", [x, e.em.const(i, np.int64)], {"axis": r - 1})
        return v if perm == sorted(perm) else e.node("Transpose", [v], {"perm": perm})

    re_ = part(0)
    im = part(1) if x.shape[-1] == 2 else None
    cos, sin = _matrices(n, length, inverse, onesided)
    if cos.shape[0] < n:  # truncated to L (or to the bins an inverse one-sided transform reads)
        i64 = np.int64
        re_, im = (None if v is None else e.node("Slice", [v, e.em.const([0], i64), e.em.const([cos.shape[0]], i64),
                                                           e.em.const([r - 2], i64)]) for v in (re_, im))
    assert re_ is not None

    def mm(v: Value | None, m: np.ndarray) -> Value | None:
        return None if v is None else e.node("MatMul", [v, e.em.const(m.astype(np.float32))])

    def add(a: Value | None, b: Value | None) -> Value:
        assert a is not None or b is not None
        return b if a is None else a if b is None else e.node("Add", [a, b])  # type: ignore[return-value]

    if inverse and onesided:  # y[t] = (1/L) Σ_k w_k (re_k cos - im_k sin), w = 2 but at 0 and L/2
        w = np.full((cos.shape[0], 1), 2.0)
        w[0] = 1.0
        if length % 2 == 0 and cos.shape[0] > length // 2:
            w[length // 2] = 1.0
        y = add(mm(re_, w * cos / length), mm(im, -w * sin / length))
        y = y if back == sorted(back) else e.node("Transpose", [y], {"perm": back})
        return e.node("Unsqueeze", [y, e.em.const([r - 1], np.int64)])
    sign, scale = (1.0, 1.0 / length) if inverse else (-1.0, 1.0)
    # (re + i im)(cos + i sign sin) = (re cos - sign im sin) + i (im cos + sign re sin)
    yr = add(mm(re_, cos * scale), mm(im, -sign * sin * scale))
    yi = add(mm(re_, sign * sin * scale), mm(im, cos * scale))
    parts = []
    for v in (yr, yi):
        v = v if back == sorted(back) else e.node("Transpose", [v], {"perm": back})
        parts.append(e.node("Unsqueeze", [v, e.em.const([r - 1], np.int64)]))
    return e.node("Concat", parts, {"axis": r - 1})


def _finish(graph: Graph, node: Node, e: TypedEmitter, result: Value) -> list[Node]:
    y = node.outputs[0]
    last = graph.add_node("Identity", [result], [y], name=node.name, before=node)
    graph.remove_node(node)
    y.producer = last
    return [last]


def decompose_dft(graph: Graph, node: Node) -> list[Node]:
    e = TypedEmitter(graph, node)
    x = node.inputs[0]
    assert x is not None
    a = node.attrs
    out = transform(e, x, int(a["axis"]), int(a["length"]), bool(a["inverse"]), bool(a["onesided"]))
    return _finish(graph, node, e, out)


def decompose_stft(graph: Graph, node: Node) -> list[Node]:
    e = TypedEmitter(graph, node)
    x, window = node.inputs[0], node.input(2)
    assert x is not None and x.shape is not None
    step, frame = int(node.attrs["frame_step"]), int(node.attrs["frame_length"])
    frames = (int(x.shape[1]) - frame) // step + 1
    idx = np.arange(frames, dtype=np.int64)[:, None] * step + np.arange(frame, dtype=np.int64)[None, :]
    v = e.node("Gather", [x, e.em.const(idx, np.int64)], {"axis": 1})  # [batch, frames, frame, 1 or 2]
    if window is not None:
        v = e.node("Mul", [v, e.node("Reshape", [window, e.em.const([1, 1, frame, 1], np.int64)])])
    return _finish(graph, node, e, transform(e, v, 2, frame, False, bool(node.attrs["onesided"])))
