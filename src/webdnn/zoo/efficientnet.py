"""EfficientNet-Lite0 (Tan & Le 2019; the TF "lite" variant) as the lukemelas / efficientnet-lite-pytorch layout
writes it, in NCHW.

Lite differs from B0: no squeeze-excite, ReLU6 instead of swish, stem and head not scaled. Every convolution
pads as TensorFlow's "SAME" (for a fixed image size: the total padding is split with the extra pixel at the
bottom/right, so stride-2 convolutions are padded asymmetrically); BatchNorm eps 1e-3. Parameters carry the
state-dict names (``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` / ``_bn0`` / ``_depthwise_conv`` /
``_bn1`` / ``_project_conv`` / ``_bn2``, ``_conv_head``, ``_bn1``, ``_fc``), so trained weights (``weights=``)
drop in unchanged. Output: the 1000 ImageNet logits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import onnx
from onnx import TensorProto

from ._graph_builder import Dim, GraphBuilder, image_input

# (repeats, kernel, stride, expand ratio, input channels, output channels) per stage, as the
# 'r1_k3_s11_e1_i32_o16' ... block strings of efficientnet_lite_builder.py for lite0.
STAGES = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]
STEM, HEAD = 32, 1280
BN_EPS = 1e-3
RESIDUAL_GAMMA = 0.5  # seeded weights: scale of the projection BN in blocks with a skip connection


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF 'SAME' padding of one spatial axis: (before, after), the odd pixel after."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _conv_bn(
    gb: GraphBuilder,
    x: str,
    size: int,
    cin: int,
    cout: int,
    k: int,
    conv: str,
    bn: str,
    *,
    stride: int = 1,
    group: int = 1,
    relu6: bool = True,
    gamma_scale: float = 1.0,
) -> tuple[str, int]:
    """Bias-free Conv with 'SAME' padding, BatchNorm (eps 1e-3), optional ReLU6; returns (value, out size)."""
    shape = [cout, cin // group, k, k]
    gain = 2.0 if relu6 else 1.0
    w = gb.param(f"{conv}.weight", shape, lambda: gb.normal(shape, (gain / (shape[1] * k * k)) ** 0.5))
    before, after = same_pads(size, k, stride)
    y = gb.op(
        "Conv",
        x,
        gb.initializer(w, f"{conv}.weight"),
        kernel_shape=[k, k],
        strides=[stride, stride],
        pads=[before, before, after, after],
        dilations=[1, 1],
        group=group,
    )
    y = gb.bn(y, cout, name=bn, eps=BN_EPS, gamma_scale=gamma_scale)
    return (gb.relu6(y) if relu6 else y), math.ceil(size / stride)


def build_efficientnet_lite0(
    *,
    seed: int = 0,
    opset: int = 17,
    batch: Dim = 1,
    image_size: int = 224,
    num_classes: int = 1000,
    weights: Mapping[str, np.ndarray] | None = None,
    **kw: object,
) -> onnx.ModelProto:
    gb = GraphBuilder("efficientnet_lite0", seed=seed, opset=opset, weights=weights)
    x = image_input(gb, batch, 3, image_size, image_size)
    x, size = _conv_bn(gb, x, image_size, 3, STEM, 3, "_conv_stem", "_bn0", stride=2)
    idx = 0
    for repeats, k, stride, expand, cin, cout in STAGES:
        for r in range(repeats):
            block, s, c_in = f"_blocks.{idx}", stride if r == 0 else 1, cin if r == 0 else cout
            residual = s == 1 and c_in == cout
            with gb.scope(block):
                y, hidden = x, c_in * expand
                if expand != 1:
                    y, _ = _conv_bn(gb, y, size, c_in, hidden, 1, f"{block}._expand_conv", f"{block}._bn0")
                y, out_size = _conv_bn(
                    gb, y, size, hidden, hidden, k, f"{block}._depthwise_conv", f"{block}._bn1",
                    stride=s, group=hidden,
                )
                y, _ = _conv_bn(
                    gb, y, out_size, hidden, cout, 1, f"{block}._project_conv", f"{block}._bn2", relu6=False,
                    gamma_scale=RESIDUAL_GAMMA if residual else 1.0,
                )
                x, size = (gb.op("Add", y, x) if residual else y), out_size
            idx += 1
    x, _ = _conv_bn(gb, x, size, STAGES[-1][5], HEAD, 1, "_conv_head", "_bn1")
    x = gb.global_avgpool_flatten(x)
    x = gb.gemm(x, HEAD, num_classes, name="_fc")
    gb.output(x, "logits", TensorProto.FLOAT, [batch, num_classes])
    return gb.make_model()
