"""`webdnn convert --weights int8 --check-accuracy`: the encoded weights checked against fp32 before writing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from webdnn import zoo
from webdnn.cli import main
from webdnn.convert import convert
from webdnn.encoding_accuracy import AccuracyError, check_encoding_accuracy, decoded_weights


@pytest.fixture(scope="module")
def squeezenet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sq") / "squeezenet.onnx"
    zoo.save(zoo.build("squeezenet1_1", seed=0, opset=17), str(path))
    return path


def test_decoded_weights_change_only_what_is_encoded(squeezenet: Path) -> None:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(squeezenet))
    enc, n = decoded_weights(model, "int8")
    big = [i for i in model.graph.initializer if numpy_helper.to_array(i).size >= 1024]
    assert n == len(big) > 0
    for a, b in zip(model.graph.initializer, enc.graph.initializer, strict=True):
        x, y = numpy_helper.to_array(a), numpy_helper.to_array(b)
        if x.size < 1024:  # biases stay as they are
            np.testing.assert_array_equal(x, y)
        else:  # half a step of the block's scale at most
            assert 0 < np.abs(x - y).max() <= np.abs(x).max() / 127


def test_int8_keeps_squeezenet_and_is_recorded(squeezenet: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    convert(str(squeezenet), out, ["fallback"], weights="int8", check_accuracy=0.99)
    acc = json.loads((out / "manifest.json").read_text())["converter"]["accuracy"]
    assert acc["encoding"] == "int8" and acc["samples"] == 3
    (cos,) = acc["cosine"].values()
    assert 0.99 <= cos < 1.0


def test_a_bound_the_encoding_breaks_refuses_and_writes_nothing(squeezenet: Path, tmp_path: Path) -> None:
    import onnx

    report = check_encoding_accuracy(onnx.load(str(squeezenet)), {"input": [1, 3, 224, 224]}, "int8", 0.0)
    worst = min(report.cosine.values())
    with pytest.raises(AccuracyError, match=r"--weights int8 moves the model's outputs too far from fp32"):
        convert(str(squeezenet), tmp_path / "out", ["fallback"], weights="int8", check_accuracy=(worst + 1) / 2)
    assert not (tmp_path / "out").exists()
    r = CliRunner().invoke(main, ["convert", str(squeezenet), "-o", str(tmp_path / "cli"), "--backends", "fallback",
                                  "--weights", "int8", "--check-accuracy", "--min-cosine", str((worst + 1) / 2)])
    assert r.exit_code == 2 and "cosine similarity" in r.output and not (tmp_path / "cli").exists()


def test_fp16_is_closer_than_int8(squeezenet: Path) -> None:
    import onnx

    model = onnx.load(str(squeezenet))
    shapes = {"input": [1, 3, 224, 224]}
    fp16 = check_encoding_accuracy(model, shapes, "fp16", 0.999)
    int8 = check_encoding_accuracy(model, shapes, "int8", 0.9)
    assert min(fp16.cosine.values()) > min(int8.cosine.values())
    assert max(fp16.max_abs_err.values()) < max(int8.max_abs_err.values())
