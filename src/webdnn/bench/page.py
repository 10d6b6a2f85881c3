"""Run benchmark jobs in one headless Chromium session, one fresh page per job.

The server mounts the built runtime (/runtime/), bench/ with its node_modules (/bench/) and the
prepared models (/work/); every response carries COOP/COEP, so pages are cross-origin isolated
and wasm threads work, and files may be cached for an hour (`max_age`), so that a second page
loads them from Chromium's HTTP cache as a returning visitor's would. A job that does not answer
within its timeout costs only its page.

Memory: on Linux, the peak resident set (VmHWM) of the renderer process that ran the page. Every
page runs in a renderer of its own (Chromium gives each new tab one), its workers are threads of
it, so this counts the JS heaps, wasm memories, compiled code and the renderer's own baseline,
not the GPU process. The page's renderer is the one that used the most CPU time during the job;
high-water marks of the session's renderers are reset (/proc/PID/clear_refs) before each page.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np

from webdnn.browser.driver import Browser
from webdnn.browser.io import from_bytes
from webdnn.browser.paths import REPO_ROOT, runtime_dist
from webdnn.browser.server import StaticServer
from webdnn.errors import WebDNNError

BENCH_DIR = os.path.join(REPO_ROOT, "bench")
BENCH_HTML = (
    "<!doctype html><meta charset='utf-8'><title>webdnn-bench</title>"
    "<script type='module' src='/bench/page/bench.mjs'></script>"
)
# TF.js wasm sizes its pool as hardwareConcurrency / 2; pages that run TF.js see this many cores
# (CDP Emulation.setHardwareConcurrencyOverride) so that setThreadsCount(2) is honoured.
TFJS_HARDWARE_CONCURRENCY = 4
_START = """({ job, done }) => { globalThis.__bench.startJob(job, done); }"""
CACHE_MAX_AGE_S = 3600


@dataclass
class _Renderer:
    cpu_ticks: int
    hwm_bytes: int


def _renderers(profile: str) -> dict[int, _Renderer]:
    """The renderer processes of the Chromium session using `profile` (Linux /proc; {} elsewhere).

    Leaves out the headless shell's own WebUI renderer. Chromium rewrites its argv, so the command
    line is one space-separated string."""
    if not sys.platform.startswith("linux"):
        return {}
    marker = f"--user-data-dir={profile}".encode()
    out: dict[int, _Renderer] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                args = f.read().replace(b"\0", b" ").split(b" ")
            if b"--type=renderer" not in args or marker not in args or b"--top-chrome-webui" in args:
                continue
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{d}/status") as f:
                hwm = next((ln.split()[1] for ln in f if ln.startswith("VmHWM:")), None)
        except OSError:  # gone meanwhile
            continue
        if hwm is not None:
            out[int(d)] = _Renderer(int(fields[11]) + int(fields[12]), int(hwm) * 1024)
    return out


def _reset_peaks(pids: list[int]) -> None:
    """Reset the peak RSS of these processes to their current RSS (Linux >= 4.0)."""
    for pid in pids:
        try:
            with open(f"/proc/{pid}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass


def _page_peak(before: dict[int, _Renderer], after: dict[int, _Renderer]) -> int | None:
    """VmHWM of the renderer that used the most CPU time between the two snapshots."""
    if not after:
        return None
    pid = max(after, key=lambda p: after[p].cpu_ticks - (before[p].cpu_ticks if p in before else 0))
    return after[pid].hwm_bytes


def bench_node_modules() -> str | None:
    """bench/node_modules if `cd bench && npm ci` ran, else None."""
    d = os.path.join(BENCH_DIR, "node_modules")
    return d if os.path.isdir(os.path.join(d, "onnxruntime-web")) else None


def peak_wasm() -> str:
    """bench/build/peak.wasm, built from bench/tools/build-peak.mjs (npm wabt) when missing or stale."""
    src = os.path.join(BENCH_DIR, "tools", "build-peak.mjs")
    out = os.path.join(BENCH_DIR, "build", "peak.wasm")
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(src):
        subprocess.run(["node", src], check=True, capture_output=True, cwd=BENCH_DIR)
    return out


class BenchSession:
    """One browser session + one server for a whole benchmark run. Use as a context manager.
    `engine`: chromium (everything below), or firefox / webkit, where the renderer's memory peak and the CPU-count
    override are Chromium (CDP) facilities that are not there; Firefox's uncached page bypasses the HTTP cache
    (WebDriver BiDi), WebKit's cannot (its rows say so)."""

    def __init__(self, work_dir: str, engine: str = "chromium") -> None:
        self.work_dir = work_dir
        self.engine = engine
        self._browser = Browser(engine=engine)
        self._srv: StaticServer | None = None
        self._ids = itertools.count()

    @property
    def browser_version(self) -> str:
        return self._browser.version

    def __enter__(self) -> BenchSession:
        mounts = {"/runtime/": runtime_dist(), "/bench/": BENCH_DIR, "/work/": self.work_dir}
        self._srv = StaticServer(mounts, pages={"/bench.html": BENCH_HTML}, max_age=CACHE_MAX_AGE_S).__enter__()
        self._srv.httpd.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]
        self._browser.__enter__()
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        try:
            self._browser.__exit__(t, e, tb)
        finally:
            if self._srv:
                self._srv.__exit__()

    def run(self, job: dict[str, Any], timeout_s: float, hardware_concurrency: int | None = None,
            clear_cache: bool = False) -> dict[str, Any]:
        """Run one job on a fresh page; returns the page's result with outputs as numpy arrays, and
        `renderer_peak_bytes` (see the module's docstring; None where /proc is not there).

        `clear_cache`: empty Chromium's HTTP cache first (CDP Network.clearBrowserCache), so that the
        page fetches every file from the server. Raises WebDNNError with the page's message on
        failure or timeout. A browser that died on the job (WebKitGTK 2.50's JavaScriptCore crashed once on ONNX
        Runtime Web's ResNet50, and every later row of the run then failed) is restarted, so the next job gets a
        working session; the failed job's error says so."""
        try:
            return self._run(job, timeout_s, hardware_concurrency, clear_cache)
        except Exception as e:
            if self._alive():
                raise
            self._restart()
            raise WebDNNError(f"{e}\n(the {self._browser.name} session died on this job; restarted for the next one)"
                              ) from e

    def _alive(self) -> bool:
        """Whether the browser still opens and loads a page."""
        try:
            page = self._browser.new_page()
            try:
                page.goto("about:blank")
            finally:
                page.close(run_before_unload=False)
            return True
        except Exception:
            return False

    def _restart(self) -> None:
        try:
            self._browser.__exit__(None, None, None)
        except Exception:  # a dead session need not close cleanly: its driver and browser processes are ended anyway
            pass
        self._browser = Browser(engine=self.engine)
        self._browser.__enter__()

    def _run(self, job: dict[str, Any], timeout_s: float, hardware_concurrency: int | None,
             clear_cache: bool) -> dict[str, Any]:
        srv = self._srv
        assert srv is not None
        i = next(self._ids)
        job = {**job, "uploadPrefix": f"/upload/{i}/out"}
        done = f"/upload/{i}/done"
        chromium = self.engine == "chromium"
        profile = self._browser.profile_dir
        if chromium:
            _reset_peaks(list(_renderers(profile)))
        before = _renderers(profile) if chromium else {}
        page = self._browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            if clear_cache and self.engine == "firefox":  # WebDriver BiDi: this tab bypasses the HTTP cache
                page.session.command("network.setCacheBehavior", {"cacheBehavior": "bypass",
                                                                   "contexts": [page.context]})
            if chromium and (hardware_concurrency or clear_cache):
                cdp = page.context.new_cdp_session(page)
                if clear_cache:
                    cdp.send("Network.clearBrowserCache")
                if hardware_concurrency:
                    cdp.send("Emulation.setHardwareConcurrencyOverride", {"hardwareConcurrency": hardware_concurrency})
            page.goto(srv.url + "/bench.html")
            page.wait_for_function("document.title === 'webdnn-bench-ready'", timeout=30_000)
            page.evaluate(_START, {"job": job, "done": done})
            msg = _wait_upload(srv, done, timeout_s)
            peak = _page_peak(before, _renderers(profile)) if chromium else None
            uploads = {k: srv.uploads.pop(k) for k in list(srv.uploads) if k.startswith(f"/upload/{i}/")}
            if msg is None:
                raise WebDNNError(f"no result within {timeout_s:g} s")
            r = json.loads(msg)
            if "error" in r:
                text = str(r["error"]).replace(srv.url, "")
                if errors:
                    text += f"\npage errors: {errors}"
                raise WebDNNError(text)
            res: dict[str, Any] = r["result"]
            outs: dict[str, np.ndarray] = {}
            for o in res.pop("outputs", None) or []:
                outs[o["name"]] = from_bytes(uploads[o["upload"]], _dtype(o["dtype"]), o["dims"])
            res["outputs"] = outs
            res["renderer_peak_bytes"] = peak
            return res
        finally:
            page.close(run_before_unload=False)


def _dtype(d: str) -> str:
    return {"bool": "bool"}.get(d, d)


def _wait_upload(srv: StaticServer, key: str, timeout_s: float) -> bytes | None:
    """The body POSTed to `key`, or None after `timeout_s` (the page may be stuck in a loop)."""
    deadline = time.monotonic() + timeout_s
    while key not in srv.uploads:
        if time.monotonic() > deadline:
            return None
        time.sleep(0.005)
    return srv.uploads[key]
