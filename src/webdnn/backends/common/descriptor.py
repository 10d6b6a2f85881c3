"""Descriptor writer: a lowered program -> descriptor.json + weight shards.

See docs/descriptor-format.md for the format. Every backend lowers to a `Program`
(tensors, kernel calls, arena plan); this module serializes it identically.
"""

from __future__ import annotations

import json
import math
import os
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from webdnn.backends.common.dim_table import DimTable, symbol_specs
from webdnn.backends.common.memory_plan import MemoryPlan, align
from webdnn.backends.common.weight_encoding import STORED_ALIGNMENT, encode
from webdnn.ir.graph import Graph, Value
from webdnn.ir.symbolic import Sym, split_source

FORMAT = "webdnn-descriptor"
VERSION = 1
VERSION_SYMBOLIC = 2  # a descriptor with symbolic sizes (its `symbols` and `dims` fields)
SHARD_BYTES = 32 * 1024 * 1024  # weight files are split so downloads report progress and run in parallel


@dataclass
class KernelCall:
    op: str
    name: str
    inputs: list[Value | None]
    outputs: list[Value]
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class WeightSource:
    """A weight the runtime computes at load from a smaller array (weight_encoding.py's transforms): what is
    stored is `source`; `transform` and `params` say how it becomes the weight."""

    transform: str
    source: np.ndarray
    params: list[int]


@dataclass
class Program:
    backend: str
    graph: Graph
    kernels: list[KernelCall]
    plan: MemoryPlan
    weight_alignment: int = 16
    extra: dict[str, Any] = field(default_factory=dict)  # backend-specific top-level fields
    sources: dict[int, WeightSource] = field(default_factory=dict)  # id(weight value) -> what is stored instead


def jsonable(x: Any, dims: DimTable | None = None) -> Any:
    """Attributes as JSON: numpy -> python; non-finite floats -> "Infinity"/"-Infinity"/"NaN";
    symbolic sizes -> references into `dims`, the descriptor's expression table."""
    if isinstance(x, Sym):
        if dims is None:
            raise TypeError(f"symbolic size {x} outside a descriptor")
        return dims.ref(x)
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist(), dims)
    if isinstance(x, np.generic):
        return jsonable(x.item(), dims)
    if isinstance(x, float):
        if math.isnan(x):
            return "NaN"
        if math.isinf(x):
            return "Infinity" if x > 0 else "-Infinity"
        return x
    if isinstance(x, dict):
        return {str(k): jsonable(v, dims) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v, dims) for v in x]
    if isinstance(x, str) and dims is not None:
        parts = split_source(x)  # generated source with symbolic sizes in it
        if parts is not None:
            return {"$concat": [p if isinstance(p, str) else dims.ref(p) for p in parts]}
    if isinstance(x, bool | int | str) or x is None:
        return x
    raise TypeError(f"attribute value of type {type(x).__name__} cannot be written to a descriptor")


