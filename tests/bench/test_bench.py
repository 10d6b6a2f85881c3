"""The benchmark harness must not rot: `webdnn bench --quick` on SqueezeNet, JSON schema, small errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest

from webdnn.bench import page as bench_page
from webdnn.bench.merge import merge_reports
from webdnn.bench.models import flop_count
from webdnn.bench.page import BenchSession, _page_peak, _Renderer, bench_node_modules
from webdnn.bench.report import _frontends_lines, markdown
from webdnn.browser.paths import REPO_ROOT
from webdnn.browser.server import StaticServer
from webdnn.errors import WebDNNError

RESULT_KEYS = {"model", "runtime", "backend", "threads", "median_ms", "min_ms", "max_ms", "cold_start_ms",
               "cold_start_uncached_ms", "peak_memory_mb", "max_abs_err", "runs", "status", "gflops", "peak_fraction",
               "vs_ort_wasm_2t", "software_gpu"}
LINUX = sys.platform.startswith("linux")


def test_server_max_age_only_for_files(tmp_path: object) -> None:
    d = str(tmp_path)
    with open(os.path.join(d, "w.bin"), "wb") as f:
        f.write(b"\0" * 10)

    def cache_control(srv: StaticServer, path: str) -> str | None:
        with urllib.request.urlopen(srv.url + path) as r:
            return r.headers.get("Cache-Control")

    with StaticServer({"/f/": d}, pages={"/p.html": "<p>"}, max_age=3600) as srv:
        assert cache_control(srv, "/f/w.bin") == "max-age=3600"
        assert cache_control(srv, "/p.html") == "no-cache"
    with StaticServer({"/f/": d}) as srv:  # the default, which every other user of the server gets
        assert cache_control(srv, "/f/w.bin") == "no-cache"


def test_page_peak_is_the_busiest_renderer() -> None:
    before = {1: _Renderer(cpu_ticks=500, hwm_bytes=900), 2: _Renderer(cpu_ticks=10, hwm_bytes=50)}
    # pid 1 did little during the job; pid 3 is new (counted from 0 ticks) and did the most
    after = {1: _Renderer(cpu_ticks=520, hwm_bytes=900), 2: _Renderer(cpu_ticks=12, hwm_bytes=50),
             3: _Renderer(cpu_ticks=300, hwm_bytes=400)}
    assert _page_peak(before, after) == 400
    assert _page_peak(before, {1: _Renderer(cpu_ticks=900, hwm_bytes=700)}) == 700
    assert _page_peak(before, {}) is None


def test_flop_count_conv_gemm() -> None:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    from webdnn.frontend.onnx import from_onnx
    from webdnn.passes.pipeline import optimize

    w = numpy_helper.from_array(np.zeros((8, 3, 3, 3), np.float32), "w")
    g = numpy_helper.from_array(np.zeros((8 * 4 * 4, 10), np.float32), "g")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3]),
         helper.make_node("Flatten", ["c"], ["f"]), helper.make_node("Gemm", ["f", "g"], ["y"])],
        "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], [w, g])
    ir = from_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), None)
    optimize(ir)
    assert flop_count(ir) == 2 * (8 * 4 * 4) * (3 * 3 * 3) + 2 * 10 * 128


def _md_row(runtime: str, backend: str, threads: int | None, median: float | None, **kw: object) -> dict[str, object]:
    r: dict[str, object] = {
        "model": "m", "runtime": runtime, "backend": backend, "threads": threads, "status": "ok", "median_ms": median,
        "min_ms": median, "max_ms": median, "runs": 10 if median else 0, "cold_start_ms": 100.0,
        "cold_start_uncached_ms": 250.0, "peak_memory_mb": 180.4, "max_abs_err": 1e-6, "flops": 10**9,
        "gflops": 1.0 / median if median else None, "peak_fraction": 0.5 if median else None,
        "vs_ort_wasm_2t": median / 2.0 if median else None, "software_gpu": backend in ("webgpu", "webgl"), "note": ""}
    r.update(kw)
    return r


def test_markdown_renders_every_status() -> None:
    rows = [
        _md_row("onnxruntime-web", "wasm", 2, 2.0),
        _md_row("webdnn", "wasm", 1, 3.0),
        _md_row("webdnn", "wasm", 2, 1.5),
        _md_row("webdnn", "webgpu", None, None, status="unsupported", note="unsupported: op X | y",
                cold_start_ms=None, cold_start_uncached_ms=None, peak_memory_mb=None, max_abs_err=None),
        _md_row("tfjs", "webgl", None, None, status="skipped", note="GPU rows only for small models"),
        _md_row("tfjs", "webgpu", None, None, status="skipped", note="GPU rows only for small models"),
    ]
    md = markdown({"machine": {"wasm_simd_peak_gflops": {"fma": {"1": 60.0, "2": 120.0, "accumulators": 10}},
                               "renderer_baseline_mb": 123.5}, "results": rows}, "webdnn bench")
    assert "### m (1.00 GFLOP per inference)" in md
    assert "| **webdnn** | webgpu ⚠ | – |" in md and "**unsupported**" in md and "op X \\| y" in md
    # threads, median/min/max, runs, cold cached/uncached, peak MB, GFLOP/s, % peak, err, x ORT 2T
    assert "| **webdnn** | wasm | 2 | 1.5 | 1.5 | 1.5 | 10 | 100 | 250 | 180 | 0.7 | 50 | 1.0e-06 | 0.75 |  |" in md
    assert "Not run: tfjs webgl, tfjs webgpu — GPU rows only for small models" in md
    assert "| m | 3.0 / 1.5 | – / 2.0 | 0.75 |" in md  # the summary: WebDNN wasm, ORT Web wasm at 1 / 2 threads
    assert "empty benchmark page peaks at 124 MB" in md
    assert "| f32x4.relaxed_madd (relaxed SIMD) | 10 | 60.0 | 120.0 |" in md


def test_merge_replaces_only_the_measured_rows() -> None:
    old = {"machine": {"date": "d0", "command": "webdnn bench --write"}, "results": [
        _md_row("onnxruntime-web", "wasm", 2, 2.0), _md_row("webdnn", "webgl", None, 40.0),
        _md_row("tfjs", "webgl", None, 10.0), {**_md_row("onnxruntime-web", "wasm", 2, 5.0), "model": "other"}]}
    new = {"machine": {"date": "d1", "git_commit": "abc", "loadavg_start": 0.1, "loadavg_end": 0.2,
                       "bench_seconds": 60.0}, "results": [
        _md_row("webdnn", "webgl", None, 8.0), _md_row("tfjs", "webgl", None, 10.0),
        _md_row("onnxruntime-web", "webgl", None, 12.0)]}
    merged = merge_reports(old, new, "webdnn bench --merge --write --backends webgl")
    rows = [(r["model"], r["runtime"], r["backend"], r["median_ms"], r.get("merged_run")) for r in merged["results"]]
    assert rows == [("m", "onnxruntime-web", "wasm", 2.0, None), ("m", "webdnn", "webgl", 8.0, 0),
                    ("m", "tfjs", "webgl", 10.0, 0), ("m", "onnxruntime-web", "webgl", 12.0, 0),
                    ("other", "onnxruntime-web", "wasm", 5.0, None)]
    assert merged["results"][1]["vs_ort_wasm_2t"] == pytest.approx(4.0)  # against the kept ORT 2T row
    assert merged["machine"]["date"] == "d0" and merged["machine"]["merged"][0]["git_commit"] == "abc"
    md = markdown(merged, "webdnn bench --write")
    assert "- Re-measured #1: 3 rows on d1, commit abc" in md
    assert "| **webdnn** | webgl ⚠ | – | 8.0 |" in md and "re-measured #1" in md
    again = merge_reports(merged, new, "second")  # a second merge appends its own record
    assert [m["command"] for m in again["machine"]["merged"]] == [
        "webdnn bench --merge --write --backends webgl", "second"]
    assert {r.get("merged_run") for r in again["results"] if r["backend"] == "webgl"} == {1}


def test_merge_keeps_rows_that_ran_on_fewer_threads_than_asked_apart() -> None:
    """An engine without workers (WebKitGTK) runs the 2-thread row on one thread: merged by the count asked for,
    that row replaces the old 2-thread row, not the 1-thread one."""
    def row(asked: int, ms: float) -> dict[str, object]:
        return {**_md_row("webdnn", "wasm", 1, ms), "threads_requested": asked}

    old = {"machine": {"date": "d0"}, "results": [row(1, 10.0), row(2, 11.0)]}
    new = {"machine": {"date": "d1"}, "results": [row(1, 20.0), row(2, 21.0)]}
    merged = merge_reports(old, new, "again")
    assert [(r["threads_requested"], r["median_ms"]) for r in merged["results"]] == [(1, 20.0), (2, 21.0)]


def test_rounds_pool_the_timed_runs() -> None:
    from webdnn.bench.run import _pool

    rows = [{**_md_row("webdnn", "wasm", 1, 10.0), "times_ms": [10.0, 11.0, 12.0]},
            _md_row("tfjs", "wasm", 1, None, status="error", note="x")]
    again = [{**_md_row("webdnn", "wasm", 1, 30.0), "times_ms": [30.0, 31.0]}, _md_row("tfjs", "wasm", 1, 5.0)]
    _pool(rows, again)
    assert rows[0]["times_ms"] == [10.0, 11.0, 12.0, 30.0, 31.0] and rows[0]["median_ms"] == 12.0
    assert rows[0]["runs"] == 5 and rows[0]["rounds"] == 2 and rows[0]["max_ms"] == 31.0
    assert rows[1]["status"] == "error" and rows[1]["median_ms"] is None  # a failed row stays as it was


def test_frontends_table(tmp_path: object) -> None:
    """The recorded frontend run: one line per model and thread count, ratios to the ONNX route."""
    rows = [_md_row(rt, "wasm", 2, ms) for rt, ms in
            (("webdnn", 100.0), ("webdnn-keras", 102.0), ("webdnn-tfjs", 99.0), ("tfjs", 250.0))]
    path = os.path.join(str(tmp_path), "frontends.json")
    with open(path, "w") as f:
        json.dump({"machine": {"date": "d", "git_commit": "c", "cpu": "cpu", "cores": 2, "command": "cmd"},
                   "results": rows}, f)
    lines = _frontends_lines(path)
    assert any(ln.startswith("| m | 2 | 100.0 | 102.0 | 1.02 | 99.0 | 0.99 | 250.0 | 2.5× faster |") for ln in lines)
    assert _frontends_lines(os.path.join(str(tmp_path), "absent.json")) == []


@pytest.mark.browser
def test_bench_quick_json() -> None:
    if bench_node_modules() is None:
        pytest.skip("bench/node_modules is absent: the peers are installed by `cd bench && npm ci` (make bench-deps)")
    keras = os.path.exists(os.path.join(REPO_ROOT, "build", "keras-venv", "bin", "python"))
    cmd = [sys.executable, "-m", "webdnn.cli", "bench", "--quick", "--json", "-q", "--models", "squeezenet1_1",
           "--runtimes", "webdnn,onnxruntime-web,onnxruntime-native,tfjs,webdnn-tfjs"
           + (",webdnn-keras" if keras else ""), "--backends", "fallback,wasm,cpu",
           "--threads", "2", "--repeat", "3", "--warmup", "1"]
    src = os.path.join(os.path.dirname(__file__), "..", "..", "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    report = json.loads(p.stdout)  # exactly one JSON object on stdout
    assert set(report) == {"machine", "results"}
    m = report["machine"]
    assert m["versions"]["onnxruntime-web"] and m["browser"]
    assert (m["renderer_baseline_mb"] > 10) if LINUX else m["renderer_baseline_mb"] is None
    peak = m["wasm_simd_peak_gflops"]
    assert peak["muladd"]["1"] > 1 and peak["fma"]["2"] > 1
    rows = {(r["runtime"], r["backend"]): r for r in report["results"]}
    # TF.js runs its own files (model.json written by TF.js); WebDNN converts those and the .keras Keras
    # makes of them: the frontend rows of docs/benchmarks.md.
    required = {("webdnn", "fallback"), ("onnxruntime-web", "wasm"), ("onnxruntime-native", "cpu"),
                ("tfjs", "wasm"), ("webdnn-tfjs", "wasm")} | ({("webdnn-keras", "wasm")} if keras else set())
    assert required <= set(rows)
    # WebDNN backends other than fallback appear as they are registered; their own tests judge them.
    assert {k[0] for k in set(rows) - required} <= {"webdnn"}
    for key, r in rows.items():
        assert RESULT_KEYS <= set(r), RESULT_KEYS - set(r)
        assert r["model"] == "squeezenet1_1" and r["status"] in ("ok", "unsupported", "error"), r
        if key not in required and r["status"] != "ok":
            assert r["note"] and r["median_ms"] is None
            continue
        assert r["status"] == "ok", r
        assert r["runs"] == 3 and 0 < r["min_ms"] <= r["median_ms"] <= r["max_ms"]
        assert r["cold_start_ms"] > 0 and r["gflops"] > 0
        assert r["max_abs_err"] is not None and r["max_abs_err"] < 1e-3, r
        if key[0] == "onnxruntime-native":  # no HTTP cache, no renderer
            assert r["cold_start_uncached_ms"] is None and r["peak_memory_mb"] is None
            continue
        # cached <= uncached is likely, not guaranteed: only that both were measured, on the pages meant
        assert r["cold_start_uncached_ms"] > 0 and 0 < r["load_ms"] <= r["cold_start_ms"], r
        assert r["http_cache_fraction_uncached"] < 0.05 and r["http_cache_fraction"] > 0.95, r
        assert (r["peak_memory_mb"] > m["renderer_baseline_mb"] / 2) if LINUX else r["peak_memory_mb"] is None
        assert isinstance(r["threads"], int) and 1 <= r["threads"] <= 2, r
    assert rows[("onnxruntime-web", "wasm")]["threads"] == 2  # cross-origin isolated: threads work
    assert rows[("onnxruntime-web", "wasm")]["vs_ort_wasm_2t"] == pytest.approx(1.0)
    assert rows[("webdnn", "fallback")]["peak_fraction"] > 0
    assert rows[("webdnn", "fallback")]["threads"] == 1
    w = rows.get(("webdnn", "wasm"))
    if w is not None and w["status"] == "ok":  # asked for 2 threads: the row holds what the runtime used
        info = w.get("backend_info") or {}
        assert w["threads_requested"] == 2 and w["threads"] == info.get("threads", 1)


@pytest.mark.node
def test_node_webgpu_row_on_swiftshader(tmp_path: object) -> None:
    """`--node-webgpu`: the webgpu backend timed in Node through Dawn (here on SwiftShader), same inputs."""
    import numpy as np
    from onnx import helper

    from tests.conftest import F32, make_model
    from webdnn.backends.webgpu.node import swiftshader_env
    from webdnn.bench.models import PreparedModel
    from webdnn.bench.run import BenchOptions, _finish_rows, _node_webgpu_row
    from webdnn.convert import convert
    from webdnn.verify import reference_outputs

    if swiftshader_env() is None:
        pytest.fail("Chromium's SwiftShader Vulkan driver is missing (apt install chromium)")
    d = str(tmp_path)
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    model = make_model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], [("x", F32, [1, 3, 8, 8])],
                       ["y"], {"w": w})
    path = os.path.join(d, "m.onnx")
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    inputs = {"x": rng.standard_normal((1, 3, 8, 8)).astype(np.float32)}
    out = os.path.join(d, "out")
    convert(path, out, ["webgpu"], {"x": (1, 3, 8, 8)})
    pm = PreparedModel("tiny", d, path, inputs, reference_outputs(path, inputs), 2 * 4 * 27 * 64, webdnn_dir=out,
                       webdnn_backends={"webgpu": "ok"})
    opts = BenchOptions(node_webgpu="swiftshader")
    row = _node_webgpu_row(pm, opts)
    _finish_rows([row], pm, None)
    assert row["status"] == "ok", row["note"]
    assert row["platform"] == "node" and row["software_gpu"] and "not a speed claim" in row["note"]
    assert row["median_ms"] > 0 and row["max_abs_err"] is not None and row["max_abs_err"] < 1e-4


class _FakeBrowser:
    """A session whose pages fail (dead) or load (alive), counting starts and stops."""

    name = "WebKit"
    started: list[_FakeBrowser] = []

    def __init__(self, engine: str = "webkit", dead: bool = False) -> None:
        self.dead, self.closed = dead, False

    def __enter__(self) -> _FakeBrowser:
        _FakeBrowser.started.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed = True

    def new_page(self) -> object:
        if self.dead:
            raise RuntimeError("WebKitWebDriver POST /session/x/url: invalid session id")
        return type("Page", (), {"goto": lambda self, url: None, "close": lambda self, **kw: None})()


def test_a_browser_that_died_on_a_row_is_restarted_for_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_page, "Browser", _FakeBrowser)
    s = BenchSession("/tmp", engine="webkit")
    dead = _FakeBrowser(dead=True)
    s._browser = dead  # type: ignore[assignment]

    def crash(*args: object) -> dict[str, object]:
        raise WebDNNError("no result within 300 s")

    monkeypatch.setattr(s, "_run", crash)
    with pytest.raises(WebDNNError, match="died on this job; restarted"):
        s.run({}, 1.0)
    assert dead.closed and s._browser is _FakeBrowser.started[-1] and not s._browser.dead  # type: ignore[attr-defined]
    s._browser = _FakeBrowser()  # type: ignore[assignment]  # alive: a row's own failure leaves the session as it is
    kept = s._browser
    with pytest.raises(WebDNNError, match="no result within 300 s$"):
        s.run({}, 1.0)
    assert s._browser is kept
