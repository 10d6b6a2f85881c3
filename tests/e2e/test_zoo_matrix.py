"""Every zoo model on every backend and runtime, vs onnxruntime: one matrix (backend × model ×
runtime) instead of one file per backend. The models, and the sizes each backend runs them at,
are in tests/zoo_cases.py (ZOO_MODELS, BACKEND_RUNS).

fp32 tolerance: |ours - ref| <= 1e-4 * max(1, |ref|) elementwise. The GPU backends run on
SwiftShader (the GPU emulated on the CPU), so HED runs smaller there, MiniLM with 2 layers; the biggest models
are marked software_gpu_heavy (`make test` runs them, `make test-quick` does not). On every backend the big
models run once and the small ones twice (the second run reuses the arena: the same code for every model, and
a second run of VGG16 on fallback alone took 15 s).
"""

from __future__ import annotations

import pytest

from tests.zoo_cases import BACKEND_RUNS, BIG_MODELS, ZOO_MODELS, Conversions, Prepared, assert_matches


def _cases() -> list[object]:
    cases: list[object] = []
    # a model's backends one after another (they share its build and onnxruntime's outputs where their build
    # arguments agree), the runtimes of one conversion one after another
    for name in ZOO_MODELS:
        for backend, spec in BACKEND_RUNS.items():
            for runtime in spec.runtimes:
                marks = [pytest.mark.slow, pytest.mark.node if runtime == "node" else pytest.mark.browser]
                if name in spec.heavy:
                    marks.append(pytest.mark.software_gpu_heavy)
                cases.append(pytest.param(backend, runtime, name, marks=marks, id=f"{backend}-{runtime}-{name}"))
    return cases


@pytest.fixture(scope="module")
def converted(tmp_path_factory):  # type: ignore[no-untyped-def]
    """One conversion shared by the runtimes of one backend, deleted when the next is made."""
    conversions = Conversions(tmp_path_factory)

    def get(backend: str, name: str) -> Prepared:
        return conversions.get((backend, name), name, [backend], BACKEND_RUNS[backend].build_args.get(name))

    yield get
    conversions.close()


@pytest.mark.parametrize(("backend", "runtime", "name"), _cases())
def test_zoo_model(backend: str, runtime: str, name: str, converted, request) -> None:  # type: ignore[no-untyped-def]
    out, inputs, ref = converted(backend, name)
    repeat = 0 if name in BIG_MODELS else 1
    if runtime == "node":
        from webdnn.browser.node import run_model_node

        r = run_model_node(out, inputs, [backend], repeat=repeat)
    else:
        browser = request.getfixturevalue("browser")
        r = browser.run_model(out, inputs, [backend], repeat=repeat)
    assert r.backend == backend
    assert_matches(ref, r.outputs, f"{backend}/{runtime}/{name}/")
