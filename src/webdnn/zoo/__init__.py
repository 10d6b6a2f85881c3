"""Seeded ONNX model builders (no downloads): the benchmark and test models of WebDNN.

    from webdnn import zoo
    model = zoo.build("resnet50", seed=0, opset=17)
    feeds = zoo.default_inputs("resnet50", model)

Pretrained variants (MiniLM, HED, EfficientNet-Lite0) from registry packages are in :mod:`webdnn.zoo.pretrained`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx

from .efficientnet import build_efficientnet_lite0
from .hed import build_hed
from .inception import build_inception_v3
from .lstm import build_lstm
from .minilm import build_minilm
from .mobilenet import build_mobilenet_v2
from .resnet import build_resnet50
from .squeezenet import build_squeezenet1_1
from .vgg import build_vgg16

__all__ = ["BUILDERS", "build", "default_inputs", "save"]

BUILDERS: dict[str, Callable[..., onnx.ModelProto]] = {
    "vgg16": build_vgg16,
    "resnet50": build_resnet50,
    "inception_v3": build_inception_v3,
    "mobilenet_v2": build_mobilenet_v2,
    "squeezenet1_1": build_squeezenet1_1,
    "minilm": build_minilm,
    "hed": build_hed,
    "efficientnet_lite0": build_efficientnet_lite0,
    "lstm": build_lstm,
}

_PROTOBUF_LIMIT = 2**31 - 1
_CLS, _SEP, _FIRST_WORD_ID = 101, 102, 1000  # BERT uncased vocab: [CLS], [SEP], first ordinary token


def build(name: str, **kw: object) -> onnx.ModelProto:
    """Build zoo model `name` (a key of BUILDERS); keywords go to its builder (seed, opset, batch, ...)."""
    try:
        builder = BUILDERS[name]
    except KeyError:
        raise KeyError(f"unknown zoo model {name!r}; known: {', '.join(BUILDERS)}") from None
    return builder(**kw)


def _dims(value: onnx.ValueInfoProto, symbolic: dict[str, int]) -> list[int]:
    dims = value.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else symbolic.get(d.dim_param, 1) for d in dims]


def _token_inputs(
    model: onnx.ModelProto, rng: np.random.Generator, batch: int, seq_len: int
) -> dict[str, np.ndarray]:
    vocab = next(
        (i.dims[0] for i in model.graph.initializer if i.name == "embeddings.word_embeddings.weight"), 30522
    )
    ids = np.zeros((batch, seq_len), np.int64)
    mask = np.zeros((batch, seq_len), np.int64)
    types = np.zeros((batch, seq_len), np.int64)
    for b in range(batch):
        n = seq_len - int(rng.integers(1, max(2, seq_len // 4)))  # some trailing padding
        ids[b, :n] = rng.integers(_FIRST_WORD_ID, vocab, n)
        ids[b, 0], ids[b, n - 1] = _CLS, _SEP
        mask[b, :n] = 1
        types[b, n // 2 : n] = 1  # a sentence pair: segment B is the second half
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def default_inputs(
    name: str, model: onnx.ModelProto, seed: int = 0, *, seq_len: int = 128, batch: int = 1
) -> dict[str, np.ndarray]:
    """Realistic seeded feeds for `model`: N(0, 1) float32 images; for token models, ids with [CLS]/[SEP],
    an attention mask with trailing zeros and token types 0/1. Symbolic dims: batch -> `batch`,
    anything else -> `seq_len`."""
    rng = np.random.default_rng(seed)
    if name == "minilm":
        first = model.graph.input[0]
        fixed = _dims(first, {"batch": batch, "sequence": seq_len})
        return _token_inputs(model, rng, fixed[0], fixed[1])
    feeds = {}
    for inp in model.graph.input:
        shape = _dims(inp, {"batch": batch, "N": batch})
        feeds[inp.name] = rng.standard_normal(shape, dtype=np.float32)
    return feeds


def save(model: onnx.ModelProto, path: str | Path) -> None:
    """Save `model`; weights go to an external `<file>.data` only when the model exceeds protobuf's 2 GB."""
    path = Path(path)
    if model.ByteSize() > _PROTOBUF_LIMIT:
        onnx.save(
            model,
            path,
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=path.name + ".data",
        )
    else:
        onnx.save(model, path)
