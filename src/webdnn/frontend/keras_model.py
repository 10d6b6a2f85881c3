"""A Keras model config (Functional or Sequential, as Keras 2, tf.keras and Keras 3 serialize it, and as
TensorFlow.js layers models carry it) plus its weights -> an ONNX model, which then goes through
the ONNX frontend and the passes like any other. The layers are translated by keras_layers.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import onnx

from webdnn.errors import ModelLoadError, UnsupportedOperatorError
from webdnn.frontend import keras_layers_seq  # noqa: F401  (registers the sequence layers)
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
    every = _all_layers(layers)  # nested models' layers too
    names = [_name(lay) for lay in every]
    unknown = sorted({str(lay.get("class_name", "?")) for lay in every if lay.get("class_name") not in LAYERS
                      and lay.get("class_name") not in ("InputLayer", *MODEL_CLASSES)})
    if unknown:
        which = {c: [_name(lay) for lay in every if lay.get("class_name") == c][:3] for c in unknown}
        listed = [f"{c} (layer{'s' if len(v) > 1 else ''} {', '.join(repr(x) for x in v)})" for c, v in which.items()]
        raise UnsupportedOperatorError(
            f"{source}: Keras layer class(es) not supported: " + "; ".join(listed)
            + ". Custom and Lambda layers cannot be converted; see docs/frontends.md for the supported layers")
    model = _Model(b, source, _group_weights(weights, names), keras_version, framework)
    outs = model.run(str(cls), config, None)
    for name, t in outs:
        b.add_output(t, name)
    name = str((config.get("name") if isinstance(config, dict) else None) or "keras_model")
    m = b.model(name)
    m.producer_name, m.producer_version = "keras", keras_version  # provenance, in the manifest's "converter"
    return m


def _name(lay: Mapping[str, Any]) -> str:
    return str((lay.get("config") or {}).get("name") or lay.get("name"))


def _all_layers(layers: list[Any]) -> list[Mapping[str, Any]]:
    out: list[Mapping[str, Any]] = []
    for lay in layers:
        out.append(lay)
        if lay.get("class_name") in MODEL_CLASSES:
            inner = lay.get("config") or {}
            out += _all_layers(inner if isinstance(inner, list) else inner.get("layers", []))
    return out


class _Model:
    """Translates a model config, and the models nested in it as layers, into the builder's graph."""

    def __init__(self, b: Builder, source: str, by_layer: dict[str, dict[str, np.ndarray]], keras_version: str,
                 framework: str) -> None:
        self.b, self.source, self.by_layer = b, source, by_layer
        self.keras_version, self.framework = keras_version, framework

    def layer(self, lay: Mapping[str, Any]) -> Layer:
        name = _name(lay)
        return Layer(name, str(lay.get("class_name")), dict(lay.get("config") or {}), self.by_layer.get(name, {}),
                     self.keras_version, self.framework)

    def run(self, cls: str, config: Any, inputs: list[KTensor] | None) -> list[tuple[str, KTensor]]:
        """The (name, tensor) outputs of the model `config`; `inputs`: the tensors its inputs are bound to when
        it is nested in another model as a layer, None for the outer model (its inputs become the graph's)."""
        raw = config if isinstance(config, list) else config.get("layers", [])
        if cls == "Sequential" or all(not lay.get("inbound_nodes") for lay in raw[1:]):
            return self._sequential([self.layer(lay) for lay in raw], inputs)
        return self._functional(config, raw, inputs)

    def apply(self, lay: Layer, raw: Mapping[str, Any], ins: list[KTensor]) -> list[KTensor]:
        if lay.class_name in MODEL_CLASSES:  # a model used as a layer: its layers inline, on these inputs
            return [t for _, t in self.run(lay.class_name, raw.get("config") or {}, ins)]
        return LAYERS[lay.class_name](self.b, lay, ins)

    def _input(self, lay: Layer) -> KTensor:
        shape = lay.get("batch_input_shape") or lay.get("batch_shape")
        if shape is None:
            raise ModelLoadError(f"{self.source}: input layer '{lay.name}' has no batch_input_shape / batch_shape")
        dims = tuple(None if d is None else int(d) for d in shape)
        return self.b.add_input(lay.name, dims, str(lay.get("dtype") or "float32"))

    def _sequential(self, layers: list[Layer], inputs: list[KTensor] | None) -> list[tuple[str, KTensor]]:
        first = layers[0]
        rest = layers[1:] if first.class_name == "InputLayer" else layers
        if inputs is not None:
            x = inputs[0]
        elif first.class_name == "InputLayer":
            x = self._input(first)
        else:
            x = self._input(Layer("input", "InputLayer", first.config))
        for lay in rest:
            x = self.apply(lay, {"config": lay.config}, [x])[0]
        return [(rest[-1].name if rest else "output", x)]

    def _functional(self, config: Mapping[str, Any], raw: list[Mapping[str, Any]],
                    inputs: list[KTensor] | None) -> list[tuple[str, KTensor]]:
        produced: dict[tuple[str, int], list[KTensor]] = {}
        pending: list[tuple[Layer, Mapping[str, Any], int, list[tuple[str, int, int]]]] = []
        given = iter(inputs or [])
        input_names = [h[0] for spec in _as_list(config.get("input_layers")) for h in _history(spec)]
        for lj in raw:
            lay = self.layer(lj)
            if lay.class_name == "InputLayer":
                if inputs is None:
                    produced[(lay.name, 0)] = [self._input(lay)]
                continue
            pending += [(lay, lj, k, call) for k, call in enumerate(_calls(lj))]
        if inputs is not None:
            for name in input_names:
                t = next(given, None)
                if t is None:
                    raise ModelLoadError(f"{self.source}: nested model '{config.get('name')}' takes "
                                         f"{len(input_names)} inputs, it is called with {len(inputs)}")
                produced[(name, 0)] = [t]
        while pending:
            rest = []
            for lay, lj, k, call in pending:
                if all((n, ni) in produced for n, ni, _ in call):
                    called = replace(lay, call=_call_kwargs(lj, k))
                    produced[(lay.name, k)] = self.apply(called, lj, [produced[(n, ni)][ti] for n, ni, ti in call])
                else:
                    rest.append((lay, lj, k, call))
            if len(rest) == len(pending):
                missing = sorted({n for _, _, _, call in rest for n, ni, _ in call if (n, ni) not in produced})
                raise ModelLoadError(f"{self.source}: layer(s) {', '.join(repr(lay.name) for lay, _, _, _ in rest[:3])}"
                                     f" read {', '.join(repr(m) for m in missing[:3])}, which no layer produces")
            pending = rest
        outs = _as_list(config.get("output_layers"))
        result = []
        for n, ni, ti in (_history(o)[0] for o in outs):
            if (n, ni) not in produced:
                raise ModelLoadError(f"{self.source}: output layer '{n}' is not computed by the model")
            result.append((n if len(outs) == 1 or ti == 0 else f"{n}_{ti}", produced[(n, ni)][ti]))
        return result


