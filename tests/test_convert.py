"""convert(): backends chosen by default, skipped when they lack an op, errors when asked for explicitly."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from onnx import helper

from tests.conftest import F32, make_model
from webdnn.backends import AUTO_BACKENDS
from webdnn.convert import convert
from webdnn.errors import ConversionError, UnsupportedOperatorError


def _conv3d_model():  # type: ignore[no-untyped-def]
    """A 3-D convolution: the fallback (and wasm, through JS kernels) run it, webgl does not."""
    w = np.random.default_rng(0).standard_normal((2, 1, 3, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1] * 6)]
    return make_model(nodes, [("x", F32, [1, 1, 4, 4, 4])], ["y"], {"w": w})


def test_default_converts_for_every_backend_that_can_run_the_model(tmp_path) -> None:  # type: ignore[no-untyped-def]
    messages: list[str] = []
    r = convert(_conv3d_model(), tmp_path / "out", backends=None, progress=messages.append)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert set(manifest["backends"]) == set(r.backends) and "fallback" in r.backends
    assert set(r.backends) | set(r.skipped) == set(AUTO_BACKENDS)
    for b, why in r.skipped.items():  # a skipped backend says which node it lacks
        assert b in why and any(f"skipping backend {b}" in m for m in messages)


def test_explicit_backend_that_lacks_an_op_is_an_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = convert(_conv3d_model(), tmp_path / "probe", backends=None)
    assert "webgl" in r.skipped and "fallback" in r.backends
    b = "webgl"
    with pytest.raises(UnsupportedOperatorError, match=b):
        convert(_conv3d_model(), tmp_path / "out", backends=[b])
    assert not (tmp_path / "out").exists()


# --- the output directory: never delete or overwrite what conversion did not write --------------------


def _relu_model():  # type: ignore[no-untyped-def]
    return make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", F32, [1, 4])], ["y"])


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every entry under root: files with their bytes, directories as None."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def _web_app(root: Path) -> Path:
    public = root / "w" / "public"
    (public / "js").mkdir(parents=True)
    (public / "manifest.json").write_text('{"name": "PWA", "start_url": "/"}')
    (public / "index.html").write_text("<!doctype html>")
    (public / "js" / "app.js").write_text("console.log(1)")
    return public


def test_refuses_a_web_apps_public_directory_and_leaves_it_intact(tmp_path: Path) -> None:
    public = _web_app(tmp_path)
    before = _tree(tmp_path)
    with pytest.raises(ConversionError) as e:
        convert(_relu_model(), public)
    msg = str(e.value)
    assert str(public) in msg and "is not empty and holds no WebDNN model" in msg and "webdnn-model" in msg
    assert "new or empty directory" in msg and str(public / "model") in msg  # what to do instead
    assert _tree(tmp_path) == before


def test_refuses_a_non_empty_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "src").mkdir()
    monkeypatch.chdir(tmp_path)
    before = _tree(tmp_path)
    with pytest.raises(ConversionError, match="holds no WebDNN model that conversion may replace: it has no manifest"):
        convert(_relu_model(), ".")
    assert _tree(tmp_path) == before


def test_an_empty_existing_directory_is_filled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    convert(_relu_model(), ".", backends=["fallback", "wasm"])
    assert sorted(os.listdir(tmp_path)) == ["fallback", "manifest.json", "wasm"]
    assert json.loads((tmp_path / "manifest.json").read_text())["format"] == "webdnn-model"


def test_the_manifest_changes_when_only_the_weights_do(tmp_path: Path) -> None:
    """Each backend's digest covers its descriptor files, which hold every weight file's CRC-32: the same model
    with other weights of the same shapes has another manifest (what the runtime's model cache compares)."""
    def manifest(seed: int) -> dict:
        w = np.random.default_rng(seed).standard_normal((2, 1, 3, 3, 3)).astype(np.float32)
        m = make_model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1] * 6)], [("x", F32, [1, 1, 4, 4, 4])],
                       ["y"], {"w": w})
        convert(m, tmp_path / "out", backends=["fallback", "wasm"])
        return dict(json.loads((tmp_path / "out" / "manifest.json").read_text()))

    a, a2, b = manifest(0), manifest(0), manifest(1)
    assert a == a2  # the same model converted again: the same manifest
    for backend in ("fallback", "wasm"):
        assert a["backends"][backend]["digest"].startswith("sha256:")
        assert a["backends"][backend]["digest"] != b["backends"][backend]["digest"]
        assert {k: v for k, v in a["backends"][backend].items() if k != "digest"} == \
            {k: v for k, v in b["backends"][backend].items() if k != "digest"}


