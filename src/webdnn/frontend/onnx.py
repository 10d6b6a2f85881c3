"""ONNX frontend: a model file (or ModelProto) -> IR Graph with static input shapes.

Handles what the spec allows and exporters differ on: initializers listed (or not)
among graph inputs, Constant nodes in all their attribute forms, external data,
symbolic or unknown input dims (kept as symbols, fixed by `input_shapes`, or defaulted to 1
with a warning: input_dims.py), and empty-named optional inputs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import onnx
from onnx import AttributeProto, numpy_helper

from webdnn.errors import ModelLoadError, ShapeError, UnsupportedOperatorError, where
from webdnn.frontend.contrib_ops import expand_contrib_ops
from webdnn.frontend.float_compute import promote as compute_in_float32
from webdnn.frontend.functions import expand as expand_functions
from webdnn.frontend.input_dims import DimSpec, SymbolTable, input_shape, names_in, parse_dim, value_symbols
from webdnn.frontend.narrow_types import lower as lower_narrow_types
from webdnn.frontend.optional_ops import resolve as resolve_optionals
from webdnn.frontend.sequence_ops import resolve as resolve_sequences
from webdnn.frontend.subgraphs import SUBGRAPH_OPS, add_captures, build_branch
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Value
from webdnn.ops.registry import SEE_OPERATORS, has_rule

log = logging.getLogger("webdnn")

DEFAULT_DOMAINS = ("", "ai.onnx")
MIN_OPSET = 7


def load_onnx(path: str | os.PathLike[str]) -> onnx.ModelProto:
    """Read an ONNX file with its external data; clear errors for bad files."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelLoadError(f"{path}: no such file")
    try:
        model = onnx.load(path, load_external_data=True)
    except Exception as e:  # protobuf raises DecodeError, others raise OSError
        raise ModelLoadError(
            f"{path}: not a readable ONNX model ({type(e).__name__}: {e}). "
            "The file may be truncated or of another format; re-export it as ONNX."
        ) from None
    if not model.graph.node and not model.graph.output:
        raise ModelLoadError(f"{path}: parsed as ONNX but holds no graph (is it really an ONNX model?)")
    return model


def default_opset(model: onnx.ModelProto) -> int:
    for imp in model.opset_import:
        if imp.domain in DEFAULT_DOMAINS:
            return int(imp.version)
    raise ModelLoadError("model imports no version of the default ONNX operator set")


