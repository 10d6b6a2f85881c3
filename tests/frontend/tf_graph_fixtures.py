"""Small TF.js graph models written by hand (GraphDef JSON as tfjs-converter writes it, constants in one
shard) for test_tf_graph.py: `G` collects nodes and constants, `G.write` lays out model.json + shard."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np

_DT = {np.dtype(np.float32): ("DT_FLOAT", "float32"), np.dtype(np.int32): ("DT_INT32", "int32"),
       np.dtype(np.bool_): ("DT_BOOL", "bool")}


def s(v: str) -> dict[str, Any]:
    return {"s": base64.b64encode(v.encode()).decode()}


def i(v: int) -> dict[str, Any]:
    return {"i": str(v)}


def f(v: float) -> dict[str, Any]:
    return {"f": v}


def b(v: bool) -> dict[str, Any]:
    return {"b": v}


def ints(*v: int) -> dict[str, Any]:
    return {"list": {"i": [str(x) for x in v]}}


def strs(*v: str) -> dict[str, Any]:
    return {"list": {"s": [base64.b64encode(x.encode()).decode() for x in v]}}


FLOAT = {"T": {"type": "DT_FLOAT"}}


def node(name: str, op: str, inputs: list[str], **attr: Any) -> dict[str, Any]:
    """A node of a function body (float32 unless attr says otherwise)."""
    return {"name": name, "op": op, "input": inputs, "attr": {**FLOAT, **attr}}




class G:
    """A graph under construction: `input` adds a Placeholder, `const` a Const (its value in the shard),
    `op` any node; each returns the node's name."""

    def __init__(self) -> None:
        self.nodes: list[dict[str, Any]] = []
        self.weights: dict[str, np.ndarray] = {}
        self.functions: list[dict[str, Any]] = []
        self.rng = np.random.default_rng(1415)

    def input(self, name: str, shape: list[int]) -> str:
        self.nodes.append({"name": name, "op": "Placeholder", "attr": {
            "dtype": {"type": "DT_FLOAT"}, "shape": {"shape": {"dim": [{"size": str(d)} for d in shape]}}}})
        return name

    def const(self, name: str, value: Any) -> str:
        arr = np.asarray(value)
        arr = arr.astype(np.int32) if arr.dtype.kind in "iu" else arr
        arr = arr.astype(np.float32) if arr.dtype.kind == "f" else arr
        dt = _DT[arr.dtype][0]
        self.nodes.append({"name": name, "op": "Const", "attr": {"dtype": {"type": dt}, "value": {"tensor": {
            "dtype": dt, "tensorShape": {"dim": [{"size": str(d)} for d in arr.shape]}}}}})
        self.weights[name] = arr
        return name

    def w(self, name: str, *shape: int, scale: float = 0.3) -> str:
        return self.const(name, (self.rng.standard_normal(shape) * scale).astype(np.float32))

    def op(self, name: str, op: str, inputs: list[str], **attr: Any) -> str:
        self.nodes.append({"name": name, "op": op, "input": inputs, "attr": {**FLOAT, **attr}})
        return name

    def function(self, name: str, args: list[str | tuple[str, str]], body: list[dict[str, Any]], ret: list[str],
                 ret_types: list[str] | None = None) -> dict[str, Any]:
        """A function of the library (control flow v2 branches and bodies): its args (names, float32, or
        (name, DT_ type)), `body` nodes (made by `node`, constants by `fn_const`), returning the refs `ret`
        ("node:arg:0" or an arg name) of `ret_types` (float32 by default); the value of a func attr."""
        typed = [a if isinstance(a, tuple) else (a, "DT_FLOAT") for a in args]
        types = ret_types or ["DT_FLOAT"] * len(ret)
        self.functions.append({
            "signature": {"name": name, "inputArg": [{"name": a, "type": t} for a, t in typed],
                          "outputArg": [{"name": f"out{k}", "type": t} for k, t in enumerate(types)]},
            "nodeDef": body, "ret": {f"out{k}": r for k, r in enumerate(ret)}})
        return {"func": {"name": name}}

    def fn_const(self, name: str, value: Any) -> dict[str, Any]:
        """A Const node of a function body (float32, or int32 for an int); its value goes to the shard, as
        tfjs-converter does."""
        arr = np.asarray(value)
        arr = arr.astype(np.int32) if arr.dtype.kind in "iu" else arr.astype(np.float32)
        self.weights[name] = arr
        dt = _DT[arr.dtype][0]
        return {"name": name, "op": "Const", "attr": {"dtype": {"type": dt}, "value": {"tensor": {
            "dtype": dt, "tensorShape": {"dim": [{"size": str(d)} for d in arr.shape]}}}}}

    def write(self, directory: Path, inputs: list[str], outputs: list[str]) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        blob = b"".join(np.ascontiguousarray(v).tobytes() for v in self.weights.values())
        (directory / "group1-shard1of1.bin").write_bytes(blob)
        manifest = [{"paths": ["group1-shard1of1.bin"], "weights": [
            {"name": k, "shape": list(v.shape), "dtype": _DT[v.dtype][1]} for k, v in self.weights.items()]}]
        sig = {"inputs": {f"{n}:0": {"name": f"{n}:0"} for n in inputs},
               "outputs": {f"{n}:0": {"name": f"{n}:0"} for n in outputs}}
        path = directory / "model.json"
        path.write_text(json.dumps({
            "format": "graph-model", "generatedBy": "webdnn tests", "convertedBy": "hand-written",
            "modelTopology": {"node": self.nodes, "versions": {"producer": 1},
                              **({"library": {"function": self.functions}} if self.functions else {})},
            "userDefinedMetadata": {"signature": sig}, "weightsManifest": manifest}))
        return path
