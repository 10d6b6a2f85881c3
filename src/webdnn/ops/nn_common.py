"""Helpers shared by the neural-network shape rules (conv/pool windows, extra outputs)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from webdnn.errors import ShapeError, where
from webdnn.ir.graph import Graph, Node
from webdnn.ir.shapes import prod  # noqa: F401 (re-exported to the rules)
from webdnn.ir.symbolic import Dim, Sym, bounds, ceildiv, smin
from webdnn.ops.registry import unsupported

AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


def fail(node: Node, why: str) -> ShapeError:
    return ShapeError(f"{where(node.name, node.op_type)}: {why}")


def int_list(node: Node, key: str, n: int, default: int) -> list[int]:
    """An ints attribute of length n (default: n copies of `default`)."""
    v = node.attrs.get(key)
    if v is None:
        return [default] * n
    out = [int(x) for x in v]
    if len(out) != n:
        raise fail(node, f"attribute '{key}' has {len(out)} values, expected {n}")
    return out


def drop_unused_outputs(node: Node, graph: Graph, keep: int, what: str) -> None:
    """Remove optional outputs past `keep` that nothing reads; unsupported if one is read."""
    extra = node.outputs[keep:]
    if not extra:
        return
    users = graph.users()
    for o in extra:
        if users.get(id(o)) or graph.is_graph_output(o):
            why = f"output '{o.name}' ({what}) is read, but only the first output is supported"
            raise unsupported(node, graph, why)
    for o in extra:
        if o.producer is node:
            o.producer = None
    del node.outputs[keep:]


def check_rank(node: Node, shape: Sequence[int], min_rank: int, what: str = "input 0") -> None:
    if len(shape) < min_rank:
        raise fail(node, f"{what} has rank {len(shape)}, expected at least {min_rank}")


def window_attrs(
    node: Node, graph: Graph, spatial: Sequence[int], kernel: Sequence[int], *, pool: bool
) -> tuple[list[int], list[int], list[int], list[int]]:
    """Resolve strides, dilations, pads (auto_pad folded in) and output sizes of a window op.

    Writes the canonical attributes back (auto_pad becomes NOTSET). Output sizes follow
    onnxruntime: floor (or, for pools with ceil_mode, ceil with the rule that the last
    window must start inside the input or the begin padding).
    """
    nd = len(spatial)
    strides = int_list(node, "strides", nd, 1)
    dilations = int_list(node, "dilations", nd, 1)
    if any(s < 1 for s in strides) or any(d < 1 for d in dilations):
        raise fail(node, f"strides {strides} and dilations {dilations} must be positive")
    auto_pad = str(node.attrs.get("auto_pad", "NOTSET"))
    if auto_pad not in AUTO_PADS:
        raise unsupported(node, graph, f"auto_pad '{auto_pad}' is not one of {', '.join(AUTO_PADS)}")
    ceil_mode = bool(node.attrs.get("ceil_mode", 0)) if pool else False
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pads = [0] * (2 * nd)
        for i in range(nd):
            dk = (kernel[i] - 1) * dilations[i] + 1
            target = -(-spatial[i] // strides[i])
            total = max(0, (target - 1) * strides[i] + dk - spatial[i])
            head = (total + 1) // 2 if auto_pad == "SAME_LOWER" else total // 2
            pads[i], pads[i + nd] = head, total - head
        # The floor formula reproduces ceil(in / stride) with these pads (so re-running is stable).
        ceil_mode = False
    elif auto_pad == "VALID":
        pads = [0] * (2 * nd)
    else:
        pads = int_list(node, "pads", 2 * nd, 0)
    out = [
        window_out(spatial[i], kernel[i], strides[i], dilations[i], pads[i], pads[i + nd], ceil_mode)
        for i in range(nd)
    ]
    if any(_surely_below_1(o) for o in out):
        raise fail(
            node,
            f"output spatial size {out} is empty (input {list(spatial)}, kernel {list(kernel)}, "
            f"strides {strides}, dilations {dilations}, pads {pads})",
        )
    node.attrs.update(strides=strides, dilations=dilations, pads=pads, auto_pad="NOTSET")
    if pool:
        node.attrs["ceil_mode"] = int(ceil_mode)
    return strides, dilations, pads, out


def _surely_below_1(o: Dim) -> bool:
    """o < 1 for every size (a symbolic size that is empty only for some sizes is left to the runtime's checks)."""
    return bounds(o)[1] < 1


def window_out(size: Dim, k: int, s: int, d: int, pb: int, pe: int, ceil_mode: bool) -> Dim:
    span = size + pb + pe - (k - 1) * d - 1
    if not ceil_mode:
        return span // s + 1
    if isinstance(span, Sym):  # the same rule as below, as one expression: at most the windows starting inside
        return smin(ceildiv(span, s) + 1, ceildiv(size + pb, s))
    out = -(-span // s) + 1
    if (out - 1) * s >= size + pb:  # the last window would start in the end padding
        out -= 1
    return out


def float_attr(node: Node, key: str, default: float) -> float:
    v: Any = node.attrs.get(key, default)
    return float(v)


