"""Many small models on one harness page: the call Browser.run_model makes (the harness's runModel: load the model,
a first run, `repeat` more, the last run's outputs) on a page and a static server kept for a whole test module.

A page, a server and the runtime's own load cost about 0.6 s of the 0.7 s a one-node model takes with
Browser.run_model; a module of a hundred such models spends a minute on them. Each model still gets its own
runner (load, runs, dispose), its own inputs and its own outputs; the page's uncaught errors during a run fail that
run; a run that throws gets the next model a fresh page. run_model_sizes is the harness's runSizes as
Browser.run_model_sizes calls it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from webdnn.browser.driver import HARNESS_HTML, Browser, RunResult, SizeRun
from webdnn.browser.io import check_inputs, from_bytes, model_inputs, typed_outputs, write_inputs
from webdnn.browser.paths import runtime_dist
from webdnn.browser.server import StaticServer
from webdnn.errors import WebDNNError


class SharedPage:
    def __init__(self, browser: Browser, server: StaticServer, data: str) -> None:
        self.browser = browser
        self.server = server
        self.data = data
        self.count = 0
        self.page: Any = None
        self.errors: list[str] = []

    def _open(self) -> None:
        self.page = self.browser.new_page()
        self.errors = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(self.server.url + "/harness.html")
        self.page.wait_for_function("document.title === 'webdnn-harness-ready'", timeout=30_000)

    def close(self) -> None:
        if self.page is not None:
            self.page.close()
            self.page = None

    def _evaluate(self, model_dir: str, call: str, args: dict[str, Any]) -> Any:
        """`globalThis.__webdnn.<call>(args)` for the model in `model_dir`: `args` get its URL as `model` and an
        uploadPrefix of their own."""
        k = self.count
        self.count += 1
        self.server.mounts[f"/model/{k}/"] = os.path.abspath(model_dir)
        try:
            if self.page is None:
                self._open()
            self.errors.clear()
            r = self.page.evaluate(f"args => globalThis.__webdnn.{call}(args)",
                                   {**args, "model": f"/model/{k}/", "uploadPrefix": f"/upload/{k}/out"})
        except Exception as e:
            self.close()  # the next model gets a fresh page
            msg = str(e).split("\n")[0]
            raise WebDNNError(f"running {model_dir} in {self.browser.name} failed: {msg}") from None
        finally:
            del self.server.mounts[f"/model/{k}/"]
        if self.errors:
            raise WebDNNError(f"page errors while running {model_dir}: {self.errors}")
        return r

    @contextmanager
    def _inputs(self, input_sets: Sequence[Mapping[str, np.ndarray]]) -> Iterator[list[list[dict[str, Any]]]]:
        """Each set of inputs written where the page fetches it (write_inputs' references), for one run."""
        data = tempfile.mkdtemp(dir=self.data)
        try:
            refs = []
            for i, inputs in enumerate(input_sets):
                os.makedirs(os.path.join(data, str(i)))
                refs.append(write_inputs(inputs, os.path.join(data, str(i)),
                                         url_prefix=f"/data/{os.path.basename(data)}/{i}/"))
            yield refs
        finally:
            shutil.rmtree(data, ignore_errors=True)

    def _outputs(self, refs: list[dict[str, Any]]) -> dict[str, np.ndarray]:
        return {o["name"]: from_bytes(self.server.uploads.pop(o["upload"]), o["dtype"], o["dims"]) for o in refs}

    def run_model(self, model_dir: str, inputs: Mapping[str, np.ndarray], backend_order: Sequence[str] = ("fallback",),
                  repeat: int = 1, backend_options: Mapping[str, Any] | None = None) -> RunResult:
        """As Browser.run_model (warmup 0, COOP/COEP, no CSP)."""
        check_inputs(inputs, model_inputs(model_dir), model_dir)
        with self._inputs([inputs]) as refs:
            r = self._evaluate(model_dir, "runModel", {
                "backendOrder": list(backend_order), "inputs": refs[0], "backendOptions": dict(backend_options or {}),
                "warmup": 0, "repeat": repeat})
        return RunResult(
            backend=r["backend"], load_ms=r["loadMs"], first_run_ms=r["firstRunMs"], times_ms=r["times"],
            outputs=typed_outputs(model_dir, self._outputs(r["outputs"])),
            cross_origin_isolated=r["crossOriginIsolated"], progress=r.get("progress", []),
            backend_info=r.get("backendInfo") or {},
        )

    def run_model_sizes(self, model_dir: str, input_sets: Sequence[Mapping[str, np.ndarray]],
                        backend_order: Sequence[str] = ("fallback",), repeat: int = 1, alternate: int = 0,
                        backend_options: Mapping[str, Any] | None = None, check: bool = True
                        ) -> tuple[str, dict[str, Any], list[SizeRun]]:
        """As Browser.run_model_sizes (COOP/COEP, no CSP)."""
        specs = model_inputs(model_dir)
        for inputs in input_sets if check else ():
            check_inputs(inputs, specs, model_dir)
        with self._inputs(input_sets) as refs:
            r = self._evaluate(model_dir, "runSizes", {
                "backendOrder": list(backend_order), "sets": refs, "backendOptions": dict(backend_options or {}),
                "repeat": repeat, "alternate": alternate})
        runs = [SizeRun(s["firstRunMs"], s["times"], s["alternateTimes"], self._outputs(s["outputs"]))
                for s in r["sets"]]
        return r["backend"], r.get("backendInfo") or {}, runs


@contextmanager
def shared_page(browser: Browser) -> Iterator[SharedPage]:
    data = tempfile.mkdtemp(prefix="webdnn-shared-page-")
    try:
        with StaticServer({"/runtime/": runtime_dist(), "/data/": data}, isolate=True,
                          pages={"/harness.html": HARNESS_HTML}) as srv:
            page = SharedPage(browser, srv, data)
            try:
                yield page
            finally:
                page.close()
    finally:
        shutil.rmtree(data, ignore_errors=True)
