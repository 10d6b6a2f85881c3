"""Helpers shared by the demo site's page tests (test_demo_site*.py): open a page and wait for its
result, check that a visit read the model from the cache, measure that a screenshot is not blank, build a copy of
the site whose conversion skipped a backend."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

SHARED = ["index.html", "style.css", "page.js", "favicon.svg", "runtime"]


def open_page(page: Any, url: str, timeout_ms: int = 400_000) -> str:
    """Go to `url` and wait until the page says it is done or failed; returns "done" or "error"."""
    page.goto(url)
    # a selector, not wait_for_function: Playwright evaluates a function's source, which the CSP forbids
    page.wait_for_selector("body[data-state=done], body[data-state=error]", timeout=timeout_ms)
    return str(page.get_attribute("body", "data-state"))


def assert_only_revalidated(requests: list[tuple[str, str, int]], prefix: str) -> None:
    """A visit that read the model under `prefix` from the cache: its only requests there are revalidations of the
    manifest and the page's side files (about.json, labels, vocabulary), answered 304 with no body."""
    mine = [r for r in requests if r[1].startswith(prefix)]
    assert sum(n for _, _, n in mine) == 0, f"model bytes fetched from the network: {mine}"
    side = {"manifest.json", "about.json", "labels.json", "vocab.txt"}
    assert {p.rsplit("/", 1)[1] for _, p, _ in mine} <= side, mine


def assert_asked_again(requests: list[tuple[str, str, int]], site: Path, model: str, backend: str = "wasm") -> None:
    """After the page's cache was cleared (or an entry evicted): every weight file of the model's `backend` was asked
    of the server again. Not counted in bytes: the browser's own HTTP cache may still hold them, and then the server
    answers 304 (its ETag) instead of sending them."""
    root = site / "models" / model / backend
    want = {f"/models/{model}/{backend}/{f.relative_to(root).as_posix()}" for f in root.rglob("*.bin")}
    asked = {p for method, p, _ in requests if method == "GET"}
    assert want and want <= asked, f"not asked again: {sorted(want - asked)[:5]}"


def screenshot_std(png: bytes) -> float:
    """Standard deviation of a screenshot's grey levels: about 0 for a blank area."""
    from PIL import Image

    return float(np.asarray(Image.open(io.BytesIO(png)).convert("L"), np.float32).std())


def site_without_backend(site: Path, dest: Path, pages: list[str], model: str, backend: str, reason: str) -> Path:
    """A copy of `site` (shared files, `pages`, models/`model`, hard-linked) in which `model` was not converted
    for `backend`, recorded in its manifest and about.json as the site build does when a backend is skipped."""
    for rel in [*SHARED, *pages, f"models/{model}"]:
        src, dst = site / rel, dest / rel
        if src.is_dir():
            shutil.copytree(src, dst, copy_function=os.link)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    out = dest / "models" / model
    shutil.rmtree(out / backend)
    for name, edit in [("manifest.json", lambda m: m["backends"].pop(backend)),
                       ("about.json", lambda a: a["skipped"].update({backend: reason}))]:
        (out / name).unlink()  # a hard link: replaced, not written through
        doc = json.loads((site / "models" / model / name).read_text())
        edit(doc)
        (out / name).write_text(json.dumps(doc))
    return dest
