"""The optimization pipeline: which passes run, in what order.

Order matters: shapes (and constant folding) first so every later pass sees static
shapes and canonical nodes; identity removal before fusion so patterns are adjacent;
BatchNorm folding before activation fusion (Conv -> BN -> Relu becomes one Conv);
decomposed LayerNorm / exact GELU (as exporters below opset 17/20 write them) become one
LayerNormalization / Gelu node, which every backend runs; dead code last.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from webdnn.ir.graph import Graph
from webdnn.passes import (
    eliminate_dead,
    eliminate_identity,
    fold_batchnorm,
    fuse_activation,
    fuse_gelu,
    fuse_layernorm,
    infer_shapes,
)

PASSES: list[tuple[str, Callable[[Graph], Any]]] = [
    ("infer_shapes", infer_shapes.run),
    ("eliminate_identity", eliminate_identity.run),
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


def optimize(graph: Graph, progress: Callable[[str], None] | None = None) -> PassReport:
    report = PassReport(nodes_before=len(graph.nodes))
    for name, fn in PASSES:
        if progress:
            progress(name)
        report.results[name] = fn(graph)
    report.nodes_after = len(graph.nodes)
    return report
