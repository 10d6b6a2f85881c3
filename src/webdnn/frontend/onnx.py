"""ONNX frontend: a model file (or ModelProto) -> IR Graph with static input shapes.

Handles what the spec allows and exporters differ on: initializers listed (or not)
among graph inputs, Constant nodes in all their attribute forms, external data,
symbolic or unknown input dims (fixed by `input_shapes` or defaulted to 1 with a
warning), and empty-named optional inputs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx
from onnx import AttributeProto, numpy_helper

from webdnn.errors import ModelLoadError, ShapeError, UnsupportedOperatorError, where
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Value

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
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    name: str | None = None,
) -> Graph:
    """Build the IR graph. `input_shapes` fixes (dynamic) input dims by input name."""
    input_shapes = dict(input_shapes or {})
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
    g = model.graph
    graph = Graph(name or g.name or "model", opset)
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
        v.dtype, v.shape = _input_type(inp, input_shapes.get(inp.name))
        graph.inputs.append(v)

    for i, n in enumerate(g.node):
        node_name = n.name or f"{n.op_type}_{i}"
        if n.domain not in DEFAULT_DOMAINS:
            raise UnsupportedOperatorError(
                f"{where(node_name, n.domain + '.' + n.op_type, opset)}: operators of domain '{n.domain}' are not "
                "supported; export the model with standard ONNX operators only"
            )
        attrs = {a.name: _attr_value(a, node_name, n.op_type) for a in n.attribute}
        if n.op_type == "Constant":
            value(n.output[0]).set_const(_constant_value(attrs, node_name))
            continue
        ins = [value(x) if x else None for x in n.input]
        outs = [value(x) if x else Value(graph.unique_name(f"{node_name}_unused{j}")) for j, x in enumerate(n.output)]
        graph.add_node(n.op_type, ins, outs, attrs, name=node_name)

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


def _input_type(inp: onnx.ValueInfoProto, override: Sequence[int] | None) -> tuple[DType, tuple[int, ...]]:
    tt = inp.type.tensor_type
    if not inp.type.HasField("tensor_type"):
        raise UnsupportedOperatorError(f"input '{inp.name}' is not a tensor (sequences and maps are not supported)")
    dtype = DType.from_onnx(tt.elem_type)
    dims = list(tt.shape.dim) if tt.HasField("shape") else None
    if override is not None:
        bad = [d for d in override if isinstance(d, bool) or not isinstance(d, int | np.integer) or d < 0]
        if bad:
            raise ShapeError(
                f"--input-shape {inp.name}: dim {bad[0]!r} is not a non-negative integer; give every dim as an "
                f"integer >= 0 (e.g. {inp.name}=1,3,224,224)"
            )
        shape = tuple(int(d) for d in override)
        if dims is not None and len(dims) != len(shape):
            raise ShapeError(f"--input-shape {inp.name}: rank {len(shape)} given, the model says rank {len(dims)}")
        for d, s in zip(dims or [], shape, strict=False):
            if d.HasField("dim_value") and d.dim_value != s:
                raise ShapeError(f"--input-shape {inp.name}: dim {s} given where the model fixes {d.dim_value}")
        return dtype, shape
    if dims is None:
        raise ShapeError(
            f"input '{inp.name}' has no shape in the model; give it with --input-shape {inp.name}=D1,D2,..."
        )
    shape_l: list[int] = []
    for d in dims:
        if d.HasField("dim_value") and d.dim_value >= 0:
            shape_l.append(int(d.dim_value))
        else:
            label = d.dim_param or "?"
            log.warning(
                "input '%s' has a dynamic dimension '%s': using 1. Fix it with --input-shape %s=...",
                inp.name, label, inp.name,
            )
            shape_l.append(1)
    return dtype, tuple(shape_l)


def _attr_value(a: AttributeProto, node_name: str, op_type: str) -> Any:
    if a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS):
        raise UnsupportedOperatorError(
            f"{where(node_name, op_type)}: control flow (subgraph attribute '{a.name}') is not supported"
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
