from __future__ import annotations

import re

import numpy as np
import onnx
import pytest
from onnx import helper

from tests.conftest import F32, I64, make_model
from webdnn.errors import ModelLoadError, ShapeError, UnsupportedOperatorError
from webdnn.frontend.onnx import from_onnx, load_onnx


def test_initializers_constants_and_attributes() -> None:
    w = np.ones((2, 3), np.float32)
    m = make_model(
        [
            helper.make_node("Constant", [], ["c"], value_floats=[1.0, 2.0]),
            helper.make_node("Gemm", ["x", "w"], ["y"], transB=1, alpha=2.0),
        ],
        [("x", F32, [1, 3]), ("w", F32, [2, 3])],  # old exporters list initializers as inputs
        ["y"],
        {"w": w},
    )
    g = from_onnx(m)
    assert [v.name for v in g.inputs] == ["x"]
    (gemm,) = g.nodes
    assert gemm.attrs == {"transB": 1, "alpha": 2.0}
    assert gemm.inputs[1] is not None and gemm.inputs[1].is_const
    assert g.opset == 17


def test_dynamic_dims_default_to_one_with_warning(caplog: pytest.LogCaptureFixture) -> None:
    m = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", F32, ["batch", 4])], ["y"])
    g = from_onnx(m)
    assert g.inputs[0].shape == (1, 4)
    assert "dynamic dimension 'batch'" in caplog.text
    assert from_onnx(m, {"x": [3, 4]}).inputs[0].shape == (3, 4)


def test_input_shape_errors() -> None:
    m = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", F32, [2, 4])], ["y"])
    with pytest.raises(ShapeError, match="model fixes 4"):
        from_onnx(m, {"x": [2, 5]})
    with pytest.raises(ShapeError, match="model's inputs are"):
        from_onnx(m, {"nope": [1]})


def test_custom_domain_is_rejected_with_node_name() -> None:
    n = helper.make_node("FusedGelu", ["x"], ["y"], domain="com.microsoft", name="gelu7")
    m = make_model([n], [("x", F32, [2])], ["y"])
    m.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    with pytest.raises(UnsupportedOperatorError, match="gelu7.*com.microsoft.FusedGelu"):
        from_onnx(m)


def test_every_unsupported_node_in_one_error() -> None:
    """A user wants the whole list at once, grouped by op, and a pointer to docs/operators.md (not the
    ~150 supported op names)."""
    nodes = [helper.make_node("Frob", ["x"], ["a"], name="f1"), helper.make_node("Relu", ["a"], ["b"]),
             helper.make_node("Frob", ["b"], ["c"], name="f2"), helper.make_node("Zap", ["c"], ["d"], name="z1"),
             helper.make_node("FusedGelu", ["d"], ["y"], domain="com.microsoft", name="g1")]
    m = make_model(nodes, [("x", F32, [2])], ["y"])
    m.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    with pytest.raises(UnsupportedOperatorError) as e:
        from_onnx(m)
    msg = str(e.value)
    assert msg.startswith("4 nodes use operators WebDNN does not support (opset 17): Frob (nodes 'f1', 'f2'); "
                          "Zap (node 'z1'); com.microsoft.FusedGelu (node 'g1'). Operators of the custom domain(s) "
                          "com.microsoft never are")
    assert "See docs/operators.md" in msg and "Relu" not in msg


def test_op_without_rule_on_constants_is_folded_not_refused() -> None:
    """Only ops computing on the inputs' data need a rule; the others fold at conversion (EyeLike here)."""
    from webdnn.passes.pipeline import optimize

    nodes = [helper.make_node("EyeLike", ["c"], ["e"]), helper.make_node("Add", ["x", "e"], ["y"])]
    m = make_model(nodes, [("x", F32, [3, 3])], ["y"], {"c": np.zeros((3, 3), np.float32)})
    g = from_onnx(m)
    optimize(g)
    assert [n.op_type for n in g.nodes] == ["Add"]


def test_bad_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00\x01 this is not a protobuf \xff" * 10)
    with pytest.raises(ModelLoadError, match="junk.onnx"):
        load_onnx(junk)
    with pytest.raises(ModelLoadError, match="no such file"):
        load_onnx(tmp_path / "missing.onnx")
    good = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", I64, [2])], ["y"])
    data = good.SerializeToString()
    trunc = tmp_path / "trunc.onnx"
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError):
        load_onnx(trunc)
    ok = tmp_path / "ok.onnx"
    onnx.save(good, ok)
    assert load_onnx(ok).graph.node[0].op_type == "Relu"


def test_dangling_input_is_reported() -> None:
    m = make_model([helper.make_node("Add", ["x", "ghost"], ["y"], name="add0")], [("x", F32, [2])], ["y"])
    with pytest.raises(ModelLoadError, match="node 'add0' .*reads 'ghost'"):
        from_onnx(m)


@pytest.mark.parametrize("dims", [(-1, 4), (1, 4.5), (True, 4), ("1.5", 4), ("seq<", 4)])
def test_input_shape_values_must_be_non_negative_integers(dims: tuple[object, ...]) -> None:
    m = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", F32, ["batch", 4])], ["y"])
    bad = dims[0] if dims[1] == 4 else dims[1]
    with pytest.raises(ShapeError, match=rf"--input-shape x: dim {re.escape(repr(bad))} is not a non-negative int"):
        from_onnx(m, {"x": dims})  # type: ignore[dict-item]


def test_zero_sized_and_numpy_dims_are_accepted() -> None:
    m = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", F32, ["batch", 4])], ["y"])
    assert from_onnx(m, {"x": (0, 4)}).inputs[0].shape == (0, 4)
    assert from_onnx(m, {"x": np.array([2, 4])}).inputs[0].shape == (2, 4)


