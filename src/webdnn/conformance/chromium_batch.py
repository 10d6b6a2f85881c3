"""Run many converted models in one browser page (chromium_job.js), per-job timeout; Chromium's
page here, or Firefox's or WebKit's through the same page API (browser/page.py).

One browser session, one static server (runtime, harness page, large files, results)
and one page for the whole batch. Small model files and inputs travel inline with the
job (a request costs ~4 ms here; the conformance models are a few KiB), which makes
a job ~10 ms instead of ~25 ms. The driver waits for the page's POST, never on the page:
a kernel stuck in a synchronous loop blocks the page and every Playwright call into it
(`evaluate` and `wait_for_function` then never return, whatever their timeout). Such a
page is closed (Chromium drops its busy renderer) and a fresh page takes the next job.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from webdnn.browser.driver import HARNESS_HTML, Browser, RunResult
from webdnn.browser.io import from_bytes
from webdnn.browser.paths import runtime_dist
from webdnn.browser.server import StaticServer
from webdnn.conformance.batch import ModelJob, Outcome
from webdnn.errors import WebDNNError
from webdnn.ir.dtypes import DType
from webdnn.ir.narrow_types import to_storage

JOB_JS = os.path.join(os.path.dirname(__file__), "chromium_job.js")
INLINE_LIMIT = 8 << 20  # bytes per model (all its files) or per input; larger ones go over HTTP


def run_models_chromium(
    browser: Browser, jobs: Sequence[ModelJob], backend_order: Sequence[str] = ("fallback",), timeout_s: float = 30.0
) -> Iterator[Outcome]:
    with open(JOB_JS) as f:
        script = f.read()
    with tempfile.TemporaryDirectory(prefix="webdnn-batch-data-") as data:
        mounts = {"/runtime/": runtime_dist(), "/data/": data}
        mounts.update({f"/model/{i}/": job.model_dir for i, job in enumerate(jobs)})
        with StaticServer(mounts, pages={"/harness.html": HARNESS_HTML}) as srv:
            # Headers and body go out in separate writes: with Nagle's algorithm and the
            # client's delayed ACK every small response would wait ~40 ms.
            srv.httpd.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]
            page, errors = _harness_page(browser, srv.url)
            try:
                for i, job in enumerate(jobs):
                    done = f"/upload/{i}/done"
                    errors.clear()
                    page.evaluate(script, {
                        "model": f"/model/{i}/", "files": _inline_files(job.model_dir), "done": done,
                        "inputs": _input_refs(job.inputs, data, i), "backendOrder": list(backend_order),
                    })
                    body = _wait_upload(srv, done, timeout_s)
                    if body is None:
                        page.close(run_before_unload=False)
                        page, errors = _harness_page(browser, srv.url)
                        yield WebDNNError(
                            f"running {job.model_dir} in {browser.name}: no result within {timeout_s:g} s")
                        continue
                    del srv.uploads[done]
                    yield _outcome(body, errors, srv.url)
            finally:
                page.close(run_before_unload=False)


def _outcome(body: bytes, page_errors: list[str], origin: str) -> Outcome:
    head, _, rest = body.partition(b"\n")
    r = json.loads(head)
    if "error" in r or page_errors:
        text = r.get("error") or ""
        if page_errors:
            text += f"\npage errors: {page_errors}"
        return WebDNNError(text.strip().replace(origin, ""))
    res = r["result"]
    outputs: dict[str, np.ndarray] = {}
    pos = 0
    for o in res["outputs"]:
        outputs[o["name"]] = from_bytes(rest[pos : pos + o["byteLength"]], o["dtype"], o["dims"])
        pos += o["byteLength"]
    return RunResult(res["backend"], res["loadMs"], res["runMs"], [], outputs, cross_origin_isolated=True)


def _inline_files(model_dir: str) -> dict[str, str]:
    """Every file of the model, base64, by path relative to it; {} when they are too big together."""
    paths = [os.path.join(root, f) for root, _, fs in os.walk(model_dir) for f in fs]
    if sum(os.path.getsize(p) for p in paths) > INLINE_LIMIT:
        return {}
    out = {}
    for p in paths:
        with open(p, "rb") as f:
            out[os.path.relpath(p, model_dir).replace(os.sep, "/")] = base64.b64encode(f.read()).decode()
    return out


def _input_refs(inputs: Mapping[str, np.ndarray], data_dir: str, job: int) -> list[dict[str, Any]]:
    refs = []
    for k, (name, a) in enumerate(inputs.items()):
        a = to_storage(a)  # float8, int4, ...: as the model holds them
        dt = DType.from_numpy(a.dtype)
        raw = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        ref: dict[str, Any] = {"name": name, "dtype": dt.value}
        if len(raw) <= INLINE_LIMIT:
            ref["data"] = base64.b64encode(raw).decode()
        else:
            fname = f"{job}-{k}.bin"
            with open(os.path.join(data_dir, fname), "wb") as f:
                f.write(raw)
            ref["url"] = f"/data/{fname}"
        refs.append(ref)
    return refs


def _wait_upload(srv: StaticServer, key: str, timeout_s: float) -> bytes | None:
    """The body POSTed to `key`, or None after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    delay = 0.0005
    while key not in srv.uploads:
        if time.monotonic() > deadline:
            return None
        time.sleep(delay)
        delay = min(delay * 2, 0.002)
    return srv.uploads[key]


def _harness_page(browser: Browser, url: str) -> tuple[Any, list[str]]:
    """A new page showing the harness, and the list its uncaught errors go to."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url + "/harness.html")
    page.wait_for_function("document.title === 'webdnn-harness-ready'", timeout=30_000)
    return page, errors
