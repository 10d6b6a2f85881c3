"""python -m webdnn.conformance: run the ONNX node conformance cases on a backend."""

from __future__ import annotations

import argparse
import sys

from webdnn.conformance.batch import RUNTIMES
from webdnn.conformance.cases import DEFAULT_DIR
from webdnn.conformance.results import save_json, update_store
from webdnn.conformance.run import run_conformance
from webdnn.conformance.summary import format_counts, format_failures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m webdnn.conformance", description=__doc__)
    ap.add_argument("--backend", default="fallback")
    ap.add_argument("--runtime", choices=RUNTIMES, default="chromium")
    ap.add_argument("--ops", help="comma-separated ops under test, e.g. Conv,Relu (default: all)")
    ap.add_argument("-k", "--cases", action="append", help="case name glob, e.g. 'test_conv_*' (repeatable)")
    ap.add_argument("--json", help="write every case's result to this file")
    ap.add_argument("--update-docs", action="store_true", help="regenerate docs/operators.md afterwards")
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds per case (default 20)")
    ap.add_argument("--cases-dir", default=DEFAULT_DIR, help="where the generated ONNX cases are cached")
    ap.add_argument("--no-freeze", action="store_true",
                    help="do not retry cases whose parameter inputs (axes, shape, ...) must be constant")
    ap.add_argument("--freeze-weights", action="store_true",
                    help="freeze float32 weight inputs into constants (freeze.weight_inputs; for webgpu-fp16's f16 "
                         "weights); the result is not stored for the docs, which show unfrozen runs")
    ap.add_argument("--all-ops", action="store_true", help="list ops whose every case is not supported too")
    ap.add_argument("--no-failures", action="store_true", help="do not list the failing cases")
    a = ap.parse_args(argv)

    ops = [o.strip() for o in a.ops.split(",") if o.strip()] if a.ops else None
    report = run_conformance(a.backend, a.runtime, ops, a.cases, a.cases_dir, a.timeout, not a.no_freeze,
                             progress=lambda m: print(m, file=sys.stderr, flush=True),
                             freeze_weights=a.freeze_weights)
    if not a.freeze_weights:
        update_store(report)  # what --update-docs (now or later) reads
    if a.json:
        save_json(report, a.json)
    print(format_counts(report, only_attempted=not a.all_ops and not ops))
    if not a.no_failures:
        print("\nFailures by op:\n" + format_failures(report))
    if a.update_docs:
        from webdnn.conformance.docs import write_operators_doc

        print(f"\nwrote {write_operators_doc()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
