"""The optimization pipeline: which passes run, in what order.

Order matters: shapes (and constant folding) first so every later pass sees static
shapes and canonical nodes; QDQ patterns then become the integer ops they stand for (before the
quantization ops are decomposed); ops without kernels (GridSample) then become ops with kernels;
identity removal before fusion so patterns are adjacent; a Cast of an Expand's output moves to its
input (the cast of the small tensor); a zero Pad before a Conv becomes the
Conv's own padding;
BatchNorm folding before activation fusion (Conv -> BN -> Relu becomes one Conv);
decomposed LayerNorm / exact GELU (as exporters below opset 17/20 write them) become one
LayerNormalization / Gelu node, which every backend runs; dead code last.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from webdnn.ir.graph import Graph
from webdnn.passes import (
    cast_before_expand,
    decompose,
    eliminate_dead,
    eliminate_identity,
    fold_batchnorm,
    fuse_activation,
    fuse_gelu,
    fuse_layernorm,
    fuse_pad,
    fuse_qdq,
    infer_shapes,
)

PASSES: list[tuple[str, Callable[[Graph], Any]]] = [
    ("infer_shapes", infer_shapes.run),
    ("fuse_qdq", fuse_qdq.run),
    ("decompose", decompose.run),
    ("eliminate_identity", eliminate_identity.run),
    ("cast_before_expand", cast_before_expand.run),
    ("fuse_pad", fuse_pad.run),
    ("fold_batchnorm", fold_batchnorm.run),
    ("fuse_activation", fuse_activation.run),
    ("fuse_layernorm", fuse_layernorm.run),
    ("fuse_gelu", fuse_gelu.run),
    ("eliminate_dead", eliminate_dead.run),
]


@dataclass
class PassReport:
    results: dict[str, Any] = field(default_factory=dict)
    nodes_before: int = 0
    nodes_after: int = 0


def run_passes(graph: Graph, passes: Sequence[tuple[str, Callable[[Graph], Any]]],
               progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run `passes` in order; each one's result by name. A backend's own rewrites (its
    `Backend.passes`, backends/common/backend.py) run through here after `optimize`."""
    results: dict[str, Any] = {}
    for name, fn in passes:
        if progress:
            progress(name)
        results[name] = fn(graph)
    return results


def optimize(graph: Graph, progress: Callable[[str], None] | None = None) -> PassReport:
    report = PassReport(nodes_before=len(graph.nodes))
    report.results = run_passes(graph, PASSES, progress)
    report.nodes_after = len(graph.nodes)
    return report
