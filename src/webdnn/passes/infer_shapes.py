"""Shape and type inference, with constant propagation.

Walks nodes in order. A node whose inputs are all constant is folded (so shape
chains such as Shape -> Gather -> Unsqueeze -> Concat -> Reshape collapse); Shape
and Size of a statically shaped value become constants; an If whose condition is then
known is replaced by its branch, a Loop or Scan of known length is unrolled
(inline_control.py); every other node is canonicalized and typed by its op's shape rule
(webdnn/ops).
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import numpy as np

from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Node
from webdnn.ir.symbolic import is_static, prod
from webdnn.ops.registry import infer_node
from webdnn.passes import inline_control
from webdnn.passes.fold_constants import fold_node
from webdnn.passes.fold_symbolic import fold_symbolic, set_dims


def fold_shape_of(node: Node) -> np.ndarray | None:
    """Shape(x) / Size(x) as an array: ints for a static shape, Dims (dtype object) for a symbolic one."""
    x = node.input(0)
    if x is None or x.shape is None:
        return None
    if node.op_type == "Shape":
        rank = len(x.shape)
        start = int(node.attr("start", 0))
        end = int(node.attr("end", rank))
        start = min(max(start + rank if start < 0 else start, 0), rank)
        end = min(max(end + rank if end < 0 else end, 0), rank)
        dims = x.shape[start:end]
        return np.array(dims, dtype=np.int64) if is_static(dims) else np.array(list(dims), dtype=object)
    if node.op_type == "Size":
        n = prod(x.shape)
        return np.array(n, dtype=np.int64) if is_static([n]) else np.array(n, dtype=object)
    return None


def cast_like_to_cast(node: Node) -> None:
    """CastLike(const, y) only needs y's type: make it Cast(const) so it folds."""
    x, like = node.input(0), node.input(1)
    if node.op_type == "CastLike" and x is not None and x.is_const and like is not None and like.dtype is not None:
        node.op_type = "Cast"
        extra = {"saturate": node.attrs["saturate"]} if "saturate" in node.attrs else {}
        node.attrs = {"to": like.dtype.to_onnx(), **extra}
        node.inputs = [x]


# Ops ONNX also defines on 8-bit integers (a quantized model's MaxPool between QLinearConvs) whose float32
# result is exact for them (the max of exactly representable values): run in float32 between two Casts.
WIDENED_OPS = {"MaxPool"}
SMALL_INTS = {"int8", "uint8"}


def widen_small_ints(graph: Graph, node: Node, visit: Callable[[Node], None],
                     ops: Collection[str] = WIDENED_OPS) -> bool:
    """Cast -> node in float32 -> Cast back, each visited, when `node` is an `ops` op on 8-bit integers."""
    x = node.input(0)
    if node.op_type not in ops or x is None or x.dtype is None or x.dtype.value not in SMALL_INTS:
        return False
    wide = graph.new_value(f"{x.name}/float")
    cast_in = graph.add_node("Cast", [x], [wide], {"to": DType.FLOAT32.to_onnx()}, f"{node.name}/to_float", node)
    y = node.outputs[0]
    y_wide = graph.new_value(f"{y.name}/float")
    node.inputs[0], node.outputs[0], y_wide.producer = wide, y_wide, node
    cast_out = graph.add_node("Cast", [y_wide], [y], {"to": x.dtype.to_onnx()}, f"{node.name}/to_{x.dtype.value}")
    graph.nodes.remove(cast_out)
    graph.nodes.insert(graph.nodes.index(node) + 1, cast_out)
    for n in (cast_in, node, cast_out):
        visit(n)
    return True


def run(graph: Graph) -> dict[str, int]:
    counts = {"folded": 0, "shape_ops_folded": 0, "inferred": 0, "control_flow_inlined": 0}

    def visit(node: Node) -> None:
        if node.op_type == "If":  # its branch takes its place, then is visited
            counts["control_flow_inlined"] += 1
            inline_control.inline_if(graph, node, visit)
            return
        if node.op_type in ("Loop", "Scan"):  # unrolled, each copy of the body visited as it is placed
            counts["control_flow_inlined"] += 1
            (inline_control.unroll_loop if node.op_type == "Loop" else inline_control.unroll_scan)(graph, node, visit)
            return
        cast_like_to_cast(node)
        if fold_node(node, graph) or fold_symbolic(node, graph):
            counts["folded"] += 1
            return
        if node.op_type in ("Shape", "Size"):
            data = fold_shape_of(node)
            if data is not None:
                set_dims(node.outputs[0], data, DType.INT64)
                node.outputs[0].producer = None
                graph.nodes.remove(node)
                counts["shape_ops_folded"] += 1
                return
        if widen_small_ints(graph, node, visit):
            return
        infer_node(node, graph)
        counts["inferred"] += 1

    for node in list(graph.nodes):
        visit(node)
    return counts
