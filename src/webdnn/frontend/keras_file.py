"""Keras model files, read without Keras, TensorFlow or JAX: the `.keras` archive of Keras 3 (a zip of
config.json, metadata.json and model.weights.h5) and the legacy HDF5 full-model file (`.h5`, written by
Keras 2, tf.keras and Keras 3's `model.save("m.h5")`: the config in the file's `model_config`
attribute, the weights under model_weights/). Both carry a Keras model config, converted by
keras_model.py with the weights read here (h5py).

Keras 3's archive stores each layer's variables by position (`layers/<path>/vars/0, 1, ...`, the layer's
name in the `vars` group's `name` attribute), so the names below give each position its variable.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from typing import Any

import numpy as np
import onnx

from webdnn.errors import ModelLoadError
from webdnn.frontend.keras_model import keras_to_onnx

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
# a Keras 3 layer's variables in the order the archive stores them (where a layer's config drops one, as
# BatchNormalization's scale=False drops gamma, `_variable_names` drops it here too)
_VARIABLES = {
    "Conv1D": ["kernel", "bias"], "Conv2D": ["kernel", "bias"], "Conv3D": ["kernel", "bias"],
    "DepthwiseConv1D": ["depthwise_kernel", "bias"], "DepthwiseConv2D": ["depthwise_kernel", "bias"],
    "SeparableConv1D": ["depthwise_kernel", "pointwise_kernel", "bias"],
    "SeparableConv2D": ["depthwise_kernel", "pointwise_kernel", "bias"],
    "Dense": ["kernel", "bias"], "PReLU": ["alpha"], "Normalization": ["mean", "variance", "count"],
    "Conv1DTranspose": ["kernel", "bias"], "Conv2DTranspose": ["kernel", "bias"], "Conv3DTranspose": ["kernel", "bias"],
    "Embedding": ["embeddings"],
}
RECURRENT = ("LSTM", "GRU", "SimpleRNN")
# MultiHeadAttention's projections: the archive's sub-layer directory -> its name (and the weights' prefix)
ATTENTION_PARTS = {"query_dense": "query", "key_dense": "key", "value_dense": "value",
                   "output_dense": "attention_output"}
_DIRECTION = re.compile(r"^(forward|backward)_")
_CELL = re.compile(r"(^|_)cell(_\d+)?$")


def keras_file_kind(path: str) -> str | None:
    """"keras" (a .keras archive), "h5" (a legacy full-model HDF5 file) or None, judged by content."""
    if not os.path.isfile(path):
        return None
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"PK") and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            return "keras" if "config.json" in z.namelist() else None
    if head == HDF5_MAGIC:
        import h5py

        with h5py.File(path, "r") as f:
            return "h5" if "model_config" in f.attrs else None
    return None


def load_keras(path: str) -> onnx.ModelProto:
    """The Keras model file at `path` as an ONNX model."""
    kind = keras_file_kind(path)
    name = os.path.basename(path)
    if kind == "keras":
        return _archive(path, name)
    if kind == "h5":
        return _legacy_h5(path, name)
    raise ModelLoadError(f"{path}: not a Keras model file (.keras archive or full-model .h5)")


def _variable_names(class_name: str, config: dict[str, Any]) -> list[str]:
    if class_name == "BatchNormalization":
        return [*(["gamma"] if config.get("scale", True) else []), *(["beta"] if config.get("center", True) else []),
                "moving_mean", "moving_variance"]
    if class_name == "LayerNormalization":
        if config.get("rms_scaling", False):
            return ["gamma"]
        return [*(["gamma"] if config.get("scale", True) else []), *(["beta"] if config.get("center", True) else [])]
    if class_name in RECURRENT:  # the cell's variables
        return ["kernel", "recurrent_kernel", *(["bias"] if config.get("use_bias", True) else [])]
    if class_name == "Attention":
        return [*(["scale"] if config.get("use_scale", False) else []),
                *(["concat_score_weight"] if config.get("score_mode", "dot") == "concat" else [])]
    if class_name == "AdditiveAttention":
        return ["scale"] if config.get("use_scale", True) else []
    names = list(_VARIABLES.get(class_name, []))
    if "bias" in names and not config.get("use_bias", True):
        names.remove("bias")
    return names


def _layer_configs(config: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Every layer of a model config (nested models' too) by name: (class, config)."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for lay in (config.get("config") or {}).get("layers", []) if isinstance(config.get("config"), dict) else []:
        cfg = lay.get("config") or {}
        out[str(cfg.get("name") or lay.get("name"))] = (str(lay.get("class_name")), cfg)
        if lay.get("class_name") in ("Functional", "Sequential", "Model"):
            out.update(_layer_configs(lay))
    return out


def _archive(path: str, name: str) -> onnx.ModelProto:
    import h5py

    try:
        with zipfile.ZipFile(path) as z:
            config = json.loads(z.read("config.json"))
            meta = json.loads(z.read("metadata.json")) if "metadata.json" in z.namelist() else {}
            if "model.weights.h5" not in z.namelist():
                raise ModelLoadError(f"{path}: the archive has no model.weights.h5")
            blob = z.read("model.weights.h5")
    except (zipfile.BadZipFile, ValueError, KeyError) as e:
        raise ModelLoadError(f"{path}: not a readable .keras archive ({e})") from None
    layers = _layer_configs(config)
    weights: dict[str, np.ndarray] = {}
    with h5py.File(io.BytesIO(blob), "r") as f:
        def name_of(group_path: str) -> str:
            v = f[group_path].attrs["name"] if group_path in f and "name" in f[group_path].attrs else ""
            return v.decode() if isinstance(v, bytes) else str(v)

        def visit(group_path: str, obj: Any) -> None:
            if not (isinstance(obj, h5py.Group) and group_path.split("/")[-1] == "vars" and "name" in obj.attrs):
                return
            lname, prefix = name_of(group_path), ""
            arrays = [np.asarray(obj[k]) for k in sorted(obj.keys(), key=int)]
            part = group_path.split("/")[-2] if group_path.count("/") >= 2 else ""
            if part in ATTENTION_PARTS:  # a MultiHeadAttention's projection: kernel and bias of the layer
                lname = name_of(group_path[: -len(f"{part}/vars")] + "vars")
                if layers.get(lname, ("", {}))[0] == "MultiHeadAttention":
                    for n, a in zip(("kernel", "bias"), arrays, strict=False):
                        weights[f"{lname}/{ATTENTION_PARTS[part]}/{n}"] = a
                    return
            if group_path.endswith("/cell/vars"):  # a recurrent layer's cell: the variables belong to the layer
                owner = group_path[: -len("cell/vars")]
                lname = name_of(owner + "vars")
                side = owner.rstrip("/").split("/")[-1]
                if side in ("forward_layer", "backward_layer"):  # ... or to the Bidirectional around it
                    prefix = side.split("_")[0] + "_"
                    lname = name_of(owner.rstrip("/")[: -len(side)] + "vars")
            if not arrays or lname not in layers:
                return
            cls, cfg = layers[lname]
            if cls == "Bidirectional":
                inner = cfg.get("layer") or {}
                cls, cfg = str(inner.get("class_name")), inner.get("config") or {}
            names = [prefix + n for n in _variable_names(cls, cfg)]
            if len(names) != len(arrays):
                raise ModelLoadError(f"{path}: layer '{lname}' ({cls}) stores {len(arrays)} variables, expected "
                                     f"{len(names)} ({', '.join(names) or 'none'}): is it a layer WebDNN supports?")
            for n, a in zip(names, arrays, strict=True):
                weights[f"{lname}/{n}"] = a

        f.visititems(visit)
    return keras_to_onnx(config, weights, name, str(meta.get("keras_version", "3")))


def _legacy_h5(path: str, name: str) -> onnx.ModelProto:
    import h5py

    with h5py.File(path, "r") as f:
        raw = f.attrs["model_config"]
        config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        version = f.attrs.get("keras_version", "2")
        version = version.decode() if isinstance(version, bytes) else str(version)
        if "model_weights" not in f:
            raise ModelLoadError(f"{path}: the file holds a model config but no model_weights (saved without weights?)")
        weights: dict[str, np.ndarray] = {}
        layers = _layer_configs(config)

        def visit(p: str, obj: Any) -> None:
            if isinstance(obj, h5py.Dataset):
                parts = p.split("/")  # <layer>/<layer>/<variable>, or <model>/<layer>/<variable> when nested
                key = parts[-1][:-2] if parts[-1].endswith(":0") else parts[-1]
                # a recurrent layer's weights sit in its cell's group, a Bidirectional's in forward_*/backward_*
                mid = [q for q in parts[:-1] if not _CELL.search(q)]
                side = _DIRECTION.match(mid[-1]) if len(mid) > 1 else None
                if side:
                    key, mid = f"{side.group(1)}_{key}", mid[:-1]
                if len(mid) > 1 and mid[-1] in ATTENTION_PARTS.values() and \
                        layers.get(mid[-2], ("", {}))[0] == "MultiHeadAttention":
                    key, mid = f"{mid[-1]}/{key}", mid[:-1]
                lname = mid[-1] if mid else parts[0]
                if layers.get(lname, ("", {}))[0].startswith("Depthwise") and key == "kernel":
                    key = "depthwise_kernel"  # Keras 3 names it kernel, Keras 2 depthwise_kernel
                weights[f"{lname}/{key}"] = np.asarray(obj)

        f["model_weights"].visititems(visit)
    return keras_to_onnx(config, weights, name, version)
