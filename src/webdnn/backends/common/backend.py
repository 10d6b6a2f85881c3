"""The backend protocol: what the converter needs to know about a backend, in one record.

Each backend package (`webdnn/backends/<name>/lower.py`) defines `BACKEND = Backend(...)`, and
`webdnn/backends/__init__.py` lists them. Compiling for a backend is its own graph rewrites
(`passes`, run on the backend's copy of the optimized graph after the shared pipeline of
passes/pipeline.py) followed by `emit`, which turns the rewritten graph into a `Program`
(kernel calls, memory plan, extra descriptor fields) without changing the graph's meaning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from webdnn.backends.common.descriptor import Program
from webdnn.errors import UnsupportedOperatorError
from webdnn.ir.graph import Graph
from webdnn.ir.symbolic import is_static

GraphPass = tuple[str, Callable[[Graph], Any]]


@dataclass(frozen=True)
class Backend:
    name: str  # the descriptor's backend name (the runtime's, runtime/src/backends/<name>/)
    alignment: int  # byte alignment of every tensor in its arena and weights
    emit: Callable[[Graph], Program]
    supported: Callable[[], list[str]]  # ops it has kernels for
    passes: tuple[GraphPass, ...] = ()  # its own graph rewrites, in order
    conversion_only: frozenset[str] = frozenset()  # ops with a rule but no kernel: folded at conversion
    opt_in: bool = False  # a variant converted only when asked for (not by default, not in the op tables)
    symbolic: bool = False  # runs models whose sizes are expressions of input symbols (dynamic shapes)
    # emit for a weight encoding (`--weights`) whose stored form some kernels read directly, e.g. webgpu's
    # int8 GEMM weights unpacked in the shader; None: the runtime decodes every weight at load
    emit_encoded: Callable[[Graph, str], Program] | None = None

    def compile(self, graph: Graph, progress: Callable[[str], None] | None = None, weights: str = "fp32") -> Program:
        """`graph` (this backend's own copy: the passes rewrite it) as a Program; `weights`: the weight
        encoding the descriptor will be written with (backends/common/weight_encoding.py)."""
        from webdnn.passes.pipeline import run_passes

        if not self.symbolic and (any(not is_static(v.shape) for v in graph.inputs) or graph.value_inputs):
            dyn = ", ".join([*(f"{v.name}=[{', '.join(str(d) for d in v.shape or ())}]" for v in graph.inputs
                               if not is_static(v.shape)), *(f"value input {n}" for n in graph.value_inputs)])
            raise UnsupportedOperatorError(
                f"the {self.name} backend does not run models with dynamic dims yet ({dyn}); convert for it with "
                "every dim fixed (--fixed fixes the model's own to 1, --input-shape NAME=D1,D2,... to any size), "
                "or use a backend that does (fallback)"
            )
        run_passes(graph, self.passes, progress)
        return self.emit(graph) if self.emit_encoded is None else self.emit_encoded(graph, weights)
