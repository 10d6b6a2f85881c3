"""TensorFlow.js models as `tensorflowjs_converter` writes them: model.json plus binary weight shards.

A layers model (`"format": "layers-model"`) carries a Keras model config, converted by keras_model.py
with the weights read here. Weights may be quantized as the converter's `--quantize_uint8`,
`--quantize_uint16` (affine: q * scale + min) or `--quantize_float16` wrote them; they are restored
to float32 here. A graph model (`"format": "graph-model"`) carries a TensorFlow GraphDef, converted by
tf_graph.py.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import onnx

from webdnn.errors import ModelLoadError, UnsupportedOperatorError
from webdnn.frontend.keras_model import keras_to_onnx
from webdnn.frontend.tf_graph import graph_to_onnx

_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_, "uint8": np.uint8, "int8": np.int8,
           "uint16": np.uint16, "int16": np.int16, "float16": np.float16}


def is_tfjs_model(path: str) -> bool:
    """Whether `path` is a TF.js model.json (or a directory holding one), judged by its content."""
    if os.path.isdir(path):
        path = os.path.join(path, "model.json")
    if not os.path.isfile(path):
        return False
    try:
        with open(path, "rb") as f:
            head = f.read(4096).lstrip()
        if not head.startswith(b"{"):
            return False
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(d, dict) and "modelTopology" in d and "weightsManifest" in d


def load_tfjs(path: str) -> onnx.ModelProto:
    """The TF.js model at `path` (model.json or its directory) as an ONNX model."""
    if os.path.isdir(path):
        path = os.path.join(path, "model.json")
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"{path}: not a readable TF.js model.json ({e})") from None
    fmt = d.get("format")
    topo = d.get("modelTopology") or {}
    if fmt == "graph-model" or "node" in topo:
        weights = read_weights(d.get("weightsManifest") or [], os.path.dirname(path), path)
        signature = (d.get("userDefinedMetadata") or {}).get("signature") or d.get("signature")
        m = graph_to_onnx(topo, weights, signature, os.path.basename(os.path.dirname(path)) + "/model.json")
        # provenance: "TensorFlow.js Converter v1.7.4r1" from TensorFlow "2.2.0"
        m.producer_name = str(d.get("convertedBy") or "TensorFlow.js converter")
        m.producer_version = f"(TensorFlow {d['generatedBy']})" if d.get("generatedBy") else ""
        return m
    config = topo.get("model_config", topo)  # older converters put the model config itself there
    if not isinstance(config, dict) or "class_name" not in config:
        raise ModelLoadError(f"{path}: modelTopology holds no Keras model_config")
    weights = read_weights(d.get("weightsManifest") or [], os.path.dirname(path), path)
    version = str(topo.get("keras_version") or "2").removeprefix("tfjs-layers ")
    m = keras_to_onnx(config, weights, os.path.basename(os.path.dirname(path)) + "/model.json", version, "tfjs")
    m.producer_name = str(d.get("convertedBy") or "TensorFlow.js layers")
    m.producer_version = f"(Keras {version})"
    return m


def read_weights(manifest: list[dict[str, Any]], base: str, where: str) -> dict[str, np.ndarray]:
    """Every weight of the manifest's groups: each group's shards concatenated in order, the weights laid
    out one after another in it."""
    out: dict[str, np.ndarray] = {}
    for g, group in enumerate(manifest):
        blobs = []
        for p in group.get("paths", []):
            file = os.path.join(base, p)
            if not os.path.isfile(file):
                raise ModelLoadError(f"{where}: weight shard '{p}' (group {g}) is missing next to model.json")
            with open(file, "rb") as f:
                blobs.append(f.read())
        data = b"".join(blobs)
        at = 0
        for spec in group.get("weights", []):
            name, shape = str(spec["name"]), [int(s) for s in spec.get("shape", [])]
            count = int(np.prod(shape)) if shape else 1
            q = spec.get("quantization")
            stored = q["dtype"] if q else spec.get("dtype", "float32")
            if stored not in _DTYPES:
                raise UnsupportedOperatorError(f"{where}: weight '{name}' has element type {stored!r}")
            size = count * np.dtype(_DTYPES[stored]).itemsize
            if at + size > len(data):
                raise ModelLoadError(f"{where}: the shards of group {g} hold {len(data)} bytes, but weight '{name}' "
                                     f"needs bytes {at}..{at + size}; a shard is truncated or from another model")
            raw = np.frombuffer(data, _DTYPES[stored], count, at).reshape(shape)
            at += size
            if q and stored in ("uint8", "uint16"):  # affine quantization: q * scale + min
                arr = (raw.astype(np.float32) * np.float32(q["scale"]) + np.float32(q["min"])).astype(np.float32)
            elif q and stored == "float16":
                arr = raw.astype(np.float32)
            else:
                arr = raw.copy()
            out[name] = arr.astype(_DTYPES[spec.get("dtype", "float32")]) if q else arr
        if at != len(data):
            raise ModelLoadError(f"{where}: the shards of group {g} hold {len(data)} bytes, the manifest's weights "
                                 f"{at}; the shards and model.json come from different conversions")
    return out
