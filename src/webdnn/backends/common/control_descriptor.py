"""The control descriptor of a model with control flow decided at run time (passes/runtime_control.py):
one ordinary descriptor per stage, in `stage-K/` under the backend's directory, and a descriptor.json
that lists them with the program choosing between them. Its inputs, outputs and `tensors` have the
form of an ordinary descriptor's, so the runtime's input checks and output wrapping are the same;
docs/descriptor-format.md describes the program.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from webdnn.backends.common.descriptor import write
from webdnn.ir.graph import Graph
from webdnn.ir.symbolic import hint, to_json
from webdnn.passes.runtime_control import Plan

FORMAT = "webdnn-control"
VERSION = 1


def write_staged(graph: Graph, plan: Plan, backend: str, compile_stage: Callable[[Graph], Any],
                 directory: str, encoding: str = "fp32") -> dict[str, Any]:
    """Compile and write every stage of `plan`, then the control descriptor; a manifest entry (with
    `kernels`, `arena_bytes`, `naive_bytes` summed over the stages for the conversion report)."""
    os.makedirs(directory, exist_ok=True)
    total, kernels, arena, naive = 0, 0, 0, 0
    stages = []
    for k, g in enumerate(plan.stages):
        program = compile_stage(g)
        entry = write(program, os.path.join(directory, f"stage-{k}"), encoding)
        total += int(entry["byteLength"])
        kernels += len(program.kernels)
        arena += hint(program.plan.arena_size)  # a stage sized by a count: at the count's bound
        naive += hint(program.plan.naive_size)
        stages.append(f"stage-{k}/descriptor.json")
    io = [*graph.inputs, *graph.outputs]
    desc = {
        "format": FORMAT,
        "version": VERSION,
        "backend": backend,
        "model": graph.name,
        "inputs": [{"name": v.name, "tensor": i} for i, v in enumerate(graph.inputs)],
        "outputs": [{"name": v.name, "tensor": len(graph.inputs) + i} for i, v in enumerate(graph.outputs)],
        # an output sized by the data (after a NonZero) has dims that are expressions of the count symbols:
        # written as the manifest writes them; the runtime takes the dims each run's stages produce
        "tensors": [{"name": v.name, "dtype": v.dtype.value if v.dtype else "float32",
                     "shape": [to_json(d) for d in v.shape or ()]} for v in io],
        "stages": stages,
        "program": plan.steps,
    }
    path = os.path.join(directory, "descriptor.json")
    with open(path, "w") as f:
        json.dump(desc, f, separators=(",", ":"), allow_nan=False)
    total += os.path.getsize(path)
    return {"descriptor": f"{backend}/descriptor.json", "byteLength": total,
            "kernels": kernels, "arena_bytes": arena, "naive_bytes": naive}