def _as_list(specs: Any) -> list[Any]:
    """input_layers / output_layers: a list of [name, node, tensor], or a single one."""
    specs = specs or []
    return [specs] if specs and isinstance(specs[0], str) else list(specs)


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
            if hit is not None:  # a Bidirectional's weights: forward_* / backward_* between layer and variable
                side = next((q.split("_")[0] for q in parts[hit + n:-1] if q.startswith(("forward_", "backward_"))),
                            None)
                key = f"{side}_{parts[-1]}" if side else parts[-1]
                if len(parts) - hit - n == 2 and parts[-2] in ("query", "key", "value", "attention_output"):
                    key = f"{parts[-2]}/{parts[-1]}"  # a MultiHeadAttention's projection
                out.setdefault(lname, {})[key] = np.asarray(arr)
                break
    return out


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


def _call_kwargs(lay_json: Mapping[str, Any], k: int) -> dict[str, Any]:
    """The keyword arguments of the layer's call `k` (Keras 3's {"kwargs": ...}; Keras 2's per-tensor dicts)."""
    nodes = lay_json.get("inbound_nodes") or []
    call = nodes[k] if k < len(nodes) else None
    if isinstance(call, dict):
        return dict(call.get("kwargs") or {})
    if isinstance(call, list):
        return {key: v for t in call if isinstance(t, list) and len(t) > 3 and isinstance(t[3], dict)
                for key, v in t[3].items()}
    return {}


def _calls(lay_json: Mapping[str, Any]) -> list[list[tuple[str, int, int]]]:
    nodes = lay_json.get("inbound_nodes") or []
    return [_history(call.get("args", []) if isinstance(call, dict) else call) for call in nodes]
