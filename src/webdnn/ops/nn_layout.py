"""DepthToSpace and SpaceToDepth."""

from __future__ import annotations

from webdnn.ir.graph import Graph, Node
from webdnn.ops._util import in_dtype, in_shape, set_out
from webdnn.ops.nn_common import fail
from webdnn.ops.registry import shape_rule, unsupported


def _blocksize(node: Node) -> int:
    b = node.attrs.get("blocksize")
    if b is None or int(b) < 1:
        raise fail(node, f"blocksize must be a positive integer, got {b}")
    return int(b)


@shape_rule("DepthToSpace")
def depth_to_space(node: Node, graph: Graph) -> None:
    x = in_shape(node, 0)
    if len(x) != 4:
        raise fail(node, f"input must be 4-D (NCHW), got {x}")
    b = _blocksize(node)
    mode = str(node.attrs.get("mode", "DCR"))
    if mode not in ("DCR", "CRD"):
        raise unsupported(node, graph, f"mode '{mode}'")
    if x[1] % (b * b):
        raise fail(node, f"channels {x[1]} are not divisible by blocksize^2 = {b * b}")
    node.attrs.update(blocksize=b, mode=mode)
    set_out(node, 0, in_dtype(node, 0), (x[0], x[1] // (b * b), x[2] * b, x[3] * b))


@shape_rule("SpaceToDepth")
def space_to_depth(node: Node, graph: Graph) -> None:
    x = in_shape(node, 0)
    if len(x) != 4:
        raise fail(node, f"input must be 4-D (NCHW), got {x}")
    b = _blocksize(node)
    mode = node.attrs.get("mode", "DCR")  # (opset 25; CRD is decomposed: passes/decompose.py)
    mode = mode.decode() if isinstance(mode, bytes) else str(mode)
    if mode not in ("DCR", "CRD"):
        raise unsupported(node, graph, f"mode '{mode}'")
    if x[2] % b or x[3] % b:
        raise fail(node, f"spatial size {x[2:]} is not divisible by blocksize {b}")
    node.attrs["blocksize"] = b
    if mode == "DCR":
        node.attrs.pop("mode", None)  # (the kernels' order; older opsets' evaluators do not know the attribute)
    set_out(node, 0, in_dtype(node, 0), (x[0], x[1] * b * b, x[2] // b, x[3] // b))
