"""Run many converted models once each, in a browser (Chromium, Firefox, WebKit) or Node: the conformance
runner's engine.

Both runners yield, in job order, a RunResult or the WebDNNError the job ended with, and
survive a job that hangs (per-job timeout) or crashes the runtime.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from webdnn.browser.driver import Browser, RunResult
from webdnn.errors import WebDNNError

RUNTIMES = ("chromium", "firefox", "webkit", "node")
BROWSERS = ("chromium", "firefox", "webkit")
Outcome = RunResult | WebDNNError


@dataclass
class ModelJob:
    model_dir: str  # a converted model (webdnn.convert)
    inputs: Mapping[str, np.ndarray]


def run_batch(runtime: str, jobs: Sequence[ModelJob], backend_order: Sequence[str], timeout_s: float,
              browser: Browser | None = None) -> Iterator[Outcome]:
    """`browser`: a running session of the runtime's browser to use (default: start one for the batch)."""
    if not jobs:
        return
    if runtime == "node":
        from webdnn.conformance.node_batch import run_models_node

        yield from run_models_node(jobs, backend_order, timeout_s)
    elif runtime in BROWSERS:
        from webdnn.conformance.chromium_batch import run_models_chromium

        if browser is not None:
            if browser.engine != runtime:
                raise WebDNNError(f"a {browser.engine} session was given for runtime {runtime}")
            yield from run_models_chromium(browser, jobs, backend_order, timeout_s)
            return
        with Browser(engine=runtime) as own:
            yield from run_models_chromium(own, jobs, backend_order, timeout_s)
    else:
        raise WebDNNError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
