"""Text summaries of a conformance report: per-op counts, totals, failures grouped by op."""

from __future__ import annotations

from collections import Counter, defaultdict

from webdnn.conformance.check import FP16, FP16_TOLERANCE, WEBDNN, rule_for
from webdnn.conformance.results import CONVERSION_ERROR, FAILED, PASSED, STATUSES, UNSUPPORTED, CaseResult, Report

_ABBR = {PASSED: "passed", FAILED: "failed", UNSUPPORTED: "not supp.", CONVERSION_ERROR: "conv. err"}


def per_op(results: list[CaseResult]) -> dict[str, Counter[str]]:
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for r in results:
        table[r.op][r.status] += 1
    return dict(sorted(table.items()))


def totals_line(report: Report) -> str:
    c = report.counts()
    passed = [r for r in report.results if r.status == PASSED]
    loose = sum(1 for r in passed if r.tolerance not in (None, WEBDNN))
    frozen = sum(1 for r in passed if r.frozen)
    values = sum(1 for r in passed if r.values and not r.frozen)
    parts = [f"{c[s]} {s}" for s in STATUSES]
    rule = rule_for(report.backend)
    looser = f"the fp16 rule {FP16_TOLERANCE:g}*max(1, max|ref|)" if rule == FP16 else "ONNX's rtol 1e-3"
    return (f"{report.key}: {len(report.results)} cases: " + ", ".join(parts)
            + f" (of the passed: {loose} needed {looser}, {frozen} ran with parameter inputs frozen,"
            + f" {values} with parameter inputs as value inputs and none frozen)"
            + f" in {report.seconds:.0f} s")


def format_counts(report: Report, only_attempted: bool = False) -> str:
    """One row per op: passed / failed / not supported / conversion errors."""
    rows = per_op(report.results)
    if only_attempted:  # hide ops whose every case is out of the backend's claim
        rows = {op: c for op, c in rows.items() if c[UNSUPPORTED] < sum(c.values())}
    width = max([len(op) for op in rows] + [2])
    lines = [f"{'op':<{width}} " + " ".join(f"{_ABBR[s]:>9}" for s in STATUSES)]
    for op, c in rows.items():
        lines.append(f"{op:<{width}} " + " ".join(f"{c[s] or '.':>9}" for s in STATUSES))
    lines.append(totals_line(report))
    return "\n".join(lines)


def format_failures(report: Report, max_per_op: int = 50) -> str:
    """Failed cases and conversion errors, grouped by op, each with its first error line."""
    groups: dict[str, list[CaseResult]] = defaultdict(list)
    for r in report.results:
        if r.status in (FAILED, CONVERSION_ERROR):
            groups[r.op].append(r)
    if not groups:
        return "no failures"
    out = []
    for op in sorted(groups):
        rs = groups[op]
        out.append(f"{op} ({len(rs)}):")
        for r in rs[:max_per_op]:
            tag = " [conversion]" if r.status == CONVERSION_ERROR else ""
            tag += f" [frozen: {', '.join(r.frozen)}]" if r.frozen else ""
            tag += f" [value inputs: {', '.join(r.values)}]" if r.values else ""
            first = r.detail.splitlines()[0] if r.detail else ""
            out.append(f"  {r.name}{tag}: {first}")
        if len(rs) > max_per_op:
            out.append(f"  ... {len(rs) - max_per_op} more")
    return "\n".join(out)
