"""float8 (five formats), float4, int4/uint4, int2/uint2 held in 8-bit types (frontend/narrow_types.py).

The rewrite gives a standard ONNX model in the storage types; it is run in onnxruntime here (fast,
and independent of WebDNN's kernels) against onnx's reference on the original model, over every
value of each type, every rounding tie and its neighbours, overflow, infinities and NaN. One test
converts and runs a float8 model in Node on fallback and wasm, through the typed interface."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

from tests.conftest import make_model
from webdnn.errors import UnsupportedOperatorError
from webdnn.frontend.narrow_types import lower
from webdnn.ir.narrow_types import NARROW, from_storage, to_storage

F32 = TensorProto.FLOAT
OPSET = 23
FLOAT8 = [TensorProto.FLOAT8E4M3FN, TensorProto.FLOAT8E4M3FNUZ, TensorProto.FLOAT8E5M2, TensorProto.FLOAT8E5M2FNUZ]
INTS = [TensorProto.INT4, TensorProto.UINT4, TensorProto.INT2, TensorProto.UINT2]


def _run_lowered(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    low, types = lower(model, OPSET)
    sess = ort.InferenceSession(low.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(None, {k: to_storage(v) for k, v in feeds.items()})
    names = [o.name for o in low.graph.output]
    return {k: from_storage(v, types[k]) if k in types else v for k, v in zip(names, got, strict=True)}


def _reference(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    names = [o.name for o in model.graph.output]
    return dict(zip(names, ReferenceEvaluator(model).run(None, feeds), strict=True))


def _same(got: np.ndarray, want: np.ndarray) -> None:
    """Equal values of the same type, NaN matching NaN, and the sign of zero."""
    assert got.dtype == want.dtype
    g, w = got.astype(np.float64), want.astype(np.float64)
    both_nan = np.isnan(g) & np.isnan(w)
    same = (g == w) & (np.signbit(g) == np.signbit(w))
    bad = ~(both_nan | same)
    assert not bad.any(), f"{bad.sum()} differ: got {got[bad][:8]} want {want[bad][:8]}"


def _probe_values(t: int) -> np.ndarray:
    """Every value of the type, the midpoints between neighbours (the ties), one float32 ulp either side of
    each, values past the largest, infinities and NaN, both signs (not -0.0: see test_negative_zero)."""
    table = NARROW[t].decode_table().astype(np.float64)
    pos = np.unique(np.abs(table[np.isfinite(table)]))
    mids = (pos[:-1] + pos[1:]) / 2
    top = pos[-1] + (pos[-1] - pos[-2]) / 2
    v = np.concatenate([pos, mids, [top, top * 1.01, pos[-1] * 4, 1e30, np.inf]]).astype(np.float32)
    v = np.concatenate([v, np.nextafter(v, np.float32(np.inf)), np.nextafter(v, np.float32(0))])
    v = np.concatenate([v, -v[v > 0], [np.nan]])
    return v.astype(np.float32)


@pytest.mark.parametrize("saturate", [1, 0])
@pytest.mark.parametrize("to", [*FLOAT8, TensorProto.FLOAT4E2M1])
def test_cast_float32_to_each_float_format_matches_onnx(to: int, saturate: int) -> None:
    if to == TensorProto.FLOAT4E2M1 and not saturate:
        pytest.skip("saturate applies to the float8 types only")
    x = _probe_values(to)
    node = helper.make_node("Cast", ["x"], ["y"], to=to, saturate=saturate)
    model = make_model([node], [("x", F32, [len(x)])], ["y"], opset=OPSET)
    _same(_run_lowered(model, {"x": x})["y"], _reference(model, {"x": x})["y"])


def test_negative_zero() -> None:
    """A float32 -0.0 becomes +0 (the sign of an exact zero is not seen by the comparisons); a negative value
    that rounds to zero keeps its sign, as ONNX's table says."""
    x = np.array([-0.0, -1e-30, 1e-30], np.float32)
    model = make_model([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT8E4M3FN)],
                       [("x", F32, [3])], ["y"], opset=OPSET)
    y = _run_lowered(model, {"x": x})["y"]
    assert y.view(np.uint8).tolist() == [0x00, 0x80, 0x00]


