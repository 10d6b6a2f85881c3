"""`webdnn convert --weights fp16|int8 --check-accuracy`: refuse a weight encoding that breaks the model.

The check runs the model twice in onnxruntime on the same seeded inputs, once as it is and once with every
weight the encoding would store compressed replaced by what the runtime decodes from it, and compares the
outputs by cosine similarity (flattened, per output and input sample). The encoding is applied to the ONNX
initializers in ONNX's layout, where each backend encodes its own stored layout (packed panels, Winograd
filters): int8's 32-element blocks then group other weights together, so the check measures the size of
the error, not each backend's exact outputs (backends/common/weight_encoding.py).

Inputs: float inputs standard normal, integer inputs 0 or 1 (valid indices into any table: token types,
masks, small vocabularies), bool inputs random; a dimension the conversion leaves symbolic is taken at 8
(or its bound, if smaller).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from webdnn.backends.common.weight_encoding import decode, encode
from webdnn.errors import ConversionError

DEFAULT_MIN_COSINE = 0.99
SAMPLES = 3
SYMBOLIC_DIM = 8


class AccuracyError(ConversionError):
    """The chosen weight encoding moves an output further from fp32 than --check-accuracy allows."""


@dataclass
class AccuracyReport:
    encoding: str
    min_cosine: float  # the threshold
    samples: int
    cosine: dict[str, float] = field(default_factory=dict)  # output -> the worst sample's cosine similarity
    max_abs_err: dict[str, float] = field(default_factory=dict)
    encoded_tensors: int = 0

    @property
    def ok(self) -> bool:
        return all(c >= self.min_cosine for c in self.cosine.values())

    def as_json(self) -> dict[str, Any]:
        return {"encoding": self.encoding, "metric": "cosine similarity to fp32 (onnxruntime, ONNX layout)",
                "min_cosine": self.min_cosine, "samples": self.samples,
                "cosine": {k: round(v, 6) for k, v in self.cosine.items()},
                "max_abs_err": {k: float(f"{v:.3g}") for k, v in self.max_abs_err.items()}}


def decoded_weights(model: onnx.ModelProto, encoding: str) -> tuple[onnx.ModelProto, int]:
    """A copy of `model` whose initializers are what `encoding` stores and the runtime decodes, and how many
    of them the encoding changed (the rest stay raw: small, non-float32 or non-finite tensors)."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    changed = 0
    for init in out.graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT:
            continue
        arr = numpy_helper.to_array(init)
        kind, stored = encode(arr, encoding)
        if kind == "raw":
            continue
        back = decode(kind, stored, np.dtype(np.float32), arr.size).reshape(arr.shape)
        init.CopyFrom(numpy_helper.from_array(back.astype(np.float32), init.name))
        changed += 1
    return out, changed


def sample_inputs(inputs: Sequence[tuple[str, np.dtype, Sequence[int]]], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray] = {}
    for name, dtype, shape in inputs:
        if dtype.kind == "f":
            feeds[name] = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind == "b":
            feeds[name] = rng.integers(0, 2, shape).astype(bool)
        else:
            feeds[name] = rng.integers(0, 2, shape).astype(dtype)
    return feeds


def check_encoding_accuracy(model: onnx.ModelProto, input_shapes: Mapping[str, Sequence[Any]], encoding: str,
                            min_cosine: float = DEFAULT_MIN_COSINE, samples: int = SAMPLES) -> AccuracyReport:
    """Compare `model` with its `encoding`-decoded weights (see the module docstring); `input_shapes`: each
    input's dims, ints or anything else for a symbolic dim. Raises AccuracyError when an output's cosine
    similarity falls under `min_cosine`."""
    import onnxruntime as ort

    report = AccuracyReport(encoding, min_cosine, samples)
    if encoding == "fp32":
        return report
    encoded, report.encoded_tensors = decoded_weights(model, encoding)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    ref = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    enc = ort.InferenceSession(encoded.SerializeToString(), so, providers=["CPUExecutionProvider"])
    specs = [(i.name, _np_dtype(i.type), [_dim(d) for d in input_shapes.get(i.name, [_ort_dim(d) for d in i.shape])])
             for i in ref.get_inputs()]
    names = [o.name for o in ref.get_outputs()]
    for s in range(samples):
        feeds = sample_inputs(specs, seed=s)
        for name, want, got in zip(names, ref.run(names, feeds), enc.run(names, feeds), strict=True):
            w, g = np.asarray(want, np.float64).reshape(-1), np.asarray(got, np.float64).reshape(-1)
            if w.size == 0 or np.asarray(want).dtype.kind not in "fc":
                continue
            norm = float(np.linalg.norm(w) * np.linalg.norm(g))
            cos = float(w @ g / norm) if norm > 0 else (1.0 if np.array_equal(w, g) else 0.0)
            report.cosine[name] = min(report.cosine.get(name, 1.0), cos)
            report.max_abs_err[name] = max(report.max_abs_err.get(name, 0.0), float(np.abs(w - g).max()))
    if not report.ok:
        worst = ", ".join(f"'{k}' {v:.4f}" for k, v in report.cosine.items() if v < min_cosine)
        raise AccuracyError(
            f"--weights {encoding} moves the model's outputs too far from fp32: cosine similarity {worst} < "
            f"{min_cosine} (onnxruntime, {samples} random inputs, {report.encoded_tensors} weight tensors "
            f"encoded). Convert with --weights fp16 or fp32, or lower the bound with --min-cosine")
    return report


def _dim(d: Any) -> int:
    """An input dim: an int, or a symbolic one at SYMBOLIC_DIM clamped to its symbols' bounds."""
    if isinstance(d, (int, np.integer)):
        return int(d)
    from webdnn.ir.symbolic import evaluate, symbols

    return int(evaluate(d, {s.name: max(s.lo, min(s.hi or SYMBOLIC_DIM, SYMBOLIC_DIM)) for s in symbols(d)}))


def _ort_dim(d: Any) -> int:
    return d if isinstance(d, int) and d >= 0 else 1


_ORT_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
              "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(int8)": np.int8,
              "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_, "tensor(int16)": np.int16}


def _np_dtype(t: str) -> np.dtype:
    if t not in _ORT_TYPES:
        raise ConversionError(f"--check-accuracy: an input of type {t} cannot be sampled")
    return np.dtype(_ORT_TYPES[t])
