"""Every op of the unary table (ops/unary_ops.py) on every backend, in headless Chromium, against
onnxruntime: standalone on random inputs of its domain and on the special values (NaN, the
infinities, signed zeros, exact halves, huge and tiny numbers), and fused into a 1×1 and a
depthwise Conv wherever the converter fuses it. The cases are tests/ops/unary_cases.py's, so
an op added to the table is tested here with no edit."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import pytest

from tests.ops.unary_cases import UNARY_CASES, fusable, unary_models
from tests.shared_page import shared_page
from webdnn.convert import convert
from webdnn.verify import compare, reference_outputs

BACKENDS = ("fallback", "wasm", "webgl", "webgpu")
GPU = ("webgl", "webgpu")
MODELS = unary_models(np.random.default_rng(5))
GPU_MODELS = unary_models(np.random.default_rng(5), gpu=True)


def _check_fusion(out: str, backend: str) -> None:
    """The activations after a Conv ran inside the Conv's kernel (no kernel of their own)."""
    with open(os.path.join(out, backend, "descriptor.json")) as f:
        names = [str(k.get("name", "")) for k in json.load(f)["kernels"]]
    for i, case in enumerate(UNARY_CASES):
        if not fusable(case) or f"c{i}_conv" not in names:  # (not this model's case)
            continue
        for kind in ("conv", "dw"):
            own = [n for n in names if n.startswith(f"c{i}_{kind}_{case.op}")]
            assert not own, f"{backend}: {case.name} after a {kind} was not fused: kernels {own}"


@pytest.fixture(scope="module")
def page(browser: Any) -> Any:
    """One harness page for every model and backend (tests/shared_page.py): a page of its own cost each 0.6 s more."""
    with shared_page(browser) as p:
        yield p


@pytest.mark.browser
@pytest.mark.parametrize("model_index", range(len(MODELS)), ids=[m.graph.name for m, _ in MODELS])
@pytest.mark.parametrize("backend", BACKENDS)
def test_unary_table_matches_onnxruntime(backend: str, model_index: int, page: Any, tmp_path: Any) -> None:
    model, feeds = (GPU_MODELS if backend in GPU else MODELS)[model_index]
    out = str(tmp_path / "out")
    convert(model, out, [backend])
    _check_fusion(out, backend)
    ref = reference_outputs(model, feeds)
    r = page.run_model(out, feeds, [backend])
    assert r.backend == backend
    bad = [f"{k}: max abs err {c.max_abs_err:.3g} {c.detail}"
           for k, want in ref.items() if not (c := compare(k, want, r.outputs.get(k))).ok]
    assert not bad, "\n".join(bad)
