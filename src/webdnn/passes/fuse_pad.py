"""Fold a zero Pad of the spatial axes into the Conv that reads it.

Keras' ZeroPadding2D, TF.js's explicit padding and tf2onnx's SAME-padding Pads put a Pad node before a
Conv with 'valid' padding; the Conv's own pads do the same without a copy of the padded tensor (and keep
the backends' direct and Winograd convolutions on their fast paths). Applies to a constant Pad of value
0 with non-negative pads on the spatial axes only (batch and channels unpadded, channels-first data as
the frontends and ONNX give a Conv), whose every reader is a Conv reading it as its data input.
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


def run(graph: Graph) -> int:
    folded = 0
    users = graph.users()
    for pad in list(graph.nodes):
        if pad.op_type != "Pad" or pad.input(0) is None:
            continue
        y = pad.outputs[0]
        readers = users.get(id(y), [])
        if not readers or graph.is_graph_output(y):
            continue
        if any(r.op_type != "Conv" or r.input(0) is not y or any(v is y for v in r.inputs[1:]) for r in readers):
            continue
        spatial = _spatial_pads(pad)
        if spatial is None:
            continue
        begin, end = spatial
        if any(str(r.attrs.get("auto_pad", "NOTSET")) != "NOTSET" or len(r.attrs.get("pads", [])) != 2 * len(begin)
               for r in readers):
            continue
        for conv in readers:
            cp = [int(p) for p in conv.attrs["pads"]]
            n = len(begin)
            conv.attrs["pads"] = [cp[i] + begin[i] for i in range(n)] + [cp[n + i] + end[i] for i in range(n)]
            conv.inputs[0] = pad.inputs[0]
        graph.remove_node(pad)
        folded += 1
    return folded
