"""Real trained weights (MiniLM-L6 sentence embeddings, HED edges) on the fallback backend (MiniLM also on
wasm) in Chromium; a trained text-recognition CRNN (convolutions + a bidirectional LSTM) on every backend."""

from __future__ import annotations

import os

import numpy as np
import pytest

from webdnn.convert import convert
from webdnn.verify import compare, reference_outputs
from webdnn.zoo import pretrained, save
from webdnn.zoo.pretrained import PretrainedUnavailableError


def _check(ref: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> None:
    for name, want in ref.items():
        c = compare(name, want, got.get(name))
        assert c.ok, f"{name}: max abs err {c.max_abs_err:.3g} {c.detail}"


@pytest.mark.slow
@pytest.mark.browser
def test_minilm_pretrained_embedding(tmp_path, browser) -> None:  # type: ignore[no-untyped-def]
    try:
        model, tok = pretrained.build_minilm_pretrained()
    except PretrainedUnavailableError as e:
        pytest.skip(str(e))
    path = os.path.join(tmp_path, "minilm.onnx")
    save(model, path)
    feeds = tok.tokenize("This is an example sentence")
    convert(path, tmp_path / "out", ["fallback", "wasm"], {k: v.shape for k, v in feeds.items()})
    ref = reference_outputs(path, feeds)
    for backend in ("fallback", "wasm"):  # wasm: fused LayerNorm/GELU, strided attention kernels
        r = browser.run_model(str(tmp_path / "out"), feeds, [backend])
        assert r.backend == backend
        _check(ref, r.outputs)
        emb = r.outputs["sentence_embedding"][0]
        np.testing.assert_allclose(emb[:3], [0.0677, 0.0635, 0.0487], atol=5e-4)


@pytest.mark.slow
@pytest.mark.browser
def test_hed_pretrained_edges(tmp_path, browser) -> None:  # type: ignore[no-untyped-def]
    try:
        model = pretrained.build_hed_pretrained(height=160, width=240)
    except PretrainedUnavailableError as e:
        pytest.skip(str(e))
    path = os.path.join(tmp_path, "hed.onnx")
    save(model, path)
    img = np.zeros((160, 240, 3), np.float32)
    img[40:120, 60:180] = 255.0  # a bright box: its border is an edge
    x = pretrained.hed_preprocess(img)
    name = model.graph.input[0].name
    convert(path, tmp_path / "out", ["fallback"])
    r = browser.run_model(str(tmp_path / "out"), {name: x}, ["fallback"])
    _check(reference_outputs(path, {name: x}), r.outputs)


@pytest.mark.slow
@pytest.mark.browser
def test_crnn_pretrained_reads_text(tmp_path, browser) -> None:  # type: ignore[no-untyped-def]
    try:
        path = pretrained.crnn_model_file()
    except PretrainedUnavailableError as e:
        pytest.skip(str(e))
    out = tmp_path / "out"
    convert(str(path), out, ["fallback", "wasm", "webgl", "webgpu"], {"image": [1, 3, 60, 160]})
    for text in ("7KQ2M", "A3F9"):
        x = pretrained.render_text(text)
        ref = reference_outputs(str(path), {"image": x})
        assert pretrained.ctc_greedy_decode(ref["logits"]) == text  # the model reads it (onnxruntime)
        for backend in ("fallback", "wasm", "webgl", "webgpu"):
            r = browser.run_model(str(out), {"image": x}, [backend])
            assert r.backend == backend
            _check(ref, r.outputs)
            assert pretrained.ctc_greedy_decode(r.outputs["logits"]) == text, backend
