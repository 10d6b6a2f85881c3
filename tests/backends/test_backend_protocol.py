"""The backend contract (webdnn/backends/common/backend.py), checked for every backend: each op
with a shape rule has a kernel there, is declared folded at conversion, or is decomposed into
ops with kernels (passes/decompose.py); names, alignments and
passes are well formed; and the runtime build registers a kernel for every op the fallback
lowering emits (or runs it by its expression program)."""

from __future__ import annotations

import pytest

from webdnn.backends import AUTO_BACKENDS, BACKENDS
from webdnn.ops.registry import supported_ops
from webdnn.passes.decompose import DECOMPOSITIONS


@pytest.mark.parametrize("name", list(BACKENDS))
def test_every_op_has_a_kernel_or_is_folded(name: str) -> None:
    b = BACKENDS[name]
    missing = set(supported_ops()) - set(b.supported()) - b.conversion_only - set(DECOMPOSITIONS)
    assert not missing, f"{name} has neither a kernel nor a conversion-time fold for {sorted(missing)}"
    assert not (set(b.supported()) & b.conversion_only), "an op is both a kernel and folded"


@pytest.mark.parametrize("name", list(BACKENDS))
def test_record_is_well_formed(name: str) -> None:
    b = BACKENDS[name]
    assert b.name == name
    assert b.alignment > 0 and b.alignment & (b.alignment - 1) == 0
    assert len({p for p, _ in b.passes}) == len(b.passes) and all(callable(f) for _, f in b.passes)
    assert (name in AUTO_BACKENDS) != b.opt_in
    # LSTM/GRU/RNN are unrolled by each backend's own pass (a backend with a kernel keeps some)
    assert "decompose_recurrent" in {p for p, _ in b.passes}


@pytest.mark.node
def test_runtime_registers_every_fallback_kernel() -> None:
    from webdnn.conformance.docs import runtime_kernel_gaps
    from webdnn.conformance.support import backend_ops

    gaps = runtime_kernel_gaps(backend_ops("fallback"))
    assert gaps is not None, "the runtime build or Node is missing (make runtime)"
    assert gaps == set(), f"ops lowered for fallback with no kernel in runtime/dist: {sorted(gaps)}"
