"""Convert a model: frontend -> passes -> per-backend lowering -> descriptor directory.

The output directory appears complete or not at all: everything is written into a
temporary directory first. A new output directory is that temporary directory renamed
into place; an existing one (empty, or a previous conversion) gets the new files moved
in at the end, the manifest last. Conversion never deletes or overwrites anything but a
WebDNN model it recognises: a manifest.json with "format": "webdnn-model" and an integer
version, and nothing else in the directory than the files that manifest and its
descriptors list. Any other non-empty directory is refused before any work is done.
Files and directories get the process's umask-respecting permissions.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import posixpath
import secrets
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import onnx

from webdnn import __version__
from webdnn.backends import AUTO_BACKENDS, BACKENDS
from webdnn.backends.common.control_descriptor import write_staged
from webdnn.backends.common.descriptor import write
from webdnn.backends.common.dim_table import symbol_specs
from webdnn.backends.common.weight_encoding import ENCODINGS
from webdnn.encoding_accuracy import check_encoding_accuracy
from webdnn.errors import ConversionError, UnsupportedOperatorError
from webdnn.frontend.detect import load_model
from webdnn.frontend.input_dims import DimSpec
from webdnn.frontend.onnx import from_onnx
from webdnn.frontend.pytorch import is_module
from webdnn.ir.graph import Graph
from webdnn.ir.symbolic import hint, symbol, symbols, to_json
from webdnn.passes.pipeline import PassReport, optimize
from webdnn.passes.runtime_control import has_runtime_control, stage

Progress = Callable[[str], None]
MANIFEST = "manifest.json"
_TMP_PREFIX = ".webdnn-convert-"  # this conversion's temporary directory: inside or beside the output


@dataclass
class ConvertResult:
    out_dir: str
    graph: Graph
    passes: PassReport
    backends: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # backend -> why it cannot run the model
    seconds: float = 0.0


def convert(
    model: str | os.PathLike[str] | onnx.ModelProto | Any,
    out_dir: str | os.PathLike[str],
    backends: Sequence[str] | None = ("fallback",),
    input_shapes: Mapping[str, Sequence[DimSpec]] | None = None,
    progress: Progress | None = None,
    name: str | None = None,
    dynamic: bool = True,
    value_inputs: Sequence[str] | Mapping[str, Sequence[str] | None] = (),
    example_inputs: Sequence[Any] | Any = None,
    input_names: Sequence[str] | None = None,
    weights: str = "fp32",
    check_accuracy: float | None = None,
) -> ConvertResult:
    """Convert `model` into `out_dir` for `backends`. `model`: a model file (ONNX, Keras, TF.js, a torch.export
    .pt2; recognized by content), an onnx.ModelProto, or a torch nn.Module traced on `example_inputs` (its
    inputs named `input_names`, default forward()'s parameters). `input_shapes` fixes input dims (ints) or
    names them (symbols such as "seq<=512": the model then runs at any size); the model's own dynamic dims
    (dim_param, -1) stay symbols unless `dynamic` is False, which fixes them to 1 (the fastest code, for the one
    size you run at); `value_inputs` names
    small int inputs whose values decide sizes (each element a symbol bound from the data at run);
    `weights`: how the weights are stored for download, "fp32", "fp16", "int8" or "int4" (block-quantized), decoded to
    float32 by the runtime at load (backends/common/weight_encoding.py); `check_accuracy`: a minimum cosine
    similarity to fp32 that every output must keep under that encoding, or the conversion is refused
    (AccuracyError) before anything is written (encoding_accuracy.py)."""
    t0 = time.perf_counter()
    say = progress or (lambda _msg: None)
    # None: every backend that can run this model (a backend lacking an op is skipped, not an error;
    # opt-in variants such as webgpu-fp16 only when named).
    optional = backends is None
    backends = list(AUTO_BACKENDS) if backends is None else list(backends)
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        raise ConversionError(f"unknown backend(s) {unknown}; available: {sorted(BACKENDS)}")
    if weights not in ENCODINGS:
        raise ConversionError(f"unknown weight encoding {weights!r}; one of {', '.join(ENCODINGS)}")
    out_dir = os.fspath(out_dir)
    if not out_dir:
        raise ConversionError("the output directory path is empty; give a directory such as out/model")
    in_memory = isinstance(model, onnx.ModelProto) or is_module(model)
    stem = "model" if in_memory else os.path.splitext(os.path.basename(os.fspath(model)))[0]
    _inspect_out_dir(out_dir, stem or "model")  # refuse a foreign directory before any work

    say("loading model")
    loaded = load_model(model, example_inputs, input_names, say)
    proto, source, fmt = loaded.proto, loaded.source, loaded.format
    default_name = os.path.splitext(source)[0] if not source.startswith("<") else "model"
    graph = from_onnx(proto, input_shapes, name=name or proto.graph.name or default_name, dynamic=dynamic,
                      value_inputs=value_inputs)
    kept = [f"{v.name} {_dims_text(v.shape)}" for v in graph.inputs if v.shape and symbols(v.shape)]
    if kept:
        say(f"dynamic dims kept: {', '.join(kept)} (runs at any size{'s' if len(kept) > 1 else ''} in the bounds; "
            "fixing them with --input-shape gives the fastest code for one size)")
    accuracy = None
    if check_accuracy is not None and weights != "fp32":
        say(f"checking --weights {weights} against fp32 (onnxruntime)")
        accuracy = check_encoding_accuracy(proto, {v.name: v.shape for v in graph.inputs}, weights, check_accuracy)
        say("  worst cosine similarity per output: "
            + ", ".join(f"{k} {v:.5f}" for k, v in accuracy.cosine.items()))
    say(f"optimizing graph ({len(graph.nodes)} nodes)")
    report = optimize(graph, progress=lambda p: say(f"  pass {p}"))

    staged = has_runtime_control(graph)
    tmp = _make_tmp_dir(out_dir)
    result = ConvertResult(out_dir, graph, report)
    try:
        manifest_backends: dict[str, Any] = {}
        for b in backends:
            say(f"lowering for backend {b}")
            mine = copy.deepcopy(graph) if len(backends) > 1 else graph
            try:
                if staged:  # control flow decided at run time: one descriptor per stage
                    plan = stage(mine)
                    say(f"writing {b} descriptors ({len(plan.stages)} stages) and weights")
                    entry = _writing(out_dir, lambda b=b, plan=plan: write_staged(
                        graph, plan, b, functools.partial(BACKENDS[b].compile, weights=weights), os.path.join(tmp, b),
                        weights))
                    summary = {k: entry.pop(k) for k in ("kernels", "arena_bytes", "naive_bytes")}
                else:
                    program = BACKENDS[b].compile(mine, weights=weights)
                    say(f"writing {b} descriptor and weights")
                    entry = _writing(out_dir, lambda p=program, b=b: write(p, os.path.join(tmp, b), weights))
                    summary = {"kernels": len(program.kernels), "arena_bytes": _size(program.plan.arena_size),
                               "naive_bytes": _size(program.plan.naive_size)}
            except UnsupportedOperatorError as e:
                if not optional:
                    raise
                say(f"skipping backend {b}: {str(e).split(' See docs/operators.md')[0]}")
                result.skipped[b] = str(e)
                continue
            entry["digest"] = _digest(os.path.join(tmp, b))
            manifest_backends[b] = entry
            result.backends[b] = {
                **entry,
                "kernels": summary["kernels"],
                # a dynamic model's at the symbols' bounds (`planned_at`)
                "planned_at": {s.name: s.hint for s in symbols(graph.input_symbol_dims())},
                "arena_bytes": summary["arena_bytes"],
                "naive_bytes": summary["naive_bytes"],
                **({"stages": len(plan.stages)} if staged else {}),
            }
        if not manifest_backends:
            raise ConversionError(f"no backend can run this model: {'; '.join(result.skipped.values())}")
        dynamic_io = bool(symbols(graph.input_symbol_dims()))
        # sizes found in the data (a NonZero's count): the outputs' dims may be expressions of them
        counts = symbols([v.shape for v in graph.outputs]) - symbols(graph.input_symbol_dims())
        manifest = {
            "format": "webdnn-model",
            "version": 2 if dynamic_io else 1,
            "name": graph.name,
            "inputs": [_io(v, graph.value_inputs.get(v.name), graph.element_types) for v in graph.inputs],
            "outputs": [_io(v, None, graph.element_types) for v in graph.outputs],
            "backends": manifest_backends,
            **({"symbols": symbol_specs(graph.input_symbol_dims())} if dynamic_io else {}),
            **({"counts": symbol_specs([symbol(c.name, c.lo, c.hi) for c in counts])} if counts else {}),
            "converter": {"webdnn": __version__, "source": source, "format": fmt, "weights": weights,
                          **({"accuracy": accuracy.as_json()} if accuracy is not None else {}),
                          "producer": " ".join(x for x in (proto.producer_name, proto.producer_version) if x),
                          "opset": graph.opset},
        }

        def write_manifest() -> None:
            with open(os.path.join(tmp, MANIFEST), "w") as f:
                json.dump(manifest, f, indent=1)

        _writing(out_dir, write_manifest)
        _commit(tmp, out_dir, stem or "model")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    result.seconds = time.perf_counter() - t0
    return result


def _dims_text(shape: Sequence[Any]) -> str:
    """[1, 'seq<=512', 384]-style text of a shape whose dims may be symbols."""
    parts = []
    for d in shape:
        if isinstance(d, int):
            parts.append(str(d))
        else:
            for s in sorted(symbols(d), key=lambda s: s.name):
                parts.append(f"{'' if s.lo <= 1 else f'{s.lo}<='}{s.name}{'' if s.hi is None else f'<={s.hi}'}")
    return "[" + ", ".join(parts) + "]"


def _digest(backend_dir: str) -> str:
    """SHA-256 of a backend's descriptor files (which hold each weight file's CRC-32): the manifest changes whenever
    any file of the model does, which is how the runtime's model cache finds a model converted again."""
    h = hashlib.sha256()
    for root, _dirs, files in sorted(os.walk(backend_dir)):
        for f in sorted(files):
            if f.endswith(".json"):
                path = os.path.join(root, f)
                h.update(os.path.relpath(path, backend_dir).encode() + b"\0")
                with open(path, "rb") as fh:
                    h.update(fh.read())
    return "sha256:" + h.hexdigest()


