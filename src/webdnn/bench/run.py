"""`webdnn bench`: time WebDNN and its peers on the same models and inputs, in one Chromium session."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from webdnn.bench.models import MODELS, PreparedModel, input_refs, prepare
from webdnn.bench.native import max_abs_err, run_native
from webdnn.bench.page import TFJS_HARDWARE_CONCURRENCY
from webdnn.browser.paths import REPO_ROOT
from webdnn.errors import WebDNNError

RUNTIMES = ["webdnn", "onnxruntime-web", "tfjs", "onnxruntime-native", "webdnn-keras", "webdnn-tfjs", "webdnn-fp16",
            "webdnn-int8", "webdnn-int4"]
# The same CNN converted by WebDNN from a Keras .keras file and from TF.js's model.json (wasm rows only;
# asked for by name, `--runtimes webdnn,webdnn-keras,webdnn-tfjs,tfjs`, not part of the default run).
FRONTEND_RUNTIMES = ("webdnn-keras", "webdnn-tfjs")
# The model converted with `--weights fp16|int8|int4` (models.ENCODINGS), asked for by name: the smaller
# download's cold start next to the fp32 one's.
ENCODED_RUNTIMES = ("webdnn-fp16", "webdnn-int8", "webdnn-int4")
DEFAULT_RUNTIMES = [r for r in RUNTIMES if r not in FRONTEND_RUNTIMES and r not in ENCODED_RUNTIMES]
ALL_BACKENDS = ["wasm", "webgpu", "webgl", "fallback", "cpu"]
DEFAULT_BACKENDS = ["wasm", "webgpu", "webgl", "fallback", "cpu"]
QUICK_MODELS = ["squeezenet1_1"]
SOFTWARE_GPU_NOTE = "software GPU (SwiftShader): correctness only, not a speed claim"
Say = Callable[[str], None]


@dataclass
class BenchOptions:
    models: list[str] = field(default_factory=lambda: list(MODELS))
    runtimes: list[str] = field(default_factory=lambda: list(DEFAULT_RUNTIMES))
    backends: list[str] = field(default_factory=lambda: list(DEFAULT_BACKENDS))
    threads: list[int] = field(default_factory=lambda: [1, 2])
    warmup: int = 3
    repeat: int = 10
    min_runs: int = 3  # fewer than `repeat` only when a row exceeds its time budget (recorded in "runs")
    # Each model's rows measured `rounds` times in turn (row 1, 2, ..., then again), their timed runs pooled:
    # a drift of the machine's speed (other tenants of a VM) then spreads over every row instead of
    # favouring the rows measured first. Cold starts and memory are the first round's.
    rounds: int = 1
    budget_s: float = 60.0  # per CPU row, timed runs only
    gpu_budget_s: float = 15.0  # per software-GPU row
    # WebGPU/WebGL rows only for models up to this many GFLOPs: here they run on SwiftShader, where one
    # ResNet50 inference takes 10+ s. None: every model (on a real GPU).
    gpu_max_gflop: float | None = 1.0
    peak: bool = True
    # Also time WebDNN's webgpu backend in Node through the npm `webgpu` package (Dawn): the way to
    # measure it on a machine with a real GPU and no browser. "system": the system's Vulkan driver;
    # "swiftshader": Chromium's software Vulkan (correctness only); None: not at all.
    node_webgpu: str | None = None
    browser: bool = True  # False: no Chromium at all (native and Node rows only), e.g. a GPU server
    engine: str = "chromium"  # the browser the page rows run in: chromium, firefox or webkit
    work_dir: str | None = None  # keep the prepared models here (default: a temporary directory)
    say: Say = field(default=lambda _m: None)

    @classmethod
    def quick(cls, **kw: Any) -> BenchOptions:
        o = cls(models=list(QUICK_MODELS), warmup=1, repeat=10, budget_s=8.0, gpu_budget_s=8.0)
        o.backends = [b for b in o.backends if b not in ("webgpu", "webgl")]
        for k, v in kw.items():
            setattr(o, k, v)
        return o


def _stats(times: Sequence[float]) -> dict[str, Any]:
    if not times:
        return {"median_ms": None, "min_ms": None, "max_ms": None, "mean_ms": None, "runs": 0}
    a = np.asarray(times, np.float64)
    return {"median_ms": float(np.median(a)), "min_ms": float(a.min()), "max_ms": float(a.max()),
            "mean_ms": float(a.mean()), "runs": int(a.size)}


def _row(model: str, runtime: str, backend: str, threads: int | None, **kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "model": model, "runtime": runtime, "backend": backend, "threads": threads, "status": "ok",
        "median_ms": None, "min_ms": None, "max_ms": None, "mean_ms": None, "runs": 0,
        "cold_start_ms": None, "cold_start_uncached_ms": None, "load_ms": None, "peak_memory_mb": None,
        "max_abs_err": None, "flops": None, "gflops": None,
        "peak_fraction": None, "vs_ort_wasm_2t": None, "software_gpu": backend in ("webgpu", "webgl"), "note": "",
        "loadavg_1m": round(os.getloadavg()[0], 2),  # when the row ended: other processes' CPU use skews timings
    }
    row.update(kw)
    return row


def _machine(peak: dict[str, Any] | None, ua: str, hc: int | None) -> dict[str, Any]:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass

    def npm_version(pkg: str) -> str | None:
        try:
            with open(os.path.join(REPO_ROOT, "bench", "node_modules", pkg, "package.json")) as f:
                return str(json.load(f)["version"])
        except (OSError, KeyError, ValueError):
            return None

    def cmd(*args: str) -> str | None:
        try:
            return subprocess.run(args, capture_output=True, text=True, check=True, cwd=REPO_ROOT).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None

    import onnxruntime

    from webdnn import __version__

    dirty = cmd("git", "status", "--porcelain", "--untracked-files=no")
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu, "cores": os.cpu_count(), "os": platform.platform(), "python": sys.version.split()[0],
        "browser": ua, "hardware_concurrency": hc, "node": cmd("node", "--version"),
        "git_commit": (cmd("git", "rev-parse", "--short", "HEAD") or "") + ("+dirty" if dirty else ""),
        "versions": {
            "webdnn": __version__, "onnxruntime": onnxruntime.__version__,
            "onnxruntime-web": npm_version("onnxruntime-web"), "@tensorflow/tfjs": npm_version("@tensorflow/tfjs"),
            "@tensorflow/tfjs-backend-wasm": npm_version("@tensorflow/tfjs-backend-wasm"),
        },
        "wasm_simd_peak_gflops": peak,
    }


def _mb(b: float | None) -> float | None:
    return None if b is None else b / 1e6


def _cache_fraction(page_result: dict[str, Any]) -> float | None:
    """The fraction of the bytes a page fetched from t0 on (its own fetches, not its workers') that came
    from the HTTP cache."""
    f = page_result.get("fetched") or {}
    return f["cachedBytes"] / f["bodyBytes"] if f.get("bodyBytes") else None


def _first_line(e: BaseException) -> str:
    s = str(e).strip()
    return (s.splitlines()[0] if s else type(e).__name__)[:300]


def run_bench(opts: BenchOptions) -> dict[str, Any]:
    """Run the benchmark; returns {"machine": {...}, "results": [...]}."""
    from webdnn.backends import BACKENDS
    from webdnn.bench.page import BenchSession, bench_node_modules, peak_wasm

    say = opts.say
    t_start = time.perf_counter()
    load_start = round(os.getloadavg()[0], 2)
    page_runtimes = {"webdnn", "onnxruntime-web", "tfjs", *FRONTEND_RUNTIMES, *ENCODED_RUNTIMES}
    browser_runtimes = page_runtimes & set(opts.runtimes) if opts.browser else set()
    if browser_runtimes - {"webdnn"} and not bench_node_modules():
        raise WebDNNError("the benchmark peers are not installed: run `cd bench && npm ci` (or `make bench-deps`)")
    webdnn_backends = [b for b in BACKENDS if b in opts.backends] if "webdnn" in opts.runtimes else []
    own_dir = opts.work_dir is None
    work = opts.work_dir or tempfile.mkdtemp(prefix="webdnn-bench-")
    os.makedirs(work, exist_ok=True)
    results: list[dict[str, Any]] = []
    peak: dict[str, Any] | None = None
    ua, hc = "", None
    baseline: float | None = None
    engine_version = ""
    try:
        with BenchSession(work, opts.engine) if opts.browser else contextlib.nullcontext() as session:
            engine_version = session.browser_version if session is not None else ""
            if browser_runtimes:  # what an idle benchmark page's renderer holds: part of every peak_memory_mb
                try:
                    baseline = _mb(session.run({"kind": "noop"}, timeout_s=60)["renderer_peak_bytes"])
                except WebDNNError as e:
                    say(f"  empty-page memory probe failed: {_first_line(e)}")
            if opts.peak and browser_runtimes:
                say("WebAssembly SIMD f32 peak (1 and 2 workers)")
                try:
                    quick = opts.repeat <= 10 and opts.budget_s < 30
                    job = {"kind": "peak", "wasm": "/bench/build/" + os.path.basename(peak_wasm()), "maxWorkers": 2,
                           "targetMs": 100 if quick else 250, "trials": 3 if quick else 5,
                           "accumulators": [8, 10, 12] if quick else [6, 8, 10, 12, 14]}
                    r = session.run(job, timeout_s=180)
                    peak, ua, hc = r["gflops"], r["userAgent"], r["hardwareConcurrency"]
                    say(f"  peak GFLOP/s: {json.dumps(peak)}")
                except (WebDNNError, subprocess.CalledProcessError) as e:
                    say(f"  peak probe failed: {_first_line(e)}")
            for name in opts.models:
                frontends = [r for r in FRONTEND_RUNTIMES if r in opts.runtimes and "wasm" in opts.backends]
                encoded = [r for r in ENCODED_RUNTIMES if r in opts.runtimes]
                pm = prepare(name, work, webdnn_backends, bool(webdnn_backends), "tfjs" in opts.runtimes, say,
                             frontends, encoded, [b for b in BACKENDS if b in opts.backends])
                rows = _bench_model(pm, session, opts, webdnn_backends)
                for _ in range(opts.rounds - 1):
                    say(f"{name}: another round")
                    _pool(rows, _bench_model(pm, session, opts, webdnn_backends))
                _finish_rows(rows, pm, peak)
                results.extend(rows)
                for r in rows:
                    say("  " + summary(r))
                if not opts.work_dir:
                    shutil.rmtree(pm.directory, ignore_errors=True)
    finally:
        if own_dir:
            shutil.rmtree(work, ignore_errors=True)
    machine = _machine(peak, ua, hc)
    machine["engine"] = opts.engine
    machine["engine_version"] = engine_version
    machine["renderer_baseline_mb"] = baseline
    machine["loadavg_start"], machine["loadavg_end"] = load_start, round(os.getloadavg()[0], 2)
    machine["bench_seconds"] = round(time.perf_counter() - t_start, 1)
    machine["options"] = {"warmup": opts.warmup, "repeat": opts.repeat, "min_runs": opts.min_runs,
                          "budget_s": opts.budget_s, "gpu_budget_s": opts.gpu_budget_s,
                          "gpu_max_gflop": opts.gpu_max_gflop}
    return {"machine": machine, "results": results}


def summary(r: dict[str, Any]) -> str:
    head = f"{r['model']:<14} {r['runtime']:<19} {r['backend']:<8} t={r['threads']!s:<4}"
    if r["status"] != "ok":
        return f"{head} {r['status']}: {r['note']}"

    def f(v: float | None, fmt: str) -> str:
        return "n/a" if v is None else format(v, fmt)

    return (f"{head} median {r['median_ms']:.1f} ms (n={r['runs']}), cold {f(r['cold_start_ms'], '.0f')} ms cached /"
            f" {f(r['cold_start_uncached_ms'], '.0f')} ms uncached, peak {f(r['peak_memory_mb'], '.0f')} MB,"
            f" err {f(r['max_abs_err'], '.2e')}")


def _bench_model(pm: PreparedModel, session: Any, opts: BenchOptions,
                 webdnn_backends: list[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    m = pm.name
    inputs = input_refs(pm, "/work/")

    def browser_row(runtime: str, backend: str, threads: int | None, job: dict[str, Any],
                    hc: int | None = None) -> dict[str, Any]:
        gpu = backend in ("webgpu", "webgl")
        if gpu and opts.gpu_max_gflop is not None and pm.flops > opts.gpu_max_gflop * 1e9:
            return _row(m, runtime, backend, threads, status="skipped",
                        note=f"GPU rows only for models up to {opts.gpu_max_gflop:g} GFLOP here (SwiftShader);"
                        " `--gpu-all` runs them all")
        if session is None:
            return _row(m, runtime, backend, threads, status="skipped", note="--no-browser")
        budget = opts.gpu_budget_s if gpu else opts.budget_s
        job = {**job, "backend": backend, "threads": threads, "warmup": 1 if gpu else opts.warmup,
               "repeat": opts.repeat, "minRuns": opts.min_runs, "budgetMs": budget * 1e3, "slowMs": 2000}
        opts.say(f"{m}: {runtime} {backend}" + (f" {threads} thread(s)" if threads else ""))
        # Page 1, HTTP cache emptied first: the uncached cold start, then the timed runs and the memory peak.
        try:
            r = session.run(job, timeout_s=budget * 3 + 300, hardware_concurrency=hc, clear_cache=True)
        except WebDNNError as e:
            return _row(m, runtime, backend, threads, status="error", note=_first_line(e))
        outs = r["outputs"]
        if runtime in ("tfjs", *FRONTEND_RUNTIMES):  # one output, named after the last layer
            outs = {next(iter(pm.reference)): next(iter(outs.values()))} if outs else {}
        notes: list[str] = []
        used = r.get("threads", threads)
        if threads and used != threads:
            notes.append(f"asked for {threads} threads, ran {used}")
        if opts.engine == "webkit":
            notes.append("webkit: the HTTP cache is not bypassed for the 'uncached' page (WebDriver has no way)")
        # Page 2, a fresh page of the same session: the files are in the HTTP cache now (and V8 has seen
        # the scripts once), as for a returning visitor. Load and first output only.
        cached: dict[str, Any] = {}
        try:
            c = session.run({**job, "repeat": 0}, timeout_s=300, hardware_concurrency=hc)
            cached = {"cold_start_ms": c["coldMs"], "load_ms": c["loadMs"], "http_cache_fraction": _cache_fraction(c)}
            if cached["http_cache_fraction"] is not None and cached["http_cache_fraction"] < 0.9:
                notes.append(f"cached load: only {cached['http_cache_fraction']:.0%} of the bytes came from the"
                             " HTTP cache")
        except WebDNNError as e:
            notes.append(f"cached cold start failed: {_first_line(e)}")
        return _row(m, runtime, backend, used, **_stats(r["times"]), **cached, times_ms=list(r["times"]),
                    cold_start_uncached_ms=r["coldMs"], load_uncached_ms=r["loadMs"],
                    peak_memory_mb=_mb(r.get("renderer_peak_bytes")),
                    http_cache_fraction_uncached=_cache_fraction(r),
                    fetched_mb_uncached=_mb((r.get("fetched") or {}).get("bodyBytes")),
                    max_abs_err=max_abs_err(pm.reference, outs), js_heap_used_bytes=r.get("js_heap_used_bytes"),
                    version=r.get("version"), backend_info=r.get("backendInfo"),
                    cross_origin_isolated=r.get("crossOriginIsolated"), threads_requested=threads,
                    note="; ".join(notes))

    if "onnxruntime-native" in opts.runtimes and "cpu" in opts.backends:
        for t in opts.threads:
            opts.say(f"{m}: onnxruntime-native cpu {t} thread(s)")
            r = run_native(pm, t, opts.warmup, opts.repeat)
            rows.append(_row(m, "onnxruntime-native", "cpu", t, **_stats(r["times"]), cold_start_ms=r["cold_start_ms"],
                             load_ms=r["load_ms"], max_abs_err=max_abs_err(pm.reference, r["outputs"]),
                             version=r["version"], software_gpu=False))
    if "onnxruntime-web" in opts.runtimes:
        model_url = f"/work/{m}/model.onnx"
        if "wasm" in opts.backends:
            for t in opts.threads:
                rows.append(browser_row("onnxruntime-web", "wasm", t, {"kind": "ort", "model": model_url,
                                                                         "inputs": inputs}))
        for b in ("webgpu", "webgl"):
            if b in opts.backends:
                rows.append(browser_row("onnxruntime-web", b, None, {"kind": "ort", "model": model_url,
                                                                      "inputs": inputs}))
    if webdnn_backends:
        for b in webdnn_backends:
            status = pm.webdnn_backends.get(b, "not converted")
            if status != "ok":
                kind = "unsupported" if status.startswith("unsupported") else "error"
                rows.append(_row(m, "webdnn", b, None, status=kind, note=status))
                continue
            job = {"kind": "webdnn", "model": f"/work/{m}/webdnn/", "inputs": inputs}
            # wasm: backendOptions.wasm.threads per --threads (the row records what the backend reports)
            for t in opts.threads if b == "wasm" else [None]:
                rows.append(browser_row("webdnn", b, t, job))
            if pm.webdnn_dynamic_dir is not None:  # "minilm@N": the model converted once for every length
                rel = os.path.relpath(pm.webdnn_dynamic_dir, os.path.dirname(pm.directory))
                job = {"kind": "webdnn", "model": f"/work/{rel}/", "inputs": inputs}
                for t in opts.threads if b == "wasm" else [None]:
                    rows.append(browser_row("webdnn-dynamic", b, t, job))
    for runtime, status in pm.encoded_status.items():  # --weights fp16 | int8: every backend it converted for
        if status != "ok":
            rows.append(_row(m, runtime, "wasm", None, status="error", note=status))
            continue
        job = {"kind": "webdnn", "model": f"/work/{m}/{runtime}/", "inputs": inputs}
        for b in pm.encoded_backends:
            for t in opts.threads if b == "wasm" else [None]:
                rows.append(browser_row(runtime, b, t, job))
    if opts.node_webgpu and "webdnn" in opts.runtimes and pm.webdnn_backends.get("webgpu") == "ok":
        rows.append(_node_webgpu_row(pm, opts))
    x = next(iter(pm.inputs.values()))
    nhwc_inputs = [{"name": "input", "url": f"/work/{m}/inputs/nhwc.bin", "dtype": "float32",
                    "dims": [x.shape[0], *x.shape[2:], x.shape[1]] if x.ndim == 4 else []}]
    for runtime in FRONTEND_RUNTIMES:
        if runtime not in opts.runtimes or "wasm" not in opts.backends:
            continue
        status = pm.frontend_status.get(runtime, "not converted")
        if status != "ok":
            rows.append(_row(m, runtime, "wasm", None, status="skipped", note=status))
            continue
        job = {"kind": "webdnn", "model": f"/work/{m}/{runtime}/", "inputs": nhwc_inputs}
        for t in opts.threads:
            rows.append(browser_row(runtime, "wasm", t, job))
    if "tfjs" in opts.runtimes:
        tf_backends = [b for b in ("wasm", "webgpu", "webgl") if b in opts.backends]
        if pm.tfjs_status != "ok":
            for b in tf_backends:
                rows.append(_row(m, "tfjs", b, None, status="skipped", note=pm.tfjs_status))
        else:
            job = {"kind": "tfjs", "model": f"/work/{m}/tfjs/model.json", "inputs": nhwc_inputs}
            for b in tf_backends:
                for t in opts.threads if b == "wasm" else [None]:
                    rows.append(browser_row("tfjs", b, t, job, hc=TFJS_HARDWARE_CONCURRENCY))
    return rows



def _pool(rows: list[dict[str, Any]], again: list[dict[str, Any]]) -> None:
    """Add another round's timed runs to `rows` (same rows, same order) and recompute their statistics."""
    for r, a in zip(rows, again, strict=True):
        if r["status"] != "ok" or a["status"] != "ok":
            continue
        r["times_ms"] = r.get("times_ms", []) + a.get("times_ms", [])
        r.update(_stats(r["times_ms"]))
        r["rounds"] = r.get("rounds", 1) + 1


def _node_webgpu_row(pm: PreparedModel, opts: BenchOptions) -> dict[str, Any]:
    """WebDNN webgpu in Node (npm `webgpu`, Dawn), same inputs: load, first run, timed runs."""
    from webdnn.backends.webgpu.node import swiftshader_env
    from webdnn.browser.node import run_model_node

    software = opts.node_webgpu == "swiftshader"
    env = swiftshader_env() if software else None
    if software and env is None:
        return _row(pm.name, "webdnn", "webgpu", None, status="error", platform="node",
                    note="--node-webgpu swiftshader needs Chromium's SwiftShader (apt install chromium)")
    opts.say(f"{pm.name}: webdnn webgpu in Node ({opts.node_webgpu} Vulkan)")
    assert pm.webdnn_dir is not None
    try:
        r = run_model_node(pm.webdnn_dir, pm.inputs, ["webgpu"], warmup=1 if software else opts.warmup,
                           repeat=3 if software else opts.repeat, env=env, timeout=1800)
    except WebDNNError as e:
        return _row(pm.name, "webdnn", "webgpu", None, status="error", platform="node", note=_first_line(e))
    note = "Node, npm webgpu (Dawn)"  # _finish_rows adds the software-GPU warning
    return _row(pm.name, "webdnn", "webgpu", None, **_stats(r.times_ms), cold_start_ms=r.load_ms + r.first_run_ms,
                load_ms=r.load_ms, max_abs_err=max_abs_err(pm.reference, r.outputs), platform="node",
                software_gpu=software, note=note)


def _finish_rows(rows: list[dict[str, Any]], pm: PreparedModel, peak: dict[str, Any] | None) -> None:
    """FLOPs, achieved GFLOP/s, fraction of the wasm peak, ratio to ORT Web wasm with 2 threads."""
    ref = next((r for r in rows if r["runtime"] == "onnxruntime-web" and r["backend"] == "wasm"
                and r["threads"] == 2 and r["status"] == "ok"), None)
    for r in rows:
        r["flops"] = pm.flops
        if r["status"] != "ok" or not r["median_ms"]:
            continue
        r["gflops"] = pm.flops / (r["median_ms"] * 1e6)
        if ref is not None:
            r["vs_ort_wasm_2t"] = r["median_ms"] / ref["median_ms"]
        if peak and r["runtime"] != "onnxruntime-native" and not r["software_gpu"]:
            t = str(min(max(int(r["threads"] or 1), 1), 2))
            best = max(float(peak[k][t]) for k in ("muladd", "fma") if k in peak and t in peak[k])
            r["peak_fraction"] = r["gflops"] / best
        if r["software_gpu"]:
            r["note"] = (r["note"] + "; " if r["note"] else "") + SOFTWARE_GPU_NOTE
