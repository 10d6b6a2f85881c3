"""ONNX's Optional ops on tensors, resolved at conversion: whether an optional holds a tensor is always
known from the graph (WebDNN takes no optional-typed model inputs), so

- `Optional(x)` is x, and `Optional()` (no input) is empty;
- `OptionalHasElement(v)` is a constant: true for a tensor or a filled optional, false for an empty
  one or a missing input;
- `OptionalGetElement(v)` is an Identity of the tensor (of an empty optional: an error, as at run time).

Exporters write these around optional arguments (PyTorch's `Optional[Tensor]`, scripted `is None` checks);
an If on OptionalHasElement then folds.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from webdnn.errors import UnsupportedOperatorError, where

OPS = frozenset({"Optional", "OptionalHasElement", "OptionalGetElement"})


def resolve(model: onnx.ModelProto, opset: int) -> onnx.ModelProto:
    """`model` with its main graph's Optional ops written as constants and Identities (a copy), or `model`."""
    g = model.graph
    if not any(n.op_type in OPS and n.domain in ("", "ai.onnx") for n in g.node):
        return model
    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    empty: set[str] = set()  # optionals known to be empty
    nodes: list[onnx.NodeProto] = []
    for i, n in enumerate(g.node):
        name = n.name or f"{n.op_type}_{i}"
        x = n.input[0] if n.input else ""
        if n.domain not in ("", "ai.onnx") or n.op_type not in OPS:
            nodes.append(n)
        elif n.op_type == "Optional":
            if x:
                nodes.append(helper.make_node("Identity", [x], [n.output[0]], name=name))
            else:
                empty.add(n.output[0])
        elif n.op_type == "OptionalHasElement":
            has = bool(x) and x not in empty
            nodes.append(helper.make_node("Constant", [], [n.output[0]], name=name,
                                          value=numpy_helper.from_array(np.array(has))))
        else:  # OptionalGetElement
            if not x or x in empty:
                raise UnsupportedOperatorError(f"{where(name, n.op_type, opset)}: reads an empty optional "
                                               f"('{x}'), which has no element to get")
            nodes.append(helper.make_node("Identity", [x], [n.output[0]], name=name))
    del g.node[:]
    g.node.extend(nodes)
    return out
