"""The output check and the case classification of the conformance runner (no browser)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from webdnn.conformance.cases import load_cases
from webdnn.conformance.check import FP16, ONNX, WEBDNN, check_outputs, rule_for
from webdnn.conformance.freeze import freeze, input_to_freeze, weight_inputs
from webdnn.conformance.results import Report, stored_reports, update_store
from webdnn.conformance.run import _convert, short
from webdnn.conformance.support import BackendOps, backend_ops, unsupported_reason

RTOL, ATOL = 1e-3, 1e-7


def test_tolerance_reports_which_rule_passed() -> None:
    ref = {"y": np.array([1.0, 100.0, np.nan, np.inf], np.float32)}
    exact = check_outputs(ref, {"y": ref["y"].copy()}, RTOL, ATOL)
    assert exact.ok and exact.tolerance == WEBDNN
    loose = check_outputs(ref, {"y": np.array([1.0, 100.05, np.nan, np.inf], np.float32)}, RTOL, ATOL)
    assert loose.ok and loose.tolerance == ONNX  # 5e-4 relative: beyond 1e-4, within ONNX's 1e-3
    bad = check_outputs(ref, {"y": np.array([1.0, 101.0, np.nan, np.inf], np.float32)}, RTOL, ATOL)
    assert not bad.ok and "1 of 4 elements off" in bad.detail


def test_fp16_rule_for_the_fp16_backend() -> None:
    assert rule_for("webgpu-fp16") == FP16 and rule_for("webgpu") == ONNX and rule_for("fallback") == ONNX
    ref = {"y": np.array([0.5, -20.0, 70000.0, -1e5, np.nan, -np.inf], np.float32)}
    # f16-rounded weights: 0.2 off at |ref| 70000 (1e-2 * max |ref| = 1000 allowed), an overflowed
    # f16 intermediate as -inf: within the fp16 rule, far outside ONNX's rtol
    got = np.array([0.503, -20.1, 70000.2, -np.inf, np.nan, -np.inf], np.float32)
    ok = check_outputs(ref, {"y": got}, RTOL, ATOL, FP16)
    assert ok.ok and ok.tolerance == FP16
    assert not check_outputs(ref, {"y": got}, RTOL, ATOL).ok
    exact = check_outputs(ref, {"y": ref["y"].copy()}, RTOL, ATOL, FP16)
    assert exact.ok and exact.tolerance == WEBDNN
    small = {"y": np.array([0.25, -0.5], np.float32)}  # scale max(1, max |ref|) = 1: 1e-2 absolute
    assert check_outputs(small, {"y": np.array([0.259, -0.5], np.float32)}, RTOL, ATOL, FP16).ok
    off = check_outputs(small, {"y": np.array([0.262, -0.5], np.float32)}, RTOL, ATOL, FP16)
    assert not off.ok and "1 of 2 elements off" in off.detail
    # an infinity only where the reference is beyond f16's range, and of its sign
    assert not check_outputs(ref, {"y": np.where(np.arange(6) == 2, -np.inf, got)}, RTOL, ATOL, FP16).ok
    assert not check_outputs(small, {"y": np.array([np.inf, -0.5], np.float32)}, RTOL, ATOL, FP16).ok
    # integers stay exact: an argmax flipped by f16-rounded data fails
    assert not check_outputs({"i": np.array([1, 2])}, {"i": np.array([1, 3])}, RTOL, ATOL, FP16).ok


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
    assert "UINT64" in (unsupported_reason(cases["test_add_uint64"], ops) or "")  # (uint16: held in int32)
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
    assert short("node 'a' (Foo): not supported. See docs/operators.md (or run `webdnn ops`) ...") == \
        "node 'a' (Foo): not supported."


def test_weight_inputs_are_the_float_inputs_but_one_data_input() -> None:
    cases = {c.name: c for c in load_cases()}
    assert weight_inputs(onnx.load(cases["test_basic_conv_with_padding"].model_path)) == ["W"]
    assert weight_inputs(onnx.load(cases["test_gemm_default_matrix_bias"].model_path)) == ["b", "c"]
    assert weight_inputs(onnx.load(cases["test_gather_0"].model_path)) == ["data"]  # the indices stay inputs
    assert weight_inputs(onnx.load(cases["test_relu"].model_path)) == []


def test_frozen_weights_leave_an_input_to_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cases = {c.name: c for c in load_cases()}
    # X is Resize's only float input, but sizes is frozen as a parameter: freezing X too would
    # fold the whole case at conversion, so X stays an input
    resize = cases["test_resize_downsample_sizes_nearest"]
    _, frozen, _, failure = _convert(resize, "webgpu-fp16", str(tmp_path), True, True)
    assert failure is None and frozen == ["sizes"], frozen
    _, frozen, _, failure = _convert(cases["test_gather_0"], "webgpu-fp16", str(tmp_path), True, True)
    assert failure is None and frozen == ["data"]


def test_shape_inputs_run_as_value_inputs_where_their_values_are_sizes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cases = {c.name: c for c in load_cases()}
    _, frozen, values, failure = _convert(cases["test_reshape_reordered_all_dims"], "fallback", str(tmp_path), True)
    assert failure is None and (frozen, values) == ([], ["shape"])
    _, frozen, values, failure = _convert(cases["test_expand_dim_changed"], "wasm", str(tmp_path), True)
    assert failure is None and (frozen, values) == ([], ["new_shape"])
    # a -1 in the shape means "the rest", not a size: frozen
    _, frozen, values, failure = _convert(cases["test_reshape_negative_dim"], "fallback", str(tmp_path), True)
    assert failure is None and (frozen, values) == (["shape"], [])
    # axes change the rank, which no symbol can: frozen
    _, frozen, values, failure = _convert(cases["test_unsqueeze_axis_0"], "fallback", str(tmp_path), True)
    assert failure is None and (frozen, values) == (["axes"], [])


def test_the_fp16_variant_claims_webgpus_ops_and_is_stored(tmp_path) -> None:  # type: ignore[no-untyped-def]
    fp16, fp32 = backend_ops("webgpu-fp16"), backend_ops("webgpu")
    assert fp16.name == "webgpu-fp16" and fp16.kernels == fp32.kernels and "Conv" in fp16.kernels
    update_store(Report("webgpu-fp16", "node", onnx.__version__, "2026-01-01", 1.0), str(tmp_path))
    assert [r.key for r in stored_reports(str(tmp_path))] == ["webgpu-fp16/node"]
