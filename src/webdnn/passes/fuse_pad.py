"""Fold a zero Pad of the spatial axes into the window op that reads it.

Keras' ZeroPadding2D, TF.js's explicit padding and tf2onnx's SAME-padding Pads put a Pad node before a
Conv or pool with 'valid' padding; the op's own pads do the same without a copy of the padded tensor (and
keep the backends' direct and Winograd convolutions on their fast paths, and data in the wasm backend's
NHWC layout). Applies to a constant Pad of value 0 with non-negative pads on the spatial axes only (batch
and channels unpadded, channels-first data as the frontends and ONNX give these ops), whose every reader
is one of
- a Conv reading it as its data input (a Conv's pads are zeros);
- an AveragePool that counts its padding (count_include_pad=1), or has none of its own (it then counts
  the folded zeros, as the Pad made it do);
- a MaxPool whose input cannot be negative (a Relu's output, or a Clip's with a minimum >= 0): a zero
  in the window then never wins over the values, which is what MaxPool's own padding (-inf) gives.
"""

from __future__ import annotations

from webdnn.ir.graph import Graph, Node


def _spatial_pads(pad: Node) -> tuple[list[int], list[int]] | None:
    pads = [int(p) for p in pad.attrs.get("pads", [])]
    rank = len(pads) // 2
    if pad.attrs.get("mode", "constant") != "constant" or rank < 3 or float(pad.attrs.get("value", 0) or 0) != 0.0:
        return None
    if any(p < 0 for p in pads) or any(pads[a] or pads[a + rank] for a in (0, 1)):
        return None
    return pads[2:rank], pads[rank + 2:]


def _non_negative(pad: Node) -> bool:
    p = pad.inputs[0].producer if pad.inputs[0] is not None else None
    if p is None:
        return False
    if p.op_type == "Relu":
        return True
    if p.op_type == "Clip":
        lo = p.attrs.get("min")
        if lo is None and len(p.inputs) > 1 and p.inputs[1] is not None and p.inputs[1].const is not None:
            lo = float(p.inputs[1].const)
        return lo is not None and float(lo) >= 0.0
    return False


def _takes(reader: Node, pad: Node, n: int) -> bool:
    """Whether `reader` can take the Pad's `n` spatial pads as its own."""
    y = pad.outputs[0]
    if reader.input(0) is not y or any(v is y for v in reader.inputs[1:]):
        return False
    if str(reader.attrs.get("auto_pad", "NOTSET")) != "NOTSET" or len(reader.attrs.get("pads", [])) != 2 * n:
        return False
    if reader.op_type == "Conv":
        return True
    if reader.attrs.get("ceil_mode", 0):  # ceil mode's last window has rules of its own about padding
        return False
    if reader.op_type == "AveragePool":
        return bool(reader.attrs.get("count_include_pad", 0)) or not any(reader.attrs["pads"])
    if reader.op_type == "MaxPool":  # every window must still hold a value of the input: pads < the window
        begin, end = _spatial_pads(pad) or ([], [])
        pads = [int(p) for p in reader.attrs["pads"]]
        k = [(int(kk) - 1) * int(d) + 1 for kk, d in zip(reader.attrs["kernel_shape"],
                                                          reader.attrs.get("dilations") or [1] * n, strict=True)]
        total = [pads[i] + begin[i] for i in range(n)] + [pads[n + i] + end[i] for i in range(n)]
        return len(reader.outputs) == 1 and _non_negative(pad) and all(t < k[i % n] for i, t in enumerate(total))
    return False


def run(graph: Graph) -> int:
    folded = 0
    users = graph.users()
    for pad in list(graph.nodes):
        if pad.op_type != "Pad" or pad.input(0) is None:
            continue
        y = pad.outputs[0]
        readers = users.get(id(y), [])
        spatial = _spatial_pads(pad)
        if not readers or graph.is_graph_output(y) or spatial is None:
            continue
        begin, end = spatial
        n = len(begin)
        if not all(_takes(r, pad, n) for r in readers):
            continue
        for r in readers:
            cp = [int(p) for p in r.attrs["pads"]]
            r.attrs["pads"] = [cp[i] + begin[i] for i in range(n)] + [cp[n + i] + end[i] for i in range(n)]
            if r.op_type == "AveragePool":
                r.attrs["count_include_pad"] = 1
            r.inputs[0] = pad.inputs[0]
        graph.remove_node(pad)
        folded += 1
    return folded