@pytest.mark.parametrize("to", [*FLOAT8, TensorProto.FLOAT4E2M1, TensorProto.FLOAT8E8M0])
def test_every_code_decodes_to_float32_and_float16(to: int) -> None:
    n = 16 if to == TensorProto.FLOAT4E2M1 else 256
    x = np.arange(n, dtype=np.uint8).view(NARROW[to].numpy)
    for dst in (F32, TensorProto.FLOAT16):
        model = make_model([helper.make_node("Cast", ["x"], ["y"], to=dst)], [("x", to, [n])], ["y"], opset=OPSET)
        _same(_run_lowered(model, {"x": x})["y"], _reference(model, {"x": x})["y"])


@pytest.mark.parametrize("round_mode", ["up", "down", "nearest"])
@pytest.mark.parametrize("saturate", [1, 0])
def test_cast_to_e8m0_follows_the_reference_rounding(round_mode: str, saturate: int) -> None:
    p = np.exp2(np.arange(-127, 128, dtype=np.float64))
    x = np.concatenate([p, p * 1.5, p * 1.25, p * 1.75, [0, 1e-45, 3e-39, 1e39, np.inf, np.nan]])
    x = np.concatenate([x, -x[1:40]]).astype(np.float32)
    node = helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT8E8M0, saturate=saturate,
                            round_mode=round_mode)
    model = make_model([node], [("x", F32, [len(x)])], ["y"], opset=24)  # round_mode: opset 24
    got, want = _run_lowered(model, {"x": x})["y"], _reference(model, {"x": x})["y"]
    assert got.view(np.uint8).tolist() == want.view(np.uint8).tolist()


@pytest.mark.parametrize("to", INTS)
def test_cast_to_narrow_integers(to: int) -> None:
    """From float: truncated toward zero, out of range 0 (undefined in ONNX; onnx's reference gives 0). From an
    integer: the low bits (ONNX's rule for integer casts)."""
    xf = np.array([-9.5, -8.5, -8, -7.9, -2.5, -1.5, -0.5, 0, 0.5, 1.5, 2.5, 3.9, 7.9, 8, 15.5, 16, 100], np.float32)
    xi = np.array([-200, -17, -9, -8, -3, -1, 0, 1, 3, 7, 8, 15, 16, 17, 200, 2**31 - 1], np.int32)
    for x, t in ((xf, F32), (xi, TensorProto.INT32)):
        model = make_model([helper.make_node("Cast", ["x"], ["y"], to=to)], [("x", t, [len(x)])], ["y"], opset=OPSET)
        got, want = _run_lowered(model, {"x": x})["y"], _reference(model, {"x": x})["y"]
        assert got.dtype == want.dtype
        assert got.astype(np.int32).tolist() == want.astype(np.int32).tolist(), x.dtype


@pytest.mark.parametrize("t", [TensorProto.FLOAT8E4M3FN, TensorProto.FLOAT4E2M1, TensorProto.INT4,
                               TensorProto.UINT2])
def test_quantize_and_dequantize_per_axis_and_blocked(t: int) -> None:
    """Per-axis and blocked scales (the op's own broadcast rules), zero points of the type."""
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((4, 6)) * 3).astype(np.float32)
    np_t = NARROW[t].numpy
    for attrs, scale in (({"axis": 0}, np.array([0.5, 1, 2, 0.25], np.float32)),
                         ({"axis": 1, "block_size": 3}, rng.uniform(0.2, 2, (4, 2)).astype(np.float32))):
        zero = np.zeros(scale.shape, np.float32).astype(np_t) if NARROW[t].is_float else \
            np.full(scale.shape, 1, np.int32).astype(np_t)
        q = helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], **attrs)
        d = helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], **attrs)
        model = make_model([q, d], [("x", F32, [4, 6]), ("s", F32, list(scale.shape)), ("z", t, list(scale.shape))],
                           ["q", "y"], opset=OPSET)
        feeds = {"x": x, "s": scale, "z": zero}
        got, want = _run_lowered(model, feeds), _reference(model, feeds)
        _same(got["q"], want["q"])
        _same(got["y"], want["y"])


