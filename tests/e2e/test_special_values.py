"""Special values (NaN, +-inf, underflow, out-of-range indices) follow onnxruntime on every backend.

Conformance style: small ONNX models built here, run on each backend (fallback and wasm in
Node, webgl and webgpu in headless Chromium), compared with onnxruntime: the same NaN
positions, the same infinities, finite values within the fp32 tolerance (1e-4 * max(1, |ref|)),
and for Softmax and Exp exactly 0 where the reference underflows to 0
(not the ~1e-38 a clamped exp leaves). Not for Sigmoid: onnxruntime's is 0 below -18, where
the true value (1.5e-8 at -18) is within the tolerance. Each model covers many cases at once,
so the file costs a few conversions and one run per backend and model.

Out-of-range Gather / GatherElements / GatherND indices: constant ones are a conversion
error; run-time ones raise on fallback and wasm and are clamped identically on webgl and
webgpu (a shader cannot raise), as docs/operators.md says.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import helper

from tests.conftest import F32, I64, make_model
from webdnn.convert import convert
from webdnn.errors import ShapeError, WebDNNError

TOL = 1e-4
NODE_BACKENDS = ("fallback", "wasm")
GPU_BACKENDS = ("webgl", "webgpu")

# (op, attributes, Clip's [min, max] inputs): every activation the passes fuse into Conv/Gemm/MatMul
ACTS: list[tuple[str, dict[str, Any], tuple[float, float] | None]] = [
    ("Relu", {}, None),
    ("Clip", {}, (-1.0, 6.0)),
    ("LeakyRelu", {"alpha": 0.1}, None),
    ("Sigmoid", {}, None),
    ("HardSigmoid", {"alpha": 0.2, "beta": 0.5}, None),
    ("HardSwish", {}, None),
    ("Tanh", {}, None),
]
SPECIAL_BIAS = np.array([np.nan, np.inf, -np.inf, 0.5, 0.0, -1.0], np.float32)


def reference(model: onnx.ModelProto, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, inputs), strict=True))


def mismatch(ref: np.ndarray, got: np.ndarray | None, exact_zero: bool = False) -> str:
    """'' when `got` matches `ref` (NaN positions, infinities, tolerance), else what differs."""
    if got is None:
        return "missing"
    if got.shape != ref.shape:
        return f"shape {got.shape} != {ref.shape}"
    r, g = ref.astype(np.float64), got.astype(np.float64)
    bad = []
    nan_r, nan_g = np.isnan(r), np.isnan(g)
    if (nan_r != nan_g).any():
        i = tuple(np.argwhere(nan_r != nan_g)[0])
        bad.append(f"NaN positions differ ({int((nan_r != nan_g).sum())}), e.g. at {i}: ref {r[i]}, got {g[i]}")
    inf_r, inf_g = np.isinf(r), np.isinf(g)
    wrong_inf = (inf_r | inf_g) & ~(nan_r | nan_g) & ~((inf_r & inf_g) & (r == g))
    if wrong_inf.any():
        i = tuple(np.argwhere(wrong_inf)[0])
        bad.append(f"infinities differ ({int(wrong_inf.sum())}), e.g. at {i}: ref {r[i]}, got {g[i]}")
    fin = np.isfinite(r) & np.isfinite(g)
    r0, g0 = np.where(fin, r, 0.0), np.where(fin, g, 0.0)
    err = np.abs(r0 - g0) - TOL * np.maximum(1.0, np.abs(r0))
    if (err > 0).any():
        i = tuple(np.unravel_index(int(np.argmax(err)), err.shape))
        bad.append(f"beyond tolerance ({int((err > 0).sum())}), worst at {i}: ref {r[i]}, got {g[i]}")
    if exact_zero:
        # A clamped exp leaves >= ~1.2e-38 (float32's smallest normal) where the reference underflows to 0. A
        # subnormal there is IEEE-exact, not a clamp: onnxruntime 1.32 flushes it to 0, numpy and JS keep it.
        nz = (r == 0) & (np.abs(g) >= np.finfo(np.float32).tiny)
        if nz.any():
            i = tuple(np.argwhere(nz)[0])
            bad.append(f"not 0 where the reference underflows ({int(nz.sum())}), e.g. at {i}: got {g[i]:.3g}")
    return "; ".join(bad)


def run_backend(browser: Any, out: str, inputs: dict[str, np.ndarray], backend: str) -> dict[str, np.ndarray]:
    if backend in NODE_BACKENDS:
        from webdnn.browser.node import run_model_node

        r = run_model_node(out, inputs, [backend])
    else:
        r = browser.run_model(out, inputs, [backend])
    assert r.backend == backend
    return r.outputs


def check_all(browser: Any, model: onnx.ModelProto, inputs: dict[str, np.ndarray], out: str,
              exact_zero: frozenset[str] = frozenset()) -> None:
    ref = reference(model, inputs)
    bad = []
    for backend in (*NODE_BACKENDS, *GPU_BACKENDS):
        got = run_backend(browser, out, inputs, backend)
        for name, want in ref.items():
            m = mismatch(want, got.get(name), name.split("_")[0] in exact_zero)
            if m:
                bad.append(f"{backend} {name}: {m}")
    assert not bad, "\n".join(bad)


# ---------------------------------------------------------------------------- activations


def _act(op: str, attrs: dict[str, Any], clip: tuple[float, float] | None, x: str, y: str,
         inits: dict[str, np.ndarray]) -> onnx.NodeProto:
    if clip is None:
        return helper.make_node(op, [x], [y], **attrs)
    inits["clip_lo"], inits["clip_hi"] = np.float32(clip[0]), np.float32(clip[1])
    return helper.make_node(op, [x, "clip_lo", "clip_hi"], [y])


def activations_model() -> onnx.ModelProto:
    """Every fusable activation after a 3x3 Conv, a 1x1 Conv, a depthwise Conv, a Gemm, a MatMul and an
    Add (each a fused epilogue on the backends that fuse), and standalone: outputs `<op>_<producer>`."""
    rng = np.random.default_rng(0)
    inits: dict[str, np.ndarray] = {
        "w3": rng.standard_normal((6, 4, 3, 3)).astype(np.float32),
        "w1": rng.standard_normal((6, 4, 1, 1)).astype(np.float32),
        "wd": rng.standard_normal((4, 1, 3, 3)).astype(np.float32),
        "b6": SPECIAL_BIAS, "b4": SPECIAL_BIAS[:4].copy(),
        "wg": rng.standard_normal((8, 6)).astype(np.float32),
        "wm": rng.standard_normal((8, 6)).astype(np.float32),
        "c4": np.array([0.0, 1.0, np.nan, -np.inf], np.float32).reshape(1, 4, 1, 1),
        "ww": rng.standard_normal((8, 8, 3, 3)).astype(np.float32),
        "b8": np.concatenate([SPECIAL_BIAS, [2.0, -2.0]]).astype(np.float32),
    }
    producers = {
        "conv3": lambda y: helper.make_node("Conv", ["x", "w3", "b6"], [y], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        "conv1": lambda y: helper.make_node("Conv", ["x", "w1", "b6"], [y], kernel_shape=[1, 1]),
        "dw": lambda y: helper.make_node("Conv", ["x", "wd", "b4"], [y], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                                         group=4),
        "gemm": lambda y: helper.make_node("Gemm", ["g", "wg", "b6"], [y]),
        "matmul": lambda y: helper.make_node("MatMul", ["g", "wm"], [y]),
        "add": lambda y: helper.make_node("Add", ["x", "c4"], [y]),
        # 3x3, 8 -> 8 channels on 8x8: Winograd F(4x4, 3x3) on wasm
        "winograd": lambda y: helper.make_node("Conv", ["xw", "ww", "b8"], [y], kernel_shape=[3, 3],
                                               pads=[1, 1, 1, 1]),
    }
    nodes, outs = [], []
    for op, attrs, clip in ACTS:
        for pname, make in producers.items():
            h = f"{op}_{pname}_pre"
            nodes += [make(h), _act(op, attrs, clip, h, f"{op}_{pname}", inits)]
            outs.append(f"{op}_{pname}")
        nodes.append(_act(op, attrs, clip, "x", f"{op}_alone", inits))
        outs.append(f"{op}_alone")
    return make_model(nodes, [("x", F32, [1, 4, 5, 5]), ("g", F32, [3, 8]), ("xw", F32, [1, 8, 8, 8])], outs, inits)


def activations_inputs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    # large values: the conv outputs reach +-hundreds, where exp under/overflows in Sigmoid and Tanh
    x = (rng.standard_normal((1, 4, 5, 5)) * 40).astype(np.float32)
    x[0, 1, 2, 2] = np.nan
    x[0, 2, 0, 4] = np.inf
    x[0, 3, 4, 0] = -np.inf
    x[0, 0, 0, :] = [-200.0, 200.0, -89.0, 89.0, -0.0]
    g = (rng.standard_normal((3, 8)) * 40).astype(np.float32)
    g[1, 3] = np.nan
    g[2, 5] = -np.inf
    # one NaN and one infinity per 4x4 Winograd tile at most: a convolution makes only the 3x3
    # neighbourhood NaN (or infinite), not the tile
    xw = rng.standard_normal((1, 8, 8, 8)).astype(np.float32)
    xw[0, 2, 1, 1] = np.nan
    xw[0, 5, 6, 2] = np.inf
    xw[0, 7, 2, 6] = -np.inf
    return {"x": x, "g": g, "xw": xw}


@pytest.mark.browser
@pytest.mark.node
def test_activations_keep_nan_and_infinities(tmp_path, browser) -> None:  # type: ignore[no-untyped-def]
    model = activations_model()
    out = str(tmp_path / "acts")
    convert(model, out, [*NODE_BACKENDS, *GPU_BACKENDS])
    with open(os.path.join(out, "wasm", "descriptor.json")) as f:
        fns = {k["attrs"].get("wasm", {}).get("fn") for k in json.load(f)["kernels"]}
    # the wasm kernels the cases are meant to reach (fused epilogues of each)
    assert {"conv2d_nhwc_f32", "conv2d_winograd_nhwc_f32", "dwconv2d_nhwc_f32", "gemm_f32", "binary_f32",
            "unary_f32"} <= fns, fns
    check_all(browser, model, activations_inputs(), out)


# (op, attributes): the other unary kernels, on finite values with NaN and overflow (`u`) or, for the
# trigonometric ones, on small values with NaN and out-of-domain arguments (`t`)
UNARY_BIG: list[tuple[str, dict[str, Any]]] = [
    ("Elu", {"alpha": 0.5}), ("Selu", {}), ("Celu", {"alpha": 2.0}), ("Softplus", {}), ("Softsign", {}),
    ("Exp", {}), ("Log", {}), ("Sqrt", {}), ("Reciprocal", {}), ("Neg", {}), ("Abs", {}), ("Floor", {}),
    ("Ceil", {}), ("Round", {}), ("Sign", {}), ("Erf", {}), ("Gelu", {}), ("Gelu", {"approximate": "tanh"}),
    ("Mish", {}), ("ThresholdedRelu", {"alpha": 2.0}), ("Shrink", {"lambd": 1.5, "bias": 0.5}), ("Sinh", {}),
    ("Cosh", {}),
]
UNARY_SMALL = ["Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Asinh", "Acosh", "Atanh"]


def unary_model() -> onnx.ModelProto:
    nodes, outs = [], []
    for op, attrs in UNARY_BIG:
        y = f"{op}_{'tanh' if attrs.get('approximate') else 'u'}"
        nodes.append(helper.make_node(op, ["u"], [y], **attrs))
        outs.append(y)
    for op in UNARY_SMALL:
        nodes.append(helper.make_node(op, ["t"], [f"{op}_t"]))
        outs.append(f"{op}_t")
    # Max / Min: NaN when any operand is NaN (as numpy's maximum), two and three operands
    for op in ("Max", "Min"):
        nodes += [helper.make_node(op, ["u", "v"], [f"{op}_uv"]), helper.make_node(op, ["u", "v", "t3"], [f"{op}_uvt"])]
        outs += [f"{op}_uv", f"{op}_uvt"]
    return make_model(nodes, [("u", F32, [24]), ("t", F32, [8]), ("v", F32, [24]), ("t3", F32, [3, 1])], outs,
                      opset=20)


def unary_inputs() -> dict[str, np.ndarray]:
    nan = np.nan
    u = np.array([nan, 0, -0.0, 1, -1, 0.5, -0.5, 1.7, -1.7, 3, -3, 20, -20, 30, -30, 50, -50, 88.5, -88.5, 100, -100,
                  250, -250, 2.5], np.float32)
    u[1] = -np.float32(nan)  # a NaN with the sign bit set, as x86 makes them
    t = np.array([nan, 0.5, -0.25, 0.75, 0, 1.5, -3, 2.5], np.float32)
    v = u[::-1].copy()
    v[5] = np.nan
    t3 = np.array([[0.0], [nan], [np.inf]], np.float32)
    return {"u": u, "t": t, "v": v, "t3": t3}


@pytest.mark.browser
@pytest.mark.node
def test_unary_kernels_keep_nan(tmp_path, browser) -> None:  # type: ignore[no-untyped-def]
    model = unary_model()
    out = str(tmp_path / "unary")
    convert(model, out, [*NODE_BACKENDS, *GPU_BACKENDS])
    check_all(browser, model, unary_inputs(), out, exact_zero=frozenset({"Exp"}))


# ---------------------------------------------------------------------------- softmax and exp


def softmax_model() -> onnx.ModelProto:
    """Softmax / LogSoftmax over the last axis and over axis 0, Exp, Sigmoid, Tanh, ReduceLogSumExp,
    and masked attention scores (MatMul * scale + mask -> Softmax: the wasm bmm kernel's fused epilogue)."""
    inits = {"scale": np.float32(0.35)}
    nodes = [
        helper.make_node("Softmax", ["s"], ["Softmax_last"], axis=-1),
        helper.make_node("Softmax", ["s"], ["Softmax_first"], axis=0),
        helper.make_node("LogSoftmax", ["s"], ["LogSoftmax_last"], axis=-1),
        helper.make_node("LogSoftmax", ["s"], ["LogSoftmax_first"], axis=0),
        helper.make_node("Exp", ["s"], ["Exp_s"]),
        helper.make_node("Sigmoid", ["s"], ["Sigmoid_s"]),
        helper.make_node("Tanh", ["s"], ["Tanh_s"]),
        helper.make_node("ReduceLogSumExp", ["s"], ["ReduceLogSumExp_s"], axes=[1], keepdims=0),
        helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]),
        helper.make_node("MatMul", ["q", "kt"], ["qk"]),
        helper.make_node("Mul", ["qk", "scale"], ["qks"]),
        helper.make_node("Add", ["qks", "mask"], ["qkm"]),
        helper.make_node("Softmax", ["qkm"], ["Softmax_attention"], axis=-1),
    ]
    return make_model(nodes, [("s", F32, [7, 9]), ("q", F32, [1, 2, 5, 8]), ("k", F32, [1, 2, 5, 8]),
                              ("mask", F32, [1, 1, 5, 5])],
                      ["Softmax_last", "Softmax_first", "LogSoftmax_last", "LogSoftmax_first", "Exp_s", "Sigmoid_s",
                       "Tanh_s", "ReduceLogSumExp_s", "Softmax_attention"], inits)


