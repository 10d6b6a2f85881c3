"""The whole ONNX node conformance suite on wasm and webgl in Firefox and WebKit (about 1.5 min each).

The same rule as test_full_suite.py in Chromium: any failing case not in known_failures.txt is a regression
(in the engine's JavaScript or wasm, its WebGL, or the runtime's handling of either). The per-engine
summaries are stored in build/conformance/<backend>-<engine>.json and printed. Each backend's cases are converted
once for both engines (the conversion is runtime-independent).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conformance.test_full_suite import known_failures
from webdnn.conformance.results import CONVERSION_ERROR, FAILED, PASSED, update_store
from webdnn.conformance.run import PreparedSuite, prepare_suite, run_prepared
from webdnn.conformance.summary import format_failures

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def prepared() -> Iterator[Callable[[str], PreparedSuite]]:
    """The suite of a backend, converted on first use and kept until the module ends (a few MiB)."""
    suites: dict[str, PreparedSuite] = {}

    def get(backend: str) -> PreparedSuite:
        if backend not in suites:
            suites[backend] = prepare_suite(backend)
        return suites[backend]

    yield get
    for s in suites.values():
        s.close()


@pytest.mark.parametrize("backend", ["wasm", "webgl"])
def test_no_new_conformance_failures_in_engine(engine: Any, backend: str,
                                                prepared: Callable[[str], PreparedSuite]) -> None:
    report = run_prepared(prepared(backend), engine.engine, browser=engine)
    update_store(report)
    counts = {s: sum(r.status == s for r in report.results) for s in {r.status for r in report.results}}
    print(f"{backend} in {engine.version}: {counts}")
    failing = {r.name for r in report.results if r.status in (FAILED, CONVERSION_ERROR)}
    new = failing - known_failures(backend)
    assert not new, f"{len(new)} new conformance failures in {engine.version}: {sorted(new)}\n{format_failures(report)}"
    assert counts.get(PASSED, 0) > 1300, counts  # the suite ran (a broken page would fail every case)
