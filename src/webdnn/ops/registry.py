"""Operator registry: one shape/type rule per ONNX op type.

A rule runs during shape inference on a node whose inputs have static shapes. It must
  1. canonicalize the node: fill every ONNX attribute default into `node.attrs`, move
     constant parameter inputs (axes, shape, pads, scales/sizes, min/max, starts/ends,
     ...) into attributes and drop them from `node.inputs`, resolve auto_pad into
     explicit pads -- so backends see one form whatever the opset or exporter;
  2. set `dtype` and `shape` on every output Value.
It raises UnsupportedOperatorError (via `unsupported`) for attribute values it cannot
handle, naming the node.

Where to add an op: write its rule in the family file under `webdnn/ops/` with
`@shape_rule("OpType")`, then a kernel per backend (see docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable

from webdnn.errors import UnsupportedOperatorError, where
from webdnn.ir.graph import Graph, Node
from webdnn.ir.symbolic import SymbolicShapeError

ShapeRule = Callable[[Node, Graph], None]

_RULES: dict[str, ShapeRule] = {}
_FLOAT32_ONLY: set[str] = set()


def shape_rule(*op_types: str) -> Callable[[ShapeRule], ShapeRule]:
    """Register `fn` as the canonicalization + shape rule of each op type."""

    def deco(fn: ShapeRule) -> ShapeRule:
        for op in op_types:
            if op in _RULES:
                raise RuntimeError(f"shape rule for {op} registered twice")
            _RULES[op] = fn
        return fn

    return deco


def float32_only(*op_types: str) -> None:
    """Declare ops whose kernels compute in float32 only: other input types are rejected at conversion."""
    _FLOAT32_ONLY.update(op_types)


def float32_only_ops() -> frozenset[str]:
    _load_families()
    return frozenset(_FLOAT32_ONLY)


def has_rule(op_type: str) -> bool:
    _load_families()
    return op_type in _RULES


def infer_node(node: Node, graph: Graph) -> None:
    _load_families()
    rule = _RULES.get(node.op_type)
    if rule is None or node.domain not in ("", "ai.onnx"):
        raise unsupported(node, graph, "operator is not supported")
    x = node.input(0)
    if node.op_type in _FLOAT32_ONLY and x is not None and x.dtype is not None and x.dtype.value != "float32":
        raise UnsupportedOperatorError(
            f"{where(node.name, node.op_type, graph.opset)}: element type {x.dtype.value} is not supported "
            "(this op runs in float32 only); convert the model to float32"
        )
    try:
        rule(node, graph)
    except SymbolicShapeError as e:
        raise SymbolicShapeError(
            f"{where(node.name, node.op_type, graph.opset)}: {e}. This op cannot take a size that varies with the "
            "input yet: fix the dims it depends on with --input-shape (e.g. seq=128)"
        ) from None
    left = [v.name for v in node.inputs if v is not None and v.dims is not None and v.const is None]
    if left:
        raise SymbolicShapeError(
            f"{where(node.name, node.op_type, graph.opset)}: input '{left[0]}' holds sizes computed from the input "
            "shape, and this op reads them as data at run time, which dynamic models cannot do yet: fix the dims "
            "with --input-shape"
        )


def supported_ops() -> list[str]:
    _load_families()
    return sorted(_RULES)


# where an unsupported-op error sends the user (the errors do not list the ~150 supported ops themselves)
SEE_OPERATORS = ("See docs/operators.md (or run `webdnn ops`) for the supported operators and what each backend "
                 "runs; re-export the model with supported ops, or add the op (docs/architecture.md, "
                 "'Adding an operator').")


def unsupported(node: Node, graph: Graph, why: str) -> UnsupportedOperatorError:
    """An error naming the node, op type and opset, and where the supported ops are listed."""
    domain = f"{node.domain}." if node.domain not in ("", "ai.onnx") else ""
    return UnsupportedOperatorError(f"{where(node.name, domain + node.op_type, graph.opset)}: {why}. {SEE_OPERATORS}")


_loaded = False


def _load_families() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        import webdnn.ops  # noqa: F401  (registers every family)
