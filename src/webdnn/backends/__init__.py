"""Backends: each lowers the optimized IR to a Program its runtime half executes.

Every backend is one `Backend` record (common/backend.py: name, alignment, supported ops, ops
folded at conversion, its own graph passes, emission), defined at the end of its
`webdnn/backends/<name>/lower.py` and listed here. Where to add a backend: a package
`webdnn/backends/<name>/` with its `BACKEND`, listed below, plus `runtime/src/backends/<name>/`
(docs/architecture.md).
"""

from __future__ import annotations

from webdnn.backends.common.backend import Backend
from webdnn.backends.fallback.lower import BACKEND as FALLBACK
from webdnn.backends.wasm.lower import BACKEND as WASM
from webdnn.backends.webgl.lower import BACKEND as WEBGL
from webdnn.backends.webgpu.lower import BACKEND as WEBGPU
from webdnn.backends.webgpu.lower import BACKEND_FP16 as WEBGPU_FP16

BACKENDS: dict[str, Backend] = {b.name: b for b in (FALLBACK, WASM, WEBGL, WEBGPU, WEBGPU_FP16)}

# What `convert(backends=None)` (every backend that can run the model) and the operator tables
# cover: opt-in variants of another backend are left out.
OPT_IN = frozenset(b.name for b in BACKENDS.values() if b.opt_in)
AUTO_BACKENDS = [b for b in BACKENDS if b not in OPT_IN]

DEFAULT_BACKENDS = ["fallback"]
