"""The wasm backend's threads: any thread count gives the same outputs, in Node and Chromium.

Every kernel computes each output element with the same sequence of operations whatever
part of the work a thread takes, so runs with 1, 2 and 3 threads (3 on a 2-core machine
exercises uneven splits) must be bit-identical, and all within fp32 tolerance of
onnxruntime. A page that is not cross-origin isolated has no shared memory: it runs
single-threaded with the same results and says why in Runner.backendInfo.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.zoo_cases import Conversions, Prepared, assert_matches
from webdnn.errors import WebDNNError

MODELS = ["squeezenet1_1", "mobilenet_v2", "minilm"]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):  # type: ignore[no-untyped-def]
    conversions = Conversions(tmp_path_factory, keep=len(MODELS))

    def get(name: str) -> Prepared:
        return conversions.get(name, name, ["wasm"])

    yield get
    conversions.close()


def _identical(a: dict[str, np.ndarray], b: dict[str, np.ndarray], label: str) -> None:
    for k in a:
        assert np.array_equal(a[k], b[k], equal_nan=True), f"{label}: output {k} differs"


@pytest.mark.node
@pytest.mark.parametrize("name", MODELS)
def test_thread_counts_agree_in_node(name: str, converted) -> None:  # type: ignore[no-untyped-def]
    from webdnn.browser.node import run_model_node

    out, inputs, ref = converted(name)
    runs = {}
    for threads in (1, 2, 3):
        r = run_model_node(out, inputs, ["wasm"], repeat=2, backend_options={"wasm": {"threads": threads}})
        assert r.backend_info["threads"] == threads
        assert_matches(ref, r.outputs, f"{threads} threads: ")
        runs[threads] = r.outputs
    _identical(runs[1], runs[2], f"{name}, 2 threads vs 1")
    _identical(runs[1], runs[3], f"{name}, 3 threads vs 1")


@pytest.mark.node
def test_bad_thread_option_is_a_clear_error(converted) -> None:  # type: ignore[no-untyped-def]
    from webdnn.browser.node import run_model_node

    out, inputs, _ = converted("squeezenet1_1")
    with pytest.raises(WebDNNError, match="threads must be a positive integer"):
        run_model_node(out, inputs, ["wasm"], backend_options={"wasm": {"threads": 0}})


@pytest.mark.browser
def test_threads_in_chromium_and_without_isolation(converted, browser) -> None:  # type: ignore[no-untyped-def]
    out, inputs, ref = converted("mobilenet_v2")
    iso = browser.run_model(out, inputs, ["wasm"], repeat=2, backend_options={"wasm": {"threads": 2}})
    assert iso.cross_origin_isolated
    assert iso.backend_info["threads"] == 2
    assert iso.backend_info["simd"] == "relaxed"  # Chromium has relaxed SIMD
    assert_matches(ref, iso.outputs, "isolated: ")
    plain = browser.run_model(out, inputs, ["wasm"], repeat=2, isolate=False,
                              backend_options={"wasm": {"threads": 2}})
    assert not plain.cross_origin_isolated
    assert plain.backend_info["threads"] == 1
    assert "cross-origin isolated" in plain.backend_info["threadsNote"]
    _identical(iso.outputs, plain.outputs, "not isolated vs isolated")


@pytest.mark.browser
def test_threads_under_strict_csp(converted, browser) -> None:  # type: ignore[no-untyped-def]
    """The worker script comes from the runtime's own origin: allowed by script-src 'self'."""
    out, inputs, ref = converted("squeezenet1_1")
    r = browser.run_model(out, inputs, ["wasm"], csp=True, backend_options={"wasm": {"threads": 2}})
    assert r.backend_info["threads"] == 2
    assert not r.csp_violations
    assert_matches(ref, r.outputs)
