"""Raw tensor files exchanged with the harness pages and the Node runner, and the input check every
way of running a converted model (Browser.run_model, run_model_node, `webdnn run`, `webdnn verify`) shares."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from webdnn.errors import ModelLoadError, ShapeError, WebDNNError
from webdnn.ir.dtypes import DType
from webdnn.ir.narrow_types import BY_NAME, from_storage, to_storage


def model_inputs(model_dir: str) -> list[dict[str, Any]]:
    """The inputs a converted model's manifest.json declares: [{name, dtype, shape}]."""
    path = os.path.join(model_dir, "manifest.json")
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
        if not isinstance(manifest, dict) or manifest.get("format") != "webdnn-model":
            raise ModelLoadError(
                f"{path} is not a WebDNN model manifest (no \"format\": \"webdnn-model\"): {model_dir} holds no"
                " converted model; convert one with `webdnn convert MODEL -o DIR`"
            )
        specs = manifest["inputs"]
        bounds = {str(b["name"]): (int(b["min"]), None if b["max"] is None else int(b["max"]))
                  for b in manifest.get("symbols", [])}
        out = [{"name": str(s["name"]), "dtype": DType(s["dtype"]).value,
                "shape": [d if isinstance(d, str) else int(d) for d in s["shape"]],  # a name: a dynamic dim
                "bounds": {d: bounds.get(d, (1, None)) for d in s["shape"] if isinstance(d, str)},
                **({"element_type": str(s["element_type"])} if "element_type" in s else {})}
               for s in specs]
    except FileNotFoundError:
        raise ModelLoadError(
            f"{path} not found: {model_dir} is not a converted WebDNN model; convert one with `webdnn convert`"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ModelLoadError(
            f"{path}: cannot read the model's inputs ({type(e).__name__}: {e}); re-convert the model"
        ) from None
    return out


def check_inputs(inputs: Mapping[str, Any], specs: Sequence[Mapping[str, Any]], model: str) -> None:
    """Every input given, none unknown, each a numpy array of the declared shape and dtype (int32 data is
    accepted for an int64 input, as the runtime widens it). `specs`: [{name, dtype, shape}], see
    model_inputs; `model` names the model in messages."""
    names = [str(s["name"]) for s in specs]
    declared = ", ".join(f"'{s['name']}' {s['dtype']} {list(s['shape'])}" for s in specs) or "none"
    unknown = [n for n in inputs if n not in names]
    if unknown:
        raise WebDNNError(f"unknown input(s) {unknown} for {model}; the model's inputs are: {declared}")
    bound: dict[str, tuple[str, int]] = {}  # a dynamic dim's name -> (the input that set it, its size)
    for s in specs:
        name, dtype = str(s["name"]), str(s["dtype"])
        declared_shape = [d if isinstance(d, str) else int(d) for d in s["shape"]]
        a = inputs.get(name)
        shape = _bind(name, declared_shape, getattr(a, "shape", None), s.get("bounds", {}), bound, model)
        want = f"shape {declared_shape} {dtype}"
        if name not in inputs:
            raise WebDNNError(f"missing input '{name}' for {model}: the model expects {want}; the model's inputs "
                              f"are: {declared}")
        a = inputs[name]
        if not isinstance(a, np.ndarray | np.generic):
            raise WebDNNError(f"input '{name}' for {model} is a {type(a).__name__}, not a numpy array; give an "
                              f"array of {want}")
        try:
            given = DType.from_numpy(a.dtype.newbyteorder("=")).value
        except ValueError:
            given = str(a.dtype)
        if list(a.shape) != shape:
            raise ShapeError(f"input '{name}' has shape {list(a.shape)} ({given}), but {model} expects {want}"
                             f"{_layout_hint(list(a.shape), shape)}; give an array of that shape")
        if s.get("element_type") and a.dtype == BY_NAME[str(s["element_type"])].numpy:
            continue  # a float8/int4 array: passed in its storage (write_inputs)
        if given != dtype and not (given == "int32" and dtype == "int64"):
            cast = "bool" if dtype == "bool" else f"np.{dtype}"
            raise WebDNNError(f"input '{name}' is {given} (shape {list(a.shape)}), but {model} expects {want}; "
                              f"convert it, e.g. a.astype({cast})")


def _bind(name: str, shape: list[int | str], given: Any, bounds: Mapping[str, Any],
          bound: dict[str, tuple[str, int]], model: str) -> list[int]:
    """The input's concrete shape: each dynamic dim (a name) takes the given array's size, which must be
    within the name's bounds and the same wherever the name appears."""
    if not any(isinstance(d, str) for d in shape):
        return shape  # type: ignore[return-value]
    if given is None or len(given) != len(shape):
        return [-1 if isinstance(d, str) else d for d in shape]  # matches no array: the caller says what is wanted
    out: list[int] = []
    for i, (d, g) in enumerate(zip(shape, given, strict=True)):
        if not isinstance(d, str):
            out.append(d)
            continue
        lo, hi = bounds.get(d, (1, None))
        if g < lo or (hi is not None and g > hi):
            allowed = f"{lo} <= {d}" + (f" <= {hi}" if hi is not None else "")
            raise ShapeError(f"input '{name}' dim {i} ('{d}') is {g}; {model} allows {allowed}")
        if d in bound and bound[d][1] != g:
            raise ShapeError(f"input '{name}' dim {i} ('{d}') is {g}, but input '{bound[d][0]}' gives '{d}' = "
                             f"{bound[d][1]}; inputs sharing a dynamic dim must agree")
        bound.setdefault(d, (name, int(g)))
        out.append(int(g))
    return out


def _layout_hint(given: list[int], want: list[int]) -> str:
    if len(given) == 4 and len(want) == 4 and [given[0], given[3], given[1], given[2]] == want:
        return " (an NHWC image for an NCHW model? transpose it: a.transpose(0, 3, 1, 2))"
    if len(given) == 4 and len(want) == 4 and [given[0], given[2], given[3], given[1]] == want:
        return " (an NCHW image for an NHWC model? transpose it: a.transpose(0, 2, 3, 1))"
    if int(np.prod(given)) == int(np.prod(want)):
        return " (the same number of elements: reshape it if its layout is right)"
    return ""


def write_inputs(arrays: Mapping[str, np.ndarray], directory: str, url_prefix: str = "") -> list[dict[str, Any]]:
    """Write each array as raw little-endian bytes; return [{name, url|path, dtype, dims}]."""
    refs = []
    for i, (name, a) in enumerate(arrays.items()):
        a = to_storage(a)  # float8, int4, ...: as the model holds them (ir/narrow_types.py)
        dt = DType.from_numpy(a.dtype.newbyteorder("="))
        fname = f"input{i}.bin"
        np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<"), copy=False).tofile(os.path.join(directory, fname))
        ref: dict[str, Any] = {"name": name, "dtype": dt.value, "dims": [int(d) for d in a.shape]}
        if url_prefix:
            ref["url"] = url_prefix + fname
        else:
            ref["path"] = os.path.join(directory, fname)
        refs.append(ref)
    return refs


def element_types(model_dir: str) -> dict[str, str]:
    """{name: element type} of a converted model's inputs and outputs passed in another dtype (float8 codes as
    uint8, int4 values as int8: ir/narrow_types.py); from_storage turns an output back into its type."""
    try:
        with open(os.path.join(model_dir, "manifest.json"), encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return {}
    return {str(s["name"]): str(s["element_type"]) for s in (*manifest.get("inputs", []), *manifest.get("outputs", []))
            if isinstance(s, dict) and "element_type" in s}


def typed_outputs(model_dir: str, outputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`outputs` with those the model holds in another dtype in their own type (float8 codes -> float8)."""
    types = element_types(model_dir)
    return {k: from_storage(v, types[k]) if k in types else v for k, v in outputs.items()}


def from_bytes(data: bytes, dtype: str, dims: list[int]) -> np.ndarray:
    return np.frombuffer(data, dtype=np.dtype(DType(dtype).numpy).newbyteorder("<")).reshape(dims).copy()
