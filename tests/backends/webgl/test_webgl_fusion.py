"""webgl backend: fused elementwise chains (compose.py) in headless Chromium vs onnxruntime,
and which nodes the lowering fuses into one pass (no browser)."""

from __future__ import annotations

import json
import os

import numpy as np
import onnx
import pytest

from tests.backends.webgl.test_webgl_kernels import case, node, rnd
from tests.shared_page import shared_page
from webdnn.backends.webgl import expr_glsl
from webdnn.convert import convert
from webdnn.ops.unary_ops import unary_expr
from webdnn.verify import compare, reference_outputs

F16 = onnx.TensorProto.FLOAT16
F32 = onnx.TensorProto.FLOAT


def _cases() -> dict[str, tuple[onnx.ModelProto, dict[str, np.ndarray]]]:
    c: dict[str, tuple[onnx.ModelProto, dict[str, np.ndarray]]] = {}
    # 111 elements: the last texel holds three (vec4 path, same-shape input)
    c["silu_odd"] = case([node("Sigmoid", ["x"], ["s"]), node("Mul", ["x", "s"])], {"x": rnd(3, 37) * 4})
    # (x - m) * s + b with three different broadcasts (scalar path)
    c["sub_mul_add_broadcast"] = case(
        [node("Sub", ["x", "m"], ["d"]), node("Mul", ["d", "s"], ["p"]), node("Add", ["p", "b"])],
        {"x": rnd(2, 3, 7)}, {"m": rnd(3, 1), "s": rnd(7), "b": rnd(1, 3, 1)})
    # Div -> Erf -> Add -> Mul, the divisor a runtime input (so fuse_gelu does not take it)
    c["div_erf_add_mul"] = case(
        [node("Div", ["x", "k"], ["q"]), node("Erf", ["q"], ["e"]), node("Add", ["e", "one"], ["f"]),
         node("Mul", ["x", "f"])], {"x": rnd(2, 5, 3) * 2, "k": np.float32([1.5, -0.7, 2.0])},
        {"one": np.float32(1.0)})
    # a comparison feeding Where, with a broadcast condition and a scalar branch
    c["less_where"] = case(
        [node("Less", ["a", "t"], ["c"]), node("Neg", ["a"], ["n"]), node("Where", ["c", "n", "z"], ["w"]),
         node("Exp", ["w"])], {"a": rnd(4, 5), "t": rnd(5)}, {"z": np.float32(0.25)})
    # int8 intermediates wrap as a stored int8 would: 100 * 3 = 44, then + b
    c["int8_chain"] = case([node("Mul", ["a", "b"], ["m"]), node("Add", ["m", "b"], ["s"]), node("Neg", ["s"])],
                           {"a": np.int8([100, -100, 7, 50, -3]), "b": np.int8([3, 2, -5, 3, 127])})
    c["int32_div_mod"] = case([node("Div", ["a", "b"], ["d"]), node("Mod", ["a", "b"], ["m"]), node("Mul", ["d", "m"])],
                              {"a": np.int32([[7, -7, 9], [-9, 100, 0]]), "b": np.int32([2, -3, 4])})
    # float16 intermediates rounded as stored: x*x in float16 differs from float32 by ~1e-3
    c["float16_chain"] = case(
        [node("Cast", ["x"], ["h"], to=F16), node("Mul", ["h", "h"], ["h2"]), node("Add", ["h2", "h"], ["h3"]),
         node("Cast", ["h3"], to=F32)], {"x": rnd(2, 9) * 3 + 0.1})
    # Relu feeds two groups: it is stored once, not fused into either
    c["shared_intermediate"] = case(
        [node("Relu", ["x"], ["a"]), node("Neg", ["a"], ["n"]), node("Exp", ["n"]),
         node("Sigmoid", ["a"], ["z"])], {"x": rnd(5, 6)}, outputs=("y", "z"))
    # a diamond: the Mul reads both branches of one intermediate
    c["diamond"] = case(
        [node("Tanh", ["x"], ["t"]), node("Exp", ["t"], ["e"]), node("Abs", ["t"], ["b"]), node("Mul", ["e", "b"])],
        {"x": rnd(13)})
    return c


CASES = _cases()


