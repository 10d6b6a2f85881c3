"""wasm kernels that keep a CNN's activations in NHWC between convolutions (pad2d_nhwc_x32,
layernorm_spatial_nhwc_f32: what style-transfer and other image-to-image networks put between their
convolutions), against onnxruntime in Node: every Pad mode at channel counts that are not a multiple of 4,
asymmetric pads; instance normalization as LayerNormalization over H, W and as InstanceNormalization, with
and without a per-pixel scale and bias. fp32 tolerance as webdnn.verify.compare."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import pytest
from onnx import helper

from tests.conftest import F32, make_model
from webdnn.browser.node import run_model_node
from webdnn.convert import convert
from webdnn.verify import DEFAULT_TOLERANCE, compare, reference_outputs

pytestmark = pytest.mark.node
RNG = np.random.default_rng(11)


def _calls(out: str) -> list[str]:
    with open(os.path.join(out, "wasm", "descriptor.json")) as f:
        return [k["attrs"]["wasm"]["fn"] for k in json.load(f)["kernels"] if "wasm" in k["attrs"]]


def _check(tmp_path: Any, model: Any, feeds: dict[str, np.ndarray], threads: int = 2) -> list[str]:
    out = str(tmp_path / "m")
    convert(model, out, backends=["wasm", "fallback"])
    got = run_model_node(out, feeds, ("wasm",), backend_options={"wasm": {"threads": threads}}).outputs
    for name, want in reference_outputs(model, feeds).items():
        res = compare(name, want, got.get(name), DEFAULT_TOLERANCE)
        assert res.ok, res
    return _calls(out)


def _conv(i: int, c: int, m: int) -> tuple[Any, dict[str, np.ndarray]]:
    """A 1x1 Conv (its output lives in NHWC) named c{i}, c -> m channels."""
    w = (RNG.standard_normal((m, c, 1, 1)) * 0.5).astype(np.float32)
    return helper.make_node("Conv", [f"x{i}", f"w{i}"], [f"c{i}"]), {f"w{i}": w}


@pytest.mark.parametrize("threads", [1, 2])
def test_pad_modes(tmp_path: Any, threads: int) -> None:
    nodes, inits, outs, ins = [], {}, [], []
    for i, (mode, pads) in enumerate([("reflect", [0, 0, 2, 3, 0, 0, 1, 4]), ("edge", [0, 0, 3, 0, 0, 0, 0, 2]),
                                      ("constant", [0, 0, 1, 2, 0, 0, 2, 1]), ("wrap", [0, 0, 2, 2, 0, 0, 1, 3])]):
        conv, w = _conv(i, 5, 7)
        nodes += [conv, helper.make_node("Pad", [f"c{i}", f"p{i}", f"v{i}"], [f"y{i}"], mode=mode)]
        inits |= {**w, f"p{i}": np.array(pads, np.int64), f"v{i}": np.array(0.75, np.float32)}
        ins.append((f"x{i}", F32, [1, 5, 6, 5]))
        outs.append(f"y{i}")
    model = make_model(nodes, ins, outs, inits, opset=19)
    feeds = {n: RNG.standard_normal(s).astype(np.float32) for n, _, s in ins}
    assert _check(tmp_path, model, feeds, threads).count("pad2d_nhwc_x32") == 4


@pytest.mark.parametrize("threads", [1, 2])
def test_instance_normalization_in_nhwc(tmp_path: Any, threads: int) -> None:
    h, w = 7, 9
    conv0, w0 = _conv(0, 3, 12)
    conv1, w1 = _conv(1, 3, 8)
    nodes = [conv0, helper.make_node("LayerNormalization", ["c0", "g", "b"], ["ln"], axis=2, epsilon=1e-5),
             helper.make_node("Relu", ["ln"], ["y0"]),
             conv1, helper.make_node("InstanceNormalization", ["c1", "s", "t"], ["y1"], epsilon=1e-3)]
    inits = {**w0, **w1, "g": (RNG.random((h, w)) + 0.5).astype(np.float32),
             "b": RNG.standard_normal((1, w)).astype(np.float32),
             "s": (RNG.random(8) + 0.5).astype(np.float32), "t": RNG.standard_normal(8).astype(np.float32)}
    model = make_model(nodes, [("x0", F32, [1, 3, h, w]), ("x1", F32, [2, 3, h, w])], ["y0", "y1"], inits, opset=17)
    feeds = {"x0": (RNG.standard_normal((1, 3, h, w)) * 3 + 1).astype(np.float32),
             "x1": RNG.standard_normal((2, 3, h, w)).astype(np.float32)}
    calls = _check(tmp_path, model, feeds, threads)
    assert calls.count("layernorm_spatial_nhwc_f32") == 2, calls  # InstanceNormalization becomes the same
