"""The attributes a CPU runtime (the fallback JS kernels, and the JS kernels of wasm) reads for
a kernel call: the node's canonical attributes plus, for a float unary op of the table and for
a fused activation, its expression program (`expr`, see ops/expr.py `program`), so the runtime
runs ops it has no code of its own for."""

from __future__ import annotations

from typing import Any

from webdnn.ir.graph import Node
from webdnn.ops.expr import program
from webdnn.ops.tensor_common import FLOATS
from webdnn.ops.unary_ops import UNARY, unary_expr


def activation_with_program(spec: dict[str, Any]) -> dict[str, Any]:
    """A fused activation record (attrs["activation"]) with its program added."""
    return {**spec, "expr": program(unary_expr(str(spec["type"]), spec))}


def cpu_attrs(node: Node) -> dict[str, Any]:
    attrs = dict(node.attrs)
    op = node.op_type
    if op in UNARY and op != "Identity" and node.outputs[0].dtype in FLOATS:
        attrs["expr"] = program(unary_expr(op, attrs))
    if attrs.get("activation"):
        attrs["activation"] = activation_with_program(attrs["activation"])
    return attrs
