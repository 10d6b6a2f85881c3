"""If with a condition known at conversion: the chosen branch's nodes take the If's place.

The condition is often constant only after folding (a Shape compared with a number, an opset
switch an exporter wrote), so infer_shapes calls this when it reaches the If, after the nodes
before it were folded; it then visits the inlined nodes like any others (a nested If included).
The branch's outputs become the If's through Identity nodes (so graph outputs keep their names),
or constants where the branch computed a constant. An If whose condition is only known at run
time is refused with the inputs it depends on named.
"""

from __future__ import annotations

import numpy as np

from webdnn.errors import UnsupportedOperatorError, where
from webdnn.frontend.subgraphs import Branch
from webdnn.ir.graph import Graph, Node, Value


def _sources(v: Value, graph: Graph) -> list[str]:
    """The graph inputs `v` is computed from."""
    seen: set[int] = set()
    out: list[str] = []
    stack = [v]
    while stack:
        x = stack.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        if any(x is i for i in graph.inputs):
            out.append(x.name)
        elif x.producer is not None:
            stack += [i for i in x.producer.inputs if i is not None]
    return sorted(out)


def inline(graph: Graph, node: Node) -> list[Node]:
    """Replace the If `node` by its chosen branch; returns the new nodes, in order."""
    cond = node.input(0)
    if cond is None or cond.const is None:
        from_inputs = _sources(cond, graph) if cond is not None else []
        raise UnsupportedOperatorError(
            f"{where(node.name, node.op_type, graph.opset)}: its condition is computed at run time"
            + (f" from input(s) {', '.join(from_inputs)}" if from_inputs else "")
            + "; only an If whose condition is known at conversion is supported (fix the shapes it depends on "
            "with --input-shape, or export the model with that branch chosen)"
        )
    if np.asarray(cond.const).size != 1:
        raise UnsupportedOperatorError(f"{where(node.name, node.op_type, graph.opset)}: the condition has "
                                       f"{np.asarray(cond.const).size} elements, not one")
    branch: Branch = node.attrs["then_branch" if bool(np.asarray(cond.const).reshape(-1)[0]) else "else_branch"]
    if len(branch.outputs) != len(node.outputs):
        raise UnsupportedOperatorError(f"{where(node.name, node.op_type, graph.opset)}: the branch has "
                                       f"{len(branch.outputs)} outputs, the If {len(node.outputs)}")
    at = graph.nodes.index(node)
    graph.nodes[at:at] = branch.nodes
    new = list(branch.nodes)
    for out, src in zip(node.outputs, branch.outputs, strict=True):
        if src.is_const and src.producer is None:
            out.producer = None
            out.set_const(np.asarray(src.const))
        else:
            new.append(graph.add_node("Identity", [src], [out], name=f"{node.name}/{out.name}", before=node))
    graph.remove_node(node)
    return new
