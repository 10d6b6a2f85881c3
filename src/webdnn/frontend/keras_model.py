"""A Keras model config (Functional or Sequential, as Keras 2, tf.keras and Keras 3 serialize it, and as
TensorFlow.js layers models carry it) plus its weights -> an ONNX model, which then goes through
the ONNX frontend and the passes like any other. The layers are translated by keras_layers.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import onnx

from webdnn.errors import ModelLoadError, UnsupportedOperatorError
from webdnn.frontend.keras_builder import Builder, KTensor
from webdnn.frontend.keras_layers import LAYERS, Layer

MODEL_CLASSES = ("Functional", "Model", "Sequential")


def keras_to_onnx(model_config: Mapping[str, Any], weights: Mapping[str, np.ndarray], source: str,
                  keras_version: str = "2", framework: str = "keras") -> onnx.ModelProto:
    """`model_config`: {"class_name": "Functional" | "Model" | "Sequential", "config": {...}}; `weights` by
    variable name ("conv1/kernel", "conv1/kernel:0", "model/conv1/kernel", ...); `framework`: whose layer
    semantics to follow where Keras and TF.js differ ("keras" or "tfjs")."""
    cls = model_config.get("class_name")
    config = model_config.get("config")
    if cls not in MODEL_CLASSES or not isinstance(config, (dict, list)):
        raise UnsupportedOperatorError(f"{source}: a Keras model of class {cls!r} is not supported (Functional and "
                                       "Sequential models are)")
    b = Builder(source)
    layers = config if isinstance(config, list) else config.get("layers", [])
    if not isinstance(layers, list) or not layers:
        raise ModelLoadError(f"{source}: the model config lists no layers")
    names = [str(lay.get("config", {}).get("name") or lay.get("name")) for lay in layers]
    by_layer = _group_weights(weights, names)
    unknown = sorted({lay.get("class_name", "?") for lay in layers if lay.get("class_name") not in LAYERS
                      and lay.get("class_name") != "InputLayer"})
    if unknown:
        which = {c: [n for n, lay in zip(names, layers, strict=True) if lay.get("class_name") == c][:3]
                 for c in unknown}
        listed = [f"{c} (layer{'s' if len(v) > 1 else ''} {', '.join(repr(x) for x in v)})" for c, v in which.items()]
        raise UnsupportedOperatorError(
            f"{source}: Keras layer class(es) not supported: " + "; ".join(listed)
            + ". Custom and Lambda layers cannot be converted; see docs/frontends.md for the supported layers")

    def make(i: int) -> Layer:
        lay = layers[i]
        return Layer(names[i], str(lay.get("class_name")), dict(lay.get("config") or {}), by_layer.get(names[i], {}),
                     keras_version, framework)

    name = str((config.get("name") if isinstance(config, dict) else None) or "keras_model")
    if cls == "Sequential" or all(not lay.get("inbound_nodes") for lay in layers[1:]):
        _sequential(b, [make(i) for i in range(len(layers))], source)
    else:
        _functional(b, config, [make(i) for i in range(len(layers))], layers, source)
    m = b.model(name)
    m.producer_name, m.producer_version = "keras", keras_version  # provenance, in the manifest's "converter"
    return m


def _group_weights(weights: Mapping[str, np.ndarray], layer_names: list[str]) -> dict[str, dict[str, np.ndarray]]:
    """Weights by layer, then by variable ("kernel", "moving_mean", ...): a weight belongs to the layer whose
    name is the longest path component run it starts with or contains."""
    out: dict[str, dict[str, np.ndarray]] = {}
    ordered = sorted(set(layer_names), key=len, reverse=True)
    for full, arr in weights.items():
        w = full[:-2] if full.endswith(":0") else full
        parts = w.split("/")
        for lname in ordered:
            n = lname.count("/") + 1
            hit = next((i for i in range(len(parts) - n) if "/".join(parts[i:i + n]) == lname), None)
            if hit is not None:
                out.setdefault(lname, {})[parts[-1]] = np.asarray(arr)
                break
    return out


def _input(b: Builder, lay: Layer, source: str) -> KTensor:
    shape = lay.get("batch_input_shape") or lay.get("batch_shape")
    if shape is None:
        raise ModelLoadError(f"{source}: input layer '{lay.name}' has no batch_input_shape / batch_shape")
    dims = tuple(None if d is None else int(d) for d in shape)
    return b.add_input(lay.name, dims, str(lay.get("dtype") or "float32"))


def _apply(b: Builder, lay: Layer, ins: list[KTensor]) -> list[KTensor]:
    return LAYERS[lay.class_name](b, lay, ins)


def _sequential(b: Builder, layers: list[Layer], source: str) -> None:
    first = layers[0]
    if first.class_name == "InputLayer":
        x = _input(b, first, source)
        rest = layers[1:]
    else:
        x = _input(b, Layer("input", "InputLayer", first.config), source)
        rest = layers
    for lay in rest:
        x = _apply(b, lay, [x])[0]
    b.add_output(x, rest[-1].name if rest else "output")


def _history(arg: Any) -> list[tuple[str, int, int]]:
    """The (layer, node index, tensor index) of each tensor an inbound node passes (Keras 2 lists or
    Keras 3 {"args": [...], "kwargs": {...}} with __keras_tensor__ entries)."""
    if isinstance(arg, dict):
        if arg.get("class_name") == "__keras_tensor__":
            h = arg["config"]["keras_history"]
            return [(str(h[0]), int(h[1]), int(h[2]))]
        return [t for v in arg.values() for t in _history(v)]
    if isinstance(arg, list):
        if len(arg) >= 3 and isinstance(arg[0], str) and isinstance(arg[1], int) and isinstance(arg[2], int):
            return [(arg[0], arg[1], arg[2])]
        return [t for v in arg for t in _history(v)]
    return []


def _calls(lay_json: Mapping[str, Any]) -> list[list[tuple[str, int, int]]]:
    nodes = lay_json.get("inbound_nodes") or []
    return [_history(call.get("args", []) if isinstance(call, dict) else call) for call in nodes]


def _functional(b: Builder, config: Mapping[str, Any], layers: list[Layer], raw: list[Mapping[str, Any]],
                source: str) -> None:
    produced: dict[tuple[str, int], list[KTensor]] = {}
    pending: list[tuple[Layer, int, list[tuple[str, int, int]]]] = []
    for lay, lj in zip(layers, raw, strict=True):
        if lay.class_name == "InputLayer":
            produced[(lay.name, 0)] = [_input(b, lay, source)]
            continue
        pending += [(lay, k, call) for k, call in enumerate(_calls(lj))]
    while pending:
        rest = []
        for lay, k, call in pending:
            if all((n, ni) in produced for n, ni, _ in call):
                produced[(lay.name, k)] = _apply(b, lay, [produced[(n, ni)][ti] for n, ni, ti in call])
            else:
                rest.append((lay, k, call))
        if len(rest) == len(pending):
            missing = sorted({n for _, _, call in rest for n, ni, _ in call if (n, ni) not in produced})
            raise ModelLoadError(f"{source}: layer(s) {', '.join(repr(lay.name) for lay, _, _ in rest[:3])} read "
                                 f"{', '.join(repr(m) for m in missing[:3])}, which no layer produces")
        pending = rest
    outs = config.get("output_layers") or []
    if outs and isinstance(outs[0], str):  # a single [name, node, tensor]
        outs = [outs]
    for n, ni, ti in (_history(o)[0] for o in outs):
        if (n, ni) not in produced:
            raise ModelLoadError(f"{source}: output layer '{n}' is not computed by the model")
        b.add_output(produced[(n, ni)][ti], n if len(outs) == 1 or ti == 0 else f"{n}_{ti}")
