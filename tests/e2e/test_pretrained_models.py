"""Real trained weights (MiniLM-L6 sentence embeddings, HED edges) on the fallback backend (MiniLM also on
wasm) in Chromium; a trained text-recognition CRNN (convolutions + a bidirectional LSTM), Silero VAD (an If decided at
run time) and a name-romanizing seq2seq (greedy decoding in a Loop decided at run time) on every backend."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests.shared_page import shared_page
from webdnn.convert import convert
from webdnn.verify import compare, reference_outputs
from webdnn.zoo import pretrained, save
from webdnn.zoo.pretrained import PretrainedUnavailableError


@pytest.fixture(scope="module")
def page(browser):  # type: ignore[no-untyped-def]
    """One harness page for the module's 56 runs (tests/shared_page.py): a page of its own cost each 0.6 s more."""
    with shared_page(browser) as p:
        yield p


def _check(ref: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> None:
    for name, want in ref.items():
        c = compare(name, want, got.get(name))
        assert c.ok, f"{name}: max abs err {c.max_abs_err:.3g} {c.detail}"


@pytest.mark.slow
@pytest.mark.browser
def test_minilm_pretrained_embedding(tmp_path, page) -> None:  # type: ignore[no-untyped-def]
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
        r = page.run_model(str(tmp_path / "out"), feeds, [backend])
        assert r.backend == backend
        _check(ref, r.outputs)
        emb = r.outputs["sentence_embedding"][0]
        np.testing.assert_allclose(emb[:3], [0.0677, 0.0635, 0.0487], atol=5e-4)


@pytest.mark.slow
@pytest.mark.browser
def test_hed_pretrained_edges(tmp_path, page) -> None:  # type: ignore[no-untyped-def]
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
    r = page.run_model(str(tmp_path / "out"), {name: x}, ["fallback"])
    _check(reference_outputs(path, {name: x}), r.outputs)


@pytest.mark.slow
@pytest.mark.browser
def test_crnn_pretrained_reads_text(tmp_path, page) -> None:  # type: ignore[no-untyped-def]
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
            r = page.run_model(str(out), {"image": x}, [backend])
            assert r.backend == backend
            _check(ref, r.outputs)
            assert pretrained.ctc_greedy_decode(r.outputs["logits"]) == text, backend


def _voice(samples: int, rate: int, seed: int) -> np.ndarray:
    """A voiced-speech-like signal: a 140 Hz glottal pulse train through two formant-like resonances,
    syllable-rate amplitude modulation and a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / rate
    voice = sum(np.sin(2 * np.pi * 140 * k * t) / k * (1.0 + 2.0 * np.exp(-((140 * k - f) / 150) ** 2))
                for k in range(1, 25) for f in (700,)) + 0.5 * np.sin(2 * np.pi * 1200 * t)
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)
    return (0.1 * voice * env + 0.01 * rng.standard_normal(samples)).astype(np.float32)


def _stream(run, model: str, chunk: int, rate: int, chunks: int, sr: bool) -> list[dict[str, np.ndarray]]:  # type: ignore[no-untyped-def]
    """Run `chunks` consecutive chunks of one stream, each with the previous chunk's state; every output."""
    audio = _voice(chunk * chunks, rate, seed=rate)
    state = np.zeros((2, 1, 128), np.float32)
    outs = []
    for i in range(chunks):
        feeds = {"input": audio[None, i * chunk:(i + 1) * chunk], "state": state}
        if sr:
            feeds["sr"] = np.array(rate, np.int64)
        out = run(feeds)
        outs.append(out)
        state = out["stateN"]
    return outs


@pytest.mark.slow
@pytest.mark.browser
def test_silero_vad_sample_rate_if_decided_at_run_time(tmp_path, page) -> None:  # type: ignore[no-untyped-def]
    """Silero VAD's whole network sits in the two branches of an If on its 'sr' input: the converted model
    keeps both and the runtime chooses. Converted for 512-sample chunks it runs the 16 kHz branch; the
    8 kHz branch needs 256-sample chunks (onnxruntime fails on it too), so choosing it there is a clear
    InputError. Converted for 256-sample chunks, sr=8000 runs."""
    try:
        path = str(pretrained.silero_vad_file())
    except PretrainedUnavailableError as e:
        pytest.skip(str(e))
    backends = ["fallback", "wasm", "webgl", "webgpu"]
    for chunk, rate in ((512, 16000), (256, 8000)):
        out = tmp_path / f"vad{rate}"
        convert(path, out, backends, {"input": [1, chunk], "state": [2, 1, 128]})
        ref = _stream(lambda f: reference_outputs(path, f), path, chunk, rate, 3, sr=True)
        for backend in backends:
            def run(feeds, backend=backend, out=out):  # type: ignore[no-untyped-def]
                r = page.run_model(str(out), feeds, [backend])
                assert r.backend == backend
                return r.outputs
            got = _stream(run, path, chunk, rate, 3, sr=True)
            for want, have in zip(ref, got, strict=True):
                _check(want, have)
    with pytest.raises(Exception, match="converted for input shapes at which its else branch cannot run"):
        page.run_model(str(tmp_path / "vad16000"), {"input": np.zeros((1, 512), np.float32),
                                                       "state": np.zeros((2, 1, 128), np.float32),
                                                       "sr": np.array(8000, np.int64)}, ["wasm"])


@pytest.mark.slow
@pytest.mark.browser
def test_silero_vad_float16_model(tmp_path, page) -> None:  # type: ignore[no-untyped-def]
    """The half-precision Silero VAD (float32 inputs and outputs, float16 weights and activations inside, Casts
    between) computes in float32 (frontend/float_compute.py). onnxruntime computes it in float16, so the two
    differ by float16 rounding: the rule is the one the webgpu-fp16 variant is held to,
    |ours - ref| <= 0.01 * max(1, max |ref|) per output."""
    try:
        path = str(pretrained.silero_vad_file("silero_vad_half.onnx"))
    except PretrainedUnavailableError as e:
        pytest.skip(str(e))
    out = tmp_path / "half"
    backends = ["fallback", "wasm", "webgl", "webgpu"]
    convert(path, out, backends, {"input": [1, 512], "state": [2, 1, 128]})
    audio = _voice(512 * 3, 16000, seed=3)
    state = np.zeros((2, 1, 128), np.float32)
    for i in range(3):  # a stream: each chunk with the state onnxruntime left
        feeds = {"input": audio[None, i * 512:(i + 1) * 512], "state": state}
        ref = reference_outputs(path, feeds)
        for backend in backends:
            r = page.run_model(str(out), feeds, [backend])
            assert r.backend == backend
            for k, want in ref.items():
                have = r.outputs[k]
                err = float(np.abs(have - want).max())
                assert err <= 0.01 * max(1.0, float(np.abs(want).max())), (backend, k, err)
        state = ref["stateN"]


@pytest.mark.slow
@pytest.mark.browser
def test_name_romanizer_greedy_decode_loop(tmp_path, page) -> None:  # type: ignore[no-untyped-def]
    """A trained character seq2seq (arabic-name-romanizer's GRU encoder and attention decoder, PyTorch exports)
    with its greedy decoding as an ONNX Loop that stops when the decoder chooses end-of-sequence: the trip count
    is decided by the data (8 steps for one name, 13 for the other), so the body is kept for the runtime's loop
    step, not unrolled. Each backend matches onnxruntime and reads the names."""
    try:
        model = pretrained.build_name_romanizer()
    except PretrainedUnavailableError as e:
        pytest.skip(str(e))
    path = os.path.join(tmp_path, "romanizer.onnx")
    save(model, path)
    out = tmp_path / "out"
    backends = ["fallback", "wasm", "webgl", "webgpu"]
    convert(path, out, backends, {"src": [1, 14]})
    steps = set()
    for name, latin in (("محمد", "Mohamed"), ("عبد الرحمن", "Abderrahmane")):
        feeds = {"src": pretrained.romanizer_source(name, 14)}
        ref = reference_outputs(path, feeds)
        assert pretrained.romanizer_text(ref["tokens"][:, 0].tolist()) == latin  # onnxruntime
        steps.add(ref["tokens"].shape[0])
        for backend in backends:
            r = page.run_model(str(out), feeds, [backend])
            assert r.backend == backend
            assert r.outputs["tokens"].shape == ref["tokens"].shape, backend  # as many iterations
            _check(ref, r.outputs)
            assert pretrained.romanizer_text(r.outputs["tokens"][:, 0].tolist()) == latin, backend
    assert len(steps) == 2  # the trip count followed the data
