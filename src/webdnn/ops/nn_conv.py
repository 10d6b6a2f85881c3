"""Conv and ConvTranspose: canonical kernel_shape/strides/dilations/pads/group, auto_pad resolved."""

from __future__ import annotations

from collections.abc import Sequence

from webdnn.ir.graph import Graph, Node
from webdnn.ops._util import in_dtype, in_shape, set_out
from webdnn.ops.nn_common import AUTO_PADS, check_rank, fail, int_list, window_attrs
from webdnn.ops.registry import shape_rule, unsupported


def _kernel_shape(node: Node, w: Sequence[int]) -> list[int]:
    kernel = [int(k) for k in w[2:]]
    given = node.attrs.get("kernel_shape")
    if given is not None and [int(k) for k in given] != kernel:
        raise fail(node, f"kernel_shape {list(given)} does not match the weight shape {list(w)}")
    return kernel


def _check_bias(node: Node, channels: int, index: int = 2) -> None:
    b = node.input(index)
    if b is not None and in_shape(node, index) != (channels,):
        raise fail(node, f"bias has shape {in_shape(node, index)}, expected ({channels},)")


def conv_shape(node: Node, graph: Graph, xi: int = 0, wi: int = 1, bi: int | None = 2) -> tuple:  # type: ignore[type-arg]
    """Canonicalize a convolution's attributes and return its output shape; the data, weight and bias are
    inputs xi, wi, bi (ConvInteger and QLinearConv place them elsewhere than Conv; ConvInteger has no bias)."""
    x, w = in_shape(node, xi), in_shape(node, wi)
    check_rank(node, x, 3)
    if len(w) != len(x):
        raise fail(node, f"weight rank {len(w)} differs from input rank {len(x)}")
    group = int(node.attrs.get("group", 1))
    if group < 1 or x[1] != w[1] * group or w[0] % group:
        raise fail(node, f"input channels {x[1]}, weight {list(w)} and group {group} do not fit together")
    kernel = _kernel_shape(node, w)
    _, _, _, out = window_attrs(node, graph, x[2:], kernel, pool=False)
    if bi is not None:
        _check_bias(node, w[0], bi)
    node.attrs.update(kernel_shape=kernel, group=group)
    return (x[0], w[0], *out)


@shape_rule("Conv")
def conv(node: Node, graph: Graph) -> None:
    set_out(node, 0, in_dtype(node, 0), conv_shape(node, graph))


@shape_rule("ConvTranspose")
def conv_transpose(node: Node, graph: Graph) -> None:
    x, w = in_shape(node, 0), in_shape(node, 1)
    check_rank(node, x, 3)
    nd = len(x) - 2
    if len(w) != len(x):
        raise fail(node, f"weight rank {len(w)} differs from input rank {len(x)}")
    group = int(node.attrs.get("group", 1))
    if group < 1 or x[1] != w[0] or w[0] % group:
        raise fail(node, f"input channels {x[1]}, weight {list(w)} and group {group} do not fit together")
    kernel = _kernel_shape(node, w)
    strides = int_list(node, "strides", nd, 1)
    dilations = int_list(node, "dilations", nd, 1)
    adj = int_list(node, "output_padding", nd, 0)
    auto_pad = str(node.attrs.get("auto_pad", "NOTSET"))
    if auto_pad not in AUTO_PADS:
        raise unsupported(node, graph, f"auto_pad '{auto_pad}' is not one of {', '.join(AUTO_PADS)}")
    natural = [(x[2 + i] - 1) * strides[i] + adj[i] + (kernel[i] - 1) * dilations[i] + 1 for i in range(nd)]
    target = _target_size(node, x, kernel, strides, dilations, adj, auto_pad)
    if target is not None:
        pads = _distribute(natural, target, auto_pad == "SAME_UPPER")
    elif auto_pad == "VALID":
        pads = [0] * (2 * nd)
    else:
        pads = int_list(node, "pads", 2 * nd, 0)
    out = [natural[i] - pads[i] - pads[i + nd] for i in range(nd)]
    if any(o < 1 for o in out):
        raise fail(node, f"output spatial size {out} is empty")
    _check_bias(node, w[1] * group)
    node.attrs.pop("output_shape", None)  # folded into pads
    node.attrs.update(
        kernel_shape=kernel,
        strides=strides,
        dilations=dilations,
        output_padding=adj,
        pads=pads,
        group=group,
        auto_pad="NOTSET",
    )
    set_out(node, 0, in_dtype(node, 0), (x[0], w[1] * group, *out))


def _target_size(
    node: Node,
    x: Sequence[int],
    kernel: list[int],
    strides: list[int],
    dilations: list[int],
    adj: list[int],
    auto_pad: str,
) -> list[int] | None:
    """The requested output spatial size (output_shape, or input * stride for SAME_*)."""
    nd = len(x) - 2
    given = node.attrs.get("output_shape")
    if given is not None and len(given) > 0:
        sizes = [int(s) for s in given]
        if len(sizes) == nd + 2:  # some exporters give N and C too
            sizes = sizes[2:]
        if len(sizes) != nd:
            raise fail(node, f"output_shape {list(given)} does not have {nd} spatial sizes")
        return sizes
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):  # onnxruntime pads no less than 0 here
        natural = [
            (x[2 + i] - 1) * strides[i] + adj[i] + (kernel[i] - 1) * dilations[i] + 1 for i in range(nd)
        ]
        return [min(x[2 + i] * strides[i], natural[i]) for i in range(nd)]
    return None


def _distribute(natural: list[int], target: list[int], upper: bool) -> list[int]:
    """Pads that cut `natural` down to `target` (onnxruntime's split; negative pads extend the end)."""
    nd = len(natural)
    pads = [0] * (2 * nd)
    for i in range(nd):
        total = natural[i] - target[i]
        if total < 0:
            pads[i], pads[i + nd] = 0, total
            continue
        head = total // 2 if upper else total - total // 2
        pads[i], pads[i + nd] = head, total - head
    return pads
