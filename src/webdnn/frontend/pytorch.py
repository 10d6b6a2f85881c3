"""PyTorch models in: an `nn.Module` with example inputs (the Python API: `convert(module, out,
example_inputs=(x,))`) or an ExportedProgram that `torch.export.save` wrote (`.pt2`, recognized by content).
Both go through PyTorch's own dynamo ONNX exporter (`torch.onnx.export(..., dynamo=True)`) and then the ONNX
frontend like any ONNX file. torch is imported here only, and only when such a model is given: the converter
runs every other format without it.
"""

from __future__ import annotations

import contextlib
import io
import os
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any

import onnx

from webdnn.errors import ModelLoadError

OPSET = 18  # the dynamo exporter's forms at this opset are what tests/exporters checks


def is_pt2(path: str) -> bool:
    """Whether `path` is a torch.export archive (a zip whose `<name>/archive_format` says "pt2")."""
    if not os.path.isfile(path) or not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as z:
            fmt = next((n for n in z.namelist() if n.endswith("archive_format")), None)
            return fmt is not None and z.read(fmt).strip() == b"pt2"
    except (OSError, zipfile.BadZipFile):
        return False


def is_module(model: object) -> bool:
    """Whether `model` is a torch nn.Module (judged without importing torch)."""
    return any(c.__module__.startswith("torch.") and c.__name__ == "Module" for c in type(model).__mro__)


def _torch(what: str) -> Any:
    try:
        import torch
    except ImportError:
        raise ModelLoadError(f"{what} needs PyTorch to export it to ONNX: pip install torch onnxscript (the CPU "
                             "build is enough); or export it yourself with torch.onnx.export and convert the "
                             ".onnx file") from None
    return torch


def load_pt2(path: str) -> onnx.ModelProto:
    """The ExportedProgram saved at `path` as an ONNX model."""
    torch = _torch(f"{path} (a torch.export program)")
    try:
        program = torch.export.load(path)
    except Exception as e:  # noqa: BLE001 (torch raises many kinds for a bad archive)
        raise ModelLoadError(f"{path}: torch.export.load could not read it ({type(e).__name__}: {e})") from None
    return _export(torch, program, (), None, None, None, os.path.basename(path))


def module_to_onnx(module: Any, example_inputs: Sequence[Any] | Any, input_names: Sequence[str] | None = None,
                   output_names: Sequence[str] | None = None,
                   dynamic_shapes: Mapping[str, Any] | Sequence[Any] | None = None) -> onnx.ModelProto:
    """`module` (in eval mode) traced on `example_inputs` (a tensor or a tuple of them) as an ONNX model.
    Input names default to forward()'s parameter names; `dynamic_shapes` is torch.export's."""
    torch = _torch(f"a {type(module).__name__} module")
    args = tuple(example_inputs) if isinstance(example_inputs, (tuple, list)) else (example_inputs,)
    module.eval()
    return _export(torch, module, args, input_names, output_names, dynamic_shapes, type(module).__name__)


def _export(torch: Any, model: Any, args: tuple[Any, ...], input_names: Sequence[str] | None,
            output_names: Sequence[str] | None, dynamic_shapes: Any, what: str) -> onnx.ModelProto:
    quiet = io.StringIO()
    try:
        with torch.no_grad(), contextlib.redirect_stdout(quiet):
            program = torch.onnx.export(model, args, dynamo=True, opset_version=OPSET, verbose=False,
                                        input_names=list(input_names) if input_names else None,
                                        output_names=list(output_names) if output_names else None,
                                        dynamic_shapes=dynamic_shapes)
    except ImportError as e:
        raise ModelLoadError(f"{what}: PyTorch's ONNX exporter needs onnxscript ({e}): pip install onnxscript") \
            from None
    except Exception as e:  # noqa: BLE001 (the exporter's errors are many kinds)
        raise ModelLoadError(f"{what}: torch.onnx.export (dynamo) failed: {type(e).__name__}: "
                             f"{str(e).strip().splitlines()[0] if str(e).strip() else ''}. The model must be "
                             "exportable by torch.export (no data-dependent Python control flow)") from None
    proto = program.model_proto
    proto.producer_name, proto.producer_version = "pytorch", str(torch.__version__)
    return proto
