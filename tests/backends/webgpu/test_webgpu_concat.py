"""webgpu: zero-copy Concat (memory_plan alias_concat + wgsl.Ctx.bound windows).

Producers write straight into their slice of the Concat's output; slices that do not start on
a 256-byte binding boundary are bound from the boundary below with the shift baked into the
shader. In Chromium (SwiftShader) vs onnxruntime, and in the descriptor (no browser).
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from tests.backends.webgpu.helpers import check_in_browser
from tests.backends.webgpu.test_webgpu_kernels import Case, family, n, rnd
from webdnn.convert import convert


def concat_cases() -> dict[str, Case]:
    c: dict[str, Case] = {}
    # convs and an elementwise chain at odd channel counts: slices at 700 and 1120 bytes
    c["conv_mix"] = ([n("Conv", ["x", "w1"], ["a"]), n("Conv", ["x", "w2"], ["b"], pads=[1, 1, 1, 1]),
                      n("Sigmoid", ["x"], ["s"]), n("Mul", ["x", "s"], ["e"]),
                      n("Concat", ["a", "b", "e"], axis=1)],
                     {"x": rnd(1, 3, 5, 7)}, {"w1": rnd(5, 3, 1, 1), "w2": rnd(3, 3, 3, 3)})
    # Inception-style nesting: Concat(Concat(conv, conv), pool, conv), then a consumer
    c["nested"] = ([n("Conv", ["x", "w1"], ["a"]), n("Conv", ["x", "w2"], ["b"], pads=[0, 1, 0, 1]),
                    n("Concat", ["a", "b"], ["ab"], axis=1), n("MaxPool", ["x"], ["p"], kernel_shape=[1, 1]),
                    n("Conv", ["x", "w3"], ["d"]), n("Concat", ["ab", "p", "d"], ["cat"], axis=1),
                    n("Relu", ["cat"])],
                   {"x": rnd(1, 3, 6, 5)}, {"w1": rnd(3, 3, 1, 1), "w2": rnd(2, 3, 1, 3), "w3": rnd(7, 3, 1, 1)})
    # a MatMul whose vec4 stores would start mid-vec4 (12 bytes in): it stores scalars instead
    c["matmul_last_axis"] = ([n("Relu", ["u"], ["r"]), n("MatMul", ["v", "w"], ["m"]),
                              n("Concat", ["r", "m"], axis=1)], {"u": rnd(1, 3), "v": rnd(1, 5)}, {"w": rnd(5, 8)})
    # an input that is also read elsewhere is copied (inner Concat) while its sibling is in place
    c["shared_input"] = ([n("Conv", ["x", "w1"], ["a"]), n("Conv", ["x", "w2"], ["b"]),
                          n("Concat", ["a", "b"], ["ab"], axis=1), n("Sigmoid", ["a"], ["s"]),
                          n("Concat", ["ab", "s"], axis=1)],
                         {"x": rnd(1, 2, 3, 5)}, {"w1": rnd(3, 2, 1, 1), "w2": rnd(5, 2, 1, 1)})
    # a graph input (and a constant) must be copied; the Relu output goes in place
    c["graph_input"] = ([n("Relu", ["z"], ["r"]), n("Concat", ["x", "r", "k"], axis=1)],
                        {"x": rnd(1, 3, 5), "z": rnd(1, 2, 5)}, {"k": rnd(1, 1, 5)})
    # Concat on axis 2 of (1, 1, h, w) convs: still contiguous runs
    c["axis2"] = ([n("Conv", ["x", "w1"], ["a"]), n("Conv", ["x", "w2"], ["b"], pads=[1, 0, 1, 0]),
                   n("Concat", ["a", "b"], axis=2)],
                  {"x": rnd(1, 2, 3, 5)}, {"w1": rnd(1, 2, 1, 1), "w2": rnd(1, 2, 1, 1)})
    # packed bools: 12-byte slices go in place; 6-byte ones (and those after them) are copied
    # by the word-per-thread kernel, which reads the in-place elements back from the output
    a, b = rnd(1, 14, 3), rnd(1, 14, 3)
    c["bool_parts"] = ([n("Less", ["a0", "b0"], ["p"]), n("Greater", ["a1", "b1"], ["q"]),
                        n("Equal", ["a2", "a2"], ["r"]), n("LessOrEqual", ["a3", "b3"], ["s"]),
                        n("Concat", ["p", "q", "r", "s"], axis=1)],
                       {"a0": a[:, :4], "b0": b[:, :4], "a1": a[:, 4:6], "b1": b[:, 4:6], "a2": a[:, 6:8],
                        "a3": a[:, 8:12], "b3": b[:, 8:12]}, {})
    return c


@pytest.mark.browser
def test_aliased_concats_match_onnxruntime(gpu_browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    model, inputs = family(concat_cases())
    out = os.path.join(tmp_path, "out")
    convert(model, out, ["webgpu"])
    check_in_browser(gpu_browser, model, inputs, out, repeat=1)  # twice: the arena is reused


# ---------------------------------------------------------------- descriptors (no browser)


def _desc(cases: dict[str, Case], directory: Any, backend: str = "webgpu") -> dict[str, Any]:
    model, _ = family(cases)
    out = os.path.join(directory, backend)
    convert(model, out, [backend])
    with open(os.path.join(out, backend, "descriptor.json")) as f:
        d: dict[str, Any] = json.load(f)
    return d


def _concats(d: dict[str, Any]) -> list[dict[str, Any]]:
    return [k for k in d["kernels"] if k["op"] == "Concat"]


def test_aliased_concat_has_no_dispatch(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cases = concat_cases()
    d = _desc({k: cases[k] for k in ("conv_mix", "nested", "matmul_last_axis", "axis2")}, tmp_path)
    assert not _concats(d)
    assert all(t["offset"] % 256 == 0 for t in d["tensors"])  # every binding starts on a boundary
    # the slices off a boundary are bound through windows, the shift baked into their shaders
    windows = [t for t in d["tensors"] if "@-" in t["name"]]
    assert {t["name"].split("@-")[0] for t in windows} >= {"conv_mix_b", "conv_mix_e", "matmul_last_axis_m"}
    conv_b = next(k for k in d["kernels"] if k["name"] == "conv_mix_Conv1")
    code = d["shaders"][conv_b["attrs"]["shader"]]["code"]
    # conv_mix_b starts 700 bytes into the output: bound from byte 512, so 188 bytes = 47 floats in
    assert "out0[47u + (" in code
    mm = next(k for k in d["kernels"] if k["op"] == "MatMul")
    assert "out0: array<f32>" in d["shaders"][mm["attrs"]["shader"]]["code"]  # not vec4: 12 bytes in


def test_concat_still_copies_what_cannot_be_aliased(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cases = concat_cases()
    d = _desc({k: cases[k] for k in ("shared_input", "graph_input", "bool_parts")}, tmp_path)
    names = {i: t["name"] for i, t in enumerate(d["tensors"])}
    copied = sorted(names[i].split("@-")[0] for k in _concats(d) for i in k["inputs"])
    # shared_input: `a` (also read by Sigmoid) copied into the inner Concat; the outer one has nothing
    # left to copy. graph_input: the input and the constant. bool_parts: q and r (6 bytes) copied, p
    # and s (12 bytes, word aligned) read back from the output in place
    assert copied == ["bool_parts_q", "bool_parts_r", "graph_input_k", "graph_input_x", "shared_input_a"]
    assert sorted(k["name"] for k in _concats(d)) == ["bool_parts_Concat", "graph_input_Concat#0",
                                                      "graph_input_Concat#1", "shared_input_Concat2"]


@pytest.mark.parametrize("backend", ["fallback", "wasm", "webgl"])
def test_other_backends_still_copy(backend: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = _desc({"conv_mix": concat_cases()["conv_mix"]}, tmp_path, backend)
    (k,) = _concats(d)
    t = d["tensors"]
    y = t[k["outputs"][0]]
    for i in k["inputs"]:  # each input has its own bytes, apart from the output's
        x = t[i]
        assert x["offset"] + x["byteLength"] <= y["offset"] or y["offset"] + y["byteLength"] <= x["offset"]
