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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import onnx

from webdnn.browser.driver import Browser
from webdnn.browser.io import element_types
from webdnn.conformance.batch import RUNTIMES, ModelJob, Outcome, run_batch
from webdnn.conformance.cases import DEFAULT_DIR, Case, load_cases
from webdnn.conformance.check import check_outputs, rule_for
from webdnn.conformance.freeze import freeze, gives_sizes, input_to_freeze, weight_inputs
from webdnn.conformance.results import CONVERSION_ERROR, FAILED, PASSED, UNSUPPORTED, CaseResult, Report
from webdnn.conformance.support import BackendOps, backend_ops, unsupported_reason
from webdnn.errors import UnsupportedOperatorError, WebDNNError
from webdnn.ir.narrow_types import NARROW, from_storage

Say = Callable[[str], None]
BY_NUMPY = {t.numpy: t for t in NARROW.values()}
NARROW_NUMPY = frozenset(BY_NUMPY)


def select_cases(cases: Iterable[Case], ops: Sequence[str] | None = None, patterns: Sequence[str] | None = None
                 ) -> list[Case]:
    """Cases whose op under test is one of `ops` (any case) and whose name matches one of the globs."""
    wanted = {o.lower() for o in ops or ()}
    return [
        c for c in cases
        if (not wanted or c.op.lower() in wanted)
        and (not patterns or any(fnmatch.fnmatchcase(c.name, p) for p in patterns))
    ]


@dataclass
class PreparedSuite:
    """The selected cases of one backend, classified and converted into `work` (a scratch directory this
    object owns: close() deletes it). Runtime-independent, so one preparation serves every runtime and
    engine (converting the ~1,700 cases takes about half a minute)."""

    backend: str
    cases: list[Case]
    work: str
    ended: dict[str, CaseResult]  # the cases decided before running: not supported, conversion error
    runnable: list[tuple[Case, str, list[str], list[str]]]  # (case, model dir, frozen inputs, value inputs)
    seconds: float

    def close(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)

    def __enter__(self) -> PreparedSuite:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def prepare_suite(
    backend: str = "fallback",
    ops: Sequence[str] | None = None,
    patterns: Sequence[str] | None = None,
    cases_dir: str = DEFAULT_DIR,
    freeze_params: bool = True,
    freeze_weights: bool = False,
    progress: Say | None = None,
) -> PreparedSuite:
    """Select, classify and convert the cases (see run_conformance for the arguments)."""
    say = progress or (lambda _m: None)
    t0 = time.perf_counter()
    cases = select_cases(load_cases(cases_dir), ops, patterns)
    say(f"{len(cases)} cases (onnx {onnx.__version__}), backend {backend}")
    work = tempfile.mkdtemp(prefix="webdnn-conformance-")
    ended: dict[str, CaseResult] = {}
    # The converter warns for every zero-sized or dynamic input dim; the cases report it anyway.
    logger = logging.getLogger("webdnn")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        runnable = _prepare(cases, backend_ops(backend), backend, work, freeze_params, ended, freeze_weights)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        logger.setLevel(level)
    seconds = time.perf_counter() - t0
    say(f"classified and converted in {seconds:.1f} s: {len(runnable)} to run")
    return PreparedSuite(backend, cases, work, ended, runnable, seconds)


def run_prepared(suite: PreparedSuite, runtime: str = "chromium", timeout_s: float = 20.0,
                 progress: Say | None = None, browser: Browser | None = None) -> Report:
    """Run a prepared suite's convertible cases in `runtime` (or the given browser session) and judge them."""
    if runtime not in RUNTIMES:
        raise WebDNNError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    say = progress or (lambda _m: None)
    t1 = time.perf_counter()
    results = dict(suite.ended)
    jobs = [ModelJob(out, {k: v for k, v in case.input_arrays().items() if k not in frozen})
            for case, out, frozen, _ in suite.runnable]
    outcomes = run_batch(runtime, jobs, [suite.backend], timeout_s, browser)
    rule = rule_for(suite.backend)
    for (case, out, frozen, values), outcome in zip(suite.runnable, outcomes, strict=True):
        results[case.name] = _judge(case, outcome, suite.work, rule, element_types(out))
        results[case.name].frozen = frozen
        results[case.name].values = values
    seconds = time.perf_counter() - t1
    say(f"ran {len(suite.runnable)} cases in {seconds:.1f} s")
    return Report(suite.backend, runtime, onnx.__version__, datetime.date.today().isoformat(),
                  suite.seconds + seconds, [results[c.name] for c in suite.cases])


def run_conformance(
    backend: str = "fallback",
    runtime: str = "chromium",
    ops: Sequence[str] | None = None,
    patterns: Sequence[str] | None = None,
    cases_dir: str = DEFAULT_DIR,
    timeout_s: float = 20.0,
    freeze_params: bool = True,
    progress: Say | None = None,
    browser: Browser | None = None,
    freeze_weights: bool = False,
) -> Report:
    """Run the selected cases. `freeze_params`: retry a case the converter refuses because a
    parameter input (axes, shape, ...) is not constant with that input frozen (freeze.py).
    `browser`: a Chromium session to reuse (default: one is started for the run).
    `freeze_weights`: convert every case with its float32 weight inputs frozen into constants
    (freeze.weight_inputs), so that webgpu-fp16 stores them as f16 weights."""
    if runtime not in RUNTIMES:
        raise WebDNNError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    with prepare_suite(backend, ops, patterns, cases_dir, freeze_params, freeze_weights, progress) as suite:
        return run_prepared(suite, runtime, timeout_s, progress, browser)