def softmax_inputs() -> dict[str, np.ndarray]:
    ninf, nan, inf = -np.inf, np.nan, np.inf
    s = np.array([
        [0, ninf, 1, ninf, 2, 3, ninf, 0.5, -1],  # -inf entries: exactly 0 (LogSoftmax: -inf)
        [ninf] * 9,  # fully masked: NaN
        [1, 2, nan, 3, 4, 5, 6, 7, 8],  # a NaN: the whole row NaN
        [1, 2, inf, 3, 4, 5, 6, 7, 8],  # +inf: NaN (inf - inf)
        [0, -200, -100, -90, -88, -87, -50, 0, -1e30],  # exp far below the smallest normal: 0
        [100, 89, 88.5, 80, 0, -100, 1, 2, 3],  # exp overflow (Exp: inf)
        [0.5, -0.5, 1.5, -2, 3, 0.25, -1, 2, 0],
    ], np.float32)
    rng = np.random.default_rng(2)
    q = rng.standard_normal((1, 2, 5, 8)).astype(np.float32)
    k = rng.standard_normal((1, 2, 5, 8)).astype(np.float32)
    mask = np.zeros((1, 1, 5, 5), np.float32)
    mask[0, 0, 0, 2:] = ninf  # causal-style
    mask[0, 0, 1, 3:] = ninf
    mask[0, 0, 2, :] = ninf  # a fully masked row: NaN, as onnxruntime
    mask[0, 0, 3, 1] = -1e9
    return {"s": s, "q": q, "k": k, "mask": mask}


