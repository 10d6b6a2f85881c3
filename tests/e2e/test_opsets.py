"""The same architectures exported at opsets 11..21 convert and match onnxruntime (Node, fallback)."""

from __future__ import annotations

import os

import pytest

from webdnn import zoo
from webdnn.convert import convert
from webdnn.verify import compare, reference_outputs

CASES = [
    ("mobilenet_v2", {}),
    ("minilm", {"layers": 2}),
    ("hed", {"height": 64, "width": 96}),
]


@pytest.mark.node
@pytest.mark.parametrize("opset", [11, 13, 18, 21])
@pytest.mark.parametrize(("name", "kw"), CASES, ids=[c[0] for c in CASES])
def test_opset_variants(name: str, kw: dict, opset: int, tmp_path) -> None:  # type: ignore[no-untyped-def,type-arg]
    from webdnn.browser.node import run_model_node

    model = zoo.build(name, opset=opset, **kw)
    path = os.path.join(tmp_path, "m.onnx")
    zoo.save(model, path)
    inputs = zoo.default_inputs(name, model, seq_len=16)
    convert(path, tmp_path / "out", ["fallback"], {k: v.shape for k, v in inputs.items()})
    got = run_model_node(str(tmp_path / "out"), inputs).outputs
    for out, want in reference_outputs(path, inputs).items():
        c = compare(out, want, got[out])
        assert c.ok, f"{name} opset {opset} {out}: max abs err {c.max_abs_err:.3g}"
