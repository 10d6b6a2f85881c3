"""examples/index.html loads a converted model and runs it (headless Chromium)."""

from __future__ import annotations

import os

import pytest

from webdnn import zoo
from webdnn.browser.paths import REPO_ROOT, runtime_dist
from webdnn.browser.server import StaticServer
from webdnn.convert import convert


@pytest.mark.browser
def test_example_page_runs_a_model(tmp_path, browser) -> None:  # type: ignore[no-untyped-def]
    convert(zoo.build("squeezenet1_1"), tmp_path / "m")
    mounts = {
        "/examples/": os.path.join(REPO_ROOT, "examples"),
        "/runtime/": runtime_dist(),
        "/m/": str(tmp_path / "m"),
    }
    with StaticServer(mounts) as srv:
        page = browser.new_page()
        try:
            page.goto(srv.url + "/examples/index.html")
            page.fill("#model", "/m/")
            page.click("#run")
            page.wait_for_function("document.getElementById('log').textContent.includes('top-5')", timeout=60_000)
            text = page.inner_text("#log")
        finally:
            page.close()
    assert "loaded on backend" in text and "error" not in text
