"""Backends: each lowers the optimized IR to a Program its runtime half executes.

Where to add a backend: a package `webdnn/backends/<name>/` with `lower(graph) ->
Program`, registered here, plus `runtime/src/backends/<name>/` (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable

from webdnn.backends.common.descriptor import Program
from webdnn.backends.fallback import lower as fallback
from webdnn.backends.wasm import lower as wasm
from webdnn.backends.webgl import lower as webgl
from webdnn.backends.webgpu import lower as webgpu
from webdnn.ir.graph import Graph

BACKENDS: dict[str, Callable[[Graph], Program]] = {
    "fallback": fallback.lower,
    "wasm": wasm.lower,
    "webgl": webgl.lower,
    "webgpu": webgpu.lower,
    "webgpu-fp16": webgpu.lower_fp16,  # opt-in: f16 storage where the adapter has shader-f16
}

# What `convert(backends=None)` (every backend that can run the model) and the operator tables
# cover: opt-in variants of another backend are left out.
OPT_IN = frozenset({"webgpu-fp16"})
AUTO_BACKENDS = [b for b in BACKENDS if b not in OPT_IN]

DEFAULT_BACKENDS = ["fallback"]
