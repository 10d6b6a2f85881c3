"""Signal ops: DFT and STFT (and the window and mel tables, folded at conversion). No kernels of
their own: passes/decompose_signal.py writes them as MatMuls with constant cosine/sine matrices (the
transform length is fixed at conversion).

Canonical attributes. DFT: `axis` (non-negative, the signal axis, never the last), `length` (the
transform length L: dft_length, else the axis' size; for an inverse one-sided transform 2·(n - 1)),
`inverse`, `onesided`. STFT: `frame_step`, `frame_length`, `onesided`; the window stays input 2.
"""

from __future__ import annotations

from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Node
from webdnn.ir.symbolic import is_sym
from webdnn.ops._util import const_input, in_dtype, in_shape, set_out
from webdnn.ops.nn_common import fail
from webdnn.ops.registry import shape_rule
from webdnn.ops.tensor_common import scalar_param


def _int(node: Node, v: object, what: str) -> int:
    if v is None or is_sym(v):
        raise fail(node, f"{what} must be known at conversion (it decides the output's size)")
    return int(v)  # type: ignore[call-overload]


@shape_rule("DFT")
def dft(node: Node, graph: Graph) -> None:
    x = in_shape(node, 0)
    if in_dtype(node, 0) != DType.FLOAT32:
        raise fail(node, f"DFT of {in_dtype(node, 0).value} tensors (float32 only)")
    r = len(x)
    if r < 2 or x[-1] not in (1, 2):
        raise fail(node, f"input shape {tuple(x)} must end in 1 (real) or 2 (complex)")
    if graph.opset >= 20:
        axis = scalar_param(node, 2) if len(node.inputs) > 2 else None
        axis = -2 if axis is None else _int(node, axis, "axis")
    else:
        axis = int(node.attrs.get("axis", 1))
    if not (-r <= axis <= -2 or 0 <= axis <= r - 2):
        raise fail(node, f"axis {axis} is not a signal axis of rank {r} (the last axis holds real/imaginary)")
    axis = axis + r if axis < 0 else axis
    length = scalar_param(node, 1) if len(node.inputs) > 1 else None
    inverse, onesided = int(node.attrs.get("inverse", 0)), int(node.attrs.get("onesided", 0))
    n = _int(node, x[axis], "the signal length")
    if length is None:
        length = 2 * (n - 1) if inverse and onesided else n
    length = _int(node, length, "dft_length")
    if length < 1:
        raise fail(node, f"dft_length {length} is not positive")
    if onesided and inverse and x[-1] != 2:
        raise fail(node, "an inverse one-sided DFT takes a complex input (last dim 2)")
    while len(node.inputs) > 1:
        node.inputs.pop()
    node.attrs = {"axis": axis, "length": length, "inverse": inverse, "onesided": onesided}
    out = list(x)
    if inverse and onesided:  # the real signal of the conjugate-symmetric spectrum
        out[axis], out[-1] = length, 1
    else:
        out[axis], out[-1] = (length // 2 + 1 if onesided else length), 2
    set_out(node, 0, DType.FLOAT32, out)


@shape_rule("STFT")
def stft(node: Node, graph: Graph) -> None:
    x = in_shape(node, 0)
    if in_dtype(node, 0) != DType.FLOAT32 or len(x) != 3 or x[2] not in (1, 2):
        raise fail(node, f"signal must be float32 [batch, length, 1 or 2], got {tuple(x)} {in_dtype(node, 0).value}")
    step = _int(node, scalar_param(node, 1), "frame_step")
    window = node.input(2)
    frame = scalar_param(node, 3) if len(node.inputs) > 3 else None
    if window is not None:
        w = in_shape(node, 2)
        if len(w) != 1 or (frame is not None and _int(node, frame, "frame_length") != w[0]):
            raise fail(node, f"window shape {tuple(w)} does not match frame_length {frame}")
        frame = w[0]
    frame = _int(node, frame, "frame_length (or a window)")
    n = _int(node, x[1], "the signal length")
    if step < 1 or frame < 1 or frame > n:
        raise fail(node, f"frame_step {step} and frame_length {frame} do not fit a signal of {n}")
    onesided = int(node.attrs.get("onesided", 1))
    if onesided and x[2] == 2:
        raise fail(node, "a one-sided STFT takes a real signal (last dim 1)")
    node.attrs = {"frame_step": step, "frame_length": frame, "onesided": onesided}
    frames = (n - frame) // step + 1
    set_out(node, 0, DType.FLOAT32, [x[0], frames, frame // 2 + 1 if onesided else frame, 2])


@shape_rule("HannWindow", "HammingWindow", "BlackmanWindow", "MelWeightMatrix")
def _computed_at_conversion(node: Node, graph: Graph) -> None:
    """Tables computed from their scalar inputs: folded at conversion (through onnx.reference) once those
    are known, as they are in exported models; no kernel, so a size that reaches here is not known."""
    for i in range(len(node.inputs)):
        const_input(node, i)  # raises, naming the input that must be constant
    raise fail(node, "its inputs are constant, so it should have been folded")  # pragma: no cover