@pytest.mark.browser
@pytest.mark.node
def test_softmax_and_exp_special_values(tmp_path, browser) -> None:  # type: ignore[no-untyped-def]
    model = softmax_model()
    out = str(tmp_path / "softmax")
    convert(model, out, [*NODE_BACKENDS, *GPU_BACKENDS])
    with open(os.path.join(out, "wasm", "descriptor.json")) as f:
        calls = [k["attrs"]["wasm"] for k in json.load(f)["kernels"] if "wasm" in k["attrs"]]
    assert any(c["fn"] == "softmax_f32" for c in calls)
    assert any(c["fn"] == "bmm_f32" and c["params"][25] == 1 for c in calls), "attention softmax not fused"
    check_all(browser, model, softmax_inputs(), out, exact_zero=frozenset({"Softmax", "Exp"}))


# ---------------------------------------------------------------------------- indices


def gather_model(const_indices: dict[str, np.ndarray] | None = None) -> onnx.ModelProto:
    nodes = [
        helper.make_node("Gather", ["d", "i"], ["gather"], axis=0),
        helper.make_node("Gather", ["d", "i"], ["gather1"], axis=1),
        helper.make_node("GatherElements", ["d", "ie"], ["gather_elements"], axis=0),
        helper.make_node("GatherND", ["d", "ind"], ["gather_nd"]),
    ]
    inputs: list[tuple[str, int, list[int | str]]] = [("d", F32, [5, 3])]
    inits = const_indices or {}
    inputs += [(n, I64, list(s)) for n, s in (("i", (4,)), ("ie", (2, 3)), ("ind", (4, 1))) if n not in inits]
    return make_model(nodes, inputs, ["gather", "gather1", "gather_elements", "gather_nd"], inits)


