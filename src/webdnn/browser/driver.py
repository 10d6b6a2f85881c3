"""Drive a headless browser to run converted models: Chromium (Playwright, Debian's chromium), Firefox
(Debian's firefox-esr over WebDriver BiDi, firefox.py) or WebKit (WebKitGTK's MiniBrowser over WebDriver,
webkit.py).

One `Browser` is one browser session; `run_model` serves the model, the runtime and the inputs from a
local COOP/COEP server and runs them on the harness page, the same way in every engine.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import numpy as np

from webdnn.browser.io import check_inputs, from_bytes, model_inputs, typed_outputs, write_inputs
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
    # Dawn zero-fills workgroup memory in every shader and SwiftShader compiles that fill
    # unrolled (seconds per tiled-matmul pipeline). WebDNN's shaders write workgroup memory
    # before reading it, so results are identical; every WebGPU page in the session gets it.
    "--enable-dawn-features=disable_workgroup_init",
]
HARNESS_HTML = (
    "<!doctype html><meta charset='utf-8'><title>webdnn</title>"
    "<script type='module' src='/runtime/harness.mjs'></script>"
)


def find_chromium() -> str:
    candidates = (os.environ.get("WEBDNN_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"))
    for c in candidates:
        if c and os.path.exists(c):
            return c
    raise WebDNNError("no Chromium found: install it (`apt-get install -y chromium`) or set WEBDNN_CHROMIUM")


@dataclass
class SizeRun:
    """One input size of a multi-size run (run_model_sizes, run_model_node_sizes): the first run
    (which makes that size's session), the timed repeats, the timed runs while alternating
    between the sizes, and the outputs."""

    first_run_ms: float
    times_ms: list[float]
    alternate_ms: list[float]
    outputs: dict[str, np.ndarray]


@dataclass
class RunResult:
    backend: str
    load_ms: float
    first_run_ms: float
    times_ms: list[float]
    outputs: dict[str, np.ndarray]
    cross_origin_isolated: bool = False
    csp_violations: list[str] = field(default_factory=list)
    progress: list[dict[str, Any]] = field(default_factory=list)  # the onProgress events of load()
    backend_info: dict[str, Any] = field(default_factory=dict)  # Runner.backendInfo, e.g. wasm threads

    @property
    def median_ms(self) -> float:
        return float(np.median(self.times_ms)) if self.times_ms else self.first_run_ms


ENGINES = ("chromium", "firefox", "webkit")
ENGINE_NAMES = {"chromium": "Chromium", "firefox": "Firefox", "webkit": "WebKit"}


class Browser:
    """A headless browser session (`engine`: chromium, firefox or webkit). Use as a context manager.
    `extra_args`: Chromium command-line flags (Chromium only)."""

    def __init__(self, extra_args: Sequence[str] = (), engine: str = "chromium") -> None:
        if engine not in ENGINES:
            raise WebDNNError(f"unknown browser engine {engine!r}: use one of {', '.join(ENGINES)}")
        self.engine = engine
        self.name = ENGINE_NAMES[engine]
        self.extra_args = list(extra_args)
        self._pw: Any = None
        self._ctx: Any = None
        self._session: Any = None  # FirefoxSession or WebKitSession
        self._profile = ""

    def __enter__(self) -> Browser:
        if self.engine == "firefox":
            from webdnn.browser.firefox import FirefoxSession

            self._session = FirefoxSession()
            return self
        if self.engine == "webkit":
            from webdnn.browser.webkit import WebKitSession

            self._session = WebKitSession()
            return self
        try:
            from playwright.sync_api import sync_playwright
        except ImportError as e:  # an optional extra: the converter and Node runs do without it
            raise WebDNNError(
                "running in headless Chromium needs Playwright, which is not installed: "
                "`pip install 'webdnn[browser]'` (or run in Node: `--node`)"
            ) from e

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
        if self._session is not None:
            self._session.close()
            return
        try:
            if self._ctx:
                self._ctx.close()
            if self._pw:
                self._pw.stop()
        finally:
            shutil.rmtree(self._profile, ignore_errors=True)

    @property
    def profile_dir(self) -> str:
        """The session's (temporary) Chromium profile directory; '' before the session starts."""
        return self._profile

    @property
    def version(self) -> str:
        """The engine's name and version."""
        if self._session is not None:
            return f"{self.name} {self._session.version}".replace(f"{self.name} Mozilla Firefox", "Firefox")
        return f"Chromium {self._ctx.browser.version}" if self._ctx and self._ctx.browser else "Chromium"

    def other_context(self, extra_args: Sequence[str], profile: str) -> Any:
        """Another Chromium of this Playwright session, with its own flags and profile directory (e.g. a fake camera
        device); a Playwright BrowserContext: close it when done. Chromium only."""
        if self._pw is None:
            raise WebDNNError(f"other_context needs a running Chromium session, not {self.name}")
        return self._pw.chromium.launch_persistent_context(
            profile, executable_path=find_chromium(), headless=True, args=CHROMIUM_ARGS + list(extra_args))

    def new_page(self) -> Any:
        """A fresh page in this session (a Playwright Page in Chromium; in Firefox and WebKit a page.ScriptPage
        with the part of that API the runner uses); close it when done."""
        if self._session is not None:
            return self._session.new_page()
        return self._ctx.new_page()

    def run_model_sizes(
        self,
        model_dir: str,
        input_sets: Sequence[Mapping[str, np.ndarray]],
        backend_order: Sequence[str] = ("fallback",),
        repeat: int = 1,
        alternate: int = 0,
        csp: bool = False,
        backend_options: Mapping[str, Any] | None = None,
        check: bool = True,
    ) -> tuple[str, dict[str, Any], list[SizeRun]]:
        """A model with symbolic dims at several input sizes in one page and one load (harness
        runSizes): each set in turn, then `alternate` rounds of the sets in turn. Returns (backend,
        backendInfo, one SizeRun per set). `check=False` leaves the inputs' checks to the runtime."""
        specs = model_inputs(model_dir)
        for inputs in input_sets if check else ():
            check_inputs(inputs, specs, model_dir)
        with tempfile.TemporaryDirectory(prefix="webdnn-data-") as data:
            sets = []
            for k, inputs in enumerate(input_sets):
                os.makedirs(os.path.join(data, f"s{k}"))
                sets.append(write_inputs(inputs, os.path.join(data, f"s{k}"), url_prefix=f"/data/s{k}/"))
            mounts = {"/runtime/": runtime_dist(), "/model/": model_dir, "/data/": data}
            with StaticServer(mounts, isolate=True, csp=STRICT_CSP if csp else None,
                              pages={"/harness.html": HARNESS_HTML}) as srv:
                page = self.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                try:
                    page.goto(srv.url + "/harness.html")
                    page.wait_for_function("document.title === 'webdnn-harness-ready'", timeout=30_000)
                    args = {"model": "/model/", "backendOrder": list(backend_order), "sets": sets,
                            "backendOptions": dict(backend_options or {}), "repeat": repeat, "alternate": alternate,
                            "uploadPrefix": "/upload/out"}
                    try:
                        r = page.evaluate("args => globalThis.__webdnn.runSizes(args)", args)
                    except Exception as e:
                        msg = str(e).splitlines()[0]
                        raise WebDNNError(f"running {model_dir} in {self.name} failed: {msg}") from None
                finally:
                    page.close()
                if errors:
                    raise WebDNNError(f"page errors while running {model_dir}: {errors}")
                runs = [SizeRun(s["firstRunMs"], s["times"], s["alternateTimes"],
                                {o["name"]: from_bytes(srv.uploads[o["upload"]], o["dtype"], o["dims"])
                                 for o in s["outputs"]}) for s in r["sets"]]
        return r["backend"], r.get("backendInfo") or {}, runs

    def run_model(
        self,
        model_dir: str,
        inputs: Mapping[str, np.ndarray],
        backend_order: Sequence[str] = ("fallback",),
        warmup: int = 0,
        repeat: int = 1,
        csp: bool = False,
        isolate: bool = True,
        backend_options: Mapping[str, Any] | None = None,
    ) -> RunResult:
        check_inputs(inputs, model_inputs(model_dir), model_dir)
        with tempfile.TemporaryDirectory(prefix="webdnn-data-") as data:
            refs = write_inputs(inputs, data, url_prefix="/data/")
            mounts = {"/runtime/": runtime_dist(), "/model/": model_dir, "/data/": data}
            with StaticServer(mounts, isolate=isolate, csp=STRICT_CSP if csp else None,
                              pages={"/harness.html": HARNESS_HTML}) as srv:
                page = self.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                try:
                    page.goto(srv.url + "/harness.html")
                    page.wait_for_function("document.title === 'webdnn-harness-ready'", timeout=30_000)
                    args = {
                        "model": "/model/", "backendOrder": list(backend_order), "inputs": refs,
                        "backendOptions": dict(backend_options or {}),
                        "warmup": warmup, "repeat": repeat, "uploadPrefix": "/upload/out",
                    }
                    try:
                        r = page.evaluate("args => globalThis.__webdnn.runModel(args)", args)
                    except Exception as e:
                        msg = str(e).split("\n")[0]
                        raise WebDNNError(f"running {model_dir} in {self.name} failed: {msg}") from None
                    violations = page.evaluate("() => globalThis.__webdnn.violations")
                finally:
                    page.close()
                if errors:
                    raise WebDNNError(f"page errors while running {model_dir}: {errors}")
                outputs = typed_outputs(model_dir, {
                    o["name"]: from_bytes(srv.uploads[o["upload"]], o["dtype"], o["dims"]) for o in r["outputs"]
                })
        return RunResult(
            backend=r["backend"], load_ms=r["loadMs"], first_run_ms=r["firstRunMs"], times_ms=r["times"],
            outputs=outputs, cross_origin_isolated=r["crossOriginIsolated"], csp_violations=list(violations),
            progress=r.get("progress", []), backend_info=r.get("backendInfo") or {},
        )
