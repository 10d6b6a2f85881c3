"""The body of `webdnn bench` (the click command in webdnn/cli.py only parses options)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence

import click

from webdnn.bench.demo_models import DEMO_MODELS
from webdnn.bench.merge import merge_reports
from webdnn.bench.models import MODELS
from webdnn.bench.report import write_all
from webdnn.bench.run import ALL_BACKENDS, RUNTIMES, BenchOptions, run_bench, summary
from webdnn.browser.paths import REPO_ROOT

DOC_MD = os.path.join(REPO_ROOT, "docs", "benchmarks.md")
DOC_PNG = os.path.join(REPO_ROOT, "docs", "benchmarks.png")
LATEST_JSON = os.path.join(REPO_ROOT, "bench", "results", "latest.json")


def rerender_doc() -> str:
    """Write docs/benchmarks.md again from the recorded bench/results/*.json (after one of the side runs
    that only writes its own JSON: download sizes, frontends, MiniLM lengths); returns its path."""
    from webdnn.bench.report import markdown

    with open(DOC_MD) as f:  # the command line the recorded run was made with, kept as it is
        lines = f.read().splitlines()
    command = lines[lines.index("make bench-quick  # squeezenet1_1 only, under 3 minutes") + 1]
    with open(LATEST_JSON) as f:
        latest = json.load(f)
    with open(DOC_MD, "w") as f:
        f.write(markdown(latest, command))
    return DOC_MD


def _at_length(name: str) -> bool:
    """"minilm@N": MiniLM at sequence length N (1 <= N <= 512)."""
    base, _, n = name.partition("@")
    return base == "minilm" and n.isdigit() and 1 <= int(n) <= 512


def _quantized(name: str) -> bool:
    """"MODEL-FORMAT": a benchmark model quantized by onnxruntime's quantizer (zoo/quantized.py)."""
    from webdnn.zoo.quantized import FORMATS

    base, _, fmt = name.rpartition("-")
    return base in MODELS and fmt in FORMATS


def _list(s: str | None, known: Sequence[str], what: str) -> list[str] | None:
    if s is None:
        return None
    items = [x.strip() for x in s.split(",") if x.strip()]
    bad = [x for x in items if x not in known
           and not (what == "model" and (_at_length(x) or _quantized(x) or x in DEMO_MODELS))]
    if bad:
        more = (f", minilm@N (N <= 512), MODEL-qdq|qop|dynamic (quantized), {', '.join(DEMO_MODELS)}"
                if what == "model" else "")
        raise click.BadParameter(f"unknown {what} {bad}; known: {', '.join(known)}{more}")
    return items


def bench_command(*, models: str | None, runtimes: str | None, backends: str | None, threads: str, quick: bool,
                  repeat: int | None, warmup: int | None, as_json: bool, write: bool, out_json: str | None,
                  work_dir: str | None, peak: bool, gpu_all: bool, say: Callable[[str], None],
                  argv: Sequence[str], node_webgpu: str | None = None, browser: bool = True,
                  merge: bool = False, rounds: int = 1, engine: str = "chromium") -> None:
    opts = BenchOptions.quick() if quick else BenchOptions()
    opts.engine = engine
    opts.say = say
    opts.peak = peak
    if gpu_all:
        opts.gpu_max_gflop = None
    opts.work_dir = work_dir
    opts.node_webgpu = node_webgpu
    opts.browser = browser
    for attr, value in (("models", _list(models, MODELS, "model")), ("runtimes", _list(runtimes, RUNTIMES, "runtime")),
                        ("backends", _list(backends, ALL_BACKENDS, "backend"))):
        if value is not None:
            setattr(opts, attr, value)
    try:
        opts.threads = [int(t) for t in threads.split(",") if t.strip()]
    except ValueError:
        raise click.BadParameter(f"--threads {threads!r}: expected e.g. 1,2") from None
    if repeat is not None:
        opts.repeat = repeat
        opts.min_runs = min(opts.min_runs, repeat)
    if warmup is not None:
        opts.warmup = warmup
    if rounds < 1:
        raise click.BadParameter(f"--rounds {rounds}: at least 1")
    opts.rounds = rounds
    if merge and not write:
        raise click.BadParameter("--merge updates the recorded report: use it with --write")
    if merge and not os.path.exists(LATEST_JSON):
        raise click.BadParameter(f"--merge: there is no recorded report at {LATEST_JSON}; run `make bench` first")
    if engine != "chromium" and merge:
        raise click.BadParameter("--merge merges Chromium rows; with --browser, --write records the engine's own run")
    if engine != "chromium":
        opts.runtimes = [r for r in opts.runtimes if r != "onnxruntime-native"]  # the same in every engine
    report = run_bench(opts)
    command = "webdnn bench " + " ".join(argv[1:] if argv and argv[0] == "bench" else argv)
    if engine != "chromium":  # a side run: its own JSON, and its own section of docs/benchmarks.md
        report["machine"]["command"] = command.strip()
        written = []
        if write:
            path = os.path.join(os.path.dirname(LATEST_JSON), f"engine-{engine}.json")
            with open(path, "w") as f:
                json.dump(report, f, indent=1)
            written = [path, rerender_doc()]
        if out_json:
            with open(out_json, "w") as f:
                json.dump(report, f, indent=1)
            written.append(out_json)
        for p in written:
            say(f"wrote {os.path.relpath(p, os.getcwd())}")
        for r in report["results"]:
            click.echo(json.dumps(r) if as_json else summary(r))
        return
    if merge:
        with open(LATEST_JSON) as f:
            written_report = merge_reports(json.load(f), report, command.strip())
        command = written_report["machine"].get("command") or "webdnn bench --write"
    else:
        report["machine"]["command"] = command.strip()
        written_report = report
    written = write_all(written_report, LATEST_JSON if write else None, DOC_MD if write else None,
                        DOC_PNG if write else None, command.strip())
    if out_json:
        written += write_all(report, out_json, None, None, command)
    for p in written:
        say(f"wrote {os.path.relpath(p, os.getcwd())}")
    if as_json:
        click.echo(json.dumps(report))
    else:
        for r in report["results"]:
            click.echo(summary(r))
