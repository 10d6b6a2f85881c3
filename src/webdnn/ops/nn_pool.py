"""Pooling: MaxPool, AveragePool, LpPool (explicit pads, ceil_mode kept), global pools, LpNormalization."""

from __future__ import annotations

from webdnn.ir.graph import Graph, Node
from webdnn.ops._util import in_dtype, in_shape, norm_axis, set_out
from webdnn.ops.nn_common import check_rank, drop_unused_outputs, fail, window_attrs
from webdnn.ops.registry import shape_rule, unsupported


def _pool(node: Node, graph: Graph) -> None:
    x = in_shape(node, 0)
    check_rank(node, x, 3)
    nd = len(x) - 2
    kernel = node.attrs.get("kernel_shape")
    if kernel is None or len(kernel) != nd:
        raise fail(node, f"kernel_shape {kernel} must give {nd} sizes")
    kernel = [int(k) for k in kernel]
    _, _, _, out = window_attrs(node, graph, x[2:], kernel, pool=True)
    node.attrs["kernel_shape"] = kernel
    set_out(node, 0, in_dtype(node, 0), (x[0], x[1], *out))


@shape_rule("MaxPool")
def max_pool(node: Node, graph: Graph) -> None:
    drop_unused_outputs(node, graph, 1, "Indices")
    if int(node.attrs.get("storage_order", 0)) not in (0, 1):
        raise unsupported(node, graph, "storage_order must be 0 or 1")
    node.attrs.setdefault("storage_order", 0)
    _pool(node, graph)


@shape_rule("AveragePool")
def average_pool(node: Node, graph: Graph) -> None:
    node.attrs["count_include_pad"] = int(node.attrs.get("count_include_pad", 0))
    _pool(node, graph)


@shape_rule("LpPool")
def lp_pool(node: Node, graph: Graph) -> None:
    """(Σ |x|^p over each window)^(1/p); passes/decompose.py writes it as an AveragePool of |x|^p."""
    p = int(node.attrs.get("p", 2))
    if p < 1:
        raise fail(node, f"p = {p} is not a positive integer")
    node.attrs["p"] = p
    _pool(node, graph)


@shape_rule("GlobalAveragePool", "GlobalMaxPool")
def global_pool(node: Node, graph: Graph) -> None:
    x = in_shape(node, 0)
    check_rank(node, x, 3)
    set_out(node, 0, in_dtype(node, 0), (x[0], x[1], *([1] * (len(x) - 2))))


@shape_rule("LpNormalization")
def lp_normalization(node: Node, graph: Graph) -> None:
    x = in_shape(node, 0)
    p = int(node.attrs.get("p", 2))
    if p not in (1, 2):
        raise unsupported(node, graph, f"p={p} (only 1 and 2 are defined)")
    node.attrs.update(axis=norm_axis(node, int(node.attrs.get("axis", -1)), len(x)), p=p)
    set_out(node, 0, in_dtype(node, 0), x)
