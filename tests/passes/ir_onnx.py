"""Run an optimized IR graph in onnxruntime (written back as an opset-20 ONNX model), for pass tests."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import onnx
from onnx import helper, numpy_helper

from webdnn.ir.graph import Graph
from webdnn.passes.fold_constants import _make_attr
from webdnn.verify import reference_outputs


def _dims(shape: tuple | None) -> list[int | str] | None:
    """A shape for ONNX: symbolic dims as dim_params (their text)."""
    return None if shape is None else [d if isinstance(d, int) else str(d) for d in shape]


def to_onnx(graph: Graph, opset: int = 20) -> onnx.ModelProto:
    inits: dict[str, np.ndarray] = {}
    nodes = []
    for n in graph.nodes:
        for v in n.inputs:
            if v is not None and v.const is not None:
                inits[v.name] = v.const
        ins = [v.name if v is not None else "" for v in n.inputs]
        attrs = dict(n.attrs)
        if n.op_type.startswith("Reduce") and "axes" in attrs:  # canonical attribute -> input (opset 18)
            inits[f"{n.name}_axes"] = np.asarray(attrs.pop("axes"), np.int64)
            ins = [ins[0], f"{n.name}_axes"]
        if n.op_type == "Slice" and "starts" in attrs:  # canonical attributes -> inputs (opset 10+)
            for key in ("starts", "ends", "axes", "steps"):
                inits[f"{n.name}_{key}"] = np.asarray(attrs.pop(key), np.int64)
            ins = [ins[0], *(f"{n.name}_{k}" for k in ("starts", "ends", "axes", "steps"))]
        if n.op_type == "Pad" and "pads" in attrs:  # canonical attributes -> inputs (opset 11+)
            inits[f"{n.name}_pads"] = np.asarray(attrs.pop("pads"), np.int64)
            inits[f"{n.name}_value"] = np.asarray(attrs.pop("value"), n.inputs[0].const.dtype
                                                  if n.inputs[0] is not None and n.inputs[0].const is not None
                                                  else np.float32)
            ins = [ins[0], f"{n.name}_pads", f"{n.name}_value"]
        for op, key in (("Reshape", "shape"), ("Unsqueeze", "axes"), ("Squeeze", "axes"), ("Expand", "shape")):
            if n.op_type == op and key in attrs:  # canonical attribute -> input (opset 13+)
                inits[f"{n.name}_{key}"] = np.asarray(attrs.pop(key), np.int64)
                ins = [ins[0], f"{n.name}_{key}"]
        if n.op_type == "Clip" and ("min" in attrs or "max" in attrs):  # canonical attributes -> inputs (opset 11+)
            dt = n.inputs[0].dtype.numpy if n.inputs[0] is not None and n.inputs[0].dtype else np.float32
            for key in ("min", "max"):
                if key in attrs:
                    inits[f"{n.name}_{key}"] = np.asarray(attrs.pop(key), dt)
            ins = [ins[0], *(f"{n.name}_{k}" if f"{n.name}_{k}" in inits else "" for k in ("min", "max"))]
        node = helper.make_node(n.op_type, ins, [v.name for v in n.outputs], name=n.name)
        node.attribute.extend(_make_attr(k, a) for k, a in attrs.items())
        nodes.append(node)
    g = helper.make_graph(
        nodes, graph.name,
        [helper.make_tensor_value_info(v.name, v.dtype.to_onnx() if v.dtype else 1, _dims(v.shape))
         for v in graph.inputs],
        [helper.make_empty_tensor_value_info(v.name) for v in graph.outputs],
        [numpy_helper.from_array(np.asarray(a), k) for k, a in inits.items()],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def run_ir(graph: Graph, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return reference_outputs(to_onnx(graph), feeds)
