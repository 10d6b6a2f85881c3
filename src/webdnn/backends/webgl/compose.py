"""Elementwise passes: one node, or a fused group of them (FusedElementwise), as one draw.

`fuse_elementwise` (run by lower.py on the backend's own copy of the graph) rewrites each
single-output DAG of elementwise nodes into a FusedElementwise node (common.elementwise_groups:
an intermediate is read only inside its group and is no graph output). `compose` writes the
pass of a group from the ops' expressions (elementwise.expression); a single node is a group of
one, so both share every op's GLSL.

The chain is a function `float chain_(float a0, ...)` of the external inputs' elements: every
node but the last becomes a local `t<k>`, kept as its own pass would have stored it (float16
rounded; integers are exact in float32 up to 2**24, as in a texture). Intermediates broadcast
into the output's shape, so each external input is read once per output element through its
own broadcast index (a small intermediate, such as a mask, is recomputed per element: cheaper
than a draw and a texture round trip). When every input has the output's size (the same flat
index) or is one element, the pass takes the vec4 path: one texel fetch per input and four
chain_ calls per fragment.
"""

from __future__ import annotations

from collections.abc import Sequence

from webdnn.backends.common.elementwise_groups import FUSED, externals, find_groups, fuse_groups
from webdnn.backends.common.memory_plan import is_view
from webdnn.backends.webgl.core import TEXTURE_DTYPES, Ctx, Pass, kernel, shape
from webdnn.backends.webgl.elementwise import ELEMENTWISE_OPS, expression, operands
from webdnn.backends.webgl.glsl import HALF, broadcast_index, coords
from webdnn.errors import UnsupportedOperatorError
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Node, Value

# WebGL2 guarantees 16 texture units per fragment shader (MAX_TEXTURE_IMAGE_UNITS); every
# external input of a pass is one sampler.
MAX_INPUTS = 16
# Copies (graph-output views, constant outputs) and views stay passes or views of their own;
# a Reshape inside a group would also break the broadcast of intermediates into the output.
_NOT_FUSED = frozenset({"Identity", "Dropout", "Reshape", "Flatten", "Squeeze", "Unsqueeze"})


def compose(ctx: Ctx, nodes: Sequence[Node], op: str, name: str) -> Pass:
    """One pass computing the last of elementwise `nodes` (topological order) from the values
    they read but do not produce; every other node's output is read only by later nodes."""
    y = nodes[-1].outputs[0]
    names: dict[int, str] = {}  # id(value) -> its GLSL name inside chain_
    inputs: list[Value] = []
    helpers: dict[str, None] = {}  # ordered set of helper blocks
    lines: list[str] = []
    result = ""
    for k, node in enumerate(nodes):
        args = []
        for v in operands(node, ctx):
            if id(v) not in names:
                names[id(v)] = f"a{len(inputs)}"
                inputs.append(v)
            args.append(names[id(v)])
        e = expression(node, ctx, args)
        helpers.update(dict.fromkeys(e.helpers))
        if k == len(nodes) - 1:
            result = e.code  # the output: fragment() rounds a float16 one as it writes it
            continue
        out = node.outputs[0]
        names[id(out)] = f"t{k}"
        code = e.code
        if out.dtype == DType.FLOAT16:  # what a float16 texture would have kept
            helpers[HALF] = None
            code = f"half_({code})"
        lines.append(f"  float t{k} = {code};")
    params = ", ".join(f"float a{j}" for j in range(len(inputs)))
    chain = "\n".join([f"float chain_({params}) {{", *lines, f"  return {result};", "}"])
    xs = [ctx.tex(v) for v in inputs]
    # a reshaping copy's input has the output's elements even where conversion cannot prove it (a
    # shape given at run: the runtime checks the model's requirement), so it is read flat
    reshape = len(nodes) == 1 and nodes[0].op_type in _NOT_FUSED
    full = {id(v) for v in inputs if v.size == y.size or (reshape and v is nodes[0].inputs[0])}
    vec4 = all(id(v) in full or v.size == 1 for v in inputs)
    body = "".join(helpers) + chain + "\n" + (_texel_body(inputs, y, full) if vec4 else _element_body(inputs, y, full))
    return Pass(op, name, xs, y, body, vec4=vec4)


def _texel_body(inputs: list[Value], y: Value, full: set[int]) -> str:
    """compute4: inputs of the output's size share its flat index (broadcasting only adds or
    expands axes of size 1), so texel t of each holds the four elements; one-element inputs splat."""
    reads = [f"vec4 a{j} = X{j}t(t);" if id(v) in full else f"float a{j} = X{j}(0);"
             for j, v in enumerate(inputs)]
    calls = []
    for comp in "xyzw":
        args = [f"a{j}.{comp}" if id(v) in full else f"a{j}" for j, v in enumerate(inputs)]
        calls.append(f"chain_({', '.join(args)})")
    return "vec4 compute4(int t) {\n  " + " ".join(reads) + f"\n  return vec4({', '.join(calls)});\n}}\n"


def _element_body(inputs: list[Value], y: Value, full: set[int]) -> str:
    oshape = shape(y)
    args = [f"X{j}({'o' if id(v) in full else broadcast_index(oshape, shape(v), 'c')})"
            for j, v in enumerate(inputs)]
    return f"float compute(int o) {{\n  {coords('o', oshape, 'c')}\n  return chain_({', '.join(args)});\n}}\n"


@kernel(*ELEMENTWISE_OPS)
def _single(ctx: Ctx, node: Node) -> list[Pass]:
    passes = [compose(ctx, [node], node.op_type, node.name)]
    if node.op_type == "Dropout" and len(node.outputs) > 1:  # inference: the mask keeps everything
        x = passes[0].inputs[0]
        passes.append(Pass("Dropout.mask", node.name + ".mask", [x], node.outputs[1],
                           "float compute(int o) { return 1.0; }\n"))
    return passes


@kernel(FUSED)
def _fused(ctx: Ctx, node: Node) -> list[Pass]:
    return [compose(ctx, node.attrs["nodes"], FUSED, node.name)]


def _can_join(node: Node, ctx: Ctx) -> bool:
    """An elementwise node compose can write (one that cannot keeps its own pass and error)."""
    if node.op_type not in ELEMENTWISE_OPS or node.op_type in _NOT_FUSED or is_view(node):
        return False
    y = node.outputs[0]
    if y.shape is None or y.size == 0 or y.dtype not in TEXTURE_DTYPES:
        return False
    try:
        xs = operands(node, ctx)
        if any(v.dtype not in TEXTURE_DTYPES for v in xs):
            return False
        for v in xs:
            ctx.tex(v)  # integer constants beyond 2**24 raise
        expression(node, ctx, [f"a{j}" for j in range(len(xs))])
    except UnsupportedOperatorError:
        return False
    return True


def fuse_elementwise(graph: Graph, ctx: Ctx) -> int:
    """Replace every group of two or more fusible nodes by one FusedElementwise node (at most
    MAX_INPUTS external inputs); returns the number of nodes removed."""
    def ops(n: Node) -> list[Value]:
        return operands(n, ctx)

    groups = find_groups(graph, lambda n: _can_join(n, ctx), lambda g: len(externals(g, ops)) <= MAX_INPUTS, ops)
    return fuse_groups(graph, groups, ops)
