"""TF.js graph models (frontend/tf_graph.py, tf_ops_*.py) against TensorFlow.js itself (its graph executor on
the CPU backend in Node, tfjs_reference.mjs) on the same model files and input: small hand-written graphs,
one per group of ops and options, converted for fallback and run in Node; nsfwjs' real MobileNetV2 graph
model (uint8-quantized weights) on every backend in Chromium; and the errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.frontend.test_tfjs import tfjs_predict
from tests.frontend.tf_graph_fixtures import G, b, f, i, ints, node, s, strs
from webdnn.convert import convert
from webdnn.errors import UnsupportedOperatorError
from webdnn.verify import compare

pytestmark = pytest.mark.node
NHWC = {"data_format": s("NHWC")}


def _conv(g: G, name: str, x: str, cin: int, cout: int, k: int = 3, stride: int = 1, pad: str = "SAME",
          fused: tuple[str, ...] = ("BiasAdd", "Relu")) -> str:
    args = [g.w(f"{name}/w", k, k, cin, cout)]
    if fused and fused[0] == "BiasAdd":
        args.append(g.w(f"{name}/b", cout))
    if "Prelu" in fused:
        args.append(g.w(f"{name}/alpha", cout))
    return g.op(name, "_FusedConv2D", [x, *args], strides=ints(1, stride, stride, 1), padding=s(pad),
                dilations=ints(1, 1, 1, 1), fused_ops=strs(*fused), num_args=i(len(args) - 1), epsilon=f(0.0),
                **NHWC)


def mobile_block(g: G) -> tuple[list[tuple[str, list[int]]], str]:
    """Input scaling, a fused conv (stride 2, SAME), a fused depthwise (BiasAdd + Relu6), a projection, a residual
    AddV2, global average pool as Mean over H, W and a fused matmul + softmax."""
    x = g.input("image", [-1, 9, 11, 3])
    x = g.op("sub", "Sub", [g.op("mul", "Mul", [g.const("two", 2.0), x]), g.const("one", 1.0)])
    c = _conv(g, "c1", x, 3, 8, stride=2, fused=("BiasAdd", "Relu6"))
    d = g.op("dw", "FusedDepthwiseConv2dNative", [c, g.w("dw/w", 3, 3, 8, 1), g.w("dw/b", 8)],
             strides=ints(1, 1, 1, 1), padding=s("SAME"), dilations=ints(1, 1, 1, 1),
             fused_ops=strs("BiasAdd", "Relu6"), num_args=i(1), **NHWC)
    p = _conv(g, "proj", d, 8, 8, k=1, fused=("BiasAdd",))
    r = g.op("res", "AddV2", [c, p])
    m = g.op("gap", "Mean", [r, g.const("axes", [1, 2])], keep_dims=b(False), Tidx={"type": "DT_INT32"})
    fc = g.op("fc", "_FusedMatMul", [m, g.w("fc/w", 8, 5), g.w("fc/b", 5)], transpose_a=b(False),
              transpose_b=b(False), fused_ops=strs("BiasAdd", "Relu"), num_args=i(1), epsilon=f(0.0))
    return [("image", [1, 9, 11, 3])], g.op("prob", "Softmax", [fc])


def conv_pool_norm(g: G) -> tuple[list[tuple[str, list[int]]], str]:
    """Conv2D with explicit paddings and dilation, BiasAdd, FusedBatchNormV3, LeakyRelu, MaxPool SAME, AvgPool
    SAME (padding left out of the average), a squeeze-excite Mean(keep_dims) * Sigmoid, Elu."""
    x = g.input("x", [1, 10, 9, 4])
    c = g.op("conv", "Conv2D", [x, g.w("conv/w", 3, 3, 4, 6)], strides=ints(1, 1, 1, 1), padding=s("EXPLICIT"),
             explicit_paddings=ints(0, 0, 1, 2, 2, 0, 0, 0), dilations=ints(1, 2, 1, 1), **NHWC)
    c = g.op("biasadd", "BiasAdd", [c, g.w("bias", 6)], **NHWC)
    bn = g.op("bn", "FusedBatchNormV3", [c, g.w("bn/g", 6), g.w("bn/b", 6), g.w("bn/m", 6),
                                         g.const("bn/v", np.abs(g.rng.standard_normal(6)) + 0.5)],
              epsilon=f(0.001), is_training=b(False), U={"type": "DT_FLOAT"}, **NHWC)
    a = g.op("lrelu", "LeakyRelu", [bn], alpha=f(0.1))
    mp = g.op("mp", "MaxPool", [a], ksize=ints(1, 3, 3, 1), strides=ints(1, 2, 2, 1), padding=s("SAME"), **NHWC)
    ap = g.op("ap", "AvgPool", [mp], ksize=ints(1, 3, 2, 1), strides=ints(1, 2, 1, 1), padding=s("SAME"), **NHWC)
    se = g.op("se", "Mean", [ap, g.const("se/axes", [1, 2])], keep_dims=b(True))
    gate = g.op("gate", "Sigmoid", [g.op("se/fc", "Conv2D", [se, g.w("se/w", 1, 1, 6, 6)], strides=ints(1, 1, 1, 1),
                                        padding=s("VALID"), dilations=ints(1, 1, 1, 1), **NHWC)])
    return [("x", [1, 10, 9, 4])], g.op("elu", "Elu", [g.op("scaled", "Mul", [ap, gate])])


def concat_pad_resize(g: G) -> tuple[list[tuple[str, list[int]]], str]:
    """ConcatV2 on the channel axis of two convs and a constant, Pad, MirrorPad, bilinear resize (half-pixel)
    and nearest resize (align_corners), Conv2DBackpropInput (SAME, stride 2)."""
    x = g.input("x", [1, 5, 6, 2])
    a = _conv(g, "a", x, 2, 3, fused=("BiasAdd", "Relu"))
    c = _conv(g, "c", x, 2, 2, k=1, fused=())
    cat = g.op("cat", "ConcatV2", [a, c, g.const("cat/axis", -1)], N=i(2), Tidx={"type": "DT_INT32"})
    p = g.op("pad", "Pad", [cat, g.const("pad/p", [[0, 0], [1, 0], [0, 2], [0, 0]])])
    mp = g.op("mpad", "MirrorPad", [p, g.const("mpad/p", [[0, 0], [1, 1], [2, 1], [0, 0]])], mode=s("REFLECT"))
    up = g.op("up", "ResizeBilinear", [mp, g.const("up/size", [13, 17])], align_corners=b(False),
              half_pixel_centers=b(True))
    nn = g.op("nn", "ResizeNearestNeighbor", [up, g.const("nn/size", [7, 9])], align_corners=b(True),
              half_pixel_centers=b(False))
    t = g.op("deconv", "Conv2DBackpropInput", [g.const("deconv/shape", [1, 14, 18, 4]), g.w("deconv/w", 3, 3, 4, 5),
                                                nn], strides=ints(1, 2, 2, 1), padding=s("SAME"),
             dilations=ints(1, 1, 1, 1), **NHWC)
    return [("x", [1, 5, 6, 2])], t


def slices_and_shapes(g: G) -> tuple[list[tuple[str, list[int]]], str]:
    """StridedSlice with begin/end/shrink/new-axis/ellipsis masks and a negative stride, Slice, Reshape (with
    -1), Transpose of channels-first data, Squeeze, ExpandDims, SplitV, Split, Pack, Unpack, AddN, Tile,
    GatherV2 and the dynamic flatten pattern Shape -> StridedSlice -> Pack -> Reshape."""
    x = g.input("x", [1, 6, 8, 4])
    c = _conv(g, "c", x, 4, 4, k=1, fused=("BiasAdd",))  # channels-first from here
    t = g.op("tr", "Transpose", [c, g.const("tr/perm", [0, 3, 1, 2])])  # [1, 4, 6, 8]
    ss = g.op("ss", "StridedSlice", [t, g.const("ss/b", [0, 1, 0, 7]), g.const("ss/e", [0, 4, 5, 0]),
                                     g.const("ss/s", [1, 1, 2, -2])],
              begin_mask=i(1), end_mask=i(1), ellipsis_mask=i(0), new_axis_mask=i(0), shrink_axis_mask=i(0),
              Index={"type": "DT_INT32"})  # [1, 3, 3, 4]
    e = g.op("ell", "StridedSlice", [ss, g.const("ell/b", [0, 0, 1]), g.const("ell/e", [0, 0, 3]),
                                     g.const("ell/s", [1, 1, 1])],
             begin_mask=i(0), end_mask=i(0), ellipsis_mask=i(1), new_axis_mask=i(2), shrink_axis_mask=i(0))
    # [1, 3, 3, 1, 2]
    sq = g.op("sq", "Squeeze", [e], squeeze_dims=ints(3))  # [1, 3, 3, 2]
    sh = g.op("shrink", "StridedSlice", [sq, g.const("sh/b", [0, -1]), g.const("sh/e", [0, 0]),
                                         g.const("sh/s", [1, 1])],
              begin_mask=i(1), end_mask=i(1), ellipsis_mask=i(0), new_axis_mask=i(0), shrink_axis_mask=i(2))
    # [1, 3, 2]
    a, bb = (g.op("sv", "SplitV", [sh, g.const("sv/sizes", [1, -1]), g.const("sv/axis", 2)], num_split=i(2)),
             "sv:1")
    parts = g.op("split", "Split", [g.const("split/axis", 1), c], num_split=i(2))  # 2 x [1, 3, 8, 4]
    total = g.op("addn", "AddN", [parts, "split:1", g.op("neg", "Neg", ["split:1"])], N=i(3))
    flat_shape = g.op("fs", "Shape", [total], out_type={"type": "DT_INT32"})
    batch = g.op("fs/b", "StridedSlice", [flat_shape, g.const("fs/b0", [0]), g.const("fs/b1", [1]),
                                          g.const("fs/b2", [1])],
                 begin_mask=i(0), end_mask=i(0), ellipsis_mask=i(0), new_axis_mask=i(0), shrink_axis_mask=i(1),
                 T={"type": "DT_INT32"})
    pk = g.op("fs/pack", "Pack", [batch, g.const("fs/m1", -1)], axis=i(0), N=i(2), T={"type": "DT_INT32"})
    flat = g.op("flat", "Reshape", [total, pk])  # [1, 96]
    sl = g.op("sl", "Slice", [flat, g.const("sl/b", [0, 10]), g.const("sl/s", [-1, 6])])  # [1, 6]
    ab = g.op("ab", "Sub", [a, bb])  # [1, 3, 1]
    ex = g.op("ex", "ExpandDims", [g.op("ab/r", "Reshape", [ab, g.const("ab/shape", [1, 3])]), g.const("ex/a", 0)])
    st = g.op("pack2", "Pack", [ex, ex], axis=i(-1), N=i(2))  # [1, 1, 3, 2]
    st = g.op("re2", "Reshape", [st, g.const("re2/s", [1, 6])])
    un = g.op("un", "Unpack", [g.op("tile", "Tile", [st, g.const("tile/m", [2, 1])])], num=i(2), axis=i(0))
    gat = g.op("gat", "GatherV2", [sl, g.const("gat/i", [5, 0, 2, 2, 1, 3]), g.const("gat/a", 1)],
               batch_dims=i(0), Taxis={"type": "DT_INT32"})  # [1, 6]
    return [("x", [1, 6, 8, 4])], g.op("out", "AddV2", [g.op("o1", "Mul", [un, "un:1"]), gat])


def math_ops(g: G) -> tuple[list[tuple[str, list[int]]], str]:
    """Elementwise math with broadcasting constants on channels-first data: Maximum, Minimum, Square, Rsqrt,
    SquaredDifference, RealDiv, Pow, Exp, Select(V2) of a comparison, Relu6, Tanh, Sum/Max over channels,
    Prelu, BatchMatMulV2 with adj_y and Einsum."""
    x = g.input("x", [1, 4, 5, 3])
    c = _conv(g, "c", x, 3, 3, fused=("BiasAdd", "Prelu"))
    m = g.op("max", "Maximum", [c, g.const("max/c", [0.1, -0.2, 0.0])])
    m = g.op("min", "Minimum", [m, g.const("min/c", 2.0)])
    r = g.op("rsqrt", "Rsqrt", [g.op("sq", "AddV2", [g.op("sq0", "Square", [m]), g.const("eps", 0.5)])])
    d = g.op("sqd", "SquaredDifference", [r, g.w("sqd/c", 5, 3)])
    q = g.op("div", "RealDiv", [d, g.op("p", "Pow", [g.op("e", "Exp", [g.op("t", "Tanh", [m])]), g.const("two", 2.0)])])
    sel = g.op("sel", "SelectV2", [g.op("gt", "Greater", [q, g.const("half", 0.5)]), q, g.op("r6", "Relu6", [m])])
    s1 = g.op("sum", "Sum", [sel, g.const("sum/a", [-1])], keep_dims=b(False))  # [1, 4, 5]
    mx = g.op("mxr", "Max", [sel, g.const("mxr/a", 3)], keep_dims=b(False))
    bm = g.op("bmm", "BatchMatMulV2", [s1, mx], adj_x=b(False), adj_y=b(True))  # [1, 4, 4]
    es = g.op("es", "Einsum", [bm, g.w("es/w", 4, 2)], equation=s("bij,jk->bik"), N=i(2))
    return [("x", [1, 4, 5, 3])], es


CASES: dict[str, Callable[[G], tuple[list[tuple[str, list[int]]], str]]] = {
    "mobile_block": mobile_block, "conv_pool_norm": conv_pool_norm, "concat_pad_resize": concat_pad_resize,
    "slices_and_shapes": slices_and_shapes, "math_ops": math_ops}


@pytest.mark.parametrize("case", list(CASES))
def test_graph_matches_tfjs(tmp_path: Path, case: str) -> None:
    from webdnn.browser.node import run_model_node

    g = G()
    inputs, out = CASES[case](g)
    model = g.write(tmp_path / "tfjs", [n for n, _ in inputs], [out])
    rng = np.random.default_rng(7)
    feeds = {n: rng.standard_normal(shape).astype(np.float32) for n, shape in inputs}
    want = tfjs_predict(model, list(feeds.values()), tmp_path / "ref")[0]
    convert(str(model), tmp_path / "out", ["fallback"], {n: list(x.shape) for n, x in feeds.items()})
    got = run_model_node(str(tmp_path / "out"), feeds, ("fallback",)).outputs
    have = got[out]
    assert have.shape == want.shape
    np.testing.assert_allclose(have, want, rtol=1e-4, atol=1e-5)


def _types(*t: str) -> dict[str, Any]:
    return {"list": {"type": list(t)}}


def control_flow(g: G) -> tuple[list[tuple[str, list[int]]], str]:
    """StatelessIf on a run-time condition (the sign of the input's sum): its branches, functions of the
    library, get the input and a conv weight as arguments (then: Conv2D + Relu; else: the conv of -x halved);
    then an If on a constant condition, folded at conversion."""
    x = g.input("x", [1, 6, 6, 2])
    w = g.w("w", 3, 3, 2, 4)
    conv = {"strides": ints(1, 1, 1, 1), "padding": s("SAME"), "dilations": ints(1, 1, 1, 1), **NHWC}
    then_f = g.function("then_fn", ["xa", "wa"], [
        node("conv", "Conv2D", ["xa", "wa"], **conv), node("relu", "Relu", ["conv:output:0"])],
        ["relu:activations:0"])
    else_f = g.function("else_fn", ["xa", "wa"], [
        node("neg", "Neg", ["xa"]), node("conv", "Conv2D", ["neg:y:0", "wa"], **conv),
        g.fn_const("half", 0.5), node("mul", "Mul", ["conv:output:0", "half:output:0"])], ["mul:z:0"])
    total = g.op("sum", "Sum", [x, g.const("sum/a", [0, 1, 2, 3])], keep_dims=b(False))
    cond = g.op("pos", "Greater", [total, g.const("zero", 0.0)])
    flow = {"Tcond": {"type": "DT_BOOL"}, "Tin": _types("DT_FLOAT", "DT_FLOAT"), "Tout": _types("DT_FLOAT"),
            "output_shapes": {"list": {}}}
    y = g.op("if1", "StatelessIf", [cond, x, w], then_branch=then_f, else_branch=else_f, **flow)
    add_f = g.function("add_one", ["v"], [g.fn_const("one", 1.0), node("add", "AddV2", ["v", "one:output:0"])],
                       ["add:z:0"])
    sq_f = g.function("square", ["v"], [node("sq", "Square", ["v"])], ["sq:y:0"])
    flow1 = {**flow, "Tin": _types("DT_FLOAT")}
    return [("x", [1, 6, 6, 2])], g.op("if2", "If", [g.const("yes", True), y], then_branch=add_f,
                                        else_branch=sq_f, **flow1)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_if_with_function_branches_matches_tfjs(tmp_path: Path, sign: float) -> None:
    """Control flow v2: If / StatelessIf become an ONNX If that runs at run time (both branches taken, by
    the input's sign); the one on a constant is folded."""
    from webdnn.browser.node import run_model_node
    from webdnn.frontend.tfjs import load_tfjs

    g = G()
    inputs, out = control_flow(g)
    model = g.write(tmp_path / "tfjs", ["x"], [out])
    x = (np.abs(np.random.default_rng(3).standard_normal((1, 6, 6, 2))) * sign).astype(np.float32)
    want = tfjs_predict(model, [x], tmp_path / "ref")[0]
    ops = [nd.op_type for nd in load_tfjs(str(model)).graph.node]
    assert ops.count("If") == 2
    convert(str(model), tmp_path / "out", ["fallback", "wasm"], {"x": list(x.shape)})
    for backend in ("fallback", "wasm"):
        got = run_model_node(str(tmp_path / "out"), {"x": x}, (backend,)).outputs[out]
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def while_loop(g: G) -> tuple[list[tuple[str, list[int]]], str]:
    """tf.while_loop(lambda i, x, n, w: i < n, lambda i, x, n, w: (i + 1, 0.5 x + conv(x, w), n, w)) from i = 0,
    n = 3, the conv weight w passed as a loop value as TensorFlow passes captured tensors."""
    x = g.input("x", [1, 4, 4, 2])
    w = g.w("w", 3, 3, 2, 2)
    conv = {"strides": ints(1, 1, 1, 1), "padding": s("SAME"), "dilations": ints(1, 1, 1, 1), **NHWC}
    int32 = {"T": {"type": "DT_INT32"}}
    args: list[str | tuple[str, str]] = [("i", "DT_INT32"), "x", ("n", "DT_INT32"), "w"]
    cond_f = g.function("loop_cond", args, [node("less", "Less", ["i", "n"], **int32)], ["less:z:0"], ["DT_BOOL"])
    body_f = g.function("loop_body", args, [
        g.fn_const("one", 1), node("inc", "AddV2", ["i", "one:output:0"], **int32),
        node("conv", "Conv2D", ["x", "w"], **conv), g.fn_const("half", 0.5),
        node("mul", "Mul", ["x", "half:output:0"]), node("add", "AddV2", ["mul:z:0", "conv:output:0"])],
        ["inc:z:0", "add:z:0", "n", "w"], ["DT_INT32", "DT_FLOAT", "DT_INT32", "DT_FLOAT"])
    loop = g.op("loop", "StatelessWhile", [g.const("i0", 0), x, g.const("n0", 3), w], cond=cond_f, body=body_f,
                T=_types("DT_INT32", "DT_FLOAT", "DT_INT32", "DT_FLOAT"), output_shapes={"list": {}},
                parallel_iterations=i(10))
    return [("x", [1, 4, 4, 2])], g.op("out", "Identity", [f"{loop}:1"])


def test_while_loop_unrolls_and_matches_tfjs(tmp_path: Path) -> None:
    """A TensorFlow while loop becomes an ONNX Loop without a trip count, unrolled at conversion because its
    condition (a counter against a constant) folds each iteration."""
    from webdnn.browser.node import run_model_node
    from webdnn.frontend.tfjs import load_tfjs

    g = G()
    inputs, out = while_loop(g)
    model = g.write(tmp_path / "tfjs", ["x"], [out])
    x = np.random.default_rng(5).standard_normal((1, 4, 4, 2)).astype(np.float32)
    want = tfjs_predict(model, [x], tmp_path / "ref")[0]
    assert [nd.op_type for nd in load_tfjs(str(model)).graph.node].count("Loop") == 1
    r = convert(str(model), tmp_path / "out", ["fallback", "wasm"], {"x": list(x.shape)})
    assert [n.op_type for n in r.graph.nodes].count("Conv") == 3  # three iterations, unrolled
    for backend in ("fallback", "wasm"):
        got = run_model_node(str(tmp_path / "out"), {"x": x}, (backend,)).outputs[out]
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.node
def test_while_loop_decided_at_run_time(tmp_path: Path) -> None:
    """A loop whose condition reads the input's data cannot be unrolled: it becomes a Loop the runtime runs
    (passes/runtime_control.py defer_loop), as many iterations as the data asks for."""
    from webdnn.browser.node import run_model_node

    g = G()
    x = g.input("x", [1, 3])
    total = node("sum", "Sum", ["v", "axes:output:0"], keep_dims=b(False), Tidx={"type": "DT_INT32"})
    cond_f = g.function("c", ["v"], [total, g.fn_const("axes", [0, 1]), g.fn_const("lim", 10.0),
                                     node("lt", "Less", ["sum:output:0", "lim:output:0"])], ["lt:z:0"], ["DT_BOOL"])
    body_f = g.function("b", ["v"], [g.fn_const("two", 2.0), node("m", "Mul", ["v", "two:output:0"])], ["m:z:0"])
    g.op("loop", "While", [x], cond=cond_f, body=body_f, T=_types("DT_FLOAT"), output_shapes={"list": {}})
    model = g.write(tmp_path / "tfjs", ["x"], ["loop"])
    convert(str(model), tmp_path / "out", ["fallback", "wasm"])
    for x in (np.float32([[0.5, 0.25, 1.0]]), np.float32([[4, 5, 6]]), np.float32([[0.01, 0, 0]])):
        want = x.copy()
        while want.sum() < 10:
            want *= 2
        for backend in ("fallback", "wasm"):
            got = run_model_node(str(tmp_path / "out"), {"x": x}, (backend,)).outputs
            np.testing.assert_array_equal(next(iter(got.values())), want, err_msg=f"{backend}, x = {x}")


def test_verify_takes_a_graph_model(tmp_path: Path) -> None:
    """`webdnn verify` on a TF.js graph model: onnxruntime on the frontend's ONNX graph is the reference."""
    from webdnn.verify_model import verify_model

    g = G()
    inputs, out = mobile_block(g)
    model = g.write(tmp_path / "tfjs", [n for n, _ in inputs], [out])
    report = verify_model(str(model.parent), ["fallback", "wasm"], {"image": (1, 9, 11, 3)}, use_node=True, repeat=1)
    assert report["format"] == "tfjs" and report["reference"].startswith("onnxruntime on the tfjs frontend")
    assert [r["ok"] for r in report["results"]] == [True, True], report


def test_unsupported_ops_are_listed_together(tmp_path: Path) -> None:
    g = G()
    x = g.input("x", [1, 4])
    y = g.op("u1", "Unique", [x])
    z = g.op("w", "Bucketize", [g.op("u2", "Unique", [y])])
    model = g.write(tmp_path / "tfjs", ["x"], [z])
    with pytest.raises(UnsupportedOperatorError,
                       match=r"TensorFlow op\(s\) not supported: Bucketize \(node 'w'\); Unique \(nodes 'u1', 'u2'\)"):
        convert(str(model), tmp_path / "out", ["fallback"])
    assert not (tmp_path / "out").exists()


def test_constant_needed_at_conversion_is_named(tmp_path: Path) -> None:
    g = G()
    x = g.input("x", [1, 4, 4, 2])
    axes = g.op("axes", "Cast", [g.op("shape", "Shape", [x])], DstT={"type": "DT_INT32"})
    model = g.write(tmp_path / "tfjs", ["x"], [g.op("m", "Mean", [x, axes], keep_dims=b(True))])
    with pytest.raises(UnsupportedOperatorError, match=r"node 'm' \(Mean\): its reduction axes \(input 1, 'axes'\) "
                                                       r"must be a constant"):
        convert(str(model), tmp_path / "out", ["fallback"])


@pytest.mark.slow
@pytest.mark.browser
def test_real_graph_model_on_every_backend(tmp_path: Path, browser: Any) -> None:
    """nsfwjs' MobileNetV2 graph model (tfjs-converter 1.7, _FusedConv2D / FusedDepthwiseConv2dNative, uint8
    weights restored to float32) on every backend, against TensorFlow.js on the same input."""
    from webdnn.zoo import tfjs_models
    from webdnn.zoo.pretrained import PretrainedUnavailableError

    try:
        model = tfjs_models.nsfwjs_model("mobilenet_v2_mid")
    except PretrainedUnavailableError as e:
        pytest.skip(str(e))
    backends = ["fallback", "wasm", "webgl", "webgpu"]
    img = np.random.default_rng(3).random((1, 224, 224, 3)).astype(np.float32)
    want = tfjs_predict(model, [img], tmp_path / "ref")[0]
    convert(str(model), tmp_path / "out", backends, {"input": [1, 224, 224, 3]})
    for backend in backends:
        r = browser.run_model(str(tmp_path / "out"), {"input": img}, [backend])
        assert r.backend == backend
        have = r.outputs["Identity"]
        c = compare(f"nsfwjs graph on {backend}", want, have)
        assert c.ok, f"{backend}: max abs err {c.max_abs_err:.3g} {c.detail}"
        assert int(np.argmax(have)) == int(np.argmax(want))
