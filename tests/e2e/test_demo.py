"""`make demo`'s path: EfficientNet-Lite0 with its ImageNet weights on scikit-image's cat photo, converted and run
on the wasm backend in headless Chromium, gives onnxruntime's label; the second run reuses the conversion and writes the
demo site."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from webdnn import demo
from webdnn.zoo.pretrained import PretrainedUnavailableError


@pytest.mark.browser
def test_demo_labels_the_cat_on_wasm(tmp_path: Path, browser, capsys) -> None:  # type: ignore[no-untyped-def]
    out = str(tmp_path / "demo")
    try:
        res = demo.run_demo(out=out, repeat=3, browser=browser)
    except PretrainedUnavailableError as e:
        pytest.skip(str(e))
    assert res.backend == "wasm" and res.converted
    assert res.ok, f"logits differ from onnxruntime's by {res.max_abs_err:.3g}"
    assert res.top5[0][0] == res.ref_top5[0][0] == "Egyptian cat"
    assert [n for n, _ in res.top5] == [n for n, _ in res.ref_top5] == [
        "Egyptian cat", "tabby", "tiger cat", "lynx", "Siamese cat"
    ]
    assert abs(res.top5[0][1] - 0.381) < 2e-3
    assert res.runs == 3 and res.median_ms > 0

    # The command itself: the cached conversion is reused, the label is printed, the exit status is 0.
    assert demo.main(["--out", out, "--repeat", "2"], browser=browser) == 0
    printed = capsys.readouterr().out
    assert "reusing" in printed and "converted for" not in printed
    assert "answer: Egyptian cat (38.1%)" in printed and "MISMATCH" not in printed
    # ... and it ends by writing the demo site next to --out, and says how to open it
    site = tmp_path / "site"
    assert "Open the demo site" in printed and "/recognition/" in printed
    manifest = json.loads((site / "models" / "efficientnet_lite0" / "manifest.json").read_text())
    assert sorted(manifest["backends"]) == ["fallback", "wasm", "webgl", "webgpu"]
    assert len(json.loads((site / "models" / "efficientnet_lite0" / "labels.json").read_text())) == 1000
    assert "chelsea.png" in json.loads((site / "photos" / "photos.json").read_text())
    for f in ["index.html", "recognition/index.html", "recognition/recognition.js", "runtime/webdnn.mjs",
              "runtime/webdnn-kernels-simd128.wasm", "photos/chelsea.png"]:
        assert (site / f).is_file(), f
