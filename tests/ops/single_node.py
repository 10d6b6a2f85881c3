"""One op, two ways: a single-node ONNX model in onnxruntime, and the same node through our shape rule."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Node
from webdnn.ops.registry import infer_node


def run_in_onnxruntime(op: str, inputs: list[np.ndarray | None], attrs: dict[str, Any], opset: int,
                       consts: tuple[int, ...], n_out: int) -> list[np.ndarray]:
    """Inputs listed in `consts` become initializers, the others graph inputs fed with their data."""
    names = ["" if a is None else f"x{i}" for i, a in enumerate(inputs)]
    outs = [f"y{k}" for k in range(n_out)]
    pairs = list(enumerate(zip(names, inputs, strict=True)))
    feeds = {n: a for i, (n, a) in pairs if a is not None and i not in consts}
    inits = [numpy_helper.from_array(a, n) for i, (n, a) in pairs if a is not None and i in consts]
    vis = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
           for n, a in feeds.items()]
    g = helper.make_graph([helper.make_node(op, names, outs, **attrs)], "g", vis,
                          [helper.make_empty_tensor_value_info(o) for o in outs], initializer=inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return list(sess.run(None, feeds))


def infer_ir_node(op: str, inputs: list[np.ndarray | None], attrs: dict[str, Any], opset: int,
                  consts: tuple[int, ...], n_out: int) -> tuple[Graph, Node]:
    """The same node in the IR (constants as constant Values), after its shape rule ran."""
    graph = Graph("t", opset)
    ins = []
    for i, a in enumerate(inputs):
        if a is None:
            ins.append(None)
        elif i in consts:
            ins.append(graph.const_value(f"c{i}", a))
        else:
            v = graph.new_value(f"x{i}", DType.from_numpy(a.dtype), a.shape)
            graph.inputs.append(v)
            ins.append(v)
    ys = [graph.new_value(f"y{k}") for k in range(n_out)]
    graph.outputs.extend(ys)
    ir_attrs = {k: numpy_helper.to_array(v) if isinstance(v, TensorProto) else v for k, v in attrs.items()}
    node = graph.add_node(op, ins, ys, ir_attrs)
    infer_node(node, graph)
    return graph, node


def assert_same_types(op: str, node: Node, expected: list[np.ndarray], all_outputs: bool) -> None:
    """Output dtypes and shapes agree; `all_outputs`: the rule kept every output onnxruntime produced."""
    if all_outputs:
        assert len(node.outputs) == len(expected)
    for y, e in zip(node.outputs, expected, strict=all_outputs):
        assert y.dtype == DType.from_numpy(e.dtype), (op, y, e.dtype)
        assert y.shape == e.shape, (op, y, e.shape)
