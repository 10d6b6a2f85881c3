"""The webgpu-fp16 descriptor: the webgpu lowering with float32 tensors stored as f16.

Asked for by converting for backend `webgpu-fp16` and loading with it first in `backendOrder`;
the runtime offers it only on adapters with the `shader-f16` feature, so a page lists
["webgpu-fp16", "webgpu", ...] and gets fp32 elsewhere. Every float32 weight and intermediate is
stored as f16 (half the download, memory and bandwidth); kernels are the fp32 ones, with every
load of such a tensor converted to f32 and every store rounded to f16 (wgsl.Shader.finish), so
arithmetic, accumulation and index math stay f32/i32/u32. The graph's inputs and outputs (and
the views that share their memory) stay float32, so the API is unchanged. Values beyond f16's
range (65504) become infinities: models whose activations grow that large need fp32.
"""

from __future__ import annotations

import numpy as np

from webdnn.backends.common.memory_plan import is_view
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Value

NAME = "webgpu-fp16"
F16_MAX = 65504.0


def half_values(graph: Graph) -> set[int]:
    """ids of the float32 values to store as f16: all but the graph's inputs and outputs and
    whatever shares memory with them through views."""
    parent: dict[int, int] = {}

    def find(i: int) -> int:
        while parent.get(i, i) != i:
            parent[i] = parent.get(parent[i], parent[i])
            i = parent[i]
        return i

    for n in graph.nodes:
        x = n.input(0)
        if is_view(n) and x is not None:
            parent[find(id(n.outputs[0]))] = find(id(x))
    pinned = {find(id(v)) for v in [*graph.inputs, *graph.outputs]}
    # a constant that f16 cannot hold (e.g. an attention mask's -3.4e38, which would become -inf
    # and then NaN where it is multiplied by 0) stays float32, and so does everything viewing it
    pinned |= {find(id(v)) for v in graph_values(graph) if v.const is not None and not _fits_f16(v.const)}
    return {id(v) for v in graph_values(graph) if v.dtype == DType.FLOAT32 and find(id(v)) not in pinned}


def _fits_f16(data: np.ndarray) -> bool:
    finite = data[np.isfinite(data)]
    return finite.size == 0 or float(np.abs(finite).max()) <= F16_MAX


def store_half(values: list[Value], half: set[int]) -> None:
    """Retype the f16-stored values (after code generation, which saw them as float32) so the
    descriptor lists them as float16 and writes their weights as float16."""
    for v in values:
        if id(v) in half and v.dtype == DType.FLOAT32:
            v.dtype = DType.FLOAT16


def graph_values(graph: Graph) -> list[Value]:
    seen: dict[int, Value] = {}
    for n in graph.nodes:
        for v in [*n.inputs, *n.outputs]:
            if v is not None:
                seen.setdefault(id(v), v)
    return list(seen.values())
