"""Descriptor and weight fuzzing: every corrupted or edited model is a clear WebDNNError, never a
trap, a hang or garbage (runtime/tools/fuzz-descriptor.mjs; docs/descriptor-format.md, "What is
validated").

Small models that reach every wasm kernel export and the fallback kernels with index arithmetic are
converted here for the fallback and wasm backends; the Node fuzzer mutates their descriptors and
weight files with a fixed seed (byte flips, truncations, field edits), loads and runs each case with a
timeout and classifies the outcome. The test asserts that no case crashed (a non-WebDNNError, a wasm
trap), hung, or returned outputs that differ from the unmutated model's (garbage).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from webdnn import zoo
from webdnn.browser.paths import runtime_tool
from webdnn.convert import convert

F32 = onnx.TensorProto.FLOAT
CASES = int(os.environ.get("WEBDNN_FUZZ_CASES", "4000"))
SEED = int(os.environ.get("WEBDNN_FUZZ_SEED", "1"))


def _model(nodes: list[onnx.NodeProto], inputs: list[tuple[str, int, list[int]]], outputs: list[str],
           inits: dict[str, np.ndarray]) -> onnx.ModelProto:
    g = helper.make_graph(
        nodes, "fuzz",
        [helper.make_tensor_value_info(n, t, d) for n, t, d in inputs],
        [helper.make_empty_tensor_value_info(o) for o in outputs],
        [numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def cnn() -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """A non-square conv net: im2col, Winograd, depthwise and pointwise Conv with fused residual Add,
    Relu and Clip; Max/Average/Global pools, Concat, a broadcast Mul, a standalone activation, Gemm,
    Softmax; and a second branch of JS kernels (Resize, Slice, Pad, Transpose, ReduceMean, Split)."""
    rng = np.random.default_rng(0)

    def w(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * (2.0 / np.prod(shape[1:])) ** 0.5).astype(np.float32)

    inits = {
        "w1": w(16, 3, 3, 3), "b1": w(16), "w2": w(16, 16, 3, 3), "b2": w(16),
        "wd": w(16, 1, 3, 3), "bd": w(16), "wp": w(24, 16, 1, 1), "bp": w(24),
        "scale": w(1, 40, 1, 1), "wg": w(10, 40), "bg": w(10),
        "roi": np.zeros(0, np.float32), "scales": np.array([1, 1, 2, 1.5], np.float32),
        "starts": np.array([1, 0], np.int64), "ends": np.array([5, 7], np.int64),
        "axes": np.array([2, 3], np.int64), "steps": np.array([1, 2], np.int64),
        "pads": np.array([0, 0, 1, 0, 0, 0, 0, 2], np.int64), "split": np.array([16, 24], np.int64),
        "raxes": np.array([1], np.int64),
    }
    n = helper.make_node
    nodes = [
        n("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        n("Relu", ["c1"], ["r1"]),
        n("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
        n("Add", ["c2", "r1"], ["a2"]),
        n("Relu", ["a2"], ["r2"]),
        n("Conv", ["r2", "wd", "bd"], ["d"], pads=[1, 1, 1, 1], strides=[2, 2], group=16),
        n("Clip", ["d", "", ""], ["d6"]),
        n("Conv", ["d6", "wp", "bp"], ["p"]),
        n("MaxPool", ["p"], ["mp"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
        n("AveragePool", ["d6"], ["ap"], kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 1, 0]),
        n("Concat", ["mp", "ap"], ["cat"], axis=1),
        n("Mul", ["cat", "scale"], ["sc"]),
        n("LeakyRelu", ["sc"], ["lr"], alpha=0.1),
        n("GlobalAveragePool", ["lr"], ["gp"]),
        n("Flatten", ["gp"], ["fl"]),
        n("Gemm", ["fl", "wg", "bg"], ["g"], transB=1),
        n("Softmax", ["g"], ["y"], axis=1),
        n("Resize", ["cat", "roi", "scales"], ["rs"], mode="nearest"),
        n("Slice", ["rs", "starts", "ends", "axes", "steps"], ["sl"]),
        n("Pad", ["sl", "pads"], ["pd"], mode="constant"),
        n("Transpose", ["pd"], ["tp"], perm=[0, 2, 3, 1]),
        n("Split", ["tp", "split"], ["s1", "s2"], axis=3),
        n("ReduceMean", ["s2", "raxes"], ["z"], keepdims=1),
        n("Sigmoid", ["s1"], ["z2"]),
    ]
    model = _model(nodes, [("x", F32, [1, 3, 12, 10])], ["y", "z", "z2"], inits)
    return model, {"x": np.random.default_rng(1).standard_normal((1, 3, 12, 10)).astype(np.float32)}


def transformer() -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """A one-layer MiniLM (the zoo builder, tiny sizes): Gather, LayerNormalization, fused attention
    (bmm with scale, mask and softmax), Transpose, Gelu/Erf, MatMul + bias."""
    model = zoo.build("minilm", layers=1, hidden=32, heads=2, intermediate=64, vocab_size=1100,
                      max_position=16, batch=1, sequence=8)
    return model, zoo.default_inputs("minilm", model, seq_len=8)


def misc() -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """The other kernels with index arithmetic: a grouped dilated Conv, a dilated padded MaxPool,
    GlobalMaxPool, Erf, a standalone HardSigmoid, ConvTranspose, InstanceNormalization, LRN,
    DepthToSpace, ReduceMax, ArgMax, an int64 Transpose, CumSum, Gather, GatherElements, GatherND,
    Where, Tile, a MatMul of two runtime operands (one transposed), Hardmax, Trilu, Softmax, Expand."""
    rng = np.random.default_rng(2)
    inits = {
        "w": rng.standard_normal((8, 2, 3, 3)).astype(np.float32), "b": rng.standard_normal(8).astype(np.float32),
        "s8": rng.standard_normal(8).astype(np.float32), "b8": rng.standard_normal(8).astype(np.float32),
        "wt": rng.standard_normal((2, 3, 2, 2)).astype(np.float32),
        "raxes": np.array([2, 3], np.int64), "cax": np.array(3, np.int64),
        "gi": np.array([2, 0], np.int64), "ge": rng.integers(0, 6, (1, 4, 2, 5)).astype(np.int64),
        "nd": np.array([[0, 1], [0, 3]], np.int64), "reps": np.array([1, 1, 2, 1], np.int64),
        "eshape": np.array([1, 8, 2, 3], np.int64),
    }
    n = helper.make_node
    nodes = [
        n("Conv", ["x", "w", "b"], ["c"], group=2, pads=[2, 2, 2, 2], dilations=[2, 2]),
        n("Erf", ["c"], ["e"]),
        n("MaxPool", ["e"], ["mp"], kernel_shape=[2, 2], dilations=[2, 1], pads=[1, 0, 0, 1]),
        n("GlobalMaxPool", ["mp"], ["gm"]),
        n("InstanceNormalization", ["mp", "s8", "b8"], ["inn"]),
        n("LRN", ["inn"], ["lrn"], size=3),
        n("DepthToSpace", ["lrn"], ["d2s"], blocksize=2, mode="CRD"),
        n("ConvTranspose", ["d2s", "wt"], ["ct"], strides=[2, 2]),
        n("HardSigmoid", ["ct"], ["hs"]),
        n("ReduceMax", ["hs", "raxes"], ["r"], keepdims=0),
        n("ArgMax", ["lrn"], ["am"], axis=1),
        n("Transpose", ["am"], ["tp"], perm=[0, 2, 3, 1]),
        n("CumSum", ["x", "cax"], ["cs"]),
        n("Gather", ["cs", "gi"], ["g"], axis=2),
        n("GatherElements", ["cs", "ge"], ["gel"], axis=2),
        n("GatherND", ["x", "nd"], ["gnd"]),
        n("Greater", ["g", "gel"], ["gt"]),
        n("Where", ["gt", "g", "gel"], ["wh"]),
        n("Tile", ["wh", "reps"], ["tl"]),
        n("Transpose", ["tl"], ["tlt"], perm=[0, 1, 3, 2]),
        n("MatMul", ["tl", "tlt"], ["mm"]),
        n("Hardmax", ["mm"], ["hm"], axis=-1),
        n("Trilu", ["mm"], ["tri"], upper=1),
        n("Softmax", ["mm"], ["sm"], axis=3),
        n("Expand", ["gm", "eshape"], ["ex"]),
    ]
    model = _model(nodes, [("x", F32, [1, 4, 6, 5])], ["r", "tp", "gnd", "hm", "tri", "sm", "ex"], inits)
    return model, {"x": np.random.default_rng(3).standard_normal((1, 4, 6, 5)).astype(np.float32)}


MODELS = {"cnn": cnn, "transformer": transformer, "misc": misc}


def _convert_all(tmp_path) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    specs = []
    for name, build in MODELS.items():
        model, inputs = build()
        out = str(tmp_path / name)
        convert(model, out, ["fallback", "wasm"], {k: v.shape for k, v in inputs.items()})
        feeds = []
        for k, v in inputs.items():
            path = str(tmp_path / f"{name}-{k}.bin")
            v.tofile(path)
            feeds.append({"name": k, "dtype": str(v.dtype), "path": path})
        specs.append({"model": out, "name": name, "inputs": feeds})
    return specs


@pytest.fixture(scope="module")
def models(tmp_path_factory):  # type: ignore[no-untyped-def]
    d = tmp_path_factory.mktemp("fuzz")
    return d, _convert_all(d)


def _fuzz(models, **spec: object) -> dict[str, object]:  # type: ignore[no-untyped-def]
    d, specs = models
    spec_path = d / f"spec-{os.getpid()}-{len(os.listdir(d))}.json"
    spec_path.write_text(json.dumps({"models": specs, "backends": ["fallback", "wasm"], **spec}))
    p = subprocess.run(["node", runtime_tool("fuzz-descriptor.mjs"), str(spec_path)], capture_output=True,
                       text=True, timeout=600)
    print(p.stdout[-6000:])
    assert p.returncode in (0, 1), p.stderr[-4000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.mark.node
def test_descriptor_fuzzer_finds_no_trap_hang_or_garbage(models) -> None:  # type: ignore[no-untyped-def]
    r = _fuzz(models, cases=CASES, seed=SEED)
    counts = r["counts"]
    assert isinstance(counts, dict)
    assert r["cases"] == CASES
    bad = {k: v for k, v in counts.items() if k in ("garbage", "crash", "hang") and v}
    assert not bad, f"{bad}; first failures: {json.dumps(r['failures'][:10], indent=1)}"
    # the cases exercise the validator: most are rejected, some are harmless (names, unused fields)
    assert counts.get("rejected", 0) > CASES // 2


@pytest.mark.node
def test_descriptor_fuzzer_with_wasm_threads(models) -> None:  # type: ignore[no-untyped-def]
    """The wasm backend with two threads (worker_threads running the kernels on a shared memory)."""
    r = _fuzz(models, cases=CASES // 10, seed=SEED + 1, backends=["wasm"], threads=2, workers=1)
    counts = r["counts"]
    assert isinstance(counts, dict)
    bad = {k: v for k, v in counts.items() if k in ("garbage", "crash", "hang") and v}
    assert not bad, f"{bad}; first failures: {json.dumps(r['failures'][:10], indent=1)}"


# ---- targeted edits: each check of the validator, with the message it gives -------------------------
def _kernel(desc: dict, fn: str | None = None, op: str | None = None) -> dict:
    for k in desc["kernels"]:
        w = k["attrs"].get("wasm")
        if (fn is None or (w is not None and w["fn"] == fn)) and (op is None or k["op"] == op):
            return k
    raise KeyError(fn or op)


def _params(desc: dict, fn: str) -> list:
    return _kernel(desc, fn)["attrs"]["wasm"]["params"]


def _swap(xs: list, i: int, j: int) -> None:
    xs[i], xs[j] = xs[j], xs[i]


def _set(xs: list, i: int, v: object) -> None:
    xs[i] = v


def _delete_kernel(desc: dict, op: str) -> None:
    desc["kernels"].remove(_kernel(desc, op=op))


def _bmms(desc: dict) -> list[dict]:
    return [k for k in desc["kernels"] if k["attrs"].get("wasm", {}).get("fn") == "bmm_f32"]


def _move_onto(desc: dict, writer: dict, reader: dict, i: int) -> None:
    """`writer`'s output moved onto the bytes of `reader`'s input i, which is read after `writer` ran."""
    desc["tensors"][writer["outputs"][0]]["offset"] = desc["tensors"][reader["inputs"][i]]["offset"]


def _p(fn: str, i: int, v: object) -> Callable[[dict], None]:
    """Set parameter i of the first `fn` call."""
    return lambda d: _set(_params(d, fn), i, v)


def _sw(fn: str, i: int, j: int) -> Callable[[dict], None]:
    """Swap parameters i and j of the first `fn` call."""
    return lambda d: _swap(_params(d, fn), i, j)


def _attr(op: str, **kv: object) -> Callable[[dict], None]:
    """Set attributes of the first `op` kernel."""
    return lambda d: _kernel(d, op=op)["attrs"].update(kv)


def _last_gemm_bias_onto_weights(d: dict) -> None:
    k = _kernel(d, "gemm_f32")
    d["tensors"][k["inputs"][2]]["offset"] = d["tensors"][k["inputs"][1]]["offset"]


# (model/backend, what, edit of the descriptor, the message expected)
EDITS: list[tuple[str, str, Callable[[dict], object], str]] = [
    # wasm: parameter kinds and counts
    ("cnn/wasm", "count (one short)", lambda d: _params(d, "gemm_f32").pop(), r"parameter 11 \(MC\) is missing"),
    ("cnn/wasm", "count (one more)", lambda d: _params(d, "gemm_f32").append(1),
     r"has 13 parameters, gemm_f32 takes 12"),
    ("cnn/wasm", "address kind", _p("gemm_f32", 0, 5), r"parameter 0 \(A\) must be \{in: i\}"),
    ("cnn/wasm", "write through an input", _p("gemm_f32", 3, {"in": 0}), r"parameter 3 \(C\) must be \{out: i\}"),
    ("cnn/wasm", "address order", _sw("binary_f32", 0, 1), r"the call's input 0 comes there"),
    ("cnn/wasm", "integer range", _p("binary_f32", 3, 7), r"parameter 3 \(op\) must be an integer in 0..3"),
    ("cnn/wasm", "negative int", _p("gemm_f32", 5, -1), r"\(M\) must be an integer in 0..2147483647"),
    ("transformer/wasm", "float", _p("layernorm_f32", 6, {"f": "x"}), r"\(eps\) must be \{f: a number"),
    ("cnn/wasm", "unknown export", lambda d: _kernel(d, "gemm_f32")["attrs"]["wasm"].update(fn="gemm_f64"),
     r"has no function 'gemm_f64'"),
    ("cnn/wasm", "JS kernel not listed", lambda d: _kernel(d, "softmax_f32")["attrs"].pop("wasm"),
     r"Softmax is not among the descriptor's JavaScript kernels"),
    # wasm: sizes, geometry, enums, stack, per kernel
    ("cnn/wasm", "gemm rows", _p("gemm_f32", 5, 2),
     r"A is tensor .* of 160 bytes, but the parameters make the kernel read 320"),
    ("transformer/wasm", "gemm block", _p("gemm_f32", 11, 0), r"MC 0 must be in 1..8"),
    ("cnn/wasm", "conv pad", _p("conv2d_nhwc_f32", 16, 0), r"PT 0 differs from the attributes' 1"),
    ("cnn/wasm", "conv H/W swapped", _sw("conv2d_nhwc_f32", 6, 7), r"output 12x10 differs from the 10x12"),
    ("cnn/wasm", "conv group", _p("conv2d_nhwc_f32", 20, 3), r"must be positive multiples of group 3"),
    ("cnn/wasm", "conv im2col block", _p("conv2d_nhwc_f32", 24, 4096), r"MC 4096 must be in 1..120"),
    ("cnn/wasm", "conv activation", _p("conv2d_nhwc_f32", 21, 7), r"parameter 21 \(act\) must be an integer in 0..2"),
    ("cnn/wasm", "conv activation none", _p("conv2d_nhwc_f32", 21, 0), r"activation words are empty"),
    ("cnn/wasm", "depthwise Cp", _p("dwconv2d_nhwc_f32", 21, 20), r"Cp 20 must be C = 16 rounded up to 4"),
    ("cnn/wasm", "depthwise stride", _p("dwconv2d_nhwc_f32", 12, 1), r"SH 1 differs from the attributes' 2"),
    ("cnn/wasm", "winograd tiles", _p("conv2d_winograd_nhwc_f32", 17, 0), r"TB 0 must be in 1..1024"),
    ("cnn/wasm", "winograd stack", _p("conv2d_winograd_nhwc_f32", 17, 64),
     r"stackBytes 138368 is not the kernels' per-thread stack need"),
    ("cnn/wasm", "stack too small", lambda d: d["wasm"].update(stackBytes=1024),
     r"stackBytes 1024 is not the kernels' per-thread stack need"),
    ("cnn/wasm", "stack too big", lambda d: d["wasm"].update(stackBytes=2**31), r"stackBytes 2147483648 is not"),
    ("cnn/wasm", "pool mode", _p("pool2d_nhwc_f32", 18, 1), r"mode 1 is not that of MaxPool"),
    ("cnn/wasm", "pool end pad", lambda d: _set(_kernel(d, op="AveragePool")["attrs"]["wasm"]["params"], 14, 0),
     r"PB 0 differs from the attributes' 1"),
    ("misc/wasm", "pool dilation", _p("pool2d_nhwc_f32", 16, 1), r"DH 1 differs from the attributes' 2"),
    ("cnn/wasm", "global pool pixels", _p("global_pool_nhwc_f32", 3, 3), r"the parameters say 1, 3 pixels"),
    ("misc/wasm", "global pool mode", _p("global_pool_nhwc_f32", 5, 1), r"mode 1 is not that of GlobalMaxPool"),
    ("cnn/wasm", "binary op", _p("binary_f32", 3, 0), r"operation 0 is not that of Mul \(2\)"),
    ("cnn/wasm", "binary stride", _p("binary_f32", 10, 20), r"A .*do not tile a tensor of 240 elements"),
    ("cnn/wasm", "binary inner stride", _p("binary_f32", 11, 2), r"innermost strides must be 0 or 1"),
    ("cnn/wasm", "unary activation", _p("unary_f32", 3, 1), r"a clamp's words are two floats"),
    ("cnn/wasm", "unary program", lambda d: _set(_params(d, "unary_f32"), 4, {"f": 0.0}),
     r"program word must be \{program: \"expr\"\}"),
    ("cnn/wasm", "unary length", _p("unary_f32", 2, 321), r"read 1284 bytes there"),
    ("cnn/wasm", "softmax cols", _sw("softmax_f32", 2, 3), r"cols 1 is not X's last dim"),
    ("transformer/wasm", "layernorm cols", lambda d: (_set(_params(d, "layernorm_f32"), 4, 16),
                                                      _set(_params(d, "layernorm_f32"), 5, 16)),
     r"cols 16 is not the 32 elements normalized per row"),
    ("misc/wasm", "gelu mode", _p("gelu_f32", 3, 0), r"mode 0 is not that of Erf"),
    ("cnn/wasm", "layout transpose", _sw("transpose_2d_x32", 3, 4), r"does not turn X's shape \[1, 3, 12, 10\]"),
    ("cnn/wasm", "concat parts", _p("concat", 5, 64), r"inner bytes add up to 128, not yinner = 160"),
    ("cnn/wasm", "concat order", _sw("concat", 4, 6), r"the call's input 0 comes there"),
    ("cnn/wasm", "transpose strides", _sw("transpose_any", 13, 14),
     r"strides \[0, 0, 0, 0, 20, 1\] are not those of X's shape"),
    ("misc/wasm", "transpose element size", _p("transpose_any", 2, 4), r"element size 4 does not match int64"),
    ("transformer/wasm", "bmm chunk", _p("bmm_f32", 26, 12), r"NC 12 must be a multiple of 8"),
    ("misc/wasm", "bmm empty sum", _p("bmm_f32", 8, 0), r"batch dims, M, N and K must be >= 1"),
    ("transformer/wasm", "bmm softmax flag", _p("bmm_f32", 25, 0), r"flags 0 differ from attrs.softmax true"),
    ("transformer/wasm", "bmm alpha", _p("bmm_f32", 24, {"f": 0.5}), r"alpha 0.5 differs from attrs.alpha 0.25"),
    ("transformer/wasm", "bmm A stride", _p("bmm_f32", 11, 16), r"A .*do not tile a tensor of 256 elements"),
    ("transformer/wasm", "bmm output stride", _p("bmm_f32", 19, 0),
     r"strides \[0, 64, 0, 1\] repeat elements of an output"),
    ("transformer/wasm", "bmm mask stride", _p("bmm_f32", 23, 2), r"R .*(cover 15 elements|do not tile)"),
    ("transformer/wasm", "bmm columns", _p("bmm_f32", 7, 16), r"the fused softmax needs whole rows: NC 8 < N 16"),
    # the memory plan (fallback and wasm)
    ("cnn/fallback", "weight moved", lambda d: d["tensors"][_kernel(d, op="Conv")["inputs"][1]].update(offset=64),
     r"lies at weights offset 64; after the constants before it, it starts at 0"),
    ("cnn/wasm", "weight moved", _last_gemm_bias_onto_weights, r"lies at weights offset"),
    ("cnn/fallback", "arena tensor overwritten",
     lambda d: _move_onto(d, _kernel(d, op="MaxPool"), _kernel(d, op="AveragePool"), 0),
     r"AveragePool.* reads tensor \d+ \('d6'\) at arena bytes .* but bytes .* hold tensor \d+ \('mp'\)"),
    ("transformer/wasm", "arena tensor overwritten", lambda d: _move_onto(d, _kernel(d, "bmm_f32"), _bmms(d)[1], 1),
     r"reads tensor .* but bytes .* hold"),
    ("cnn/wasm", "kernel writes its input",
     lambda d: _move_onto(d, _kernel(d, "unary_f32"), _kernel(d, "unary_f32"), 0),
     r"writes tensor .* over bytes it reads"),
    ("cnn/fallback", "kernel deleted", lambda d: _delete_kernel(d, "Relu"),
     r"which no kernel writes and which is no view"),
    ("cnn/fallback", "kernel doubled", lambda d: d["kernels"].insert(3, d["kernels"][3]), r"which was written before"),
    ("cnn/fallback", "read before written", lambda d: _swap(d["kernels"], 0, 1), r"before it is written"),
    ("transformer/fallback", "view of another tensor", lambda d: _set(d["views"][0], 1, d["views"][0][1] + 1),
     r"views entry .* does not have the bytes and type"),
    ("cnn/fallback", "unused tensor", lambda d: d["tensors"].append(dict(d["tensors"][0])),
     r"is neither a graph input or output nor any kernel's operand"),
    # fallback attributes
    ("transformer/fallback", "axis out of range (was a hang)", _attr("LayerNormalization", axis=2**40),
     r"axis 1099511627776 is outside the input's 3 dims"),
    ("cnn/fallback", "conv strides", _attr("Conv", strides=[2, 2]),
     r"output has shape \[1, 16, 12, 10\], but its inputs and attributes give \[1, 16, 6, 5\]"),
    ("cnn/fallback", "slice start", lambda d: _kernel(d, op="Slice")["attrs"]["starts"].__setitem__(2, 2),
     r"Slice: output has shape"),
    ("misc/fallback", "transpose perm", _attr("Transpose", perm=[0, 2, 2, 1]),
     r"perm \[0,2,2,1\] is not a permutation"),
    ("misc/fallback", "index out of range at run time", _attr("GatherElements", axis=0),
     r"GatherElements: index \d+ is out of range"),
    ("cnn/fallback", "binary arity", lambda d: _kernel(d, op="Add")["inputs"].append(_kernel(d, op="Add")["inputs"][0]),
     r"has 3 inputs, it takes at most 2"),
]


@pytest.mark.node
def test_each_descriptor_check_rejects_its_edit(models) -> None:  # type: ignore[no-untyped-def]
    d, specs = models
    dirs = {s["name"]: s["model"] for s in specs}
    edits = []
    for i, (target, what, edit, _) in enumerate(EDITS):
        name, backend = target.split("/")
        desc = json.load(open(os.path.join(str(dirs[name]), backend, "descriptor.json")))
        edit(desc)
        path = d / f"edit-{i}.json"
        path.write_text(json.dumps(desc))
        edits.append({"target": target, "descriptor": str(path), "what": what})
    r = _fuzz(models, edits=edits)
    results = sorted(r["results"], key=lambda x: x["i"])
    wrong = []
    for (target, what, _, expect), res in zip(EDITS, results, strict=True):
        if res["outcome"] != "rejected" or not re.search(expect, res["detail"]):
            wrong.append(f"{target} {what}: {res['outcome']} {res['detail']!r} (expected /{expect}/)")
    assert not wrong, "\n".join(wrong)
