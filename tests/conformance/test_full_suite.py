"""The whole ONNX node conformance suite on fallback in Chromium (~25 s).

Fails on any failing case not listed in known_failures.txt (a regression); listed cases
that pass now are reported so the list only shrinks.
"""

from __future__ import annotations

import pathlib
import warnings

import pytest

from webdnn.conformance.results import CONVERSION_ERROR, FAILED
from webdnn.conformance.run import run_conformance
from webdnn.conformance.summary import format_failures

KNOWN = pathlib.Path(__file__).with_name("known_failures.txt")


def known_failures(backend: str = "fallback") -> set[str]:
    """The listed cases that fail on `backend`: a line `name` fails everywhere, `name [webgl, ...]` on those
    backends only."""
    out = set()
    for line in KNOWN.read_text().splitlines():
        name, _, only = line.split("#", 1)[0].strip().partition("[")
        backends = {b.strip() for b in only.rstrip("] ").split(",")} if only else None
        if name.strip() and (backends is None or backend in backends):
            out.add(name.strip())
    return out


@pytest.mark.slow
@pytest.mark.browser
def test_no_new_conformance_failures(browser: object) -> None:
    report = run_conformance("fallback", "chromium", browser=browser)  # type: ignore[arg-type]
    failing = {r.name for r in report.results if r.status in (FAILED, CONVERSION_ERROR)}
    known = known_failures()
    fixed = known - failing
    if fixed:
        warnings.warn(f"known conformance failures now pass; remove them from {KNOWN.name}: {sorted(fixed)}",
                      stacklevel=1)
    new = failing - known
    assert not new, f"{len(new)} new conformance failures: {sorted(new)}\n{format_failures(report)}"
