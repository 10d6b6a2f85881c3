"""The demo site's models as benchmark models (webdnn/bench/demo_models.py): each builds with its real weights at
the page's size, its inputs are the model's inputs, and onnxruntime gives the page's answer on them (the
recognition page's cat is a cat)."""

from __future__ import annotations

import numpy as np
import pytest

from webdnn.bench.demo_models import DEMO_MODELS, build
from webdnn.verify import reference_outputs
from webdnn.zoo import pretrained


@pytest.mark.parametrize("name", DEMO_MODELS)
def test_demo_model_builds_with_the_pages_inputs(name: str) -> None:
    try:
        model, feeds = build(name)
    except pretrained.PretrainedUnavailableError as e:
        pytest.skip(str(e))
    assert set(feeds) == {i.name for i in model.graph.input}
    out = next(iter(reference_outputs(model, feeds).values()))
    assert np.all(np.isfinite(out))
    if name == "demo-recognition":
        top = pretrained.top_k(out, pretrained.imagenet_labels(), 5)
        assert any("cat" in label for label, _ in top), top


def test_the_similarity_row_converts_minilm_as_the_page_does() -> None:
    """WebDNN's demo-similarity row times the page's conversion (every length up to 256, converted once), not one
    fixed at the timed length; the other pages convert for their inputs' sizes."""
    from webdnn import demo_site
    from webdnn.bench.models import _conversion_shapes

    feeds = {k: np.zeros((1, 32), np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}
    shapes = _conversion_shapes("demo-similarity", feeds)
    assert shapes == demo_site.similarity_shapes()
    assert shapes["input_ids"] == (1, f"seq<={demo_site.SIMILARITY_MAX_LENGTH}")
    image = {"input": np.zeros((1, 3, 224, 224), np.float32)}
    assert _conversion_shapes("demo-edges", image) == {"input": (1, 3, 224, 224)}
