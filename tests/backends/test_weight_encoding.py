"""Weight encodings (backends/common/weight_encoding.py, runtime/src/weights.ts): what is stored, how it decodes,
the download sizes, accuracy of a real classifier against its fp32 conversion, and a tampered table refused."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.shared_page import shared_page
from webdnn.backends.common.weight_encoding import (
    INT8_BLOCK,
    MIN_ELEMENTS,
    decode,
    encode,
    pack_int4,
    stored_size,
    unpack_int4,
)
from webdnn.convert import convert
from webdnn.errors import ConversionError

RNG = np.random.default_rng(20)


def test_fp16_is_half_precision_rounding() -> None:
    w = (RNG.standard_normal(3000) * 3).astype(np.float32)
    kind, stored = encode(w, "fp16")
    assert kind == "fp16" and len(stored) == stored_size(kind, w.nbytes) == 2 * w.size
    np.testing.assert_array_equal(decode(kind, stored, w.dtype, w.size), w.astype(np.float16).astype(np.float32))


def test_int8_blocks_bound_the_error_by_half_a_step() -> None:
    # blocks of very different ranges (a tiny one included): each block's error stays under half its step
    w = np.concatenate([RNG.standard_normal(1000) * 10, RNG.standard_normal(1000) * 1e-6,
                        RNG.standard_normal(1001) * 0.01]).astype(np.float32)
    kind, stored = encode(w, "int8")
    assert kind == "int8" and len(stored) == stored_size(kind, w.nbytes) == 2 * -(-w.size // INT8_BLOCK) + w.size
    back = decode(kind, stored, w.dtype, w.size)
    for start in range(0, w.size, INT8_BLOCK):
        block, got = w[start:start + INT8_BLOCK], back[start:start + INT8_BLOCK]
        step = np.abs(block).max() / 127
        assert np.abs(got - block).max() <= step * 0.5 * 1.01 + 1e-30, start
    assert len(stored) / w.nbytes < 0.27


def test_int4_blocks_bound_the_error_by_half_a_step() -> None:
    # an odd count (the last byte half padding); every nibble value reachable, -7..7, the even element low
    w = np.concatenate([RNG.standard_normal(1000) * 10, RNG.standard_normal(1001) * 1e-6]).astype(np.float32)
    kind, stored = encode(w, "int4")
    blocks = -(-w.size // INT8_BLOCK)
    assert kind == "int4" and len(stored) == stored_size(kind, w.nbytes) == 2 * blocks + -(-w.size // 2)
    back = decode(kind, stored, w.dtype, w.size)
    for start in range(0, w.size, INT8_BLOCK):
        block, got = w[start:start + INT8_BLOCK], back[start:start + INT8_BLOCK]
        step = np.abs(block).max() / 7
        assert np.abs(got - block).max() <= step * 0.5 * 1.01 + 1e-30, start
    q = np.arange(-8, 8, dtype=np.int8).repeat(3)[:47]
    assert np.array_equal(unpack_int4(pack_int4(q), q.size), q)
    assert pack_int4(np.array([1, -1], np.int8))[0] == 0xF1  # element 0 in the low nibble
    assert len(stored) / w.nbytes < 0.15


def test_what_stays_raw() -> None:
    small = RNG.standard_normal(MIN_ELEMENTS - 1).astype(np.float32)  # a bias
    ints = np.arange(5000, dtype=np.int64)
    nonfinite = np.full(2000, np.inf, np.float32)
    huge = np.full(2000, 1e6, np.float32)  # beyond half precision
    assert encode(small, "int8")[0] == "raw" and encode(ints, "int8")[0] == "raw"
    assert encode(nonfinite, "int8")[0] == "raw" and encode(huge, "fp16")[0] == "raw"
    assert encode(huge, "int8")[0] == "int8"
    assert encode(RNG.standard_normal(4000).astype(np.float32), "fp32")[0] == "raw"
    with pytest.raises(ValueError, match="unknown weight encoding 'int3'"):
        encode(small, "int3")


def _bin_bytes(d: Path) -> int:
    return sum(f.stat().st_size for f in d.iterdir() if f.suffix == ".bin")


@pytest.mark.node
def test_real_classifier_keeps_its_answers(tmp_path: Path) -> None:
    """EfficientNet-Lite0 (real ImageNet weights) converted fp32 / fp16 / int8 for fallback and wasm: download
    sizes, and the same top-1 class with cosine similarity >= 0.99 of the logits on real photos."""
    from webdnn.browser.node import run_model_node
    from webdnn.zoo.pretrained import (
        PretrainedUnavailableError,
        build_efficientnet_lite0_pretrained,
        imagenet_preprocess,
        load_rgb,
        sample_photo,
    )

    try:
        model = build_efficientnet_lite0_pretrained()
        photos = [imagenet_preprocess(load_rgb(sample_photo(p))) for p in ("chelsea.png", "coffee.png", "rocket.jpg")]
    except PretrainedUnavailableError as e:
        pytest.skip(str(e))
    name = model.graph.input[0].name
    logits: dict[tuple[str, str], list[np.ndarray]] = {}
    sizes: dict[str, int] = {}
    for enc in ("fp32", "fp16", "int8"):
        out = tmp_path / enc
        convert(model, out, ["fallback", "wasm"], weights=enc)
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["converter"]["weights"] == enc
        sizes[enc] = _bin_bytes(out / "wasm")
        desc_bytes = (out / "wasm" / "descriptor.json").stat().st_size
        assert manifest["backends"]["wasm"]["byteLength"] == sizes[enc] + desc_bytes
        for backend in ("fallback", "wasm"):
            logits[(enc, backend)] = [next(iter(run_model_node(str(out), {name: x}, (backend,)).outputs.values()))
                                      .reshape(-1) for x in photos]
    assert sizes["fp16"] <= 0.52 * sizes["fp32"] and sizes["int8"] <= 0.27 * sizes["fp32"], sizes
    for enc in ("fp16", "int8"):
        for backend in ("fallback", "wasm"):
            for a, b in zip(logits[("fp32", backend)], logits[(enc, backend)], strict=True):
                cos = float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
                assert int(a.argmax()) == int(b.argmax()) and cos >= (0.9999 if enc == "fp16" else 0.99), (enc, cos)


@pytest.mark.node
def test_tampered_encoding_table_is_refused(tmp_path: Path) -> None:
    from webdnn.browser.node import run_model_node
    from webdnn.zoo import build

    model = build("squeezenet1_1", seed=0, opset=17)
    convert(model, tmp_path / "m", ["fallback"], weights="int8")
    x = RNG.standard_normal((1, 3, 224, 224)).astype(np.float32)
    assert run_model_node(str(tmp_path / "m"), {model.graph.input[0].name: x}, ("fallback",)).outputs
    path = tmp_path / "m" / "fallback" / "descriptor.json"
    desc = json.loads(path.read_text())
    entry = next(e for e in desc["weights"]["encoding"]["tensors"] if e[1] == "int8")
    entry[1] = "fp16"  # the stored bytes no longer match their kind's size
    path.write_text(json.dumps(desc))
    with pytest.raises(Exception, match=r"weights.encoding.tensors\[\d+\]: stores \d+ bytes; fp16 of \d+ bytes takes"):
        run_model_node(str(tmp_path / "m"), {model.graph.input[0].name: x}, ("fallback",))
    with pytest.raises(ConversionError, match="unknown weight encoding 'int3'"):
        convert(model, tmp_path / "n", ["fallback"], weights="int3")
    assert not os.path.exists(tmp_path / "n")


@pytest.mark.slow
@pytest.mark.browser
def test_encoded_weights_on_every_backend(tmp_path: Path, browser: Any) -> None:
    """fp16 and int8 weights decoded in headless Chromium on every backend (wasm's Winograd filters transformed
    at load): each backend's outputs stay close to its fp32 conversion's. Each backend encodes the weights in
    its own stored layout, so int8 blocks (and their rounding) differ between backends."""
    from webdnn.zoo import build

    model = build("squeezenet1_1", seed=0, opset=17)
    backends = ["fallback", "wasm", "webgl", "webgpu"]
    x = {model.graph.input[0].name: RNG.standard_normal((1, 3, 224, 224)).astype(np.float32)}
    outs: dict[tuple[str, str], np.ndarray] = {}
    with shared_page(browser) as page:  # one harness page for the 12 runs (tests/shared_page.py)
        for enc in ("fp32", "fp16", "int8"):
            convert(model, tmp_path / enc, backends, weights=enc)
            for b in backends:
                r = page.run_model(str(tmp_path / enc), x, [b])
                assert r.backend == b
                outs[(enc, b)] = next(iter(r.outputs.values())).reshape(-1)
    for b in backends:
        ref = outs[("fp32", b)]
        for enc, bound in (("fp16", 0.9999), ("int8", 0.99)):
            got = outs[(enc, b)]
            cos = float(ref @ got / np.linalg.norm(ref) / np.linalg.norm(got))
            assert cos >= bound, f"{b} {enc}: cosine {cos:.5f} to fp32"
