"""Shape inference over symbolic sizes: every output's shape expression, evaluated at several
sizes, is the shape onnxruntime gives for inputs of those sizes (the model converted once)."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper

from tests.conftest import F32, I64, make_model
from webdnn.errors import ShapeError
from webdnn.frontend.onnx import from_onnx
from webdnn.ir.symbolic import evaluate, is_static
from webdnn.passes.pipeline import optimize

N = helper.make_node
C = np.array


def _shape_chain(x: str, idx: list[int], out: str) -> list[onnx.NodeProto]:
    """Shape(x)[idx] as a 1-D int64 tensor `out` (how exporters compute sizes)."""
    return [N("Shape", [x], [f"{out}_s"]), N("Gather", [f"{out}_s", f"{out}_i"], [out], axis=0)]


CASES: dict[str, dict[str, Any]] = {
    "broadcast_symbol_with_1": dict(
        nodes=[N("Add", ["x", "y"], ["a"]), N("Mul", ["a", "z"], ["out"])],
        inputs=[("x", F32, ["b", "seq", 4]), ("y", F32, [1, 4]), ("z", F32, ["seq", 1])],
        sizes=[{"b": 1, "seq": 1}, {"b": 2, "seq": 5}, {"b": 3, "seq": 17}],
    ),
    "reshape_minus_one_and_zero": dict(
        nodes=[N("Reshape", ["x", "s1"], ["r"]), N("Reshape", ["r", "s2"], ["out"])],
        inputs=[("x", F32, ["b", "seq", 12])],
        inits={"s1": C([0, -1, 3, 4], np.int64), "s2": C([-1, 12], np.int64)},
        sizes=[{"b": 1, "seq": 3}, {"b": 2, "seq": 8}],
    ),
    "reshape_from_shape_chain": dict(
        nodes=[*_shape_chain("x", [0, 1], "bs"), N("Concat", ["bs", "hd"], ["shape"], axis=0),
               N("Reshape", ["x", "shape"], ["h"]), N("Transpose", ["h"], ["out"], perm=[0, 2, 1, 3])],
        inputs=[("x", F32, ["b", "seq", 12])],
        inits={"bs_i": C([0, 1], np.int64), "hd": C([3, 4], np.int64)},
        sizes=[{"b": 1, "seq": 1}, {"b": 2, "seq": 9}],
    ),
    "slice_with_symbolic_end": dict(
        nodes=[*_shape_chain("ids", [1], "n"), N("Slice", ["table", "zero", "n", "one"], ["pos"]),
               N("Gather", ["emb", "pos"], ["out"], axis=0)],
        inputs=[("ids", I64, [1, "seq"])],
        inits={"n_i": C([1], np.int64), "table": np.arange(64, dtype=np.int64), "zero": C([0], np.int64),
               "one": C([0], np.int64), "emb": np.ones((64, 8), np.float32)},
        sizes=[{"seq": 1}, {"seq": 7}, {"seq": 64}],
    ),
    "concat_of_symbols": dict(
        nodes=[N("Concat", ["x", "y"], ["c"], axis=1), N("Concat", ["c", "c"], ["out"], axis=1)],
        inputs=[("x", F32, ["b", "n", 4]), ("y", F32, ["b", "m", 4])],
        sizes=[{"b": 1, "n": 1, "m": 1}, {"b": 2, "n": 3, "m": 5}],
    ),
    "attention_core": dict(
        nodes=[N("MatMul", ["q", "kt"], ["s"]), N("Transpose", ["q"], ["qt"], perm=[0, 2, 1]),
               N("MatMul", ["q", "qt"], ["att"]), N("Softmax", ["att"], ["p"], axis=-1),
               N("MatMul", ["p", "q"], ["ctx"]), N("ReduceMean", ["ctx"], ["out"], axes=[1], keepdims=1)],
        inputs=[("q", F32, ["b", "seq", 8])],
        inits={"kt": np.ones((8, 8), np.float32)},
        outputs=["s", "out"],
        sizes=[{"b": 1, "seq": 1}, {"b": 2, "seq": 6}],
    ),
    "expand_to_shape_of": dict(
        nodes=[N("Shape", ["x"], ["sx"]), N("Expand", ["m", "sx"], ["e"]), N("Mul", ["x", "e"], ["out"])],
        inputs=[("x", F32, ["b", "seq", 4]), ("m", F32, ["b", "seq", 1])],
        sizes=[{"b": 1, "seq": 2}, {"b": 3, "seq": 5}],
    ),
    "conv_pool_over_image_size": dict(
        nodes=[N("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
               N("MaxPool", ["c"], ["p"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
               N("GlobalAveragePool", ["p"], ["out"])],
        inputs=[("x", F32, [1, 3, "h", "w"])],
        inits={"w": np.ones((4, 3, 3, 3), np.float32)},
        outputs=["c", "p", "out"],
        sizes=[{"h": 8, "w": 8}, {"h": 17, "w": 31}, {"h": 64, "w": 48}],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_symbolic_shape_matches_onnxruntime_at_every_size(name: str) -> None:
    case = CASES[name]
    outputs = case.get("outputs", ["out"])
    model = make_model(case["nodes"], case["inputs"], outputs, case.get("inits"))
    graph = from_onnx(model, dynamic=True)
    optimize(graph)
    got = {v.name: v.shape for v in graph.outputs}
    assert any(not is_static(s) for s in got.values()), "the case should keep a symbolic dim"
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for env in case["sizes"]:
        feeds = {}
        for iname, itype, dims in case["inputs"]:
            shape = [env[d] if isinstance(d, str) else d for d in dims]
            feeds[iname] = (rng.integers(0, 8, shape).astype(np.int64) if itype == I64
                            else rng.standard_normal(shape).astype(np.float32))
        for oname, ref in zip(outputs, sess.run(outputs, feeds), strict=True):
            ours = tuple(evaluate(d, env) for d in got[oname])
            assert ours == ref.shape, f"{oname} at {env}: {ours} vs onnxruntime {ref.shape}"


def test_a_size_an_op_cannot_take_symbolically_is_a_clear_error() -> None:
    # OneHot's depth decides an output size from data: a symbolic depth needs a concrete number
    model = make_model([*_shape_chain("x", [1], "d"), N("Squeeze", ["d"], ["ds"]),
                        N("OneHot", ["idx", "ds", "vals"], ["out"])],
                       [("x", F32, [1, "seq"]), ("idx", I64, [3])], ["out"],
                       {"d_i": C([1], np.int64), "vals": C([0, 1], np.float32)})
    with pytest.raises(ShapeError, match=r"node 'OneHot_\d+' \(OneHot.*(varies with the input|input size)"):
        optimize(from_onnx(model, dynamic=True))


def test_dynamic_dims_written_as_minus_one_or_zero_are_symbols() -> None:
    model = make_model([N("Relu", ["x"], ["out"])], [("x", F32, [-1, 3, 0, 0])], ["out"])
    shape = from_onnx(model, dynamic=True).inputs[0].shape
    assert shape[1] == 3 and all(not isinstance(d, int) for d in (shape[0], shape[2], shape[3]))
    # a fixed size given for them is accepted (paddle2onnx writes -1 where the model is dynamic)
    assert from_onnx(model, {"x": (2, 3, 32, 100)}).inputs[0].shape == (2, 3, 32, 100)


def test_named_dims_and_bounds_make_one_symbol_per_name() -> None:
    model = make_model([N("Add", ["a", "b"], ["out"])], [("a", I64, [1, "sequence"]), ("b", I64, [1, "sequence"])],
                       ["out"])
    g = from_onnx(model, {"a": (1, "seq<=512"), "b": (1, "seq")})
    (sa,), (sb,) = g.inputs[0].shape[1:], g.inputs[1].shape[1:]
    assert sa == sb and str(sa) == "seq"
    with pytest.raises(ShapeError, match="upper bounds 512 and 256"):
        from_onnx(model, {"a": (1, "seq<=512"), "b": (1, "seq<=256")})
    with pytest.raises(ShapeError, match="model fixes 1"):
        from_onnx(model, {"a": ("n", "seq"), "b": (1, "seq")})
