"""Backend-neutral grouping of elementwise nodes into fused kernels.

A group is a single-output DAG of elementwise nodes that one kernel computes per output
element: the values it reads but does not produce are its external inputs, its last node's
output (in graph order) is its output, and every other node's output is an intermediate that
never reaches memory. So an intermediate must be read only inside its group and must not be a
graph output.

Groups grow from their output upwards (consumers first): a producer joins its consumer's group
when its output is read only by nodes already in the group and is not a graph output, and the
grown group still fits the backend's limit (bindings, texture units). A node joins at most one
group. Each backend decides which nodes may join (`can_join`: it can write their expression),
which inputs an expression reads (`operands`) and the limit (`fits`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from webdnn.ir.graph import Graph, Node, Value

FUSED = "FusedElementwise"  # attrs["nodes"]: the group in topological order; the last one's output is its output

Operands = Callable[[Node], list[Value]]


def present_inputs(node: Node) -> list[Value]:
    """Default `operands`: every input the node has."""
    return [v for v in node.inputs if v is not None]


def externals(group: Sequence[Node], operands: Operands = present_inputs) -> list[Value]:
    """The values the group reads but does not produce, in first-use order (group in graph order)."""
    produced = {id(n.outputs[0]) for n in group}
    seen: set[int] = set()
    out: list[Value] = []
    for n in group:
        for v in operands(n):
            if id(v) not in produced and id(v) not in seen:
                seen.add(id(v))
                out.append(v)
    return out


def find_groups(graph: Graph, can_join: Callable[[Node], bool], fits: Callable[[list[Node]], bool],
                operands: Operands = present_inputs) -> list[list[Node]]:
    """Groups of two or more joinable single-output nodes, each in graph (topological) order.
    `fits(group)` is asked for every candidate group (e.g. a limit on distinct external inputs);
    a producer that would break it stays outside, as an external input."""
    order = {id(n): k for k, n in enumerate(graph.nodes)}
    users = graph.users()
    joinable = {id(n) for n in graph.nodes if len(n.outputs) == 1 and can_join(n)}
    taken: set[int] = set()
    groups: list[list[Node]] = []
    for root in reversed(graph.nodes):  # consumers first: a group grows from its output upwards
        if id(root) not in joinable or id(root) in taken:
            continue
        group, members = [root], {id(root)}
        grew = True
        while grew:
            grew = False
            for m in list(group):
                for v in operands(m):
                    p = v.producer
                    if (p is None or id(p) not in joinable or id(p) in members or id(p) in taken
                            or id(p) not in order or graph.is_graph_output(v)
                            or not all(id(u) in members for u in users.get(id(v), []))):
                        continue
                    trial = sorted([*group, p], key=lambda n: order[id(n)])
                    if not fits(trial):
                        continue
                    group, grew = trial, True
                    members.add(id(p))
        if len(group) > 1:
            taken |= members
            groups.append(group)
    return groups


def fuse_groups(graph: Graph, groups: Sequence[list[Node]], operands: Operands = present_inputs) -> int:
    """Replace each group by one FusedElementwise node at its last node's place (inputs: the
    group's external inputs; output: the last node's output). Returns the number of nodes removed."""
    for group in groups:
        root = group[-1]
        node = Node(FUSED, root.name, externals(group, operands), [root.outputs[0]], {"nodes": list(group)})
        root.outputs[0].producer = node
        graph.nodes[graph.nodes.index(root)] = node
        drop = {id(n) for n in group[:-1]}
        graph.nodes = [n for n in graph.nodes if id(n) not in drop]
    return sum(len(g) - 1 for g in groups)
