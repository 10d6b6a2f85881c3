"""Reduction rules: Reduce* and ArgMax/ArgMin.

Canonical form: `axes` is the sorted, non-negative list of reduced axes. When no axes
are given it lists every axis, unless noop_with_empty_axes=1: then it is empty and
each output element "reduces" the single input element at its position (onnxruntime
does that: ReduceL2 gives |x|, ReduceSumSquare x * x). keepdims and
noop_with_empty_axes are always present. ArgMax/ArgMin: axis >= 0, keepdims,
select_last_index.
"""

from __future__ import annotations

from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Node
from webdnn.ops._util import defaults, in_shape, norm_axis, set_out
from webdnn.ops.registry import shape_rule
from webdnn.ops.tensor_common import NUMERIC, check_dtype, ints_param, norm_axes

REDUCE_OPS = (
    "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd",
    "ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp",
)


@shape_rule(*REDUCE_OPS)
def _reduce(node: Node, graph: Graph) -> None:
    defaults(node, keepdims=1, noop_with_empty_axes=0)
    dt = check_dtype(node, graph, 0, NUMERIC | {DType.BOOL} if node.op_type in ("ReduceMax", "ReduceMin")
                     else NUMERIC, f"{node.op_type} takes numeric tensors")
    x = in_shape(node, 0)
    axes = ints_param(node, 1, "axes")  # input from opset 13 (ReduceSum) / 18 (the others)
    if axes is None:
        axes = [] if node.attrs["noop_with_empty_axes"] else list(range(len(x)))
    axes = norm_axes(node, axes, len(x))
    keep = bool(node.attrs["keepdims"])
    noop = int(node.attrs["noop_with_empty_axes"])
    node.attrs.update(axes=axes, keepdims=int(keep), noop_with_empty_axes=noop)
    set_out(node, 0, dt, reduced_shape(x, axes, keep))


def reduced_shape(x: tuple[int, ...], axes: list[int], keep: bool) -> list[int]:
    if keep:
        return [1 if i in axes else d for i, d in enumerate(x)]
    return [d for i, d in enumerate(x) if i not in axes]


@shape_rule("ArgMax", "ArgMin")
def _arg(node: Node, graph: Graph) -> None:
    defaults(node, axis=0, keepdims=1, select_last_index=0)
    check_dtype(node, graph, 0, NUMERIC, f"{node.op_type} takes numeric tensors")
    x = in_shape(node, 0)
    axis = norm_axis(node, int(node.attrs["axis"]), len(x))
    keep = bool(node.attrs["keepdims"])
    node.attrs.update(axis=axis, keepdims=int(keep), select_last_index=int(node.attrs["select_last_index"]))
    set_out(node, 0, DType.INT64, reduced_shape(x, [axis], keep))
