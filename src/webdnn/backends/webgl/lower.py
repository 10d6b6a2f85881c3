"""Lowering to the webgl backend (WebGL2, GLSL ES 3.00 fragment shaders over RGBA32F textures).

Chains of elementwise nodes are first fused into FusedElementwise nodes (compose.py), then
each non-view node becomes one or more passes (see core.Pass); every pass gets a fragment
shader generated here with all shapes baked in. Every texture holds four consecutive flat
(row-major) elements per RGBA32F texel (texel t = elements 4t..4t+3, the last one zero-padded),
laid out near-square with a power-of-two width (glsl.layout_for; beyond 4096 x 4096 texels in an
array texture); a fragment writes one texel, through the generator's `compute(o)` per element
or its `compute4(t)` per texel (glsl.fragment). Flat indices do not depend on the texture, so
views (Reshape and friends) share their root's texture.
Runtime textures are pooled by (width, height, layers) over the lifetimes of the pass sequence,
so a texture is reused once the tensor it held is dead; weights (and the constants generators
re-pack them into) get one texture each, uploaded once at load.

Descriptor additions (top-level field "webgl"):
  programs: [fragment shader source]        deduplicated
  textures: [{width, height, layers?, stride?}]
                                            in RGBA texels; runtime textures and weight textures;
                                            `layers` (> 1) makes it a 2-D array texture, whose
                                            flat texel t is texel t % stride of layer t / stride
                                            (stride: texels per layer, default width * height)
  inputs / outputs: [texture index]         per graph input / output, in order
Each kernel call is one pass: attrs = {program, textures: [texture of each input..., output],
targets?}; `targets` (> 1) draws once into that many layers of the output (multiple render
targets, layer k at COLOR_ATTACHMENTk).
"""

from __future__ import annotations

from webdnn.backends.common.backend import Backend
from webdnn.backends.common.descriptor import KernelCall, Program
from webdnn.backends.common.memory_plan import MemoryPlan, is_view, plan
from webdnn.backends.fallback.lower import CONVERSION_ONLY  # shape-only ops, folded for every backend
from webdnn.backends.webgl import (  # noqa: F401 (registers kernels)
    compose,
    conv,
    elementwise,
    gemm,
    index,
    pool,
    reduce,
    resize,
    tensor,
)
from webdnn.backends.webgl.compose import fuse_elementwise
from webdnn.backends.webgl.core import GENERATORS, NAME, TEXTURE_DTYPES, Ctx, Pass
from webdnn.backends.webgl.glsl import Layout, fragment, layout_for, targets_layout
from webdnn.errors import ConversionError, UnsupportedOperatorError, where
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Node
from webdnn.ir.symbolic import SymbolicShapeError, sized_source
from webdnn.passes import decompose_quant, decompose_recurrent
from webdnn.passes.pipeline import run_passes
from webdnn.passes.runtime_control import HOST_OPS

ALIGNMENT = 16


def supported() -> list[str]:
    """Its kernels' ops, and those the runtime computes between stages (runtime_control.HOST_OPS)."""
    return sorted({*GENERATORS, *HOST_OPS})


def _compute_const_outputs(graph: Graph) -> None:
    """A graph output folded to a constant (Shape, Size, Constant, ...) gets a copy node, so
    every output is written by a pass into a texture of its own."""
    for v in graph.outputs:
        if v.const is None:
            continue
        c = graph.const_value(v.name + ".value", v.const)
        v.const = None
        node = Node("Identity", graph.unique_name(v.name + ".copy"), [c], [v])
        v.producer = node
        graph.nodes.append(node)


def _fuse_elementwise(graph: Graph) -> int:
    return fuse_elementwise(graph, Ctx(graph))


# this backend's graph rewrites (Backend.passes)
PASSES = (("decompose_recurrent", decompose_recurrent.run), ("decompose_quant", decompose_quant.run_deferred),
          ("compute_const_outputs", _compute_const_outputs),
          ("fuse_elementwise", _fuse_elementwise))


def lower(graph: Graph) -> Program:
    """The webgl descriptor of a graph (rewritten by PASSES first)."""
    run_passes(graph, PASSES)
    return emit(graph)


