"""webgpu: fused elementwise chains (fuse_elementwise.py + elementwise.compose).

In Chromium (SwiftShader) vs onnxruntime: chains with broadcasting, odd sizes and mixed dtypes;
without a browser: which nodes became one dispatch and what the kernels bind.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
from onnx import TensorProto, helper

from tests.backends.webgpu.helpers import check_in_browser, convert_cases, ops
from tests.backends.webgpu.test_webgpu_kernels import Case, bools, family, n, rnd
from webdnn.backends.webgpu.wgsl import MAX_BINDINGS
from webdnn.convert import convert


def chain_cases() -> dict[str, Case]:
    k = lambda x: np.array(x, np.float32)  # noqa: E731
    c: dict[str, Case] = {}
    # SiLU/Swish as exported: x * Sigmoid(x) with x read twice
    c["silu"] = ([n("Sigmoid", ["x"], ["s"]), n("Mul", ["x", "s"])], {"x": rnd(2, 7, 5) * 3}, {})
    c["swish_beta"] = ([n("Mul", ["x", "b"], ["t"]), n("Add", ["t", "o"], ["u"]), n("Sigmoid", ["u"], ["s"]),
                        n("Mul", ["x", "s"])], {"x": rnd(3, 13)}, {"b": k(1.7), "o": k(0.25)})
    # (x - mean) * scale + bias with per-channel constants broadcast over an odd NCHW tensor
    c["sub_mul_add"] = ([n("Sub", ["x", "m"], ["d"]), n("Mul", ["d", "s"], ["e"]), n("Add", ["e", "b"])],
                        {"x": rnd(1, 3, 5, 7)}, {"m": rnd(3, 1, 1), "s": rnd(3, 1, 1), "b": rnd(1, 1, 7)})
    # erf-GELU with a constant the Gelu pattern does not match: stays a chain
    c["div_erf_add_mul"] = ([n("Div", ["x", "r"], ["d"]), n("Erf", ["d"], ["e"]), n("Add", ["e", "one"], ["f"]),
                             n("Mul", ["x", "f"], ["g"]), n("Mul", ["g", "h"])], {"x": rnd(5, 9) * 2},
                            {"r": k(2.0), "one": k(1.0), "h": k(0.5)})
    # a broadcast mask made by Cast -> Sub -> Mul and added to scores (BERT attention)
    c["mask_chain"] = ([n("Cast", ["mask"], ["f"], to=TensorProto.FLOAT), n("Sub", ["one", "f"], ["inv"]),
                        n("Mul", ["inv", "big"], ["neg"]), n("Div", ["x", "sc"], ["q"]), n("Add", ["q", "neg"])],
                       {"x": rnd(1, 2, 3, 5), "mask": np.array([[[[1, 1, 0, 1, 0]]]], np.int64)},
                       {"one": k(1.0), "big": k(-1e4), "sc": k(5.65)})
    # a comparison feeding Where (bool intermediate), then arithmetic on the selection
    c["less_where_mul"] = ([n("Less", ["a", "b"], ["m"]), n("Where", ["m", "a", "b"], ["w"]), n("Mul", ["w", "a"])],
                           {"a": rnd(3, 1, 5), "b": rnd(7, 1)}, {})
    # ... and a chain ending in a packed bool output (4 elements per word, 21 elements)
    c["abs_less_bool"] = ([n("Sub", ["a", "b"], ["d"]), n("Abs", ["d"], ["e"]), n("Less", ["e", "t"])],
                          {"a": rnd(3, 7), "b": rnd(7)}, {"t": k(0.5)})
    # bool logic chain into Where over int64 values
    c["logic_where_i64"] = ([n("Greater", ["a", "z"], ["g"]), n("Not", ["p"], ["q"]), n("And", ["g", "q"], ["r"]),
                             n("Where", ["r", "i", "j"])],
                            {"a": rnd(2, 3), "p": bools(2, 3), "i": np.array([[2**40, -3, 7]], np.int64)},
                            {"z": k(0.0), "j": np.array(-(2**35), np.int64)})
    # int8 intermediate: a separate kernel stores it wrapped to 8 bits; the fused one must wrap too
    c["cast_i32_i8_f32"] = ([n("Cast", ["a"], ["b"], to=TensorProto.INT8),
                             n("Cast", ["b"], ["c"], to=TensorProto.FLOAT), n("Mul", ["c", "two"])],
                            {"a": np.array([[200, -200, 1000, 5, -129, 127, 128]], np.int32)}, {"two": k(2.0)})
    # float16 intermediate rounds; float64 intermediate is exact
    c["f16_roundtrip"] = ([n("Cast", ["x"], ["h"], to=TensorProto.FLOAT16),
                           n("Cast", ["h"], ["f"], to=TensorProto.FLOAT), n("Sub", ["x", "f"])],
                          {"x": rnd(3, 5) * 1000}, {})
    c["f64_chain"] = ([n("Cast", ["x"], ["d"], to=TensorProto.DOUBLE), n("Neg", ["d"], ["e"]),
                       n("Cast", ["e"], ["f"], to=TensorProto.FLOAT), n("Add", ["f", "x"])], {"x": rnd(4, 3)}, {})
    # an intermediate with two consumers in one group (a diamond): one kernel, s computed once
    c["diamond"] = ([n("Add", ["a", "b"], ["s"]), n("Relu", ["s"], ["r"]), n("Sigmoid", ["s"], ["g"]),
                     n("Mul", ["r", "g"])], {"a": rnd(3, 5), "b": rnd(5)}, {})
    # an intermediate also read by a non-elementwise node: stored, no fusion across it
    c["shared"] = ([n("Add", ["a", "b"], ["s"]), n("Relu", ["s"], ["r"]), n("Softmax", ["s"], ["m"], axis=-1),
                    n("Add", ["r", "m"])], {"a": rnd(3, 5), "b": rnd(5)}, {})
    # more inputs than one kernel may bind: split into groups within MAX_BINDINGS
    many = {f"x{j}": rnd(2, 3) for j in range(MAX_BINDINGS + 2)}
    nodes = [n("Add", ["x0", "x1"], ["s1"])]
    for j in range(2, MAX_BINDINGS + 2):
        nodes.append(n("Mul" if j % 2 else "Add", [f"s{j - 1}", f"x{j}"], [f"s{j}"]))
    nodes[-1].output[:] = ["y"]
    c["many_inputs"] = (nodes, many, {})
    return c


@pytest.mark.browser
def test_fused_chains_match_onnxruntime(gpu_browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    model, inputs = family(chain_cases())
    out = os.path.join(tmp_path, "out")
    convert(model, out, ["webgpu"])
    assert ops(out).count("FusedElementwise") >= 10  # the chains above really were fused
    check_in_browser(gpu_browser, model, inputs, out)


# ---------------------------------------------------------------- lowering (no browser)


def test_each_chain_is_one_dispatch(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cases = chain_cases()
    names = ["silu", "swish_beta", "sub_mul_add", "div_erf_add_mul", "mask_chain", "less_where_mul",
             "abs_less_bool", "logic_where_i64", "cast_i32_i8_f32", "f16_roundtrip", "f64_chain", "diamond"]
    d = convert_cases({k: cases[k] for k in names}, tmp_path)
    ks = d["kernels"]
    assert len(ks) == len(names), [(k["op"], k["name"]) for k in ks]
    assert all(k["op"] == "FusedElementwise" for k in ks)
    # the intermediates never reach memory: only inputs, constants and outputs are tensors
    names_in_desc = {t["name"] for t in d["tensors"]}
    assert not {"silu_s", "sub_mul_add_d", "sub_mul_add_e", "mask_chain_neg", "less_where_mul_m"} & names_in_desc


def test_external_input_read_once_and_bound_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = convert_cases({"silu": chain_cases()["silu"]}, tmp_path)
    (k,) = d["kernels"]
    code = d["shaders"][k["attrs"]["shader"]]["code"]
    assert len(k["inputs"]) == 1 and len(k["outputs"]) == 1
    assert len(re.findall(r"\bin0\[", code)) == 1  # x is loaded once per element, used twice
    # broadcast reads: each input through its own strides against the output's coordinates
    d2 = convert_cases({"sma": chain_cases()["sub_mul_add"]}, tmp_path / "b")
    code2 = d2["shaders"][d2["kernels"][0]["attrs"]["shader"]]["code"]
    coords = {b: set(re.findall(r"c\d", ix)) for b, ix in re.findall(r"\b(in\d)\[([^\]]*)\]", code2)}
    assert coords["in1"] - {"c0"} == {"c1"} and coords["in2"] - {"c0"} == {"c1"}  # (3,1,1): by channel
    assert coords["in3"] - {"c0"} == {"c3"}  # (1,1,7): by column


def test_no_fusion_across_a_shared_or_output_intermediate(tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = convert_cases({"shared": chain_cases()["shared"]}, tmp_path / "s")
    # s = a + b is read by Relu and Softmax: its Add stays a kernel; Relu -> Add is one group
    assert sorted(k["op"] for k in d["kernels"]) == ["Add", "FusedElementwise", "Softmax"]
    d = convert_cases({"diamond": chain_cases()["diamond"]}, tmp_path / "d")
    assert [k["op"] for k in d["kernels"]] == ["FusedElementwise"]
    # an intermediate that is also a graph output is stored: its producer is not absorbed
    model, _ = family({"o": ([n("Neg", ["x"], ["y"]), n("Exp", ["y"], ["z"])], {"x": rnd(4)}, {})})
    model.graph.output.append(helper.make_empty_tensor_value_info("o_z"))
    convert(model, tmp_path / "o", ["webgpu"])
    assert ops(str(tmp_path / "o")) == ["Neg", "Exp"]


def test_groups_stay_within_the_binding_limit(tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = convert_cases({"many_inputs": chain_cases()["many_inputs"]}, tmp_path)
    assert 1 < len(d["kernels"]) < MAX_BINDINGS  # fused, but not into one kernel
    for k in d["kernels"]:
        assert len(k["inputs"]) + len(k["outputs"]) <= MAX_BINDINGS


def test_unsupported_member_keeps_its_own_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from webdnn.errors import UnsupportedOperatorError

    x = np.arange(6, dtype=np.int8).reshape(2, 3)
    model, _ = family({"ia": ([n("Neg", ["x"], ["m"]), n("Abs", ["m"])], {"x": x}, {})})
    with pytest.raises(UnsupportedOperatorError, match=r"ia_Neg.*webgpu.*int8.*float type"):
        convert(model, tmp_path / "out", ["webgpu"])