def from_onnx(
    model: onnx.ModelProto,
    input_shapes: Mapping[str, Sequence[DimSpec]] | None = None,
    name: str | None = None,
    dynamic: bool = False,
    value_inputs: Sequence[str] | Mapping[str, Sequence[str] | None] = (),
) -> Graph:
    """Build the IR graph. `input_shapes` fixes input dims by input name (ints) or names them
    (symbols, see input_dims.py); `dynamic` keeps the model's own dynamic dims as symbols;
    `value_inputs` names small integer inputs whose values decide sizes (a Reshape's shape, a
    TopK's k): each element becomes a symbol the runtime binds from the data (input_dims.py); a
    mapping names them, with bounds ({"shape": ["rows<=64", "cols<=64"]})."""
    input_shapes = dict(input_shapes or {})
    dynamic = dynamic or names_in(input_shapes)
    table = SymbolTable()
    for iname, spec in input_shapes.items():
        for d in spec:
            p = parse_dim(d, f"--input-shape {iname}")
            if isinstance(p, tuple):
                table.declare(p[0], p[1], p[2], f"--input-shape {iname}")
    opset = default_opset(model)
    if opset < MIN_OPSET:
        raise UnsupportedOperatorError(
            f"opset {opset} is too old (need >= {MIN_OPSET}); upgrade the model with onnx.version_converter"
        )
    newest = onnx.defs.onnx_opset_version()
    if opset > newest:
        raise UnsupportedOperatorError(
            f"the model imports ONNX opset {opset}, but the newest opset known here is {newest} (onnx "
            f"{onnx.__version__}); an opset this new is not defined, so its operators cannot be converted faithfully. "
            f"Re-export the model at opset {newest} or lower (e.g. torch.onnx.export(..., opset_version={newest})), "
            "or upgrade the onnx package if a newer ONNX release defines it"
        )
    model = expand_contrib_ops(model)  # com.microsoft ops written as standard ONNX (the others are reported below)
    read = {x for n in model.graph.node for x in n.input} | {o.name for o in model.graph.output}
    model = expand_functions(model, opset, lambda n: _has_kernel_path(n, read))  # the others: as the spec defines them
    model = resolve_optionals(model, opset)  # Optional ops on tensors: constants and Identities
    model = resolve_sequences(model, opset)  # sequence ops of known length: Split, Concat, Identities
    model = compute_in_float32(model)  # float16/float64/bfloat16 graphs run in float32 behind their typed interface
    model, element_types = lower_narrow_types(model, opset)  # float8, int4, bfloat16 ...: held in 8/16-bit types
    g = model.graph
    graph = Graph(name or g.name or "model", opset)
    graph.element_types = element_types
    values: dict[str, Value] = {}

    def value(vname: str) -> Value:
        if vname not in values:
            graph.reserve_name(vname)
            values[vname] = Value(vname)
        return values[vname]

    for init in g.initializer:
        value(init.name).set_const(_to_array(init))
    for sinit in g.sparse_initializer:
        raise UnsupportedOperatorError(f"sparse initializer '{sinit.values.name}' is not supported")

    unknown = set(input_shapes) - {i.name for i in g.input}
    if unknown:
        raise ShapeError(
            f"--input-shape names {sorted(unknown)}, but the model's inputs are "
            f"{[i.name for i in g.input if i.name not in values]}"
        )
    for inp in g.input:
        if inp.name in values:  # an initializer listed as input (old exporters): a constant
            continue
        v = value(inp.name)
        v.dtype = _input_dtype(inp)
        v.shape = input_shape(inp, input_shapes.get(inp.name), dynamic, table)
        graph.inputs.append(v)
    unknown = set(value_inputs) - {v.name for v in graph.inputs}
    if unknown:
        raise ShapeError(f"--value-input names {sorted(unknown)}, which {'is' if len(unknown) == 1 else 'are'} not "
                         f"among the model's inputs {[v.name for v in graph.inputs]}")
    for v in graph.inputs:
        if v.name in value_inputs:
            v.dims = value_symbols(v, table, value_inputs[v.name] if isinstance(value_inputs, Mapping) else None)
            graph.value_inputs[v.name] = [d for d in v.dims.reshape(-1)]

    missing: list[tuple[str, str, str]] = []  # (node, op, domain) of every op WebDNN lacks: one error for all
    # values computed from the graph inputs' data: an op without a rule there needs a kernel; elsewhere it
    # is folded at conversion (through onnx.reference), whatever the op
    from_data = {v.name for v in graph.inputs}
    for i, n in enumerate(g.node):
        node_name = n.name or f"{n.op_type}_{i}"
        if n.op_type not in ("Shape", "Size") and any(x in from_data for x in n.input):
            from_data.update(n.output)
            if n.domain in DEFAULT_DOMAINS and not (has_rule(n.op_type) or n.op_type in FRONTEND_OPS):
                missing.append((node_name, n.op_type, ""))
        if n.domain not in DEFAULT_DOMAINS:
            missing.append((node_name, n.op_type, n.domain))
            continue
        attrs = _node_attrs(graph, n, node_name, values.get)
        if n.op_type == "Constant":
            value(n.output[0]).set_const(_constant_value(attrs, node_name))
            continue
        ins = [value(x) if x else None for x in n.input]
        outs = [value(x) if x else Value(graph.unique_name(f"{node_name}_unused{j}")) for j, x in enumerate(n.output)]
        add_captures(graph.add_node(n.op_type, ins, outs, attrs, name=node_name))

    if missing:
        raise _unsupported_ops(missing, opset)
    inputs = {id(v) for v in graph.inputs}
    for node in graph.nodes:
        for v in node.inputs:
            if v is not None and v.producer is None and not v.is_const and id(v) not in inputs:
                raise ModelLoadError(
                    f"{where(node.name, node.op_type, opset)} reads '{v.name}', which no node, initializer or "
                    "graph input defines; the model is malformed"
                )
    for out in g.output:
        if out.name not in values:
            raise ModelLoadError(f"graph output '{out.name}' is produced by no node")
        graph.outputs.append(values[out.name])
    graph.toposort()
    return graph


def _to_array(t: onnx.TensorProto) -> np.ndarray:
    try:
        return np.asarray(numpy_helper.to_array(t))
    except Exception as e:
        raise ModelLoadError(
            f"initializer '{t.name}' cannot be read ({e}); is its external data file present?"
        ) from None