def _clamped(k: np.ndarray, dim: int) -> np.ndarray:
    """The GPU backends' documented rule: negative indices count from the end, then clamp to [0, dim)."""
    return np.clip(np.where(k < 0, k + dim, k), 0, dim - 1)


@pytest.mark.browser
@pytest.mark.node
def test_gather_indices_in_and_out_of_range(tmp_path, browser) -> None:  # type: ignore[no-untyped-def]
    model = gather_model()
    out = str(tmp_path / "gather")
    convert(model, out, [*NODE_BACKENDS, *GPU_BACKENDS])
    d = np.arange(15, dtype=np.float32).reshape(5, 3) + 0.5
    good = {"d": d, "i": np.array([0, -1, 2, -3], np.int64), "ie": np.array([[4, -5, 0], [-1, 2, 3]], np.int64),
            "ind": np.array([[1], [-2], [0], [4]], np.int64)}
    ref = reference(model, good)
    for backend in (*NODE_BACKENDS, *GPU_BACKENDS):
        got = run_backend(browser, out, good, backend)
        for name, want in ref.items():
            np.testing.assert_array_equal(got[name], want, err_msg=f"{backend} {name}")

    # int64 indices beyond int32 too: a GPU must not wrap 2**32 + 1 to 1
    i = np.array([3, 7, -9, 2**32 + 1], np.int64)
    ie = np.array([[5, -6, 0], [-(2**33), 2, 2**40]], np.int64)
    ind = np.array([[1], [5], [-7], [2**32]], np.int64)
    bad = {"d": d, "i": i, "ie": ie, "ind": ind}
    for backend in NODE_BACKENDS:
        with pytest.raises(WebDNNError, match="out of range"):
            run_backend(browser, out, bad, backend)
    want = {
        "gather": d[_clamped(i, 5)],
        "gather1": d[:, _clamped(i, 3)],
        "gather_elements": np.take_along_axis(d, _clamped(ie, 5), axis=0),
        "gather_nd": d[_clamped(ind[:, 0], 5)],
    }
    wrong = []
    for backend in GPU_BACKENDS:
        got = run_backend(browser, out, bad, backend)
        wrong += [f"{backend} {name}: {got[name].tolist()} != {w.tolist()}" for name, w in want.items()
                  if not np.array_equal(got[name], w)]
    assert not wrong, "clamped indices differ:\n" + "\n".join(wrong)


@pytest.mark.parametrize("which", ["i", "ie", "ind"])
def test_constant_out_of_range_indices_are_a_conversion_error(tmp_path, which: str) -> None:  # type: ignore[no-untyped-def]
    consts = {"i": np.array([0, 1, 2, 0], np.int64), "ie": np.zeros((2, 3), np.int64),
              "ind": np.zeros((4, 1), np.int64)}
    consts[which] = consts[which].copy()
    consts[which].reshape(-1)[1] = -6 if which != "i" else 5
    with pytest.raises(ShapeError, match="out of range"):
        convert(gather_model(consts), str(tmp_path / "m"), ["fallback"])
    assert not os.path.exists(tmp_path / "m")