def _size(x: Any) -> int:
    """Bytes; for a dynamic model, at the symbols' planning hints (their upper bounds)."""
    return x if isinstance(x, int) else hint(x)


def _io(v: Any, values: Any = None, element_types: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A manifest input/output; `values`: a value input's element symbols (`--value-input`); `element_types`:
    the model's type of a tensor passed in another dtype (float8 as uint8 codes: ir/narrow_types.py)."""
    et = (element_types or {}).get(v.name)
    return {"name": v.name, "dtype": v.dtype.value, "shape": [to_json(d) for d in v.shape],
            **({"element_type": et} if et else {}),
            **({"values": [to_json(d) for d in values]} if values is not None else {})}


def _inspect_out_dir(out_dir: str, stem: str, ignore: str | None = None) -> list[str] | None:
    """What is at `out_dir`: None if nothing (the directory will be created), else the files of the
    previous conversion there (relative POSIX paths, [] for an empty directory) that may be replaced.

    Raises ConversionError for anything conversion must not touch or cannot write to. `ignore`: a
    name in `out_dir` to leave out (this conversion's own temporary directory).
    """
    if not os.path.lexists(out_dir):
        _check_creatable(out_dir)
        return None
    if not os.path.exists(out_dir):
        raise ConversionError(
            f"output path {out_dir} is a broken symbolic link; remove it or choose another output directory"
        )
    if not os.path.isdir(out_dir):
        raise ConversionError(
            f"output path {out_dir} exists and is not a directory; choose a new or empty directory "
            f"(conversion writes a directory of files)"
        )
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise ConversionError(
            f"output directory {out_dir} is not writable (permission denied); choose a directory you can "
            "write to, or fix its permissions"
        )
    try:
        entries = [e for e in os.listdir(out_dir) if e != ignore]
    except OSError as e:
        raise ConversionError(f"output directory {out_dir} cannot be read ({e.strerror}); choose another") from None
    if not entries:
        return []
    try:
        return _previous_model_files(out_dir, ignore)
    except _NotAModel as e:
        sub = os.path.join(out_dir, stem)
        raise ConversionError(
            f"output directory {out_dir} is not empty and holds no WebDNN model that conversion may replace: "
            f"{e}. Nothing was written, so as not to delete or overwrite files conversion did not write. "
            f"Choose a new or empty directory, or a subdirectory such as {sub}"
        ) from None


def _check_creatable(out_dir: str) -> None:
    """`out_dir` does not exist: its nearest existing ancestor must be a writable directory."""
    anc = os.path.dirname(os.path.abspath(out_dir))
    while not os.path.lexists(anc):
        anc = os.path.dirname(anc)
    if not os.path.isdir(anc):
        raise ConversionError(
            f"cannot create output directory {out_dir}: {anc} is a file, not a directory; "
            "choose an output path under a directory"
        )
    if not os.access(anc, os.W_OK | os.X_OK):
        raise ConversionError(
            f"cannot create output directory {out_dir}: {anc} is not writable (permission denied); "
            "choose a directory you can write to, or fix its permissions"
        )


class _NotAModel(Exception):
    """Why a directory is not a WebDNN model conversion recognises."""


def _rel_path(base: str, path: object, what: str) -> str:
    """`path` (relative to the model directory's subdirectory `base`) as a normalised relative POSIX path
    inside the model directory; _NotAModel for anything else."""
    if not isinstance(path, str) or not path or path.startswith("/") or "\\" in path or "\0" in path:
        raise _NotAModel(f"{what} {path!r} is not a relative path")
    rel = posixpath.normpath(posixpath.join(base, path))
    if rel == "." or rel == ".." or rel.startswith("../"):
        raise _NotAModel(f"{what} {path!r} points outside the model directory")
    return rel


def _load_json(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _previous_model_files(out_dir: str, ignore: str | None = None) -> list[str]:
    """The files of the WebDNN model in `out_dir` (manifest.json, each backend's descriptor and the weight
    files it lists), if the directory holds nothing else; _NotAModel otherwise."""
    mpath = os.path.join(out_dir, MANIFEST)
    if os.path.islink(mpath) or not os.path.isfile(mpath):
        raise _NotAModel("it has no manifest.json")
    try:
        manifest = _load_json(mpath)
    except (OSError, ValueError) as e:
        raise _NotAModel(f"its manifest.json is not readable JSON ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != "webdnn-model":
        raise _NotAModel('its manifest.json is not a WebDNN model manifest (no "format": "webdnn-model")')
    version = manifest.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise _NotAModel(f"its manifest.json has no integer format version (version {version!r})")
    backends = manifest.get("backends")
    if not isinstance(backends, dict):
        raise _NotAModel("its manifest.json lists no backends")
    listed = {MANIFEST}
    for b, entry in backends.items():
        if not isinstance(entry, dict):
            raise _NotAModel(f"its manifest.json entry for backend {b!r} is not an object")
        desc = _rel_path("", entry.get("descriptor"), f"backend {b!r} descriptor")
        listed.add(desc)
        dpath = os.path.join(out_dir, *desc.split("/"))
        if os.path.islink(dpath) or not os.path.isfile(dpath):
            continue  # a missing descriptor: its weight files, if any, are unlisted and refused below
        for p in _descriptor_files(out_dir, desc):
            listed.add(p)
    parents = {posixpath.dirname(p) for p in listed}
    ancestors = {a for p in parents for a in _ancestors(p)}
    unexpected: list[str] = []
    for root, dirs, files in os.walk(out_dir):
        rel_root = os.path.relpath(root, out_dir).replace(os.sep, "/")
        rel_root = "" if rel_root == "." else rel_root + "/"
        for name in sorted(dirs):
            rel = rel_root + name
            if rel_root == "" and name == ignore:
                dirs.remove(name)
            elif os.path.islink(os.path.join(root, name)) or rel not in ancestors:
                unexpected.append(rel + "/")
                dirs.remove(name)
        for name in sorted(files):
            rel = rel_root + name
            if rel_root == "" and name == ignore:
                continue
            if os.path.islink(os.path.join(root, name)) or rel not in listed:
                unexpected.append(rel)
    if unexpected:
        shown = ", ".join(unexpected[:5]) + (f" and {len(unexpected) - 5} more" if len(unexpected) > 5 else "")
        raise _NotAModel(f"it holds {shown}, which its WebDNN manifest does not list")
    present = [p for p in listed if os.path.isfile(os.path.join(out_dir, *p.split("/")))]
    return sorted(present)


def _descriptor_files(out_dir: str, desc: str) -> list[str]:
    """The files a descriptor lists (relative POSIX paths in the model directory): its weight files or, for
    a control descriptor, its stages' descriptors and theirs."""
    try:
        d = _load_json(os.path.join(out_dir, *desc.split("/")))
        base = posixpath.dirname(desc)
        if isinstance(d, dict) and "stages" in d:
            stages = [_rel_path(base, p, f"stage of {desc}") for p in d["stages"]]
            return stages + [f for p in stages for f in _descriptor_files(out_dir, p)]
        paths = [f["path"] for f in d["weights"]["files"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []  # an unreadable descriptor lists nothing more
    return [_rel_path(base, p, f"weight file of {desc}") for p in paths]


def _ancestors(path: str) -> list[str]:
    """'a/b/c' -> ['a/b/c', 'a/b', 'a']; '' -> []."""
    out = []
    while path:
        out.append(path)
        path = posixpath.dirname(path)
    return out


def _writing(out_dir: str, fn: Callable[[], Any]) -> Any:
    """Run a file-writing step; an OSError becomes a ConversionError naming the output."""
    try:
        return fn()
    except OSError as e:
        raise _write_error(out_dir, e) from None


def _write_error(out_dir: str, e: OSError) -> ConversionError:
    what = f"{e.strerror or e}" + (f": {e.filename}" if e.filename else "")
    return ConversionError(
        f"writing the converted model to {out_dir} failed ({what}); the conversion was abandoned and its "
        "partial files removed. Check the disk space and permissions, or choose another output directory"
    )


def _make_tmp_dir(out_dir: str) -> str:
    """A fresh directory (umask-respecting mode) on the output's filesystem: inside `out_dir` if it exists,
    else in its nearest existing ancestor (so a failed conversion creates no parent directories)."""
    if os.path.isdir(out_dir):
        where = out_dir
    else:
        where = os.path.dirname(os.path.abspath(out_dir))
        while not os.path.lexists(where):
            where = os.path.dirname(where)
    while True:
        tmp = os.path.join(where, f"{_TMP_PREFIX}{secrets.token_hex(8)}.tmp")
        try:
            os.mkdir(tmp)  # mode 0o777 & ~umask, unlike tempfile.mkdtemp's 0o700
            return tmp
        except FileExistsError:
            continue
        except OSError as e:
            raise _write_error(out_dir, e) from None


def _commit(tmp: str, out_dir: str, stem: str) -> None:
    """Put the complete model in `tmp` at `out_dir`, replacing only a previous conversion's listed files."""
    tmp_name = os.path.basename(tmp)
    previous = _inspect_out_dir(out_dir, stem, ignore=tmp_name)  # again: the directory may have changed
    if previous is None:
        parent = os.path.dirname(os.path.abspath(out_dir))
        created = _parents_to_create(parent)
        try:
            _writing(out_dir, lambda: os.makedirs(parent, exist_ok=True))
            _writing(out_dir, lambda: os.rename(tmp, out_dir))
        except BaseException:
            for d in reversed(created):
                try:
                    os.rmdir(d)
                except OSError:
                    break
            raise
        return
    # An existing directory: drop the old manifest first (so it never points at missing files), then the
    # files it listed and the directories they leave empty; move the new files in, the new manifest last.
    for rel in sorted(previous, key=lambda p: p != MANIFEST):
        _writing(out_dir, lambda r=rel: os.remove(os.path.join(out_dir, *r.split("/"))))
    dirs = sorted({a for p in previous for a in _ancestors(posixpath.dirname(p))}, key=len, reverse=True)
    for d in dirs:
        try:
            os.rmdir(os.path.join(out_dir, *d.split("/")))
        except OSError:
            pass  # not empty: left as it is
    moved: list[str] = []
    try:
        for name in sorted(os.listdir(tmp), key=lambda n: n == MANIFEST):
            dst = os.path.join(out_dir, name)
            if os.path.lexists(dst):
                raise ConversionError(f"cannot move the new {name} into {out_dir}: {dst} appeared meanwhile")
            _writing(out_dir, lambda n=name, d=dst: os.rename(os.path.join(tmp, n), d))
            moved.append(dst)
        os.rmdir(tmp)
    except BaseException:
        for dst in reversed(moved):  # only what this conversion wrote
            if os.path.isdir(dst) and not os.path.islink(dst):
                shutil.rmtree(dst, ignore_errors=True)
            else:
                try:
                    os.remove(dst)
                except OSError:
                    pass
        raise


def _parents_to_create(parent: str) -> list[str]:
    """The directories `os.makedirs(parent)` would create, outermost first."""
    missing = []
    while not os.path.lexists(parent):
        missing.append(parent)
        parent = os.path.dirname(parent)
    return list(reversed(missing))
