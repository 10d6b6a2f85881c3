"""Lowering to the webgpu backend: one or more WGSL compute dispatches per non-view node.

Every runtime tensor lives in one arena GPUBuffer placed by the memory plan with offsets
aligned to 256 bytes (WebGPU's minStorageBufferOffsetAlignment), so each tensor can be
bound at its own offset; weights live in a second buffer, also 256-aligned. Each node's
generator (one module per op family) writes a complete shader with shapes baked in.

Descriptor additions (format version 1, backend "webgpu"):
  shaders: [{code, workgroupSize: [x, y, z], workgroupStorage: bytes}]   deduplicated WGSL,
      entry point `main`; arena bindings are `var<storage, read_write>`, weights `read`
  arena.alignment = weights.alignment = 256
Each kernel call is one dispatch: `inputs` then `outputs` are its bindings 0, 1, ... of
group 0, each the whole byte range of that tensor (rounded up to 4 bytes), in the arena
or the weights buffer; attrs = {shader: index, workgroups: [x, y, z]}. `op` and `name`
are the node's (`name#i` when a node takes several dispatches, e.g. Concat: one per input).
Before planning, chains of elementwise nodes become one FusedElementwise node each
(fuse_elementwise.py): one dispatch, named after the group's last node; a group (or single
elementwise node) that alone reads a float32 Conv/MatMul/Gemm output is then folded into that
kernel's store (fuse_epilogues: op and name stay the host's, its bindings gain the group's other
operands, and it writes the group's output). The plan places
eligible Concat inputs inside the Concat's output (memory_plan alias_concat), so their
producers write their slice and the Concat dispatches only for what it still copies; a slice
off a 256-byte boundary is bound through a window tensor starting at the boundary below
(`<name>@-<bytes>`, wgsl.Ctx.bound), the shift baked into the shader's indices.
The runtime half is runtime/src/backends/webgpu/ (plan.ts validates all of the above).
"""

from __future__ import annotations

from typing import Any

from webdnn.backends.common.backend import Backend
from webdnn.backends.common.descriptor import KernelCall, Program
from webdnn.backends.common.memory_plan import is_view, plan
from webdnn.backends.fallback.lower import CONVERSION_ONLY  # shape-only ops, folded for every backend
from webdnn.backends.webgpu import conv, elementwise, matmul, pool, reduce, resize, tensor  # noqa: F401 (registers)
from webdnn.backends.webgpu import fp16 as fp16_
from webdnn.backends.webgpu.fuse_elementwise import FUSED, fuse_elementwise, fuse_epilogues, fused
from webdnn.backends.webgpu.packed_weights import BITS as PACKED_BITS
from webdnn.backends.webgpu.wgsl import GENERATORS, Ctx, Unsupported
from webdnn.errors import UnsupportedOperatorError, where
from webdnn.ir.graph import Graph
from webdnn.ir.symbolic import SymbolicShapeError, sized_source
from webdnn.passes import decompose_quant, decompose_recurrent
from webdnn.passes.pipeline import run_passes
from webdnn.passes.runtime_control import HOST_OPS

NAME = "webgpu"
ALIGNMENT = 256  # minStorageBufferOffsetAlignment: every binding starts at a multiple of it


def supported() -> list[str]:
    """Its kernels' ops, and those the runtime computes between stages (runtime_control.HOST_OPS)."""
    return sorted({*GENERATORS, *HOST_OPS})


# this backend's graph rewrites (Backend.passes): recurrent layers unrolled, elementwise chains into
# one kernel each, then a group that alone reads a Conv/MatMul/Gemm output into that kernel's store
PASSES = (("decompose_recurrent", decompose_recurrent.run), ("decompose_quant", decompose_quant.run_deferred),
          ("fuse_elementwise", fuse_elementwise),
          ("fuse_epilogues", fuse_epilogues))


def lower(graph: Graph, fp16: bool = False) -> Program:
    """The webgpu descriptor of a graph (rewritten by PASSES first); with `fp16`, the webgpu-fp16
    one (fp16.py: f16 storage, f32 math)."""
    run_passes(graph, PASSES)
    return emit(graph, fp16)


@sized_source  # symbolic sizes in the generated shaders become placeholders
def emit(graph: Graph, fp16: bool = False, weights: str = "fp32") -> Program:
    """The descriptor of a graph PASSES rewrote; under `weights` "int8" or "int4" the GEMM weights stay packed
    (packed_weights.py)."""
    half = fp16_.half_values(graph) if fp16 else set()
    size = (lambda v: 2 if id(v) in half else v.dtype.itemsize) if half else None
    # producers write into Concat slices
    mp = plan(graph, ALIGNMENT, list(graph.nodes), alias_concat=True, itemsize=size)
    ctx = Ctx(graph, mp, half, weight_bits=PACKED_BITS.get(weights, 0))
    shaders: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    calls: list[KernelCall] = []
    for node in list(graph.nodes):
        if is_view(node):
            continue
        gen = fused if node.op_type == FUSED else GENERATORS.get(node.op_type)
        if gen is None:
            raise UnsupportedOperatorError(
                f"{where(node.name, node.op_type, graph.opset)}: the {NAME} backend has no WGSL kernel for "
                f"{node.op_type} yet; convert for another backend (e.g. --backends fallback)"
            )
        if all(v.size == 0 for v in node.outputs):
            continue
        try:
            dispatches = gen(ctx, node)
        except Unsupported as e:
            raise UnsupportedOperatorError(
                f"{where(node.name, node.op_type, graph.opset)}: the {NAME} backend does not support it here: {e}"
            ) from None
        except SymbolicShapeError as e:
            raise UnsupportedOperatorError(
                f"{where(node.name, node.op_type, graph.opset)}: the {NAME} backend cannot run it at a size that "
                f"varies with the input ({e}); fix the dims it depends on with --input-shape"
            ) from None
        for i, d in enumerate(dispatches):
            if d.code not in index:
                index[d.code] = len(shaders)
                shaders.append(
                    {"code": d.code, "workgroupSize": list(d.workgroup_size), "workgroupStorage": d.workgroup_bytes}
                )
            name = node.name if len(dispatches) == 1 else f"{node.name}#{i}"
            attrs = {"shader": index[d.code], "workgroups": list(d.workgroups)}
            calls.append(KernelCall(node.op_type, name, list(d.inputs), list(d.outputs), attrs))
    if fp16:
        called = [v for c in calls for v in [*c.inputs, *c.outputs] if v is not None]
        fp16_.store_half([*fp16_.graph_values(graph), *called], ctx.half)
    return Program(fp16_.NAME if fp16 else NAME, graph, calls, mp, weight_alignment=ALIGNMENT,
                   extra={"shaders": shaders})


def lower_fp16(graph: Graph) -> Program:
    return lower(graph, fp16=True)


BACKEND = Backend(NAME, ALIGNMENT, emit, supported, PASSES, CONVERSION_ONLY, symbolic=True,
                  emit_encoded=lambda g, w: emit(g, weights=w))
BACKEND_FP16 = Backend(fp16_.NAME, ALIGNMENT, lambda g: emit(g, fp16=True), supported, PASSES, CONVERSION_ONLY,
                       opt_in=True, emit_encoded=lambda g, w: emit(g, fp16=True, weights=w))
