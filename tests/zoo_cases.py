"""Shared by the model tests of every backend: build a zoo model, convert it, get onnxruntime's outputs."""

from __future__ import annotations

import os
import shutil
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from webdnn import zoo
from webdnn.convert import convert
from webdnn.verify import compare, reference_outputs

Prepared = tuple[str, dict[str, np.ndarray], dict[str, np.ndarray]]  # (converted dir, inputs, reference outputs)

ZOO_MODELS = ["squeezenet1_1", "mobilenet_v2", "minilm", "hed", "resnet50", "inception_v3", "vgg16"]
BIG_MODELS = frozenset({"hed", "resnet50", "inception_v3", "vgg16"})


@dataclass(frozen=True)
class BackendRuns:
    """How the model tests run one backend: in which runtimes, at which model sizes."""

    runtimes: tuple[str, ...]  # "chromium" and/or "node"
    build_args: dict[str, dict[str, int]] = field(default_factory=dict)
    heavy: frozenset[str] = frozenset()  # minutes each on a software GPU: marked software_gpu_heavy
    gpu: bool = False  # on SwiftShader: big models run once


# HED at 160x240 on the CPU backends instead of its 320x480 default (the same graph at a quarter
# of the work); at 64x96 and MiniLM with 2 layers on the emulated GPU.
_CPU_ARGS = {"hed": {"height": 160, "width": 240}}
_GPU_ARGS = {"minilm": {"layers": 2}, "hed": {"height": 64, "width": 96}}
BACKEND_RUNS: dict[str, BackendRuns] = {
    "fallback": BackendRuns(("chromium", "node"), _CPU_ARGS),
    "wasm": BackendRuns(("node", "chromium"), _CPU_ARGS),
    "webgl": BackendRuns(("chromium",), _GPU_ARGS, frozenset({"inception_v3", "vgg16"}), gpu=True),
    "webgpu": BackendRuns(("chromium",), _GPU_ARGS, frozenset({"vgg16"}), gpu=True),
}


@dataclass(frozen=True)
class Source:
    """A zoo model built with seeded weights and saved, its inputs and onnxruntime's outputs on them."""

    path: str  # the ONNX file
    inputs: dict[str, np.ndarray]
    ref: dict[str, np.ndarray]


def build_source(name: str, directory: str, build_args: dict[str, Any] | None = None) -> Source:
    model = zoo.build(name, **(build_args or {}))
    path = os.path.join(directory, f"{name}.onnx")
    zoo.save(model, path)
    inputs = zoo.default_inputs(name, model)
    return Source(path, inputs, reference_outputs(path, inputs))


def prepare(name: str, directory: str, backends: Sequence[str], build_args: dict[str, Any] | None = None,
            source: Source | None = None) -> Prepared:
    """Build `name` with seeded weights into `directory` (or take `source`, built with the same build_args),
    convert it for `backends`, run onnxruntime."""
    src = source or build_source(name, directory, build_args)
    out = os.path.join(directory, "out")
    convert(src.path, out, list(backends), {k: v.shape for k, v in src.inputs.items()})
    if source is None:
        os.remove(src.path)  # the tests need only the descriptors: VGG16's ONNX file alone is 0.5 GB
    return out, src.inputs, src.ref


class Conversions:
    """Zoo model conversions shared by the tests of one module, at most `keep` on disk at a time.

    A test run converts every zoo model for every backend (VGG16 alone is 0.5 GB per backend); kept
    until the session ends, they fill a CI machine's disk. Tests are ordered so that the ones sharing
    a conversion run one after another; the oldest conversion is deleted when a new one is made.
    The last model built (its ONNX file and onnxruntime's outputs) is kept too, for the next conversion of
    the same model and build arguments: building, saving and running VGG16 in onnxruntime takes ~10 s."""

    def __init__(self, factory: Any, keep: int = 1) -> None:
        self._factory = factory
        self._keep = keep
        self._cache: OrderedDict[object, tuple[str, Prepared]] = OrderedDict()
        self._source: tuple[object, str, Source] | None = None

    def get(self, key: object, name: str, backends: Sequence[str],
            build_args: dict[str, Any] | None = None) -> Prepared:
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key][1]
        while self._cache and len(self._cache) >= self._keep:
            self._drop(next(iter(self._cache)))
        source = self._source_of(name, build_args)
        directory = str(self._factory.mktemp(name))
        try:
            prepared = prepare(name, directory, backends, build_args, source)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        self._cache[key] = (directory, prepared)
        return prepared

    def _source_of(self, name: str, build_args: dict[str, Any] | None) -> Source:
        key = (name, tuple(sorted((build_args or {}).items())))
        if self._source is None or self._source[0] != key:
            self._drop_source()
            directory = str(self._factory.mktemp(f"{name}-source"))
            try:
                self._source = (key, directory, build_source(name, directory, build_args))
            except BaseException:
                shutil.rmtree(directory, ignore_errors=True)
                raise
        return self._source[2]

    def _drop(self, key: object) -> None:
        directory, _ = self._cache.pop(key)
        shutil.rmtree(directory, ignore_errors=True)

    def _drop_source(self) -> None:
        if self._source is not None:
            shutil.rmtree(self._source[1], ignore_errors=True)
            self._source = None

    def close(self) -> None:
        while self._cache:
            self._drop(next(iter(self._cache)))
        self._drop_source()


def assert_matches(ref: dict[str, np.ndarray], got: dict[str, np.ndarray], label: str = "") -> None:
    """Every output within the fp32 tolerance of onnxruntime's (|err| <= 1e-4 * max(1, |ref|))."""
    for k, want in ref.items():
        c = compare(k, want, got.get(k))
        assert c.ok, f"{label}{k}: max abs err {c.max_abs_err:.3g} {c.detail}"
        assert np.all(np.isfinite(got[k])) or not np.all(np.isfinite(want)), f"{label}{k}: non-finite output"
