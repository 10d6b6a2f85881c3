"""common.elementwise_groups: which nodes form a fused group, and the rewrite (no backend)."""

from __future__ import annotations

from webdnn.backends.common.elementwise_groups import FUSED, externals, find_groups, fuse_groups
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Node, Value

ELEMENTWISE = {"Add", "Mul", "Neg", "Exp", "Relu", "Sigmoid", "Where", "Less"}


class G:
    """A tiny graph builder: values by name, nodes in the order they are added."""

    def __init__(self, *inputs: str) -> None:
        self.g = Graph("t", 17)
        self.v: dict[str, Value] = {}
        for name in inputs:
            self.v[name] = Value(name, DType.FLOAT32, (4,))
            self.g.inputs.append(self.v[name])

    def op(self, op: str, ins: list[str], out: str) -> Node:
        y = Value(out, DType.FLOAT32, (4,))
        self.v[out] = y
        n = Node(op, out, [self.v[i] for i in ins], [y])
        y.producer = n
        self.g.nodes.append(n)
        return n

    def outputs(self, *names: str) -> None:
        self.g.outputs = [self.v[n] for n in names]

    def groups(self, limit: int = 99) -> list[list[str]]:
        found = find_groups(self.g, lambda n: n.op_type in ELEMENTWISE,
                            lambda grp: len(externals(grp)) <= limit)
        return [[n.name for n in grp] for grp in found]


def test_chain_is_one_group_in_topological_order() -> None:
    b = G("x")
    b.op("Neg", ["x"], "a")
    b.op("Exp", ["a"], "c")
    b.op("Relu", ["c"], "y")
    b.outputs("y")
    assert b.groups() == [["a", "c", "y"]]


def test_diamond_and_silu() -> None:
    b = G("x")
    b.op("Sigmoid", ["x"], "s")
    b.op("Mul", ["x", "s"], "m")  # SiLU: x is external, read by two members
    b.op("Neg", ["m"], "n")
    b.op("Exp", ["m"], "e")
    b.op("Add", ["n", "e"], "y")  # diamond: m is read by n and e, both in the group
    b.outputs("y")
    assert b.groups() == [["s", "m", "n", "e", "y"]]


def test_shared_intermediate_is_not_fused() -> None:
    b = G("x")
    b.op("Relu", ["x"], "a")
    b.op("Neg", ["a"], "n")
    b.op("Exp", ["n"], "y")
    b.op("Sigmoid", ["a"], "z")  # a is read by two groups: it must reach memory
    b.outputs("y", "z")
    assert b.groups() == [["n", "y"]]


def test_graph_output_intermediate_stays_out() -> None:
    b = G("x")
    b.op("Exp", ["x"], "a")
    b.op("Neg", ["a"], "b")
    b.op("Relu", ["b"], "y")
    b.outputs("a", "y")  # a is an output: its producer cannot be an intermediate
    assert b.groups() == [["b", "y"]]


def test_non_member_consumer_and_blocker() -> None:
    b = G("x")
    b.op("Exp", ["x"], "a")
    b.op("Softmax", ["a"], "s")  # not joinable: splits the chain
    b.op("Neg", ["s"], "y")
    b.outputs("y")
    assert b.groups() == []


def test_input_limit() -> None:
    b = G("x0", "x1", "x2", "x3")
    b.op("Add", ["x0", "x1"], "a")
    b.op("Add", ["a", "x2"], "c")
    b.op("Add", ["c", "x3"], "y")
    b.outputs("y")
    assert b.groups(limit=4) == [["a", "c", "y"]]
    # three inputs at most: the first Add stays out and its output is an external input
    assert b.groups(limit=3) == [["c", "y"]]
    assert b.groups(limit=2) == []


def test_fuse_groups_rewrites_each_group() -> None:
    b = G("x", "w")
    b.op("Sigmoid", ["x"], "s")
    b.op("Mul", ["x", "s"], "m")
    b.op("Softmax", ["m"], "p")
    b.op("Add", ["p", "w"], "q")
    b.op("Neg", ["q"], "y")
    b.outputs("y")
    groups = find_groups(b.g, lambda n: n.op_type in ELEMENTWISE, lambda grp: True)
    assert fuse_groups(b.g, groups) == 2
    assert [n.op_type for n in b.g.nodes] == [FUSED, "Softmax", FUSED]
    first, _, last = b.g.nodes
    assert [v.name for v in first.inputs] == ["x"] and first.outputs[0] is b.v["m"]
    assert [n.name for n in first.attrs["nodes"]] == ["s", "m"]
    assert [v.name for v in last.inputs] == ["p", "w"] and b.v["y"].producer is last
