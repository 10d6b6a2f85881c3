"""ONNX subgraphs (If's then_branch / else_branch, Loop's and Scan's body) as IR: each becomes a
`Branch`, its nodes built like the main graph's but not placed in it, reading outer-scope values by
name (its `captures`) and its own formal inputs (`params`: a body's iteration number, condition,
carried and scanned values). The node reads its own inputs and then every captured value (so the
graph's topological order keeps it after them); passes/inline_control.py puts the chosen branch, or
one copy of the body per iteration (`clone`), in its place once the condition or the trip count is
known at conversion.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from webdnn.errors import ModelLoadError, where
from webdnn.ir.graph import Graph, Node, Value

SUBGRAPH_OPS = {"If": ("then_branch", "else_branch"), "Loop": ("body",), "Scan": ("body",)}


@dataclass
class Branch:
    """One subgraph: its nodes in order, its output values, the outer values it reads, its formal inputs."""

    nodes: list[Node]
    outputs: list[Value]
    captures: list[Value] = field(default_factory=list)
    params: list[Value] = field(default_factory=list)


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

    params = [define(i.name) for i in gp.input]  # placeholders: each copy of the body gets its values
    for init in gp.initializer:
        define(init.name).set_const(np.asarray(numpy_helper.to_array(init)))
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
        add_captures(node)
        for o in outs:
            o.producer = node
        nodes.append(node)
    outputs = [lookup(o.name, f"subgraph {path}'s output") for o in gp.output]
    return Branch(nodes, outputs, list(captures.values()), params)


def _branches(node: Node) -> list[Branch]:
    return [node.attrs[k] for k in SUBGRAPH_OPS.get(node.op_type, ()) if isinstance(node.attrs.get(k), Branch)]


def add_captures(node: Node) -> None:
    """A node with subgraphs reads their captured values after its own inputs (`explicit_inputs` of them)."""
    if node.op_type not in SUBGRAPH_OPS:
        return
    node.attrs["explicit_inputs"] = len(node.inputs)
    for b in _branches(node):
        node.inputs += [v for v in b.captures if all(v is not x for x in node.inputs)]


def clone(graph: Graph, branch: Branch, values: dict[int, Value], prefix: str) -> tuple[list[Node], list[Value]]:
    """A fresh copy of `branch`'s nodes, its params read as `values` gives them (id(param) -> value; the
    copies of its inner values are added there too), and the copies of its outputs. Constants and
    captured values are shared; nested subgraphs are copied with the same mapping."""
    def get(v: Value | None) -> Value | None:
        return None if v is None else values.get(id(v), v)

    nodes: list[Node] = []
    for n in branch.nodes:
        outs = []
        for o in n.outputs:
            c = Value(graph.unique_name(f"{prefix}/{o.name}"))
            values[id(o)] = c
            outs.append(c)
        attrs = {k: _clone_branch(graph, a, values, prefix) if isinstance(a, Branch) else a for k, a in n.attrs.items()}
        copy = Node(n.op_type, graph.unique_name(f"{prefix}/{n.name}"), [get(v) for v in n.inputs], outs, attrs)
        for o in outs:
            o.producer = copy
        nodes.append(copy)
    return nodes, [values.get(id(o), o) for o in branch.outputs]


def _clone_branch(graph: Graph, b: Branch, values: dict[int, Value], prefix: str) -> Branch:
    nodes, outputs = clone(graph, b, values, prefix)
    return Branch(nodes, outputs, [values.get(id(v), v) for v in b.captures], [values.get(id(v), v) for v in b.params])
