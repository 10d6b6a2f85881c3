"""Backend-local rewrite: a single-output DAG of elementwise nodes becomes one FusedElementwise
node, lowered to one kernel by elementwise.compose (SiLU `x * Sigmoid(x)`, `(x - m) * s + b`,
`Div -> Add` attention scores, bias + residual Adds, comparisons feeding Where, ...).

A producer joins its consumer's group when its output is read only by nodes already in the
group and is not a graph output: the value then never reaches memory (it is a `let` of the
kernel, and the memory plan no longer sees it). Intermediates broadcast into the group's output
shape, so every external input is read through its own broadcast strides against that shape;
a small intermediate (a broadcast mask) is recomputed per output element, which costs less than
a dispatch and a round trip through memory. Groups stay within wgsl.MAX_BINDINGS bindings.

Then `fuse_epilogues` folds such a group (or one elementwise node) into the Conv, MatMul or Gemm
whose output it consumes: the kernel computes its output element, applies its own bias and
activation, then the group's expression (elementwise.epilogue) before the store (ResNet's
`Conv -> Add(skip) -> Relu`, BERT's `MatMul -> Add(bias) -> Gelu`).
"""

from __future__ import annotations

from webdnn.backends.common.elementwise_groups import FUSED, externals, find_groups, fuse_groups
from webdnn.backends.common.memory_plan import is_view
from webdnn.backends.webgpu.elementwise import EXPRESSIONS, compose, expression, operands
from webdnn.backends.webgpu.wgsl import MAX_BINDINGS, Ctx, Dispatch, Unsupported
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Node, Value


def fused(ctx: Ctx, node: Node) -> list[Dispatch]:
    return [compose(ctx, node.attrs["nodes"])]


def _fusible(node: Node) -> bool:
    """An elementwise node the composed kernel can express (unsupported ones keep their own error)."""
    if node.op_type not in EXPRESSIONS or node.op_type == "Identity" or is_view(node) or len(node.outputs) != 1:
        return False
    y = node.outputs[0]
    if y.shape is None or y.dtype is None or y.size == 0:
        return False
    try:
        expression(node, [f"a{j}" for j in range(len(operands(node)))])
    except (Unsupported, KeyError, AssertionError):
        return False
    return True


def _storage(v: Value) -> int:
    """What a kernel binds for `v`: the tensor a chain of views reads (or the constant itself)."""
    while v.producer is not None and is_view(v.producer):
        x = v.producer.input(0)
        assert x is not None
        v = x
    return id(v)


def _externals(group: list[Node]) -> list[Value]:
    """The values the group reads but does not produce, in first-use order (group in graph order)."""
    return externals(group, operands)


def _bindings(group: list[Node]) -> int:
    return len({_storage(v) for v in _externals(group)}) + 1


def fuse_elementwise(graph: Graph) -> int:
    """Replace every group of two or more fusible nodes by one FusedElementwise node; returns
    the number of nodes removed (groups: common.elementwise_groups)."""
    groups = find_groups(graph, _fusible, lambda g: _bindings(g) <= MAX_BINDINGS, operands)
    return fuse_groups(graph, groups, operands)


# kernels with an epilogue, and how many inputs of theirs come before the epilogue's operands
# (omitted optional inputs are padded with None so `node.input(2)` stays the bias)
EPILOGUE_HOSTS = {"Conv": 3, "Gemm": 3, "MatMul": 2}


def _members(node: Node) -> list[Node]:
    return list(node.attrs["nodes"]) if node.op_type == FUSED else [node]


def fuse_epilogues(graph: Graph) -> int:
    """Fold the elementwise group that alone consumes a float32 Conv/MatMul/Gemm output into that
    kernel (attrs["epilogue"] = the group's nodes, attrs["epilogue_x"] = the value they read); the
    kernel then writes the group's output and reads the group's other operands. Returns the number
    of kernels removed. Run after fuse_elementwise, so a consumer is one group or one node."""
    users = graph.users()
    fusible = {id(n) for n in graph.nodes if n.op_type == FUSED or _fusible(n)}
    merged: dict[int, Node] = {}  # id(consumer) -> the host that absorbs it
    for host in graph.nodes:
        if host.op_type not in EPILOGUE_HOSTS or "epilogue" in host.attrs or len(host.outputs) != 1:
            continue
        x = host.outputs[0]
        readers = {id(u): u for u in users.get(id(x), [])}
        if len(readers) != 1 or graph.is_graph_output(x) or x.dtype != DType.FLOAT32:
            continue
        (consumer,) = readers.values()
        if id(consumer) not in fusible or id(consumer) in merged:
            continue
        nodes = _members(consumer)
        y = nodes[-1].outputs[0]
        values = [v for m in nodes for v in (*operands(m), m.outputs[0])]
        if y.shape != x.shape or any(v.dtype != DType.FLOAT32 for v in values):
            continue  # the store is the host's f32 store of its own output shape
        own = [v for v in host.inputs if v is not None]
        extra = [v for v in _externals(nodes) if v is not x]
        if len({_storage(v) for v in [*own, *extra]}) + 1 > MAX_BINDINGS:
            continue
        merged[id(consumer)] = host
    for consumer_id, host in merged.items():
        consumer = next(n for n in graph.nodes if id(n) == consumer_id)
        nodes = _members(consumer)
        x, y = host.outputs[0], nodes[-1].outputs[0]
        pad = [host.input(i) for i in range(EPILOGUE_HOSTS[host.op_type])]
        host.inputs = [*pad, *(v for v in _externals(nodes) if v is not x)]
        host.attrs = {**host.attrs, "epilogue": nodes, "epilogue_x": x}
        host.outputs = [y]
        y.producer = host
        # the host moves to the consumer's place: every operand of the epilogue exists by then
        graph.nodes = [n for n in graph.nodes if n is not host]
        graph.nodes[graph.nodes.index(consumer)] = host
    return len(merged)
