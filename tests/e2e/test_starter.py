"""`webdnn init`: the starter app runs its model in Chromium (served as `webdnn serve` does), matching
onnxruntime on the page's input; it refuses a directory with files and leaves nothing behind on failure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.zoo_cases import assert_matches
from webdnn import zoo
from webdnn.browser.server import StaticServer
from webdnn.errors import WebDNNError
from webdnn.starter import init_app
from webdnn.verify import reference_outputs


@pytest.mark.browser
def test_starter_app_runs_in_chromium(tmp_path: Path, browser: Any) -> None:
    app = init_app(str(tmp_path / "app"), backends=["wasm", "fallback"])
    with StaticServer({"/": app}) as srv:
        page = browser.new_page()
        try:
            page.goto(srv.url + "/index.html")
            page.wait_for_function("window.done === true", timeout=120_000)
            results = page.evaluate("window.results")
            log = page.inner_text("#log")
        finally:
            page.close()
    assert "cross-origin isolated (threads for wasm): true" in log, log
    x = (np.sin(np.arange(3 * 224 * 224, dtype=np.float64)) / 2).astype(np.float32).reshape(1, 3, 224, 224)
    ref = reference_outputs(zoo.build("squeezenet1_1", seed=0, opset=17), {"input": x})["output"]
    for backend in ("wasm", "fallback"):
        got = np.asarray(results[backend]["output"], np.float32)
        assert_matches({"output": ref.reshape(-1)[:10]}, {"output": got}, f"{backend}: ")


def test_starter_refuses_a_directory_with_files_and_cleans_up(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(WebDNNError, match="not an empty directory"):
        init_app(str(tmp_path / "mine"))
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(WebDNNError):
        init_app(str(tmp_path / "new"), model=str(bad))
    assert not (tmp_path / "new").exists()
