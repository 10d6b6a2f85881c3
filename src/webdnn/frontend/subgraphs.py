"""ONNX subgraphs (If's then_branch / else_branch) as IR: each branch becomes a `Branch`, its nodes
built like the main graph's but not placed in it, reading outer-scope values by name (its
`captures`). The If node reads its condition and then every captured value (so the graph's
topological order keeps it after them); passes/inline_if.py puts the chosen branch in its place
once the condition is known at conversion.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from webdnn.errors import ModelLoadError, UnsupportedOperatorError, where
from webdnn.ir.graph import Graph, Node, Value

SUBGRAPH_OPS = {"If": ("then_branch", "else_branch")}


@dataclass
class Branch:
    """One subgraph: its nodes in order, its output values, and the outer values it reads."""

    nodes: list[Node]
    outputs: list[Value]
    captures: list[Value] = field(default_factory=list)


def build_branch(graph: Graph, gp: onnx.GraphProto, outer: Callable[[str], Value | None], path: str,
                 make_attrs: Callable[[onnx.NodeProto, str, Callable[[str], Value | None]], dict[str, Any]],
                 constant: Callable[[dict[str, Any], str], np.ndarray]) -> Branch:
    """`gp` as a Branch; `outer(name)`: the enclosing scope's value of that name (None: not defined);
    `make_attrs(node, name, scope)`: a node's attributes, nested subgraphs built in `scope`."""
    local: dict[str, Value] = {}
    captures: dict[int, Value] = {}

    def lookup(name: str, user: str) -> Value:
        if name in local:
            return local[name]
        v = outer(name)
        if v is None:
            raise ModelLoadError(f"{user} reads '{name}', which neither the subgraph {path} nor an enclosing "
                                 "graph defines; the model is malformed")
        captures[id(v)] = v
        return v

    def define(name: str) -> Value:
        v = Value(graph.unique_name(f"{path}/{name}"))
        local[name] = v
        return v

    for init in gp.initializer:
        define(init.name).set_const(np.asarray(numpy_helper.to_array(init)))
    if gp.input:
        raise UnsupportedOperatorError(f"subgraph {path} declares inputs ({gp.input[0].name}); only If's "
                                       "input-less branches are supported")
    nodes: list[Node] = []
    for i, n in enumerate(gp.node):
        name = graph.unique_name(f"{path}/{n.name or f'{n.op_type}_{i}'}")
        attrs = make_attrs(n, name, lambda x: local[x] if x in local else outer(x))
        if n.op_type == "Constant":
            define(n.output[0]).set_const(constant(attrs, name))
            continue
        ins = [lookup(x, where(name, n.op_type)) if x else None for x in n.input]
        outs = [define(x) if x else Value(graph.unique_name(f"{name}_unused{j}")) for j, x in enumerate(n.output)]
        for branch in (a for a in attrs.values() if isinstance(a, Branch)):  # a nested If: its captures are ours too
            for v in branch.captures:
                if all(v is not x for x in local.values()):
                    captures[id(v)] = v
        node = Node(n.op_type, name, ins, outs, attrs)
        if n.op_type in SUBGRAPH_OPS:
            node.inputs += [v for b in _branches(node) for v in b.captures if all(v is not x for x in node.inputs)]
        for o in outs:
            o.producer = node
        nodes.append(node)
    outputs = [lookup(o.name, f"subgraph {path}'s output") for o in gp.output]
    return Branch(nodes, outputs, list(captures.values()))


def _branches(node: Node) -> list[Branch]:
    return [node.attrs[k] for k in SUBGRAPH_OPS.get(node.op_type, ()) if isinstance(node.attrs.get(k), Branch)]


def add_captures(node: Node) -> None:
    """An If of the main graph reads its branches' captured values after its condition."""
    for b in _branches(node):
        node.inputs += [v for v in b.captures if all(v is not x for x in node.inputs)]
