"""TensorFlow.js layers models (frontend/tfjs.py, keras_model.py, keras_layers.py) against TensorFlow.js itself
(its CPU backend in Node, tfjs_reference.mjs) on the same weights and input: one small model per Keras layer
and its options, converted for fallback and run in Node; the real trained models (esrgan-slim's
super-resolution, nsfwjs' MobileNetV2 with uint8-quantized weights) on every backend; and the errors."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from webdnn.convert import convert
from webdnn.errors import ModelLoadError, UnsupportedOperatorError
from webdnn.verify import compare

HERE = Path(__file__).parent
RNG = np.random.default_rng(15)
pytestmark = pytest.mark.node


def tfjs_predict(model_json: Path, feeds: list[np.ndarray], tmp: Path) -> list[np.ndarray]:
    """TensorFlow.js's outputs for `feeds` (the model's inputs in order)."""
    node = shutil.which("node")
    if node is None or not (HERE.parents[1] / "bench" / "node_modules" / "@tensorflow" / "tfjs").is_dir():
        pytest.skip("TensorFlow.js is not installed (make bench-deps)")
    tmp.mkdir(parents=True, exist_ok=True)
    inputs = []
    for k, x in enumerate(feeds):
        p = tmp / f"input-{k}.bin"
        p.write_bytes(np.ascontiguousarray(x, np.float32).tobytes())
        inputs.append({"path": str(p), "shape": list(x.shape)})
    spec = tmp / "spec.json"
    spec.write_text(json.dumps({"inputs": inputs, "out": str(tmp)}))
    r = subprocess.run([node, str(HERE / "tfjs_reference.mjs"), str(model_json), str(spec)], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    shapes = json.loads((tmp / "outputs.json").read_text())
    return [np.fromfile(tmp / f"output-{k}.bin", np.float32).reshape(s["shape"]) for k, s in enumerate(shapes)]


def write_layers_model(directory: Path, layers: list[dict[str, Any]], weights: dict[str, np.ndarray]) -> Path:
    """A Sequential TF.js layers model of `layers` (Keras 2 configs; the first with batch_input_shape) with
    `weights` by name ("conv/kernel"), in one float32 shard."""
    directory.mkdir(parents=True, exist_ok=True)
    blob = b"".join(np.ascontiguousarray(w, np.float32).tobytes() for w in weights.values())
    (directory / "group1-shard1of1.bin").write_bytes(blob)
    topo = {"keras_version": "2.10.0", "backend": "tensorflow",
            "model_config": {"class_name": "Sequential", "config": {"name": "seq", "layers": layers}}}
    manifest = [{"paths": ["group1-shard1of1.bin"],
                 "weights": [{"name": k, "shape": list(w.shape), "dtype": "float32"} for k, w in weights.items()]}]
    path = directory / "model.json"
    path.write_text(json.dumps({"format": "layers-model", "generatedBy": "webdnn tests", "convertedBy": None,
                                "modelTopology": topo, "weightsManifest": manifest}))
    return path


def _w(*shape: int) -> np.ndarray:
    return (RNG.standard_normal(shape) * 0.3).astype(np.float32)


def _conv(name: str, cls: str = "Conv2D", **cfg: Any) -> dict[str, Any]:
    return {"class_name": cls, "config": {"name": name, **cfg}}


# (id, input shape, layers, weights): each a one- or few-layer model
CASES: list[tuple[str, list[int], list[dict[str, Any]], dict[str, np.ndarray]]] = [
    ("conv_same_stride2", [1, 9, 11, 3],
     [_conv("c", filters=4, kernel_size=[3, 3], strides=[2, 2], padding="same", activation="relu", use_bias=True)],
     {"c/kernel": _w(3, 3, 3, 4), "c/bias": _w(4)}),
    ("conv_valid_dilated", [1, 10, 10, 2],
     [_conv("c", filters=3, kernel_size=[3, 3], dilation_rate=[2, 2], padding="valid", activation="linear",
            use_bias=False)], {"c/kernel": _w(3, 3, 2, 3)}),
    ("conv1d_same_dilated", [1, 12, 3],
     [_conv("c", "Conv1D", filters=4, kernel_size=[3], padding="same", dilation_rate=[2], activation="tanh")],
     {"c/kernel": _w(3, 3, 4), "c/bias": _w(4)}),
    ("depthwise_mult2_same", [1, 7, 8, 3],
     [_conv("d", "DepthwiseConv2D", kernel_size=[3, 3], strides=[2, 2], padding="same", depth_multiplier=2,
            activation="relu6", use_bias=True)],
     {"d/depthwise_kernel": _w(3, 3, 3, 2), "d/bias": _w(6)}),
    ("separable", [1, 8, 8, 4],
     [_conv("s", "SeparableConv2D", filters=5, kernel_size=[3, 3], padding="same", depth_multiplier=1,
            activation="sigmoid")],
     {"s/depthwise_kernel": _w(3, 3, 4, 1), "s/pointwise_kernel": _w(1, 1, 4, 5), "s/bias": _w(5)}),
    ("batchnorm_relu_maxpool", [1, 6, 6, 4],
     [{"class_name": "BatchNormalization", "config": {"name": "bn", "axis": -1, "epsilon": 0.001}},
      {"class_name": "ReLU", "config": {"name": "r", "max_value": 6.0}},
      {"class_name": "MaxPooling2D", "config": {"name": "p", "pool_size": [3, 3], "strides": [2, 2],
                                                "padding": "same"}}],
     {"bn/gamma": _w(4), "bn/beta": _w(4), "bn/moving_mean": _w(4), "bn/moving_variance": np.abs(_w(4)) + 0.5}),
    ("avgpool_same_excludes_padding", [1, 5, 7, 2],
     [{"class_name": "AveragePooling2D", "config": {"name": "p", "pool_size": [3, 3], "strides": [2, 2],
                                                    "padding": "same"}}], {}),
    ("zeropad_crop_upsample", [1, 5, 6, 2],
     [{"class_name": "ZeroPadding2D", "config": {"name": "z", "padding": [[1, 2], [0, 1]]}},
      {"class_name": "Cropping2D", "config": {"name": "cr", "cropping": [[1, 0], [2, 1]]}},
      {"class_name": "UpSampling2D", "config": {"name": "u", "size": [2, 3], "interpolation": "nearest"}}], {}),
    ("upsample_bilinear", [1, 4, 5, 2],
     [{"class_name": "UpSampling2D", "config": {"name": "u", "size": [2, 2], "interpolation": "bilinear"}}], {}),
    ("flatten_dense_softmax", [1, 3, 4, 2],
     [_conv("c", filters=3, kernel_size=[1, 1], activation="elu"),
      {"class_name": "Flatten", "config": {"name": "f"}},
      {"class_name": "Dense", "config": {"name": "d", "units": 5, "activation": "softmax", "use_bias": True}}],
     {"c/kernel": _w(1, 1, 2, 3), "c/bias": _w(3), "d/kernel": _w(36, 5), "d/bias": _w(5)}),
    ("global_pool_dense", [1, 5, 5, 3],
     [{"class_name": "GlobalAveragePooling2D", "config": {"name": "g"}},
      {"class_name": "Dense", "config": {"name": "d", "units": 2, "activation": "selu", "use_bias": False}}],
     {"d/kernel": _w(3, 2)}),
    ("reshape_permute_dense_3d", [1, 4, 6],
     [{"class_name": "Reshape", "config": {"name": "r", "target_shape": [6, 4]}},
      {"class_name": "Permute", "config": {"name": "p", "dims": [2, 1]}},
      {"class_name": "Dense", "config": {"name": "d", "units": 3, "activation": "swish"}}],
     {"d/kernel": _w(6, 3), "d/bias": _w(3)}),
    ("activations", [1, 3, 3, 2],
     [{"class_name": "Activation", "config": {"name": "a1", "activation": "hard_sigmoid"}},
      {"class_name": "LeakyReLU", "config": {"name": "a2", "alpha": 0.1}},
      {"class_name": "Activation", "config": {"name": "a3", "activation": "softplus"}},
      {"class_name": "ELU", "config": {"name": "a4", "alpha": 1.0}},  # (TF.js has no other alpha)
      {"class_name": "Softmax", "config": {"name": "a5", "axis": -1}}], {}),
    ("lstm_bidirectional_rnn", [1, 5, 3],
     [{"class_name": "LSTM", "config": {"name": "l", "units": 4, "return_sequences": True, "activation": "tanh",
                                        "recurrent_activation": "hard_sigmoid", "use_bias": True}},
      {"class_name": "Bidirectional", "config": {"name": "b", "merge_mode": "concat", "layer": {
          "class_name": "SimpleRNN", "config": {"name": "s", "units": 3, "activation": "tanh", "use_bias": True}}}}],
     {"l/kernel": _w(3, 16), "l/recurrent_kernel": _w(4, 16), "l/bias": _w(16),
      "b/forward_s/kernel": _w(4, 3), "b/forward_s/recurrent_kernel": _w(3, 3), "b/forward_s/bias": _w(3),
      "b/backward_s/kernel": _w(4, 3), "b/backward_s/recurrent_kernel": _w(3, 3), "b/backward_s/bias": _w(3)}),
    ("conv_transpose_layernorm", [1, 4, 5, 2],
     [_conv("ct", "Conv2DTranspose", filters=3, kernel_size=[3, 3], strides=[2, 2], padding="same",
            activation="relu", use_bias=True),
      {"class_name": "LayerNormalization", "config": {"name": "ln", "axis": -1, "epsilon": 0.001}}],
     {"ct/kernel": _w(3, 3, 3, 2), "ct/bias": _w(3), "ln/gamma": _w(3), "ln/beta": _w(3)}),
    ("global_max", [1, 4, 4, 3],
     [_conv("c", filters=2, kernel_size=[2, 2], padding="same"),
      {"class_name": "GlobalMaxPooling2D", "config": {"name": "g"}}],
     {"c/kernel": _w(2, 2, 3, 2), "c/bias": _w(2)}),
]


@pytest.mark.parametrize(("case", "shape", "layers", "weights"), CASES, ids=[c[0] for c in CASES])
def test_layer_matches_tfjs(tmp_path: Path, case: str, shape: list[int], layers: list[dict[str, Any]],
                            weights: dict[str, np.ndarray]) -> None:
    from webdnn.browser.node import run_model_node

    layers = [dict(layers[0], config={**layers[0]["config"], "batch_input_shape": [None, *shape[1:]]}), *layers[1:]]
    model = write_layers_model(tmp_path / "tfjs", layers, weights)
    x = RNG.standard_normal(shape).astype(np.float32)
    want = tfjs_predict(model, [x], tmp_path / "ref")[0]
    convert(str(model), tmp_path / "out", ["fallback"])
    got = run_model_node(str(tmp_path / "out"), {"input": x}, ("fallback",)).outputs
    assert len(got) == 1
    have = next(iter(got.values()))
    assert have.shape == want.shape
    np.testing.assert_allclose(have, want, rtol=1e-4, atol=1e-5)


def test_functional_model_with_shared_inputs(tmp_path: Path) -> None:
    """A Functional model: two branches from one input, Concatenate and Add of channels-first data, two outputs."""
    from webdnn.browser.node import run_model_node

    def lay(cls: str, name: str, inbound: list[str], **cfg: Any) -> dict[str, Any]:
        return {"class_name": cls, "name": name, "config": {"name": name, **cfg},
                "inbound_nodes": [[[n, 0, 0, {}] for n in inbound]] if inbound else []}

    layers = [lay("InputLayer", "img", [], batch_input_shape=[None, 6, 6, 3], dtype="float32"),
              lay("Conv2D", "a", ["img"], filters=4, kernel_size=[3, 3], padding="same", activation="relu"),
              lay("Conv2D", "b", ["img"], filters=4, kernel_size=[1, 1], padding="valid", activation="linear"),
              lay("Add", "sum", ["a", "b"]),
              lay("Concatenate", "cat", ["sum", "a"], axis=-1),
              lay("GlobalAveragePooling2D", "gap", ["cat"])]
    topo = {"keras_version": "2.10.0", "model_config": {"class_name": "Functional", "config": {
        "name": "f", "layers": layers, "input_layers": [["img", 0, 0]],
        "output_layers": [["cat", 0, 0], ["gap", 0, 0]]}}}
    weights = {"a/kernel": _w(3, 3, 3, 4), "a/bias": _w(4), "b/kernel": _w(1, 1, 3, 4), "b/bias": _w(4)}
    d = tmp_path / "tfjs"
    d.mkdir()
    (d / "w.bin").write_bytes(b"".join(w.tobytes() for w in weights.values()))
    (d / "model.json").write_text(json.dumps({"format": "layers-model", "modelTopology": topo, "weightsManifest": [
        {"paths": ["w.bin"], "weights": [{"name": k, "shape": list(w.shape), "dtype": "float32"}
                                         for k, w in weights.items()]}]}))
    x = RNG.standard_normal((1, 6, 6, 3)).astype(np.float32)
    want = tfjs_predict(d / "model.json", [x], tmp_path / "ref")
    convert(str(d), tmp_path / "out", ["fallback"])
    got = run_model_node(str(tmp_path / "out"), {"img": x}, ("fallback",)).outputs
    np.testing.assert_allclose(got["cat"], want[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got["gap"], want[1], rtol=1e-4, atol=1e-5)


def test_unknown_layers_and_missing_shards_are_clear(tmp_path: Path) -> None:
    layers = [{"class_name": "Lambda", "config": {"name": "lam", "batch_input_shape": [None, 3]}},
              {"class_name": "Dense", "config": {"name": "d", "units": 2}}]
    model = write_layers_model(tmp_path / "a", layers, {"d/kernel": _w(3, 2)})
    with pytest.raises(UnsupportedOperatorError,
                       match=r"Keras layer class\(es\) not supported: Lambda \(layer 'lam'\)"):
        convert(str(model), tmp_path / "out", ["fallback"])
    dense = dict(layers[1], config={**layers[1]["config"], "batch_input_shape": [None, 3]})
    model = write_layers_model(tmp_path / "b", [dense], {"d/kernel": _w(3, 2)})
    (tmp_path / "b" / "group1-shard1of1.bin").unlink()
    with pytest.raises(ModelLoadError, match="weight shard 'group1-shard1of1.bin' \\(group 0\\) is missing"):
        convert(str(model), tmp_path / "out", ["fallback"])
    (tmp_path / "b" / "group1-shard1of1.bin").write_bytes(b"\0" * 10)
    with pytest.raises(ModelLoadError, match="truncated or from another model"):
        convert(str(model), tmp_path / "out", ["fallback"])
    assert not (tmp_path / "out").exists()


def _close(name: str, want: np.ndarray, have: np.ndarray) -> None:
    c = compare(name, want, have)
    assert c.ok, f"{name}: max abs err {c.max_abs_err:.3g} {c.detail}"


@pytest.mark.slow
@pytest.mark.browser
def test_real_tfjs_models_on_every_backend(tmp_path: Path, browser: Any) -> None:
    """esrgan-slim x2 (super-resolution) and nsfwjs' MobileNetV2 (uint8-quantized weights, restored to float32)
    on every backend, against TensorFlow.js on the same input."""
    from webdnn.zoo import tfjs_models
    from webdnn.zoo.pretrained import PretrainedUnavailableError

    try:
        esrgan, nsfw = tfjs_models.esrgan_slim(2), tfjs_models.nsfwjs_model("mobilenet_v2")
    except PretrainedUnavailableError as e:
        pytest.skip(str(e))
    backends = ["fallback", "wasm", "webgl", "webgpu"]
    lr = (RNG.random((1, 24, 32, 3)) * 255).astype(np.float32)
    img = RNG.random((1, 224, 224, 3)).astype(np.float32)
    for name, model, inp, x in (("esrgan", esrgan, "LR", lr), ("nsfw", nsfw, "input_1", img)):
        want = tfjs_predict(model, [x], tmp_path / f"{name}-ref")[0]
        convert(str(model), tmp_path / name, backends, {inp: list(x.shape)})
        for backend in backends:
            r = browser.run_model(str(tmp_path / name), {inp: x}, [backend])
            assert r.backend == backend
            have = next(iter(r.outputs.values()))
            assert have.shape == want.shape
            _close(f"{name} on {backend}", want, have)
