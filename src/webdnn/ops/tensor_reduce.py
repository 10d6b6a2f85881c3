"""Reduction rules: Reduce*, ArgMax/ArgMin and TopK.

Canonical form: `axes` is the sorted, non-negative list of reduced axes. When no axes
are given it lists every axis, unless noop_with_empty_axes=1: then it is empty and
each output element "reduces" the single input element at its position (onnxruntime
does that: ReduceL2 gives |x|, ReduceSumSquare x * x). keepdims and
noop_with_empty_axes are always present. ArgMax/ArgMin: axis >= 0, keepdims,
select_last_index. TopK: axis >= 0, `k` an attribute (an int, or a symbolic size when k comes
from a value input or a folded shape), largest, sorted (always sorted: the spec leaves the order
free when sorted=0).
"""

from __future__ import annotations

from webdnn.errors import where
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Node
from webdnn.ir.symbolic import dim, provably_equal, smin, symbol, symbol_name, upper
from webdnn.ops._util import defaults, in_shape, norm_axis, set_out
from webdnn.ops.registry import shape_rule
from webdnn.ops.tensor_common import NUMERIC, check_dtype, fail, ints_param, norm_axes, scalar_param

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


@shape_rule("TopK")
def _topk(node: Node, graph: Graph) -> None:
    """Values and Indices of the k largest (or smallest) along `axis`; equal values keep index order."""
    defaults(node, axis=-1, largest=1, sorted=1)
    dt = check_dtype(node, graph, 0, NUMERIC, "TopK takes numeric tensors")
    x = in_shape(node, 0)
    axis = norm_axis(node, int(node.attrs["axis"]), len(x))
    n = x[axis]
    kv = node.input(1)
    if kv is not None and kv.const is None and kv.dims is None and node.attrs.get("k_from_data") is None:
        # k computed from the data: the runtime computes this TopK between two stages (runtime_control.HOST_OPS)
        # and the stages after it are symbolic in k, a symbol of its own bounded by the axis' size
        node.attrs.update(k=symbol(f"{symbol_name(kv.name)}.value", 0, upper(n)), k_from_data=1)
    if node.attrs.get("k_from_data"):
        k = node.attrs["k"]
    else:
        k = scalar_param(node, 1) if len(node.inputs) > 1 else node.attrs.get("k")  # input from opset 10
    if k is None:
        raise fail(node, "input 'K' is required")
    k = dim(k)
    if provably_equal(smin(k, 0), 0) is False:
        raise fail(node, f"k = {k} is negative")
    fits = provably_equal(smin(k, n), k)
    if fits is False:
        raise fail(node, f"k = {k} is above the axis' size {n}")
    if fits is None:  # k (or the axis) varies: checked per size at run
        why = f"{where(node.name, node.op_type)}: k = {k} is at most the axis' size {n}"
        graph.requires.append((smin(k, n), k, why))
    node.attrs.update(k=k, axis=axis, largest=int(node.attrs["largest"]), sorted=int(node.attrs["sorted"]))
    out = [*x[:axis], k, *x[axis + 1:]]
    set_out(node, 0, dt, out)
    set_out(node, 1, DType.INT64, out)
