"""Models exported by PyTorch's own exporters (TorchScript-based and dynamo) convert and match onnxruntime.

These graphs are written by torch.onnx, not by our zoo builders: they exercise exporter patterns
(shape chains, decomposed ops, opset 14 vs 18 forms) the way real user models do.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch not installed (make test installs the CPU build)")

from tests.exporters.torch_models import build  # noqa: E402
from webdnn.convert import convert  # noqa: E402
from webdnn.verify import compare, reference_outputs  # noqa: E402


@pytest.mark.slow
@pytest.mark.node
@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
@pytest.mark.parametrize("name", ["cnn", "encoder", "misc"])
def test_torch_export_matches_onnxruntime(name: str, dynamo: bool, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from webdnn.browser.node import run_model_node

    model, args, names = build(name)
    path = os.path.join(tmp_path, f"{name}.onnx")
    if dynamo:
        pytest.importorskip("onnxscript", reason="the dynamo exporter needs onnxscript")
    torch.onnx.export(model, args, path, dynamo=dynamo, opset_version=18 if dynamo else 14, input_names=names)
    feeds = {n: a.numpy() for n, a in zip(names, args, strict=True)}
    convert(path, tmp_path / "out", ["fallback"], {n: a.shape for n, a in feeds.items()})
    got = run_model_node(str(tmp_path / "out"), feeds).outputs
    with torch.no_grad():
        expected = model(*args)
    expected = expected if isinstance(expected, tuple) else (expected,)
    ref = reference_outputs(path, feeds)
    for (out, want), framework in zip(ref.items(), expected, strict=True):
        c = compare(out, want, got[out])
        assert c.ok, f"{name} ({'dynamo' if dynamo else 'torchscript'}) {out}: max abs err {c.max_abs_err:.3g}"
        # and against PyTorch itself (the source framework)
        np.testing.assert_allclose(got[out], framework.numpy(), rtol=1e-4, atol=1e-4)