@sized_source  # symbolic sizes in the generated shaders become placeholders
def emit(graph: Graph) -> Program:
    """The descriptor of a graph PASSES rewrote."""
    ctx = Ctx(graph)
    passes: list[Pass] = []
    plan_nodes: list[Node] = []
    outputs = {id(v) for v in graph.outputs}
    used = {id(v) for n in graph.nodes for v in n.inputs if v is not None} | outputs
    for node in graph.nodes:
        # a view that is a graph output is copied, so every output owns its texture
        if is_view(node) and id(node.outputs[0]) not in outputs:
            plan_nodes.append(node)
            continue
        gen = GENERATORS.get(node.op_type)
        if gen is None:
            raise UnsupportedOperatorError(
                f"{where(node.name, node.op_type, graph.opset)}: the {NAME} backend has no kernel for {node.op_type}"
            )
        for v in [*node.inputs, *node.outputs]:
            if v is not None and v.dtype not in TEXTURE_DTYPES:
                raise ctx.fail(node, f"does not support {v.dtype} tensors ('{v.name}')")
        multi = node.op_type in ("Split", "Dropout", "TopK")  # kernels writing every output
        extra = [v for v in node.outputs[1:] if id(v) in used] if not multi else []
        if extra:
            raise ctx.fail(node, f"does not produce the optional output '{extra[0].name}'")
        try:
            made = list(gen(ctx, node))
        except SymbolicShapeError as e:
            raise UnsupportedOperatorError(
                f"{where(node.name, node.op_type, graph.opset)}: the {NAME} backend cannot run it at a size that "
                f"varies with the input ({e}); fix the dims it depends on with --input-shape"
            ) from None
        for p in made:
            passes.append(p)
            plan_nodes.append(Node(f"{NAME}.{p.op}", p.name, list(p.inputs), [p.output]))
    for v in graph.outputs:
        if v.is_const or v.producer is None:
            raise ConversionError(
                f"output '{v.name}' is a constant or a graph input; the {NAME} backend needs it computed by a node"
            )
    mp = plan(graph, ALIGNMENT, plan_nodes)
    return _program(graph, passes, mp)


def _program(graph: Graph, passes: list[Pass], mp: MemoryPlan) -> Program:
    textures: list[Layout] = []
    tex_of: dict[int, int] = {}  # id(root value or const value) -> texture index
    root = mp.root

    # lifetimes of runtime roots over the pass sequence
    last: dict[int, int] = {}
    for step, p in enumerate(passes):
        for v in p.inputs:
            if not v.is_const:
                last[id(root(v))] = step
    for v in graph.outputs:
        last[id(root(v))] = len(passes)
    free: dict[Layout, list[int]] = {}

    def new_texture(lay: Layout) -> int:
        spare = free.get(lay)
        if spare:
            return spare.pop()
        textures.append(lay)
        return len(textures) - 1

    for v in graph.inputs:
        tex_of[id(root(v))] = new_texture(layout_for(v.size))
        last.setdefault(id(root(v)), -1)
    calls: list[KernelCall] = []
    programs: list[str] = []
    program_index: dict[str, int] = {}
    for step, p in enumerate(passes):
        in_tex: list[int] = []
        for v in p.inputs:
            key = id(v) if v.is_const else id(root(v))
            if key not in tex_of:
                if not v.is_const:
                    raise ConversionError(f"pass '{p.name}' reads '{v.name}' before any pass wrote it")
                textures.append(layout_for(v.size))
                tex_of[key] = len(textures) - 1
            in_tex.append(tex_of[key])
        out_root = root(p.output)
        if id(out_root) in tex_of:
            raise ConversionError(f"pass '{p.name}' writes '{p.output.name}', which already has a texture")
        if p.targets > 1 and out_root is not p.output:
            raise ConversionError(f"pass '{p.name}' has {p.targets} render targets but writes a view")
        out_lay = layout_for(p.output.size) if p.targets == 1 else targets_layout(p.output.size, p.targets)
        tex_of[id(out_root)] = new_texture(out_lay)
        src = fragment([textures[t] for t in in_tex], p.output.size, out_lay, p.body,
                       half=p.output.dtype == DType.FLOAT16, vec4=p.vec4, targets=p.targets)
        if src not in program_index:
            program_index[src] = len(programs)
            programs.append(src)
        attrs = {"program": program_index[src], "textures": [*in_tex, tex_of[id(out_root)]]}
        if p.targets > 1:
            attrs["targets"] = p.targets
        calls.append(KernelCall(p.op, p.name, list(p.inputs), [p.output], attrs))
        # release what dies here (after the output was allocated: a pass never reads its own target)
        for v in {id(root(v)): root(v) for v in [*p.inputs, p.output] if not v.is_const}.values():
            if last.get(id(v), -1) <= step:
                free.setdefault(textures[tex_of[id(v)]], []).append(tex_of[id(v)])
    extra = {
        NAME: {
            "programs": programs,
            "textures": [{"width": t.width, "height": t.height, **({"layers": t.layers} if t.layers > 1 else {}),
                          **({"stride": t.stride} if t.stride not in (0, t.width * t.height) else {})}
                         for t in textures],
            "inputs": [tex_of[id(root(v))] for v in graph.inputs],
            "outputs": [tex_of[id(root(v))] for v in graph.outputs],
        }
    }
    return Program(NAME, graph, calls, mp, weight_alignment=ALIGNMENT, extra=extra)


BACKEND = Backend(NAME, ALIGNMENT, emit, supported, PASSES, CONVERSION_ONLY, symbolic=True)
