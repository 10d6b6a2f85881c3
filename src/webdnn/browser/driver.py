"""Drive headless Chromium (Playwright, Debian's chromium) to run converted models.

One `Browser` is one Chromium session; `run_model` serves the model, the runtime and
the inputs from a local COOP/COEP server and runs them on the harness page.
`run_models` runs many models on one server and one page (conformance suites).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import numpy as np

from webdnn.browser.io import from_bytes, write_inputs
from webdnn.browser.paths import runtime_dist
from webdnn.browser.server import STRICT_CSP, StaticServer
from webdnn.errors import WebDNNError

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--enable-unsafe-webgpu",
]
HARNESS_HTML = (
    "<!doctype html><meta charset='utf-8'><title>webdnn</title>"
    "<script type='module' src='/runtime/harness.mjs'></script>"
)


def _wait_upload(srv: StaticServer, key: str, timeout_s: float) -> bytes | None:
    """The body POSTed to `key`, or None after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    delay = 0.0005
    while key not in srv.uploads:
        if time.monotonic() > deadline:
            return None
        time.sleep(delay)
        delay = min(delay * 2, 0.01)
    return srv.uploads[key]


def find_chromium() -> str:
    candidates = (os.environ.get("WEBDNN_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"))
    for c in candidates:
        if c and os.path.exists(c):
            return c
    raise WebDNNError("no Chromium found: install it (`apt-get install -y chromium`) or set WEBDNN_CHROMIUM")


@dataclass
class RunResult:
    backend: str
    load_ms: float
    first_run_ms: float
    times_ms: list[float]
    outputs: dict[str, np.ndarray]
    cross_origin_isolated: bool = False
    csp_violations: list[str] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return float(np.median(self.times_ms)) if self.times_ms else self.first_run_ms


@dataclass
class ModelJob:
    """One model to run in a batch (`Browser.run_models`)."""

    model_dir: str
    inputs: Mapping[str, np.ndarray]


# Starts runModel without awaiting it; the page POSTs {result} or {error} to `done` when
# it ends. The driver waits for that upload, not on the page: a kernel stuck in a
# synchronous loop blocks the page and every Playwright call into it (`evaluate` and
# `wait_for_function` never return then, whatever their timeout).
_START_JOB = """({ args, done }) => {
  globalThis.__webdnn.runModel(args).then(
    (result) => ({ result }),
    (e) => ({ error: e && e.stack ? String(e.stack) : String(e) }),
  ).then((msg) => fetch(done, { method: "POST", body: JSON.stringify(msg) }));
}"""


