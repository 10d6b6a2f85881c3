"""Convert a model: frontend -> passes -> per-backend lowering -> descriptor directory.

The output directory appears complete or not at all: everything is written into a
temporary sibling directory that is renamed into place at the end.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import onnx

from webdnn import __version__
from webdnn.backends import AUTO_BACKENDS, BACKENDS
from webdnn.backends.common.descriptor import write
from webdnn.errors import ConversionError, UnsupportedOperatorError
from webdnn.frontend.onnx import from_onnx, load_onnx
from webdnn.ir.graph import Graph
from webdnn.passes.pipeline import PassReport, optimize

Progress = Callable[[str], None]


@dataclass
class ConvertResult:
    out_dir: str
    graph: Graph
    passes: PassReport
    backends: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # backend -> why it cannot run the model
    seconds: float = 0.0


def convert(
    model: str | os.PathLike[str] | onnx.ModelProto,
    out_dir: str | os.PathLike[str],
    backends: Sequence[str] | None = ("fallback",),
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    progress: Progress | None = None,
    name: str | None = None,
) -> ConvertResult:
    t0 = time.perf_counter()
    say = progress or (lambda _msg: None)
    # None: every backend that can run this model (a backend lacking an op is skipped, not an error;
    # opt-in variants such as webgpu-fp16 only when named).
    optional = backends is None
    backends = list(AUTO_BACKENDS) if backends is None else list(backends)
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        raise ConversionError(f"unknown backend(s) {unknown}; available: {sorted(BACKENDS)}")
    out_dir = os.fspath(out_dir)
    _check_out_dir(out_dir)

    say("loading model")
    if isinstance(model, onnx.ModelProto):
        proto, source = model, "<ModelProto>"
    else:
        proto, source = load_onnx(model), os.path.basename(os.fspath(model))
    default_name = os.path.splitext(source)[0] if not source.startswith("<") else "model"
    graph = from_onnx(proto, input_shapes, name=name or proto.graph.name or default_name)
    say(f"optimizing graph ({len(graph.nodes)} nodes)")
    report = optimize(graph, progress=lambda p: say(f"  pass {p}"))

    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.", suffix=".tmp", dir=parent)
    result = ConvertResult(out_dir, graph, report)
    try:
        manifest_backends: dict[str, Any] = {}
        for b in backends:
            say(f"lowering for backend {b}")
            try:
                program = BACKENDS[b](copy.deepcopy(graph) if len(backends) > 1 else graph)
            except UnsupportedOperatorError as e:
                if not optional:
                    raise
                say(f"skipping backend {b}: {str(e).split('. Supported operators')[0]}")
                result.skipped[b] = str(e)
                continue
            say(f"writing {b} descriptor and weights")
            entry = write(program, os.path.join(tmp, b))
            manifest_backends[b] = entry
            result.backends[b] = {
                **entry,
                "kernels": len(program.kernels),
                "arena_bytes": program.plan.arena_size,
                "naive_bytes": program.plan.naive_size,
            }
        if not manifest_backends:
            raise ConversionError(f"no backend can run this model: {'; '.join(result.skipped.values())}")
        manifest = {
            "format": "webdnn-model",
            "version": 1,
            "name": graph.name,
            "inputs": [_io(v) for v in graph.inputs],
            "outputs": [_io(v) for v in graph.outputs],
            "backends": manifest_backends,
            "converter": {"webdnn": __version__, "source": source, "opset": graph.opset},
        }
        with open(os.path.join(tmp, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=1)
        if os.path.exists(out_dir):
            shutil.rmtree(out_dir)
        os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    result.seconds = time.perf_counter() - t0
    return result


def _io(v: Any) -> dict[str, Any]:
    return {"name": v.name, "dtype": v.dtype.value, "shape": list(v.shape)}


def _check_out_dir(out_dir: str) -> None:
    """Refuse to overwrite a directory that is not a previous conversion."""
    if os.path.exists(out_dir):
        if not os.path.isdir(out_dir):
            raise ConversionError(f"output path {out_dir} exists and is not a directory")
        if os.listdir(out_dir) and not os.path.exists(os.path.join(out_dir, "manifest.json")):
            raise ConversionError(
                f"output directory {out_dir} exists, is not empty and holds no WebDNN model; choose another path"
            )
