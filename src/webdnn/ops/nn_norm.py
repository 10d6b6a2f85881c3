"""Normalizations (BatchNormalization, InstanceNormalization, LayerNormalization, GroupNormalization,
RMSNormalization, LRN) and softmaxes. GroupNormalization and RMSNormalization have no kernels:
passes/decompose.py rewrites them."""

from __future__ import annotations

from webdnn.ir.graph import Graph, Node
from webdnn.ops._util import in_dtype, in_shape, norm_axis, set_out
from webdnn.ops.nn_common import check_rank, drop_unused_outputs, fail, float_attr
from webdnn.ops.registry import shape_rule, unsupported


def _check_channel_params(node: Node, first: int, last: int, channels: int) -> None:
    for i in range(first, last + 1):
        if node.input(i) is None:
            raise fail(node, f"input {i} is required")
        if in_shape(node, i) != (channels,):
            raise fail(node, f"input {i} has shape {in_shape(node, i)}, expected ({channels},)")


@shape_rule("BatchNormalization")
def batch_normalization(node: Node, graph: Graph) -> None:
    x = in_shape(node, 0)
    check_rank(node, x, 2)
    if int(node.attrs.get("training_mode", 0)):
        raise unsupported(node, graph, "training_mode=1 (only inference is supported)")
    spatial = int(node.attrs.pop("spatial", 1))  # opset < 9
    if not spatial and any(len(in_shape(node, i)) != 1 for i in range(1, 5)):
        raise unsupported(node, graph, "spatial=0 with per-position statistics")
    drop_unused_outputs(node, graph, 1, "training statistics")
    _check_channel_params(node, 1, 4, x[1])
    for legacy in ("is_test", "consumed_inputs"):
        node.attrs.pop(legacy, None)
    node.attrs.update(
        epsilon=float_attr(node, "epsilon", 1e-5), momentum=float_attr(node, "momentum", 0.9), training_mode=0
    )
    set_out(node, 0, in_dtype(node, 0), x)


@shape_rule("GroupNormalization")
def group_normalization(node: Node, graph: Graph) -> None:
    x = in_shape(node, 0)
    check_rank(node, x, 3)
    groups = int(node.attrs.get("num_groups", 0))
    if groups <= 0 or x[1] % groups:
        raise fail(node, f"num_groups {groups} must be positive and divide the {x[1]} channels")
    node.attrs["num_groups"] = groups
    node.attrs["epsilon"] = float_attr(node, "epsilon", 1e-5)
    node.attrs.setdefault("stash_type", 1)
    # opset 18's scale and bias hold one value per group; opset 21's one per channel
    per = groups if graph.opset < 21 else x[1]
    _check_channel_params(node, 1, 2, per)
    set_out(node, 0, in_dtype(node, 0), x)


@shape_rule("InstanceNormalization")
def instance_normalization(node: Node, graph: Graph) -> None:
    x = in_shape(node, 0)
    check_rank(node, x, 3)
    _check_channel_params(node, 1, 2, x[1])
    node.attrs["epsilon"] = float_attr(node, "epsilon", 1e-5)
    set_out(node, 0, in_dtype(node, 0), x)


@shape_rule("LayerNormalization")
def layer_normalization(node: Node, graph: Graph) -> None:
    x = in_shape(node, 0)
    check_rank(node, x, 1)
    drop_unused_outputs(node, graph, 1, "Mean/InvStdDev")
    axis = norm_axis(node, int(node.attrs.get("axis", -1)), len(x))
    inner = x[axis:]
    for i in (1, 2):
        if node.input(i) is None:
            if i == 1:
                raise fail(node, "Scale is required")
            continue
        s = in_shape(node, i)
        pairs = zip(reversed(s), reversed(inner), strict=False)
        if len(s) > len(inner) or any(d not in (1, want) for d, want in pairs):
            raise fail(node, f"input {i} shape {s} does not broadcast to the normalized shape {inner}")
    node.attrs.update(
        axis=axis, epsilon=float_attr(node, "epsilon", 1e-5), stash_type=int(node.attrs.get("stash_type", 1))
    )
    set_out(node, 0, in_dtype(node, 0), x)


@shape_rule("RMSNormalization")
def rms_normalization(node: Node, graph: Graph) -> None:
    """Y = X / sqrt(mean(X², over axis..) + epsilon) · scale (opset 23); passes/decompose.py writes it out."""
    x = in_shape(node, 0)
    check_rank(node, x, 1)
    axis = norm_axis(node, int(node.attrs.get("axis", -1)), len(x))
    inner = x[axis:]
    if node.input(1) is None:
        raise fail(node, "scale is required")
    s = in_shape(node, 1)
    if len(s) > len(x) or any(d not in (1, want) for d, want in zip(reversed(s), reversed(x), strict=False)):
        raise fail(node, f"scale shape {s} does not broadcast to the input shape {x} (normalized over {inner})")
    node.attrs.update(axis=axis, epsilon=float_attr(node, "epsilon", 1e-5),
                      stash_type=int(node.attrs.get("stash_type", 1)))
    set_out(node, 0, in_dtype(node, 0), x)


@shape_rule("LRN")
def lrn(node: Node, graph: Graph) -> None:
    x = in_shape(node, 0)
    check_rank(node, x, 2)
    size = node.attrs.get("size")
    if size is None or int(size) < 1:
        raise fail(node, f"size must be a positive integer, got {size}")
    node.attrs.update(
        size=int(size),
        alpha=float_attr(node, "alpha", 1e-4),
        beta=float_attr(node, "beta", 0.75),
        bias=float_attr(node, "bias", 1.0),
    )
    set_out(node, 0, in_dtype(node, 0), x)


@shape_rule("Softmax", "LogSoftmax", "Hardmax")
def softmax(node: Node, graph: Graph) -> None:
    """Canonical attrs: `axis` (non-negative) and `coerce_2d`.

    Before opset 13 the op flattens the input to 2-D at `axis` (default 1) and normalizes
    over everything from `axis` on (coerce_2d=True); since 13 it normalizes over the one
    axis (default -1). Once canonical, the opset no longer matters.
    """
    x = in_shape(node, 0)
    if "coerce_2d" in node.attrs:
        coerce = bool(node.attrs["coerce_2d"])
    else:
        coerce = graph.opset < 13
    axis = int(node.attrs.get("axis", 1 if coerce else -1))
    if coerce and axis == len(x):  # legal before 13: every row holds one element
        node.attrs.update(axis=axis, coerce_2d=True)
    else:
        node.attrs.update(axis=norm_axis(node, axis, len(x)), coerce_2d=coerce)
    set_out(node, 0, in_dtype(node, 0), x)