class Browser:
    """A headless Chromium session. Use as a context manager."""

    def __init__(self, extra_args: Sequence[str] = ()) -> None:
        self.extra_args = list(extra_args)
        self._pw: Any = None
        self._ctx: Any = None
        self._profile = ""

    def __enter__(self) -> Browser:
        from playwright.sync_api import sync_playwright

        self._profile = tempfile.mkdtemp(prefix="webdnn-chromium-")
        self._pw = sync_playwright().start()
        self._ctx = self._pw.chromium.launch_persistent_context(
            self._profile,
            executable_path=find_chromium(),
            headless=True,
            args=CHROMIUM_ARGS + self.extra_args,
        )
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        try:
            if self._ctx:
                self._ctx.close()
            if self._pw:
                self._pw.stop()
        finally:
            shutil.rmtree(self._profile, ignore_errors=True)

    def new_page(self) -> Any:
        """A fresh page in this session (Playwright Page); close it when done."""
        return self._ctx.new_page()

    def run_model(
        self,
        model_dir: str,
        inputs: Mapping[str, np.ndarray],
        backend_order: Sequence[str] = ("fallback",),
        warmup: int = 0,
        repeat: int = 1,
        csp: bool = False,
        isolate: bool = True,
    ) -> RunResult:
        with tempfile.TemporaryDirectory(prefix="webdnn-data-") as data:
            refs = write_inputs(inputs, data, url_prefix="/data/")
            mounts = {"/runtime/": runtime_dist(), "/model/": model_dir, "/data/": data}
            with StaticServer(mounts, isolate=isolate, csp=STRICT_CSP if csp else None,
                              pages={"/harness.html": HARNESS_HTML}) as srv:
                page = self._ctx.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                try:
                    page.goto(srv.url + "/harness.html")
                    page.wait_for_function("document.title === 'webdnn-harness-ready'", timeout=30_000)
                    args = {
                        "model": "/model/", "backendOrder": list(backend_order), "inputs": refs,
                        "warmup": warmup, "repeat": repeat, "uploadPrefix": "/upload/out",
                    }
                    try:
                        r = page.evaluate("args => globalThis.__webdnn.runModel(args)", args)
                    except Exception as e:
                        msg = str(e).split("\n")[0]
                        raise WebDNNError(f"running {model_dir} in Chromium failed: {msg}") from None
                    violations = page.evaluate("() => globalThis.__webdnn.violations")
                finally:
                    page.close()
                if errors:
                    raise WebDNNError(f"page errors while running {model_dir}: {errors}")
                outputs = {
                    o["name"]: from_bytes(srv.uploads[o["upload"]], o["dtype"], o["dims"]) for o in r["outputs"]
                }
        return RunResult(
            backend=r["backend"], load_ms=r["loadMs"], first_run_ms=r["firstRunMs"], times_ms=r["times"],
            outputs=outputs, cross_origin_isolated=r["crossOriginIsolated"], csp_violations=list(violations),
        )

    def run_models(
        self,
        jobs: Sequence[ModelJob],
        backend_order: Sequence[str] = ("fallback",),
        timeout_s: float = 30.0,
        isolate: bool = True,
    ) -> Iterator[RunResult | WebDNNError]:
        """Run each job once (no warm-up, no timing runs) on one server and one page.

        Yields, in job order, a RunResult or the WebDNNError that job ended with (load or
        run error, page error, or no answer within `timeout_s`). A job that hangs costs
        only its page: it is closed and a fresh page goes on with the next job.
        """
        with tempfile.TemporaryDirectory(prefix="webdnn-data-") as data:
            mounts = {"/runtime/": runtime_dist(), "/data/": data}
            mounts.update({f"/model/{i}/": job.model_dir for i, job in enumerate(jobs)})
            with StaticServer(mounts, isolate=isolate, pages={"/harness.html": HARNESS_HTML}) as srv:
                # Headers and body go out in separate writes: with Nagle's algorithm and the
                # client's delayed ACK every small response waits ~40 ms (200 ms per model).
                srv.httpd.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]
                page, errors = self._harness_page(srv.url)
                try:
                    for i, job in enumerate(jobs):
                        job_data = os.path.join(data, str(i))
                        os.makedirs(job_data)
                        args = {
                            "model": f"/model/{i}/", "backendOrder": list(backend_order), "warmup": 0, "repeat": 0,
                            "inputs": write_inputs(job.inputs, job_data, url_prefix=f"/data/{i}/"),
                            "uploadPrefix": f"/upload/{i}/out",
                        }
                        done = f"/upload/{i}/done"
                        errors.clear()
                        page.evaluate(_START_JOB, {"args": args, "done": done})
                        msg = _wait_upload(srv, done, timeout_s)
                        shutil.rmtree(job_data, ignore_errors=True)
                        uploads = {k: srv.uploads.pop(k) for k in list(srv.uploads) if k.startswith(f"/upload/{i}/")}
                        if msg is None:
                            # Closing a busy page makes Chromium drop its renderer; CDP's
                            # Runtime.terminateExecution would wait on the busy page itself.
                            page.close(run_before_unload=False)
                            page, errors = self._harness_page(srv.url)
                            yield WebDNNError(f"running {job.model_dir} in Chromium: no result within {timeout_s:g} s")
                            continue
                        r = json.loads(msg)
                        if "error" in r or errors:
                            text = r.get("error") or ""
                            if errors:
                                text += f"\npage errors: {errors}"
                            yield WebDNNError(text.strip().replace(srv.url, ""))
                            continue
                        res = r["result"]
                        outputs = {
                            o["name"]: from_bytes(uploads[o["upload"]], o["dtype"], o["dims"]) for o in res["outputs"]
                        }
                        yield RunResult(
                            backend=res["backend"], load_ms=res["loadMs"], first_run_ms=res["firstRunMs"],
                            times_ms=res["times"], outputs=outputs, cross_origin_isolated=res["crossOriginIsolated"],
                        )
                finally:
                    page.close(run_before_unload=False)

    def _harness_page(self, url: str) -> tuple[Any, list[str]]:
        """A new page showing the harness, and the list its uncaught errors go to."""
        page = self._ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url + "/harness.html")
        page.wait_for_function("document.title === 'webdnn-harness-ready'", timeout=30_000)
        return page, errors
