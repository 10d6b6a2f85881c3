"""`webdnn bench --merge`: re-measure some rows and fold them into the recorded report.

A full run takes ~17 minutes on the reference machine; after a change to one backend only its rows
(and the peers' rows for the same backend, re-measured in the same browser session so the comparison
stays side by side) need measuring again. The merged report keeps the original run's machine record
and adds one entry per merge under `machine["merged"]`; every re-measured row carries
`merged_run` (the index of that entry), so docs/benchmarks.md can say which rows came from when.
"""

from __future__ import annotations

from typing import Any

Key = tuple[str, str, str, int | None]


def _key(r: dict[str, Any]) -> Key:
    """A row's configuration: the thread count asked for (an engine that cannot start workers runs a 2-thread
    row on one thread, and that row must not replace the 1-thread one)."""
    return (r["model"], r["runtime"], r["backend"], r.get("threads_requested") or r.get("threads"))


def merge_reports(old: dict[str, Any], new: dict[str, Any], command: str) -> dict[str, Any]:
    """`old` with every row of `new` replacing the row of the same (model, runtime, backend, threads),
    or added after the last row of its model. Ratios to ORT Web wasm 2T are recomputed."""
    machine = dict(old["machine"])
    runs = list(machine.get("merged") or [])
    nm = new["machine"]
    runs.append({
        "date": nm.get("date"), "git_commit": nm.get("git_commit"), "command": command,
        "loadavg_start": nm.get("loadavg_start"), "loadavg_end": nm.get("loadavg_end"),
        "bench_seconds": nm.get("bench_seconds"), "rows": len(new["results"]),
    })
    machine["merged"] = runs
    fresh = {_key(r): {**r, "merged_run": len(runs) - 1} for r in new["results"]}
    rows: list[dict[str, Any]] = []
    for r in old["results"]:
        rows.append(fresh.pop(_key(r), r))
    for k, r in fresh.items():  # rows the old report did not have: after the last row of their model
        at = max((i for i, o in enumerate(rows) if o["model"] == k[0]), default=len(rows) - 1)
        rows.insert(at + 1, r)
    _ratios(rows)
    return {"machine": machine, "results": rows}


def _ratios(rows: list[dict[str, Any]]) -> None:
    """vs_ort_wasm_2t against the model's ORT Web wasm 2-thread row, wherever that row came from."""
    refs = {r["model"]: r["median_ms"] for r in rows if r["runtime"] == "onnxruntime-web"
            and r["backend"] == "wasm" and r.get("threads") == 2 and r["status"] == "ok" and r["median_ms"]}
    for r in rows:
        ref = refs.get(r["model"])
        ok = r["status"] == "ok" and r["median_ms"]
        r["vs_ort_wasm_2t"] = r["median_ms"] / ref if ok and ref else None