def _float16_chain(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What separate passes give: every float16 tensor rounded as stored. onnxruntime's CPU
    kernels compute this chain in float32 without rounding the intermediates, so it is no
    reference for the rounding."""
    h = inputs["x"].astype(np.float16)
    return {"y": ((h * h) + h).astype(np.float32)}


# cases whose reference is not onnxruntime
EXPECTED = {"float16_chain": _float16_chain}


def _descriptor(name: str, out: str) -> dict:  # type: ignore[type-arg]
    convert(CASES[name][0], out, ["webgl"])
    with open(os.path.join(out, "webgl", "descriptor.json")) as f:
        return dict(json.load(f))


@pytest.fixture(scope="module")
def page(browser):  # type: ignore[no-untyped-def]
    """One harness page for every chain (tests/shared_page.py): a page of its own cost each 0.6 s more."""
    with shared_page(browser) as p:
        yield p


@pytest.mark.browser
@pytest.mark.parametrize("name", sorted(CASES))
def test_webgl_fused_chain(name: str, tmp_path, page) -> None:  # type: ignore[no-untyped-def]
    model, inputs = CASES[name]
    out = os.path.join(tmp_path, "out")
    convert(model, out, ["webgl"])
    r = page.run_model(out, inputs, ["webgl"])
    assert r.backend == "webgl"
    ref = EXPECTED[name](inputs) if name in EXPECTED else reference_outputs(model, inputs)
    for k, want in ref.items():
        c = compare(k, want, r.outputs.get(k))
        assert c.ok, f"{name}/{k}: max abs err {c.max_abs_err:.3g} {c.detail}"


def test_chains_become_one_pass(tmp_path) -> None:  # type: ignore[no-untyped-def]
    def passes(name: str) -> list[tuple[str, str]]:
        d = _descriptor(name, os.path.join(tmp_path, name))
        return [(k["op"], d["webgl"]["programs"][k["attrs"]["program"]]) for k in d["kernels"]]

    ((op, src),) = passes("silu_odd")
    assert op == "FusedElementwise"
    assert "vec4 compute4(int t)" in src and src.count("X0t(t)") == 1  # x read once per texel
    ((op, src),) = passes("sub_mul_add_broadcast")
    assert op == "FusedElementwise" and "float compute(int o)" in src
    assert [op for op, _ in passes("div_erf_add_mul")] == ["FusedElementwise"]
    assert [op for op, _ in passes("less_where")] == ["FusedElementwise"]
    ((op, src),) = passes("float16_chain")
    assert "float t1 = half_(" in src  # the float16 product is rounded before the Add reads it
    assert [op for op, _ in passes("diamond")] == ["FusedElementwise"]
    # Relu's output feeds two groups: Relu, then Neg+Exp fused, then Sigmoid alone
    assert [op for op, _ in passes("shared_intermediate")] == ["Relu", "FusedElementwise", "Sigmoid"]


def test_graph_output_intermediate_is_written(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model, inputs = case([node("Exp", ["x"], ["a"]), node("Neg", ["a"], ["b"]), node("Abs", ["b"])],
                         {"x": rnd(6)}, outputs=("a", "y"))
    out = os.path.join(tmp_path, "out")
    convert(model, out, ["webgl"])
    with open(os.path.join(out, "webgl", "descriptor.json")) as f:
        assert [k["op"] for k in json.load(f)["kernels"]] == ["Exp", "FusedElementwise"]


def test_single_op_and_fused_share_expressions(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Mish then Tanh fused: each expression function and each helper is defined once, callees first."""
    model, _ = case([node("Mish", ["x"], ["m"]), node("Tanh", ["m"])], {"x": rnd(8)})
    out = os.path.join(tmp_path, "out")
    convert(model, out, ["webgl"])
    with open(os.path.join(out, "webgl", "descriptor.json")) as f:
        (src,) = json.load(f)["webgl"]["programs"]
    mish, tanh = (expr_glsl.function(unary_expr(op, {}))[0] for op in ("Mish", "Tanh"))
    assert src.count("float tanh_(float x)") == 1  # the helper both expression functions call
    assert src.count(f"float {mish}(float x)") == 1 and src.count(f"float {tanh}(float x)") == 1
    assert f"{mish}(" in src.split("float compute")[-1] and f"{tanh}(" in src.split("float compute")[-1]