def test_data_movement_keeps_codes_and_the_interface_keeps_its_type() -> None:
    x = np.arange(24, dtype=np.uint8).reshape(2, 3, 4).view(ml_dtypes.float8_e5m2)
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[2, 0, 1]),
             helper.make_node("Reshape", ["t", "shape"], ["y"])]
    model = make_model(nodes, [("x", TensorProto.FLOAT8E5M2, [2, 3, 4])], ["y"],
                       inits={"shape": np.array([4, 6], np.int64)}, opset=OPSET)
    low, types = lower(model, OPSET)
    assert types == {"x": "float8e5m2", "y": "float8e5m2"}
    assert low.graph.input[0].type.tensor_type.elem_type == TensorProto.UINT8
    _same(_run_lowered(model, {"x": x})["y"], _reference(model, {"x": x})["y"])


def test_an_op_that_reads_the_values_is_refused_by_name() -> None:
    node = helper.make_node("ReduceMax", ["x"], ["y"], name="peak", keepdims=0)
    model = make_model([node], [("x", TensorProto.FLOAT8E4M3FN, [4])], ["y"], opset=OPSET)
    with pytest.raises(UnsupportedOperatorError, match=r"node 'peak' \(ReduceMax.*float8e4m3fn.*Cast the tensor"):
        lower(model, OPSET)


def test_a_model_without_narrow_types_is_returned_as_it_is() -> None:
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", F32, [3])], ["y"], opset=OPSET)
    assert lower(model, OPSET) == (model, {})


@pytest.mark.browser
def test_a_float8_model_runs_in_node_through_its_typed_interface(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """float8 in (as ml_dtypes), int4 and float8 out: the manifest names the types, the runtime passes codes."""
    from webdnn.browser.node import run_model_node
    from webdnn.convert import convert

    nodes = [helper.make_node("Cast", ["x"], ["f"], to=F32),
             helper.make_node("Mul", ["f", "two"], ["g"]),
             helper.make_node("Cast", ["g"], ["y"], to=TensorProto.FLOAT8E4M3FN),
             helper.make_node("Cast", ["g"], ["k"], to=TensorProto.INT4)]
    model = make_model(nodes, [("x", TensorProto.FLOAT8E4M3FN, [2, 8])], ["y", "k"],
                       inits={"two": np.array(2.0, np.float32)}, opset=OPSET)
    x = np.linspace(-4, 4, 16).astype(np.float32).reshape(2, 8).astype(ml_dtypes.float8_e4m3fn)
    want = _reference(model, {"x": x})
    out = str(tmp_path / "m")
    convert(model, out, backends=["fallback", "wasm"])
    import json

    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["inputs"][0]["dtype"] == "uint8" and manifest["inputs"][0]["element_type"] == "float8e4m3fn"
    assert [o.get("element_type") for o in manifest["outputs"]] == ["float8e4m3fn", "int4"]
    for backend in ("fallback", "wasm"):
        r = run_model_node(out, {"x": x}, backend_order=[backend])
        assert r.backend == backend
        _same(r.outputs["y"], want["y"])
        assert r.outputs["k"].dtype == ml_dtypes.int4
        assert r.outputs["k"].astype(np.int32).tolist() == want["k"].astype(np.int32).tolist()


def test_bfloat16_every_code_decodes_and_float32_rounds_to_nearest_even() -> None:
    """Every one of the 65536 bfloat16 bit patterns (subnormals, infinities, NaNs) to float32, and float32 values
    at, between, and one ulp around every tie of a spread of bfloat16 values, overflow and subnormals, back."""
    codes = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(ml_dtypes.bfloat16)
    model = make_model([helper.make_node("Cast", ["x"], ["y"], to=F32)], [("x", TensorProto.BFLOAT16, [65536])],
                       ["y"], opset=OPSET)
    _same(_run_lowered(model, {"x": codes})["y"], _reference(model, {"x": codes})["y"])
    b = codes.astype(np.float64)
    b = np.unique(np.abs(b[np.isfinite(b)]))
    ties = (b[:-1] + b[1:]) / 2
    x = np.concatenate([b[::7], ties[::5], ties[-3:], [3.4e38, 3.3961e38, 1e-45, 1e-40, np.inf, np.nan]]).astype(
        np.float32)
    x = np.concatenate([x, np.nextafter(x, np.float32(np.inf)), np.nextafter(x, np.float32(0))])
    x = np.concatenate([x, -x[x > 0]])
    model = make_model([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.BFLOAT16)], [("x", F32, [len(x)])],
                       ["y"], opset=OPSET)
    _same(_run_lowered(model, {"x": x})["y"], _reference(model, {"x": x})["y"])