def test_a_previous_conversion_is_replaced_file_by_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    convert(_conv3d_model(), out, backends=["fallback", "wasm"])
    assert (out / "wasm" / "descriptor.json").exists() and (out / "fallback" / "weights-0.bin").exists()
    convert(_relu_model(), out, backends=["fallback"])
    assert sorted(os.listdir(out)) == ["fallback", "manifest.json"]  # the old wasm files went with the old model
    assert os.listdir(out / "fallback") == ["descriptor.json"]  # the relu model has no weights
    assert set(json.loads((out / "manifest.json").read_text())["backends"]) == {"fallback"}
    assert not [p for p in os.listdir(tmp_path) if p != "out"]  # no temporary directory left beside it


def test_a_previous_conversion_with_a_foreign_file_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    convert(_conv3d_model(), out)
    (out / "fallback" / "notes.txt").write_text("mine")
    (out / "extra").mkdir()
    before = _tree(tmp_path)
    with pytest.raises(ConversionError, match=r"holds extra/, fallback/notes\.txt, which its WebDNN manifest"):
        convert(_relu_model(), out)
    assert _tree(tmp_path) == before


@pytest.mark.parametrize(
    "manifest, why",
    [
        ('{"format": "webdnn-model", "version": "1", "backends": {}}', "no integer format version"),
        ('{"format": "webdnn-model", "version": true, "backends": {}}', "no integer format version"),
        ('{"format": "webdnn-model", "backends": {}}', "no integer format version"),
        ('{"format": "webdnn", "version": 1, "backends": {}}', 'no "format": "webdnn-model"'),
        ('{"format": "webdnn-model", "version": 1}', "lists no backends"),
        ("[1, 2]", 'no "format": "webdnn-model"'),
        ("{not json", "not readable JSON"),
        ('{"format": "webdnn-model", "version": 1, "backends": {"x": {"descriptor": "../victim.txt"}}}',
         "points outside the model directory"),
        ('{"format": "webdnn-model", "version": 1, "backends": {"x": {"descriptor": "/etc/passwd"}}}',
         "is not a relative path"),
    ],
)
def test_a_manifest_that_is_not_a_webdnn_model_is_never_replaced(tmp_path: Path, manifest: str, why: str) -> None:
    (tmp_path / "victim.txt").write_text("keep me")
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text(manifest)
    before = _tree(tmp_path)
    with pytest.raises(ConversionError, match=why):
        convert(_relu_model(), out)
    assert _tree(tmp_path) == before


def test_weight_paths_outside_the_model_are_never_deleted(tmp_path: Path) -> None:
    out = tmp_path / "out"
    convert(_conv3d_model(), out)
    desc_path = out / "fallback" / "descriptor.json"
    desc = json.loads(desc_path.read_text())
    desc["weights"]["files"][0]["path"] = "../../victim.txt"  # an edited descriptor
    desc_path.write_text(json.dumps(desc))
    (tmp_path / "victim.txt").write_text("keep me")
    with pytest.raises(ConversionError, match="points outside the model directory"):
        convert(_relu_model(), out)
    assert (tmp_path / "victim.txt").read_text() == "keep me" and (out / "fallback" / "weights-0.bin").exists()


def test_a_failed_conversion_leaves_the_previous_model_intact(tmp_path: Path) -> None:
    out = tmp_path / "a" / "out"
    convert(_conv3d_model(), out, backends=["fallback"])
    before = _tree(tmp_path)
    with pytest.raises(UnsupportedOperatorError):
        convert(_conv3d_model(), out, backends=["fallback", "webgl"])  # fails after fallback was written
    assert _tree(tmp_path) == before


def test_a_failed_conversion_creates_no_directories(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedOperatorError):
        convert(_conv3d_model(), tmp_path / "a" / "b" / "out", backends=["fallback", "webgl"])
    assert os.listdir(tmp_path) == []


def test_an_output_under_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("a file")
    with pytest.raises(ConversionError, match=rf"{tmp_path / 'f'} is a file, not a directory"):
        convert(_relu_model(), tmp_path / "f" / "sub" / "out")
    with pytest.raises(ConversionError, match="exists and is not a directory"):
        convert(_relu_model(), tmp_path / "f")
    assert (tmp_path / "f").read_text() == "a file" and os.listdir(tmp_path) == ["f"]


@pytest.mark.parametrize("umask, dir_mode, file_mode", [(0o022, 0o755, 0o644), (0o027, 0o750, 0o640)])
def test_output_permissions_follow_the_umask(tmp_path: Path, umask: int, dir_mode: int, file_mode: int) -> None:
    old = os.umask(umask)
    try:
        out = tmp_path / "new" / "out"
        convert(_conv3d_model(), out, backends=["fallback", "wasm"])
        into = tmp_path / "existing"
        into.mkdir()
        convert(_conv3d_model(), into, backends=["fallback"])
    finally:
        os.umask(old)
    for root in (out, into):
        entries = [root, *root.rglob("*")]
        assert len(entries) >= 4
        for p in entries:
            want = dir_mode if p.is_dir() else file_mode
            assert stat.S_IMODE(p.stat().st_mode) == want, f"{p}: {oct(stat.S_IMODE(p.stat().st_mode))}"
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == dir_mode
