"""The demo site's models as benchmark models ("demo-recognition", "demo-style", "demo-edges",
"demo-similarity"): the real trained networks of examples/ (webdnn.demo_site, webdnn.zoo.pretrained) at the
sizes the pages convert them for, on the inputs the pages give them (scikit-image's cat photo, two
sentences), so a page's time per inference can be measured next to ONNX Runtime Web on the same ONNX file.
"""

from __future__ import annotations

import numpy as np
import onnx

DEMO_MODELS = ("demo-recognition", "demo-style", "demo-edges", "demo-similarity")
PAGES = {"demo-recognition": "recognition", "demo-style": "style transfer", "demo-edges": "edges (HED)",
         "demo-similarity": "sentence similarity"}
SENTENCES = ("A cat sits on the warm windowsill.", "The kitten is resting by the window.")
# MiniLM is timed at 32 tokens (the page runs a sentence at its own length rounded up to a multiple of 8, so these
# sentences at 16): one fixed length keeps the rows comparable across runs. WebDNN runs the page's conversion (every
# length up to 256, converted once: page_shapes), ONNX Runtime Web the same ONNX file.
SIMILARITY_BENCH_LENGTH = 32


def page_shapes(name: str) -> dict[str, tuple[int | str, ...]] | None:
    """The input shapes a page converts its model for, where they are not the timed inputs' sizes."""
    from webdnn import demo_site

    return demo_site.similarity_shapes() if name == "demo-similarity" else None


def _photo(height: int, width: int) -> np.ndarray:
    """The cat photo as uint8 RGB [height, width, 3] (Pillow's bicubic resize, as the pages draw it)."""
    from PIL import Image

    from webdnn.zoo import pretrained

    rgb = pretrained.load_rgb(pretrained.sample_photo("chelsea.png"))
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.BICUBIC))


def build(name: str) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """The page model `name` and its inputs (raises PretrainedUnavailableError when a package is missing)."""
    from webdnn import demo_site
    from webdnn.zoo import pretrained

    if name == "demo-recognition":
        model = pretrained.build_efficientnet_lite0_pretrained()
        x = pretrained.imagenet_preprocess(pretrained.load_rgb(pretrained.sample_photo("chelsea.png")))
        return model, {model.graph.input[0].name: x}
    if name == "demo-style":
        h, w = demo_site.STYLE_SIZE
        model = onnx.load(str(demo_site.style_transfer_model_file()))
        weights = np.zeros(26, np.float32)
        weights[0] = 1.0  # the first style, as the page starts
        image = np.ascontiguousarray(_photo(h, w).transpose(2, 0, 1)[None], np.float32) / np.float32(255)
        return model, {"image": image, "style_weights": weights}
    if name == "demo-edges":
        h, w = demo_site.HED_SIZE
        return pretrained.build_hed_pretrained(height=h, width=w), {"input": pretrained.hed_preprocess(_photo(h, w))}
    if name == "demo-similarity":
        model, tokenizer = pretrained.build_minilm_pretrained()
        feeds = tokenizer.tokenize(SENTENCES[0], pad_to=SIMILARITY_BENCH_LENGTH)
        return model, feeds
    raise ValueError(f"unknown demo model {name!r}; one of {', '.join(DEMO_MODELS)}")