def test_an_opset_newer_than_onnx_knows_is_refused() -> None:
    newest = onnx.defs.onnx_opset_version()
    m = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", F32, [4])], ["y"], opset=40)
    with pytest.raises(UnsupportedOperatorError, match=rf"imports ONNX opset 40, but the newest opset known here is "
                                                        rf"{newest} .*Re-export the model at opset {newest} or lower"):
        from_onnx(m)
    ok = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", F32, [4])], ["y"], opset=newest)
    assert from_onnx(ok).opset == newest


def test_optional_ops_on_tensors_are_resolved_at_conversion() -> None:
    """Optional(x) is x and Optional() empty; OptionalHasElement folds (an If on it picks its branch);
    OptionalGetElement of a tensor is an Identity, of an empty optional an error naming the node."""
    from onnx import TensorProto

    from webdnn.frontend.optional_ops import resolve

    tensor_type = helper.make_tensor_type_proto(TensorProto.FLOAT, [2])
    nodes = [helper.make_node("Optional", ["x"], ["ox"]),
             helper.make_node("Optional", [], ["none"], type=tensor_type),
             helper.make_node("OptionalHasElement", ["ox"], ["has_x"]),
             helper.make_node("OptionalHasElement", ["none"], ["has_none"]),
             helper.make_node("OptionalHasElement", [], ["has_nothing"]),
             helper.make_node("OptionalGetElement", ["ox"], ["y"])]
    model = make_model(nodes, [("x", F32, [2])], ["y", "has_x", "has_none", "has_nothing"], opset=18)
    g = from_onnx(model)
    consts = {v.name: bool(v.const) for v in g.outputs if v.const is not None}
    assert consts == {"has_x": True, "has_none": False, "has_nothing": False}
    bad = make_model([helper.make_node("Optional", [], ["none"], type=tensor_type),
                      helper.make_node("OptionalGetElement", ["none"], ["y"], name="get")], [("x", F32, [2])], ["y"],
                     opset=18)
    with pytest.raises(UnsupportedOperatorError, match=r"node 'get' \(OptionalGetElement.*empty optional"):
        resolve(bad, 18)


@pytest.mark.node
@pytest.mark.parametrize("opset", [12, 17])
def test_sequence_ops_of_known_length_become_tensor_ops(opset: int, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """SplitToSequence (with and without split sizes), SequenceAt, SequenceInsert/Erase, SequenceLength and
    ConcatFromSequence (new_axis) as Split, Identity, Concat and constants, against onnxruntime."""
    from onnx import TensorProto

    from webdnn.browser.node import run_model_node
    from webdnn.convert import convert
    from webdnn.verify import reference_outputs

    nodes = [helper.make_node("SplitToSequence", ["x"], ["rows"], axis=0, keepdims=0),
             helper.make_node("SequenceAt", ["rows", "two"], ["r2"]),
             helper.make_node("SequenceInsert", ["rows", "z"], ["more"]),
             helper.make_node("SequenceErase", ["more", "zero"], ["fewer"]),
             helper.make_node("ConcatFromSequence", ["fewer"], ["stacked"], axis=1, new_axis=1),
             helper.make_node("SequenceLength", ["fewer"], ["n"]),
             helper.make_node("SplitToSequence", ["x", "sizes"], ["parts"], axis=1),
             helper.make_node("SequenceAt", ["parts", "minus_one"], ["last"]),
             helper.make_node("Relu", ["r2"], ["y"])]
    inits = {"two": np.array(2, np.int64), "zero": np.array(0, np.int64), "minus_one": np.array(-1, np.int64),
             "sizes": np.array([1, 3], np.int64)}
    model = make_model(nodes, [("x", F32, [5, 4]), ("z", F32, [4])], ["y", "stacked", "last"], inits, opset)
    counted = onnx.ModelProto()
    counted.CopyFrom(model)
    counted.graph.output.append(helper.make_tensor_value_info("n", TensorProto.INT64, []))
    assert int(next(v for v in from_onnx(counted).outputs if v.name == "n").const) == 5
    rng = np.random.default_rng(0)
    feeds = {"x": rng.standard_normal((5, 4)).astype(np.float32), "z": rng.standard_normal(4).astype(np.float32)}
    ref = reference_outputs(model, feeds)
    result = convert(model, tmp_path / "m", ["fallback"])
    assert not {n.op_type for n in result.graph.nodes} & {"SplitToSequence", "SequenceAt", "ConcatFromSequence"}
    got = run_model_node(str(tmp_path / "m"), feeds, ["fallback"]).outputs
    for k in ("y", "stacked", "last"):
        np.testing.assert_array_equal(got[k], ref[k])


def test_a_sequence_output_or_a_computed_position_is_refused_by_name() -> None:
    nodes = [helper.make_node("SplitToSequence", ["x"], ["rows"], axis=0),
             helper.make_node("Cast", ["p"], ["q"], to=7),
             helper.make_node("SequenceAt", ["rows", "q"], ["y"], name="pick")]
    model = make_model(nodes, [("x", F32, [3, 2]), ("p", F32, [])], ["y"], opset=17)
    with pytest.raises(UnsupportedOperatorError, match=r"node 'pick' \(SequenceAt.*computed at run time"):
        from_onnx(model)
    model = make_model([helper.make_node("SplitToSequence", ["x"], ["rows"], axis=0)], [("x", F32, [3, 2])],
                       ["rows"], opset=17)
    with pytest.raises(UnsupportedOperatorError, match="graph output 'rows' is a sequence"):
        from_onnx(model)
