"""Constant folding: evaluate nodes whose inputs are all known at conversion time.

Evaluation uses onnx's reference implementation, one node at a time, so every ONNX
operator folds with the spec's semantics without re-writing kernels here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from webdnn.errors import ConversionError, where
from webdnn.ir.graph import Graph, Node

# Ops whose result is not a function of their inputs: never folded.
NONDETERMINISTIC = {
    "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli",
}
# Folded through their decomposition (passes/decompose_quant.py) instead: onnx.reference lacks their
# opset 10 and 13 versions, which exporters still write.
FOLDED_WRITTEN_OUT = {
    "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger", "ConvInteger", "QLinearMatMul",
    "QLinearConv",
}
# Folding these would only bloat the weights (a big constant built from a small one).
NO_FOLD_IF_LARGER_THAN = 16 * 1024 * 1024


def can_fold(node: Node) -> bool:
    if node.op_type in NONDETERMINISTIC or node.op_type in FOLDED_WRITTEN_OUT or node.domain not in ("", "ai.onnx"):
        return False
    ins = [v for v in node.inputs if v is not None]
    return bool(ins) and all(v.is_const for v in ins)


def evaluate(node: Node, opset: int) -> list[np.ndarray]:
    """Run one node on its constant inputs with onnx.reference."""
    in_names = [f"i{j}" if v is not None else "" for j, v in enumerate(node.inputs)]
    out_names = [f"o{j}" for j in range(len(node.outputs))]
    attrs = [_make_attr(k, v) for k, v in node.attrs.items()]
    n = helper.make_node(node.op_type, in_names, out_names)
    n.attribute.extend(attrs)
    feeds: dict[str, Any] = {}
    graph_inputs = []
    for name, v in zip(in_names, node.inputs, strict=True):
        if v is None or v.const is None:
            continue
        c = v.const
        if node.op_type == "OneHot" and name == "i1" and c.size == 1:
            c = c.reshape(())  # a one-element depth (the spec allows it; onnx.reference's np.arange does not)
        feeds[name] = c
        graph_inputs.append(helper.make_tensor_value_info(name, v.dtype.to_onnx() if v.dtype else 1, c.shape))
    outs = [helper.make_empty_tensor_value_info(o) for o in out_names]
    model = helper.make_model(
        helper.make_graph([n], "fold", graph_inputs, outs), opset_imports=[helper.make_opsetid("", opset)]
    )
    try:
        results = ReferenceEvaluator(model).run(None, feeds)
    except Exception as e:
        raise ConversionError(f"{where(node.name, node.op_type, opset)}: constant folding failed: {e}") from None
    return [np.asarray(r) for r in results]


def fold_node(node: Node, graph: Graph) -> bool:
    """Fold `node` into constants if possible; True when it was removed."""
    if not can_fold(node):
        return False
    results = evaluate(node, graph.opset)
    if any(r.nbytes > NO_FOLD_IF_LARGER_THAN for r in results):
        total_in = sum(v.const.nbytes for v in node.inputs if v is not None and v.const is not None)
        if sum(r.nbytes for r in results) > 2 * total_in:
            return False
    for out, r in zip(node.outputs, results, strict=True):
        out.set_const(r)
        out.producer = None
    graph.nodes.remove(node)
    return True


def run(graph: Graph) -> int:
    """Fold every foldable node (in order, so chains fold). Returns the count."""
    count = 0
    for node in list(graph.nodes):
        count += fold_node(node, graph)
    return count


def _make_attr(key: str, value: Any) -> onnx.AttributeProto:
    if isinstance(value, np.ndarray):
        return helper.make_attribute(key, numpy_helper.from_array(value))
    if isinstance(value, list) and not value:
        return helper.make_attribute(key, [], attr_type=onnx.AttributeProto.INTS)
    return helper.make_attribute(key, value)