def _input_dtype(inp: onnx.ValueInfoProto) -> DType:
    if not inp.type.HasField("tensor_type"):
        raise UnsupportedOperatorError(f"input '{inp.name}' is not a tensor (sequences and maps are not supported)")
    return DType.from_onnx(inp.type.tensor_type.elem_type)


# ops the frontend and the passes handle without a shape rule: Constant becomes a value, the control flow
# is resolved at conversion (subgraphs.py, passes/inline_control.py)
FRONTEND_OPS = frozenset({"Constant", *SUBGRAPH_OPS})


def _has_kernel_path(n: onnx.NodeProto, read: set[str]) -> bool:
    """Whether a node converts through its op's rule (else its ONNX function body is used where it has one):
    a LayerNormalization whose Mean or InvStdDev output is read (`read`: the names nodes or the graph's
    outputs read) takes its body, which computes them."""
    if n.op_type == "LayerNormalization" and any(o in read for o in n.output[1:] if o):
        return False
    return has_rule(n.op_type) or n.op_type in FRONTEND_OPS


def _unsupported_ops(missing: list[tuple[str, str, str]], opset: int) -> UnsupportedOperatorError:
    """One error for every node whose operator WebDNN lacks (a user wants the whole list at once)."""
    if len(missing) == 1:
        name, op, domain = missing[0]
        if domain:
            return UnsupportedOperatorError(
                f"{where(name, domain + '.' + op, opset)}: operators of domain '{domain}' are not supported; export "
                "the model with standard ONNX operators only")
        return UnsupportedOperatorError(f"{where(name, op, opset)}: operator is not supported. {SEE_OPERATORS}")
    by_op: dict[str, list[str]] = {}
    for name, op, domain in missing:
        by_op.setdefault(f"{domain}.{op}" if domain else op, []).append(name)
    parts = [f"{op} (node{'s' if len(ns) > 1 else ''} {', '.join(repr(n) for n in ns[:5])}"
             f"{f' and {len(ns) - 5} more' if len(ns) > 5 else ''})" for op, ns in by_op.items()]
    custom = sorted({d for _, _, d in missing if d})
    return UnsupportedOperatorError(
        f"{len(missing)} nodes use operators WebDNN does not support (opset {opset}): {'; '.join(parts)}. "
        + (f"Operators of the custom domain(s) {', '.join(custom)} never are: export the model with standard "
           "ONNX operators only. " if custom else "") + SEE_OPERATORS)


def _node_attrs(graph: Graph, n: onnx.NodeProto, node_name: str,
                scope: Callable[[str], Value | None]) -> dict[str, Any]:
    """A node's attributes; an If's branches become Branches built in `scope` (subgraphs.py)."""
    attrs: dict[str, Any] = {}
    for a in n.attribute:
        if a.type == AttributeProto.GRAPH and a.name in SUBGRAPH_OPS.get(n.op_type, ()):
            attrs[a.name] = build_branch(graph, a.g, scope, f"{node_name}/{a.name}",
                                         lambda m, name, inner: _node_attrs(graph, m, name, inner), _constant_value)
        else:
            attrs[a.name] = _attr_value(a, node_name, n.op_type)
    return attrs


def _attr_value(a: AttributeProto, node_name: str, op_type: str) -> Any:
    if a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS):
        raise UnsupportedOperatorError(
            f"{where(node_name, op_type)}: control flow (subgraph attribute '{a.name}') is not supported "
            "(If is, when its condition is known at conversion)"
        )
    if a.ref_attr_name:
        raise UnsupportedOperatorError(f"{where(node_name, op_type)}: attribute references (functions) unsupported")
    v = onnx.helper.get_attribute_value(a)
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, onnx.TensorProto):
        return np.asarray(numpy_helper.to_array(v))
    if isinstance(v, list):
        return [x.decode("utf-8") if isinstance(x, bytes) else x for x in v]
    return v


def _constant_value(attrs: dict[str, Any], node_name: str) -> np.ndarray:
    if "value" in attrs:
        return np.asarray(attrs["value"])
    if "value_float" in attrs:
        return np.array(attrs["value_float"], dtype=np.float32)
    if "value_floats" in attrs:
        return np.array(attrs["value_floats"], dtype=np.float32)
    if "value_int" in attrs:
        return np.array(attrs["value_int"], dtype=np.int64)
    if "value_ints" in attrs:
        return np.array(attrs["value_ints"], dtype=np.int64)
    raise UnsupportedOperatorError(f"{where(node_name, 'Constant')}: unsupported value kind {sorted(attrs)}")
