"""Which frontend reads a model: the format is judged by content, not by the file name, and every format
comes out as an ONNX model (the one input of the ONNX frontend, frontend/onnx.py)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import onnx

from webdnn.errors import ConversionError
from webdnn.frontend.keras_file import keras_file_kind, load_keras
from webdnn.frontend.onnx import load_onnx
from webdnn.frontend.pytorch import is_module, is_pt2, load_pt2, module_to_onnx
from webdnn.frontend.tfjs import is_tfjs_model, load_tfjs


@dataclass
class LoadedModel:
    proto: onnx.ModelProto
    source: str  # for messages and the manifest: the file's name, or "<ModelProto>" / "<ClassName>"
    format: str  # "onnx", "keras", "tfjs", "pytorch-module" or "pytorch-pt2"


def load_model(model: Any, example_inputs: Sequence[Any] | Any = None, input_names: Sequence[str] | None = None,
               say: Any = None) -> LoadedModel:
    """`model`: a model file or directory (ONNX, Keras .keras / .h5, TF.js model.json, torch.export .pt2), an
    onnx.ModelProto, or a torch nn.Module traced on `example_inputs`."""
    say = say or (lambda _m: None)
    if isinstance(model, onnx.ModelProto):
        return LoadedModel(model, "<ModelProto>", "onnx")
    if is_module(model):
        if example_inputs is None:
            raise ConversionError(f"converting a {type(model).__name__} module needs example_inputs (a tensor or a "
                                  "tuple of tensors it is traced on)")
        say("exporting the module with torch.onnx.export (dynamo)")
        return LoadedModel(module_to_onnx(model, example_inputs, input_names), f"<{type(model).__name__}>",
                           "pytorch-module")
    path = os.fspath(model)
    if keras_file_kind(path):
        return LoadedModel(load_keras(path), os.path.basename(path), "keras")
    if is_tfjs_model(path):
        source = os.path.basename(os.path.normpath(path if os.path.isdir(path) else os.path.dirname(path) or "."))
        return LoadedModel(load_tfjs(path), source, "tfjs")
    if is_pt2(path):
        say("exporting the program with torch.onnx.export (dynamo)")
        return LoadedModel(load_pt2(path), os.path.basename(path), "pytorch-pt2")
    return LoadedModel(load_onnx(path), os.path.basename(path), "onnx")