def test_a_bfloat16_graph_computes_in_float32_behind_its_bfloat16_interface() -> None:
    """Celu reads bfloat16: the graph computes in float32 (float_compute.py), the input and output stay bfloat16,
    held as int16 bits; the answer is float32's, rounded once."""
    from webdnn.frontend.float_compute import promote

    x = np.linspace(-3, 3, 25).astype(ml_dtypes.bfloat16)
    model = make_model([helper.make_node("Celu", ["x"], ["y"], alpha=1.5)], [("x", TensorProto.BFLOAT16, [25])],
                       ["y"], opset=OPSET)
    model.graph.output[0].CopyFrom(helper.make_tensor_value_info("y", TensorProto.BFLOAT16, [25]))
    promoted = promote(model)
    low, types = lower(promoted, OPSET)
    assert types == {"x": "bfloat16", "y": "bfloat16"}
    assert low.graph.input[0].type.tensor_type.elem_type == TensorProto.INT16
    got = _run_lowered(promoted, {"x": x})["y"]
    xf = x.astype(np.float64)
    want = (np.maximum(0, xf) + np.minimum(0, 1.5 * np.expm1(xf / 1.5))).astype(np.float32).astype(ml_dtypes.bfloat16)
    _same(got, want)


@pytest.mark.node
@pytest.mark.parametrize("t", [TensorProto.UINT16, TensorProto.UINT32])
def test_uint16_and_uint32_arithmetic_wraps_like_the_type(t: int, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Held as values in int32/int64: sums, differences below 0, products and left shifts past the top wrap to the
    type's range; division, modulo, comparisons, min/max, bitwise ops and right shifts are exact; BitwiseNot
    flips the type's bits; casts from int32 wrap. In Node on fallback and wasm against onnx's reference."""
    from webdnn.browser.node import run_model_node
    from webdnn.convert import convert

    np_t = np.uint16 if t == TensorProto.UINT16 else np.uint32
    top = int(np.iinfo(np_t).max)
    a = np.array([0, 1, 7, 300, top // 2 + 3, top - 1, top, 40000 % (top + 1)], np_t)
    b = np.array([1, 3, 7, 299, 2, top, 5, 9], np_t)
    shift = np.array([0, 1, 3, 8, 1, 15, 4, 2], np_t)
    ops = [("Add", ["a", "b"], {}), ("Sub", ["a", "b"], {}), ("Mul", ["a", "b"], {}), ("Div", ["a", "b"], {}),
           ("Mod", ["a", "b"], {}), ("Max", ["a", "b"], {}), ("Min", ["a", "b"], {}),
           ("BitShift", ["a", "s"], {"direction": "LEFT"}), ("BitShift", ["a", "s"], {"direction": "RIGHT"}),
           ("BitwiseAnd", ["a", "b"], {}), ("BitwiseXor", ["a", "b"], {}), ("BitwiseNot", ["a"], {}),
           ("Greater", ["a", "b"], {}), ("LessOrEqual", ["a", "b"], {})]
    nodes = [helper.make_node(op, ins, [f"y{k}"], **attrs) for k, (op, ins, attrs) in enumerate(ops)]
    nodes += [helper.make_node("Cast", ["i"], ["from_int"], to=t),
              helper.make_node("Cast", ["a"], ["to_float"], to=F32)]
    names = [f"y{k}" for k in range(len(ops))] + ["from_int", "to_float"]
    model = make_model(nodes, [("a", t, [8]), ("b", t, [8]), ("s", t, [8]), ("i", TensorProto.INT32, [8])],
                       names, opset=18)
    feeds = {"a": a, "b": b, "s": shift, "i": np.array([-1, -70000, 70000, 5, 0, 2**31 - 1, -(2**31), 65536], np.int32)}
    want = _reference(model, feeds)
    convert(model, tmp_path / "m", ["fallback", "wasm"])
    for backend in ("fallback", "wasm"):
        got = run_model_node(str(tmp_path / "m"), feeds, [backend]).outputs
        for k in names:
            assert got[k].dtype == want[k].dtype, k
            np.testing.assert_array_equal(got[k], want[k], err_msg=f"{k} ({backend})")
