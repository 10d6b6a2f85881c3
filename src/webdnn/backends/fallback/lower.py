"""Lowering to the fallback backend: one kernel call per non-view node.

The fallback runtime's kernels read canonical ONNX attributes directly (see
webdnn/ops/registry.py), so lowering is a pass-through plus the memory plan.
"""

from __future__ import annotations

from webdnn.backends.common.backend import Backend
from webdnn.backends.common.descriptor import KernelCall, Program
from webdnn.backends.common.expr_attrs import cpu_attrs
from webdnn.backends.common.memory_plan import is_view, plan
from webdnn.errors import UnsupportedOperatorError, where
from webdnn.ir.graph import Graph
from webdnn.ops.registry import supported_ops
from webdnn.passes import decompose_quant, decompose_recurrent
from webdnn.passes.decompose import DECOMPOSITIONS
from webdnn.passes.runtime_control import HOST_OPS

NAME = "fallback"
ALIGNMENT = 16  # bytes; enough for every typed-array view (BigInt64Array needs 8)
# Ops that only compute shapes: they are folded at conversion and have no kernel.
CONVERSION_ONLY = frozenset({"Shape", "Size", "ConstantOfShape", "Range",
                             "HannWindow", "HammingWindow", "BlackmanWindow", "MelWeightMatrix"})


def supported() -> list[str]:
    """Ops with a kernel: those with a rule, but the folded and the decomposed ones; and those the runtime
    computes between stages (runtime_control.HOST_OPS; Compress is both)."""
    return sorted({*(op for op in supported_ops() if op not in CONVERSION_ONLY and op not in DECOMPOSITIONS),
                   *HOST_OPS})


def lower(graph: Graph) -> Program:
    ok = set(supported())
    calls: list[KernelCall] = []
    for node in graph.nodes:
        if is_view(node):
            continue
        if node.op_type not in ok:
            raise UnsupportedOperatorError(
                f"{where(node.name, node.op_type, graph.opset)}: the {NAME} backend cannot run it here "
                f"(its inputs are not constant at conversion time). Fix input shapes with --input-shape."
            )
        calls.append(KernelCall(node.op_type, node.name, list(node.inputs), list(node.outputs), cpu_attrs(node)))
    kernel_nodes = list(graph.nodes)
    return Program(NAME, graph, calls, plan(graph, ALIGNMENT, kernel_nodes), weight_alignment=ALIGNMENT)


PASSES = (("decompose_recurrent", decompose_recurrent.run), ("decompose_quant", decompose_quant.run_deferred))
BACKEND = Backend(NAME, ALIGNMENT, lower, supported, passes=PASSES,
                  conversion_only=CONVERSION_ONLY, symbolic=True)