def _prepare(cases: list[Case], claim: BackendOps, backend: str, work: str, freeze_params: bool,
             results: dict[str, CaseResult], freeze_weights: bool = False
             ) -> list[tuple[Case, str, list[str], list[str]]]:
    """Classify and convert; record the cases that end here, return (case, model dir, frozen inputs,
    value inputs) to run."""
    runnable = []
    for case in cases:
        reason = unsupported_reason(case, claim)
        if reason:
            results[case.name] = _result(case, UNSUPPORTED, reason)
            continue
        out, frozen, values, failure = _convert(case, backend, work, freeze_params, freeze_weights)
        if failure:
            results[case.name] = failure
        else:
            runnable.append((case, out, frozen, values))
    return runnable


def _convert(case: Case, backend: str, work: str, freeze_params: bool, freeze_weights: bool = False
             ) -> tuple[str, list[str], list[str], CaseResult | None]:
    """Convert into work/<case>; returns (directory, inputs frozen into constants, value inputs,
    failure or None).

    A parameter input the converter wants constant is first tried as a value input (its elements
    sizes bound from the data at run: no freezing), and frozen only where that cannot work."""
    from webdnn.backends import BACKENDS
    from webdnn.convert import convert

    out = f"{work}/{case.name}"
    model = onnx.load(case.model_path)
    weights = weight_inputs(model) if freeze_weights else []
    frozen: list[str] = list(weights)
    values: list[str] = []
    values_failed = False
    inputs = {i.name for i in model.graph.input} - {i.name for i in model.graph.initializer}
    while True:
        if weights and inputs <= set(frozen):  # nothing left to run: the case would fold at conversion
            frozen.remove(weights.pop(0))  # so its first float input stays a (data) input
        failure: CaseResult | None = None
        try:
            # a case's data has one shape: the model's own dynamic dims stay symbols only where the backend takes
            # them (webgpu-fp16 does not yet)
            convert(freeze(model, case.input_arrays(), frozen) if frozen else model, out, backends=[backend],
                    name=case.name, value_inputs=values, dynamic=BACKENDS[backend].symbolic)
            return out, frozen, values, None
        except UnsupportedOperatorError as e:
            failure = _result(case, UNSUPPORTED, short(str(e)))
            name = None
        except Exception as e:  # any converter bug is a result of the case, not the end of the run
            name = input_to_freeze(str(e), model, frozen + values) if freeze_params else None
            if not name:
                failure = _result(case, CONVERSION_ERROR, f"{type(e).__name__}: {short(str(e))}")
        if name and not values_failed and gives_sizes(model, case.input_arrays(), name):
            values.append(name)
            continue
        if name:
            frozen.append(name)
            continue
        if values:  # as value inputs the case does not convert: freeze them instead
            frozen += values
            values, values_failed = [], True
            continue
        assert failure is not None
        failure.frozen = frozen
        return out, frozen, [], failure


def _judge(case: Case, outcome: Outcome, work: str, rule: str, types: dict[str, str]) -> CaseResult:
    """`types`: the outputs held in another dtype (float8 codes), turned back into their types to check them."""
    if isinstance(outcome, WebDNNError):
        return _result(case, FAILED, short(str(outcome).replace(work + "/", ""), lines=4))
    got = {k: from_storage(v, types[k]) if k in types else v for k, v in outcome.outputs.items()}
    expected = case.expected_outputs()
    for k, ref in expected.items():  # float8/int4 values compared as float32/int32 (NaN matches NaN)
        if k in got and got[k].dtype == ref.dtype and ref.dtype in NARROW_NUMPY:
            wide = np.float32 if BY_NUMPY[ref.dtype].is_float else np.int32
            expected[k], got[k] = ref.astype(wide), got[k].astype(wide)
    c = check_outputs(expected, got, case.rtol, case.atol, rule)
    r = _result(case, PASSED if c.ok else FAILED, c.detail)
    r.tolerance, r.max_abs_err, r.max_rel_err = c.tolerance, c.max_abs_err, c.max_rel_err
    return r


def _result(case: Case, status: str, detail: str = "") -> CaseResult:
    return CaseResult(case.name, case.op, status, detail, expanded=case.expanded)


def short(msg: str, lines: int = 1, width: int = 400) -> str:
    """The first lines of an error, without the pointer to docs/operators.md the converter appends."""
    msg = msg.split(" See docs/operators.md", 1)[0]
    kept = [ln.rstrip() for ln in msg.strip().splitlines()[:lines]]
    text = "\n".join(kept)
    return text if len(text) <= width else text[: width - 3] + "..."
