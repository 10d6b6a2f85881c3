"""The output check and the case classification of the conformance runner (no browser)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from webdnn.conformance.cases import load_cases
from webdnn.conformance.check import ONNX, WEBDNN, check_outputs
from webdnn.conformance.freeze import freeze, input_to_freeze
from webdnn.conformance.run import short
from webdnn.conformance.support import BackendOps, unsupported_reason

RTOL, ATOL = 1e-3, 1e-7


def test_tolerance_reports_which_rule_passed() -> None:
    ref = {"y": np.array([1.0, 100.0, np.nan, np.inf], np.float32)}
    exact = check_outputs(ref, {"y": ref["y"].copy()}, RTOL, ATOL)
    assert exact.ok and exact.tolerance == WEBDNN
    loose = check_outputs(ref, {"y": np.array([1.0, 100.05, np.nan, np.inf], np.float32)}, RTOL, ATOL)
    assert loose.ok and loose.tolerance == ONNX  # 5e-4 relative: beyond 1e-4, within ONNX's 1e-3
    bad = check_outputs(ref, {"y": np.array([1.0, 101.0, np.nan, np.inf], np.float32)}, RTOL, ATOL)
    assert not bad.ok and "1 of 4 elements off" in bad.detail


def test_integers_dtypes_and_shapes_must_match() -> None:
    ref = {"y": np.array([1, 2], np.int64)}
    assert check_outputs(ref, {"y": np.array([1, 2], np.int64)}, RTOL, ATOL).ok
    assert "differ" in check_outputs(ref, {"y": np.array([1, 3], np.int64)}, RTOL, ATOL).detail
    assert "dtype" in check_outputs(ref, {"y": np.array([1, 2], np.int32)}, RTOL, ATOL).detail
    assert "shape" in check_outputs(ref, {"y": np.array([[1, 2]], np.int64)}, RTOL, ATOL).detail
    assert "missing" in check_outputs(ref, {}, RTOL, ATOL).detail


def test_classification_names_what_is_missing() -> None:
    cases = {c.name: c for c in load_cases()}
    ops = BackendOps("fallback", frozenset({"Relu", "Max", "CastLike"}), frozenset({"Relu", "CastLike"}), frozenset())
    assert unsupported_reason(cases["test_relu"], ops) is None
    assert unsupported_reason(cases["test_relu_expanded_ver18"], ops) == "no fallback kernel for Max"
    assert "no shape rule for Conv" in (unsupported_reason(cases["test_basic_conv_with_padding"], ops) or "")
    assert "UINT16" in (unsupported_reason(cases["test_add_uint16"], ops) or "")
    assert "sequence" in (unsupported_reason(cases["test_identity_sequence"], ops) or "")


def test_freeze_turns_a_parameter_input_into_a_constant() -> None:
    node = helper.make_node("Reshape", ["x", "shape"], ["y"])
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
              helper.make_tensor_value_info("shape", TensorProto.INT64, [1])]
    g = helper.make_graph([node], "g", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, [6])])
    model = helper.make_model(g)
    err = "node 'r' (Reshape): input 1 ('shape') must be a constant at conversion time (it decides a shape)."
    assert input_to_freeze(err, model, []) == "shape"
    assert input_to_freeze(err, model, ["shape"]) is None
    frozen = freeze(model, {"shape": np.array([6], np.int64)}, ["shape"])
    assert [i.name for i in frozen.graph.input] == ["x"]
    assert onnx.numpy_helper.to_array(frozen.graph.initializer[0]).tolist() == [6]
    assert [i.name for i in model.graph.input] == ["x", "shape"]  # the original is untouched


def test_short_error_drops_the_op_list() -> None:
    assert short("node 'a' (Foo): not supported. Supported operators: Abs, Add. Re-export.") == \
        "node 'a' (Foo): not supported."
