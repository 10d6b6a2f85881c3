"""Ops WebDNN has no rule for, written out as the ONNX spec defines them: many ops (Attention,
CastLike, the losses, Mish, ...) come with a function body in their schema, fixed or built for the
node's attributes and input types (a "context-dependent" function). Such a node is replaced by its
body before the IR is built, so it converts wherever the body's ops do, with the spec's own
semantics. A model's own local functions are inlined the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import onnx
from onnx import defs, inliner, shape_inference

log = logging.getLogger("webdnn")

DOMAIN = "webdnn.expanded"  # where the bodies wait, as model-local functions, until they are inlined


def _body(node: onnx.NodeProto, opset: int, types: dict[str, onnx.TypeProto]) -> onnx.FunctionProto | None:
    """The schema's function body for `node` at `opset`, or None (no schema, no body, unknown input types)."""
    try:
        schema = defs.get_schema(node.op_type, opset, "")
    except defs.SchemaError:
        return None
    def version(available: list[int]) -> int | None:  # the body for the model's opset: the newest not above it
        fit = [v for v in available if v <= opset]
        return max(fit) if fit else None

    fixed = version(list(schema.function_opset_versions)) if schema.has_function else None
    if fixed is not None:
        body = schema.get_function_with_opset_version(fixed)  # a FunctionProto, or its bytes
        return onnx.FunctionProto.FromString(body if isinstance(body, bytes) else body.SerializeToString())
    dependent = version(list(schema.context_dependent_function_opset_versions)) \
        if schema.has_context_dependent_function else None
    if dependent is None or any(x and x not in types for x in node.input):
        return None
    arg_types = [types[x].SerializeToString() if x else onnx.TypeProto().SerializeToString() for x in node.input]
    try:
        raw = schema.get_context_dependent_function_with_opset_version(dependent, node.SerializeToString(), arg_types)
    except Exception:  # noqa: BLE001 (onnx raises plain exceptions for inputs the body cannot handle)
        return None
    return onnx.FunctionProto.FromString(raw) if raw else None


ROUNDS = 4  # a body may use another op defined by a body (SoftmaxCrossEntropyLoss: NegativeLogLikelihoodLoss)


def expand(model: onnx.ModelProto, opset: int, keep: Callable[[onnx.NodeProto], bool]) -> onnx.ModelProto:
    """`model` with every main-graph node of the default domain that `keep` refuses (no rule, or outputs
    the rule does not give) but that has a function body replaced by that body (and its local
    functions inlined), bodies within bodies too; the model itself when there is none."""
    for _ in range(ROUNDS):
        done = _expand_once(model, opset, keep)
        if done is model:
            break
        model = done
    return model


def _expand_once(model: onnx.ModelProto, opset: int, keep: Callable[[onnx.NodeProto], bool]) -> onnx.ModelProto:
    wanted = [n for n in model.graph.node if n.domain in ("", "ai.onnx") and not keep(n)]
    if not wanted and not model.functions:
        return model
    out = onnx.ModelProto()
    out.CopyFrom(model)
    types: dict[str, onnx.TypeProto] = {}
    if wanted:
        try:
            inferred = shape_inference.infer_shapes(out)
        except Exception:  # noqa: BLE001 (a model onnx cannot type: context-dependent bodies are skipped)
            inferred = out
        g = inferred.graph
        types = {v.name: v.type for v in [*g.input, *g.value_info, *g.output]}
        types.update({t.name: onnx.helper.make_tensor_type_proto(t.data_type, list(t.dims)) for t in g.initializer})
    expanded = 0
    for i, node in enumerate(out.graph.node):
        if node.domain not in ("", "ai.onnx") or keep(node):
            continue
        fn = _body(node, opset, types)
        if fn is None:
            continue
        _fill_defaults(node, opset)  # the body refers to attributes the node may leave at their defaults
        fn.domain, fn.name = DOMAIN, f"{node.op_type}_{i}"
        node.domain, node.op_type = DOMAIN, fn.name
        out.functions.append(fn)
        expanded += 1
    if expanded:
        if all(o.domain != DOMAIN for o in out.opset_import):
            out.opset_import.append(onnx.helper.make_opsetid(DOMAIN, 1))
        log.info("written out as their ONNX function bodies: %d node(s)", expanded)
    if not expanded and not model.functions:
        return model
    return inliner.inline_local_functions(out)


def _fill_defaults(node: onnx.NodeProto, opset: int) -> None:
    """Write the schema's default of every attribute `node` leaves out (the inliner substitutes only the
    attributes the calling node has: MeanVarianceNormalization's `axes` would otherwise vanish)."""
    schema = defs.get_schema(node.op_type, opset, "")
    have = {a.name for a in node.attribute}
    for name, attr in schema.attributes.items():
        default = attr.default_value
        if name not in have and default.type != onnx.AttributeProto.UNDEFINED:
            a = onnx.AttributeProto()
            a.CopyFrom(default)
            a.name = name
            node.attribute.append(a)