def write(program: Program, directory: str, encoding: str = "fp32") -> dict[str, Any]:
    """Write descriptor.json and weights-N.bin into `directory`; return a manifest entry. `encoding`: how the
    weights travel (weight_encoding.py); the backends see the same weights either way."""
    os.makedirs(directory, exist_ok=True)
    tensors: list[dict[str, Any]] = []
    index: dict[int, int] = {}
    weights: list[tuple[int, np.ndarray]] = []
    sources: list[WeightSource | None] = []  # per weight, in order
    wsize = 0
    table = DimTable()  # symbolic sizes (stays empty for a model of fixed shapes)
    ref = table.ref

    def tensor_id(v: Value) -> int:
        nonlocal wsize
        if id(v) in index:
            return index[id(v)]
        assert v.dtype is not None and v.shape is not None, f"value {v.name} is untyped"
        entry: dict[str, Any] = {"name": v.name, "dtype": v.dtype.value, "shape": [ref(d) for d in v.shape]}
        if v.const is not None:
            wsize = align(wsize, program.weight_alignment)
            data = np.ascontiguousarray(v.const.astype(v.dtype.numpy, copy=False))
            weights.append((wsize, data))
            sources.append(program.sources.get(id(v)))
            entry.update(memory="weights", offset=wsize, byteLength=int(data.nbytes))
            wsize += data.nbytes
        else:
            entry.update(memory="arena", offset=ref(program.plan.offset(v)), byteLength=ref(v.nbytes))
        index[id(v)] = len(tensors)
        tensors.append(entry)
        return index[id(v)]

    g = program.graph
    # a value input (`--value-input`): the symbols its elements set, in order
    inputs = [{"name": v.name, "tensor": tensor_id(v),
               **({"values": [ref(d) for d in g.value_inputs[v.name]]} if v.name in g.value_inputs else {})}
              for v in g.inputs]
    kernels = [
        {
            "op": k.op,
            "name": k.name,
            "inputs": [tensor_id(v) if v is not None else -1 for v in k.inputs],
            "outputs": [tensor_id(v) for v in k.outputs],
            "attrs": jsonable(k.attrs, table),
        }
        for k in program.kernels
    ]
    outputs = [{"name": v.name, "tensor": tensor_id(v)} for v in g.outputs]
    # zero-copy views: [view tensor, the tensor whose bytes it reads] (the runtime checks that
    # a tensor no kernel writes is one of these and reads its source's value)
    views = sorted(
        [index[vid], index[id(root)]] for vid, root in program.plan.views.items()
        if vid in index and id(root) in index and index[vid] != index[id(root)]
    )
    stored, table_entries = _encode_weights(weights, sources, index_of_weights(tensors), encoding)
    shards = _write_shards(stored, directory)
    extra = jsonable(program.extra, table)
    arena = {
        "byteLength": ref(program.plan.arena_size),
        "alignment": program.plan.alignment,
        "naiveByteLength": ref(program.plan.naive_size),
    }
    # what must hold at run for a size to be valid (graph.requires): [lhs, rhs, message]
    requires = [[ref(a), ref(b), what] for a, b, what in g.requires]
    symbolic: dict[str, Any] = {}
    if table.entries:
        symbolic = {"symbols": symbol_specs(g.input_symbol_dims()), "dims": table.entries,
                    **({"requires": requires} if requires else {})}
    desc = {
        "format": FORMAT,
        "version": VERSION_SYMBOLIC if symbolic else VERSION,
        **symbolic,
        "backend": program.backend,
        "model": g.name,
        "inputs": inputs,
        "outputs": outputs,
        "tensors": tensors,
        "arena": arena,
        "weights": {"byteLength": wsize, "alignment": program.weight_alignment, "files": shards,
                    **({"encoding": {"byteLength": len(stored), "tensors": table_entries}} if table_entries else {})},
        "kernels": kernels,
        "views": views,
        **extra,
    }
    path = os.path.join(directory, "descriptor.json")
    with open(path, "w") as f:
        json.dump(desc, f, separators=(",", ":"), allow_nan=False)
    total = os.path.getsize(path) + len(stored)
    return {"descriptor": f"{program.backend}/descriptor.json", "byteLength": total}


def index_of_weights(tensors: list[dict[str, Any]]) -> list[int]:
    """The tensor index of each weight, in the order they are stored."""
    return [i for i, t in enumerate(tensors) if t.get("memory") == "weights"]


def _encode_weights(weights: list[tuple[int, np.ndarray]], sources: list[WeightSource | None], tensor_ids: list[int],
                    encoding: str) -> tuple[bytes | bytearray, list[list[Any]]]:
    """The bytes that travel, and the table [tensor, kind, stored offset, stored byteLength(, transform)] the
    runtime decodes them with (none when they are the weights as the backends read them: fp32, no transform)."""
    if encoding == "fp32" and not any(sources):
        total = max((off + data.nbytes for off, data in weights), default=0)
        blob = bytearray(total)
        for off, data in weights:
            raw = data.astype(data.dtype.newbyteorder("<"), copy=False).tobytes()
            blob[off : off + len(raw)] = raw
        return blob, []  # (not bytes(blob): a second copy of every weight, 553 MB for VGG16)
    parts: list[bytes] = []
    table: list[list[Any]] = []
    at = 0
    for (_, data), src, t in zip(weights, sources, tensor_ids, strict=True):
        kind, raw = encode(data if src is None else src.source, encoding)
        pad = align(at, STORED_ALIGNMENT) - at
        parts.append(b"\0" * pad + raw)
        at += pad
        table.append([t, kind, at, len(raw)] + ([{"transform": src.transform, "params": src.params}] if src else []))
        at += len(raw)
    return b"".join(parts), table


def _write_shards(blob: bytes | bytearray, directory: str) -> list[dict[str, Any]]:
    total = len(blob)
    shards = []
    for i, start in enumerate(range(0, max(total, 1), SHARD_BYTES)):
        if total == 0:
            break
        chunk = bytes(blob[start : start + SHARD_BYTES])
        name = f"weights-{i}.bin"
        with open(os.path.join(directory, name), "wb") as f:
            f.write(chunk)
        shards.append({"path": name, "offset": start, "byteLength": len(chunk), "crc32": zlib.crc32(chunk)})
    return shards
