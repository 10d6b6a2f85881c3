"""Run the ONNX node conformance cases on a WebDNN backend.

Each case is classified (not supported / conversion error) or converted into a scratch
directory; the converted cases then run as one batch: one Chromium session, one page and
one static server (or one Node process), with a per-case timeout. Outputs are checked
against ONNX's expected outputs (check.py).
"""

from __future__ import annotations

import datetime
import fnmatch
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence

import onnx

from webdnn.browser.driver import ModelJob, RunResult
from webdnn.conformance.cases import DEFAULT_DIR, Case, load_cases
from webdnn.conformance.check import check_outputs
from webdnn.conformance.results import CONVERSION_ERROR, FAILED, PASSED, UNSUPPORTED, CaseResult, Report
from webdnn.conformance.support import backend_ops, unsupported_reason
from webdnn.errors import UnsupportedOperatorError, WebDNNError

RUNTIMES = ("chromium", "node")
Say = Callable[[str], None]


def select_cases(cases: Iterable[Case], ops: Sequence[str] | None = None, patterns: Sequence[str] | None = None
                 ) -> list[Case]:
    """Cases of the given ops (the op under test, any case) and/or names matching a glob."""
    wanted = {o.lower() for o in ops or ()}
    return [
        c for c in cases
        if (not wanted or c.op.lower() in wanted)
        and (not patterns or any(fnmatch.fnmatchcase(c.name, p) or p in c.name for p in patterns))
    ]


def run_conformance(
    backend: str = "fallback",
    runtime: str = "chromium",
    ops: Sequence[str] | None = None,
    patterns: Sequence[str] | None = None,
    cases_dir: str = DEFAULT_DIR,
    timeout_s: float = 20.0,
    progress: Say | None = None,
) -> Report:
    if runtime not in RUNTIMES:
        raise WebDNNError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    say = progress or (lambda _m: None)
    t0 = time.perf_counter()
    cases = select_cases(load_cases(cases_dir), ops, patterns)
    say(f"{len(cases)} cases (onnx {onnx.__version__}), backend {backend}, runtime {runtime}")
    claim = backend_ops(backend)
    results: dict[str, CaseResult] = {}
    work = tempfile.mkdtemp(prefix="webdnn-conformance-")
    # The converter warns for every zero-sized or dynamic input dim; the cases report it anyway.
    logger = logging.getLogger("webdnn")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        runnable: list[tuple[Case, str]] = []
        for case in cases:
            reason = unsupported_reason(case, claim)
            if reason:
                results[case.name] = _result(case, UNSUPPORTED, reason)
                continue
            out, failure = _convert(case, backend, work)
            if failure:
                results[case.name] = failure
            else:
                runnable.append((case, out))
        t1 = time.perf_counter()
        say(f"classified and converted in {t1 - t0:.1f} s: {len(runnable)} to run")
        jobs = [ModelJob(out, case.input_arrays()) for case, out in runnable]
        for (case, _), outcome in zip(runnable, _run_batch(runtime, jobs, backend, timeout_s), strict=True):
            results[case.name] = _judge(case, outcome)
        say(f"ran {len(runnable)} cases in {time.perf_counter() - t1:.1f} s")
    finally:
        logger.setLevel(level)
        shutil.rmtree(work, ignore_errors=True)
    return Report(backend, runtime, onnx.__version__, datetime.date.today().isoformat(), time.perf_counter() - t0,
                  [results[c.name] for c in cases])


def _convert(case: Case, backend: str, work: str) -> tuple[str, CaseResult | None]:
    from webdnn.convert import convert

    out = f"{work}/{case.name}"
    try:
        convert(case.model_path, out, backends=[backend])
    except UnsupportedOperatorError as e:
        return out, _result(case, UNSUPPORTED, short(str(e)))
    except Exception as e:  # any converter bug is a result of the case, not the end of the run
        return out, _result(case, CONVERSION_ERROR, f"{type(e).__name__}: {short(str(e))}")
    return out, None


def _run_batch(runtime: str, jobs: list[ModelJob], backend: str, timeout_s: float
               ) -> Iterator[RunResult | WebDNNError]:
    if not jobs:
        return
    if runtime == "node":
        from webdnn.conformance.node_batch import run_models_node

        yield from run_models_node(jobs, [backend], timeout_s)
        return
    from webdnn.browser.driver import Browser

    with Browser() as browser:
        yield from browser.run_models(jobs, [backend], timeout_s)


def _judge(case: Case, outcome: RunResult | WebDNNError) -> CaseResult:
    if isinstance(outcome, WebDNNError):
        return _result(case, FAILED, short(str(outcome), lines=4))
    c = check_outputs(case.expected_outputs(), outcome.outputs, case.rtol, case.atol)
    r = _result(case, PASSED if c.ok else FAILED, c.detail)
    r.tolerance, r.max_abs_err, r.max_rel_err = c.tolerance, c.max_abs_err, c.max_rel_err
    return r


def _result(case: Case, status: str, detail: str = "") -> CaseResult:
    return CaseResult(case.name, case.op, status, detail, expanded=case.expanded)


def short(msg: str, lines: int = 1, width: int = 400) -> str:
    """The first lines of an error, without the list of supported ops the converter appends."""
    msg = msg.split(" Supported operators:", 1)[0]
    kept = [ln.rstrip() for ln in msg.strip().splitlines()[:lines]]
    text = "\n".join(kept)
    return text if len(text) <= width else text[: width - 3] + "..."
