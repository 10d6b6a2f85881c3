"""Conformance results: one record per case, a report per backend and runtime, and the
store under build/conformance/ that `--update-docs` reads (runs of a subset of ops update
their cases in it, so the docs always show each case's latest result)."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from webdnn.browser.paths import REPO_ROOT

PASSED = "passed"
FAILED = "failed"
UNSUPPORTED = "not supported"
CONVERSION_ERROR = "conversion error"
STATUSES = (PASSED, FAILED, UNSUPPORTED, CONVERSION_ERROR)

STORE_DIR = os.path.join(REPO_ROOT, "build", "conformance")


@dataclass
class CaseResult:
    name: str
    op: str
    status: str
    detail: str = ""  # why not supported, the error's first lines, or what was off
    tolerance: str | None = None  # when passed: "webdnn" or "onnx" (see check.py)
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    expanded: bool = False
    frozen: list[str] = field(default_factory=list)  # parameter inputs run as constants (freeze.py)
    values: list[str] = field(default_factory=list)  # parameter inputs run as value inputs (sizes bound at run)


@dataclass
class Report:
    backend: str
    runtime: str
    onnx_version: str
    date: str
    seconds: float
    results: list[CaseResult] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.backend}/{self.runtime}"

    def counts(self) -> Counter[str]:
        return Counter(r.status for r in self.results)

    def as_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend, "runtime": self.runtime, "onnx_version": self.onnx_version, "date": self.date,
            "seconds": round(self.seconds, 2), "counts": {s: self.counts()[s] for s in STATUSES},
            "results": [asdict(r) for r in self.results],
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Report:
        return Report(d["backend"], d["runtime"], d["onnx_version"], d["date"], d["seconds"],
                      [CaseResult(**r) for r in d["results"]])


def save_json(report: Report, path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(report.as_dict(), f, indent=1)


def store_path(backend: str, runtime: str, store_dir: str = STORE_DIR) -> str:
    return os.path.join(store_dir, f"{backend}-{runtime}.json")


def update_store(report: Report, store_dir: str = STORE_DIR) -> Report:
    """Merge `report` into the stored one of its backend/runtime (same onnx version); return the merge."""
    path = store_path(report.backend, report.runtime, store_dir)
    merged = report
    old = _load(path)
    if old is not None and old.onnx_version == report.onnx_version:
        fresh = {r.name for r in report.results}
        results = [r for r in old.results if r.name not in fresh] + report.results
        results.sort(key=lambda r: r.name)
        # a partial run (-k, --ops) keeps the whole suite's time
        seconds = report.seconds if len(report.results) >= len(old.results) else old.seconds
        merged = Report(report.backend, report.runtime, report.onnx_version, report.date, seconds, results)
    save_json(merged, path)
    return merged


def stored_reports(store_dir: str = STORE_DIR) -> list[Report]:
    if not os.path.isdir(store_dir):
        return []
    # <backend>-<runtime>.json; a backend name may have a hyphen itself (webgpu-fp16); the docs show the Chromium
    # and Node runs (Firefox and WebKit runs, python -m webdnn.conformance --runtime firefox, are stored beside them)
    names = [f for f in sorted(os.listdir(store_dir))
             if re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*-(chromium|node)\.json", f)]
    reports = [_load(os.path.join(store_dir, f)) for f in names]
    return [r for r in reports if r is not None]


def _load(path: str) -> Report | None:
    try:
        with open(path) as f:
            return Report.from_dict(json.load(f))
    except (OSError, ValueError, KeyError, TypeError):
        return None
