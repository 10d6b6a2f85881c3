"""webdnn.zoo builders: valid ONNX, run in onnxruntime, O(1) outputs, opset forms, CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from webdnn import zoo

SRC = Path(__file__).resolve().parents[2] / "src"
SLOW_MODELS = {"vgg16"}  # build + check + session take ~12 s for its 550 MB of weights


def run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds), strict=True))


def initializers(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}


def op_nodes(model: onnx.ModelProto, op_type: str) -> list[onnx.NodeProto]:
    return [n for n in model.graph.node if n.op_type == op_type]


def attr(node: onnx.NodeProto, name: str) -> object:
    return next(onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == name)


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_MODELS else n for n in zoo.BUILDERS],
)
def test_builder_default(name: str) -> None:
    model = zoo.build(name)
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == 17
    outs = run(model, zoo.default_inputs(name, model))
    assert outs
    for out_name, value in outs.items():
        assert np.isfinite(value).all(), out_name
        assert 1e-2 < float(value.std()) < 1e2, (out_name, value.std())


@pytest.mark.parametrize("opset", [11, 13, 18, 21])
@pytest.mark.parametrize(
    "name, kw",
    [
        ("minilm", {"layers": 2}),
        ("mobilenet_v2", {}),
        ("hed", {"height": 64, "width": 96}),
    ],
)
def test_opset_variants_match_opset17(name: str, kw: dict[str, object], opset: int) -> None:
    model = zoo.build(name, opset=opset, **kw)
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == opset
    feeds = zoo.default_inputs(name, model, seq_len=32)
    got, want = run(model, feeds), run(zoo.build(name, **kw), feeds)
    for key, value in want.items():
        np.testing.assert_allclose(got[key], value, rtol=1e-5, atol=1e-5, err_msg=key)


def test_axes_forms_follow_opset() -> None:
    for opset in (11, 13, 18):
        model = zoo.build("minilm", opset=opset, layers=1)
        assert {len(n.input) for n in op_nodes(model, "Unsqueeze")} == {1 if opset < 13 else 2}
        assert {len(n.input) for n in op_nodes(model, "ReduceSum")} == {1 if opset < 13 else 2}
        assert {len(n.input) for n in op_nodes(model, "ReduceMean")} == {1 if opset < 18 else 2}
        assert {len(n.input) for n in op_nodes(model, "ReduceL2")} == {1 if opset < 18 else 2}
    for n in op_nodes(zoo.build("hed", opset=11, height=32, width=32), "Resize"):
        assert len(n.input) == 4 and n.input[1] and n.input[2]  # empty roi / scales tensors
    for n in op_nodes(zoo.build("hed", opset=13, height=32, width=32), "Resize"):
        assert list(n.input[1:3]) == ["", ""]


def test_unsupported_opset() -> None:
    with pytest.raises(ValueError, match="opset"):
        zoo.build("squeezenet1_1", opset=10)
    with pytest.raises(ValueError, match="LayerNormalization"):
        zoo.build("minilm", opset=16, layernorm="op")


def test_minilm_export_patterns() -> None:
    model = zoo.build("minilm", layers=2)
    inputs = {i.name: [d.dim_param for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
    assert inputs == {k: ["batch", "sequence"] for k in ("input_ids", "attention_mask", "token_type_ids")}
    assert [o.name for o in model.graph.output] == ["last_hidden_state", "sentence_embedding"]
    ops = {n.op_type for n in model.graph.node}
    assert {"Shape", "Gather", "Unsqueeze", "Concat", "Reshape", "Slice", "Transpose", "Softmax"} <= ops
    assert {"Erf", "Pow", "Sqrt", "Expand", "ReduceSum", "Clip", "ReduceL2", "Cast", "Constant"} <= ops
    assert "LayerNormalization" not in ops
    assert len(op_nodes(model, "ReduceMean")) == 2 * (1 + 2 * 2)  # embeddings + 2 per layer, 2 each


def test_minilm_layernorm_op_matches_decomposed() -> None:
    dec = zoo.build("minilm", layers=2)
    fused = zoo.build("minilm", layers=2, layernorm="op")
    assert len(op_nodes(fused, "LayerNormalization")) == 5 and not op_nodes(fused, "ReduceMean")
    feeds = zoo.default_inputs("minilm", dec, seq_len=48)
    want, got = run(dec, feeds), run(fused, feeds)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-4, atol=1e-4)


def test_minilm_dynamic_shapes_and_padding() -> None:
    model = zoo.build("minilm", layers=2)
    feeds = zoo.default_inputs("minilm", model, seed=1, seq_len=40, batch=3)
    assert feeds["input_ids"].shape == (3, 40)
    outs = run(model, feeds)
    assert outs["last_hidden_state"].shape == (3, 40, 384)
    assert outs["sentence_embedding"].shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(outs["sentence_embedding"], axis=1), 1.0, rtol=1e-5)
    # Masked padding changes nothing: each row alone, cut to its valid length, gives the same results.
    for b in range(3):
        n = int(feeds["attention_mask"][b].sum())
        alone = run(model, {k: v[b : b + 1, :n] for k, v in feeds.items()})
        np.testing.assert_allclose(alone["sentence_embedding"][0], outs["sentence_embedding"][b], atol=1e-5)
        np.testing.assert_allclose(
            alone["last_hidden_state"][0], outs["last_hidden_state"][b, :n], rtol=1e-4, atol=1e-4
        )


def test_default_inputs_tokens() -> None:
    model = zoo.build("minilm", layers=1)
    feeds = zoo.default_inputs("minilm", model, seed=3)
    ids, mask, types = feeds["input_ids"], feeds["attention_mask"], feeds["token_type_ids"]
    assert ids.shape == mask.shape == types.shape == (1, 128)
    assert all(v.dtype == np.int64 for v in feeds.values())
    n = int(mask.sum())
    assert 96 <= n < 128 and mask[0, :n].all() and not mask[0, n:].any()
    assert ids[0, 0] == 101 and ids[0, n - 1] == 102 and (ids[0, n:] == 0).all()
    assert (ids < 30522).all() and set(np.unique(types)) == {0, 1}
    again = zoo.default_inputs("minilm", model, seed=3)
    assert all(np.array_equal(again[k], v) for k, v in feeds.items())


def test_batchnorm_statistics_are_nontrivial() -> None:
    weights = initializers(zoo.build("resnet50"))
    trivial_values = [("running_mean", 0.0), ("running_var", 1.0), ("bn1.weight", 1.0), ("bn1.bias", 0.0)]
    for suffix, trivial in trivial_values:
        values = np.concatenate([v for k, v in weights.items() if k.endswith(suffix)])
        assert np.abs(values - trivial).mean() > 0.05, suffix
    assert all(v.dtype == np.float32 for v in weights.values())


def test_seeded() -> None:
    a, b = initializers(zoo.build("squeezenet1_1", seed=5)), initializers(zoo.build("squeezenet1_1", seed=5))
    c = initializers(zoo.build("squeezenet1_1", seed=6))
    assert a.keys() == b.keys() == c.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["features.0.weight"], c["features.0.weight"])


@pytest.mark.parametrize("name, kw", [("squeezenet1_1", {}), ("hed", {"height": 48, "width": 64})])
def test_symbolic_batch(name: str, kw: dict[str, object]) -> None:
    model = zoo.build(name, batch="N", **kw)
    onnx.checker.check_model(model, full_check=True)
    feeds = zoo.default_inputs(name, model, batch=2)
    assert next(iter(feeds.values())).shape[0] == 2
    for value in run(model, feeds).values():
        assert value.shape[0] == 2 and np.isfinite(value).all()


def test_torchvision_names_and_structure() -> None:
    resnet = zoo.build("resnet50")
    names = set(initializers(resnet))
    assert {"conv1.weight", "bn1.running_var", "layer4.2.bn3.weight", "layer2.0.downsample.0.weight"} <= names
    assert len(op_nodes(resnet, "Conv")) == 53 and len(op_nodes(resnet, "BatchNormalization")) == 53
    mobilenet = zoo.build("mobilenet_v2")
    assert {"features.1.conv.0.0.weight", "features.18.0.weight", "classifier.1.weight"} <= set(
        initializers(mobilenet)
    )
    assert any(attr(n, "group") > 1 for n in op_nodes(mobilenet, "Conv"))
    assert len(op_nodes(mobilenet, "Clip")) == 35
    squeeze = zoo.build("squeezenet1_1")
    assert all(attr(n, "ceil_mode") == 1 for n in op_nodes(squeeze, "MaxPool"))
    inception = zoo.build("inception_v3")
    pools = op_nodes(inception, "AveragePool")
    assert len(pools) == 9
    assert all(attr(p, "count_include_pad") == 1 and attr(p, "pads") == [1, 1, 1, 1] for p in pools)
    hed = zoo.build("hed", height=32, width=32)
    assert len(op_nodes(hed, "Resize")) == 4 and len(op_nodes(hed, "Sigmoid")) == 6


def test_build_unknown() -> None:
    with pytest.raises(KeyError, match="unknown zoo model"):
        zoo.build("alexnet")


def test_save_and_cli(tmp_path: Path) -> None:
    path = tmp_path / "sq.onnx"
    zoo.save(zoo.build("squeezenet1_1", seed=2), path)
    assert [p.name for p in tmp_path.iterdir()] == ["sq.onnx"]  # no external data below 2 GB
    cli_path = tmp_path / "cli.onnx"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "webdnn.zoo", "squeezenet1_1", "-o", str(cli_path), "--seed", "2"]
    cmd += ["--opset", "13"]
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    loaded = onnx.load(cli_path)
    assert loaded.opset_import[0].version == 13
    want = initializers(onnx.load(path))
    assert all(np.array_equal(v, want[k]) for k, v in initializers(loaded).items())
