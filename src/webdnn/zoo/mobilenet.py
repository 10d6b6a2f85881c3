"""MobileNetV2 (torchvision: Conv+BN+Clip(0, 6) blocks, depthwise group convs, inverted residuals)."""

from __future__ import annotations

import onnx
from onnx import TensorProto

from ._graph_builder import Dim, GraphBuilder, image_input

# (expansion t, channels c, repeats n, stride s) as in torchvision.
INVERTED_RESIDUAL_SETTING = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]
RESIDUAL_GAMMA = 0.5  # scale of the projection BN in blocks with a skip connection


def _conv_bn(
    gb: GraphBuilder,
    x: str,
    cin: int,
    cout: int,
    k: int,
    name: str,
    *,
    stride: int = 1,
    group: int = 1,
    relu6: bool = True,
    gamma_scale: float = 1.0,
) -> str:
    """torchvision Conv2dNormActivation: names .0 (conv) and .1 (bn)."""
    x = gb.conv(x, cin, cout, k, stride=stride, pad=k // 2, group=group, bias=False, name=f"{name}.0")
    x = gb.bn(x, cout, name=f"{name}.1", gamma_scale=gamma_scale)
    return gb.relu6(x) if relu6 else x


def build_mobilenet_v2(
    *, seed: int = 0, opset: int = 17, batch: Dim = 1, num_classes: int = 1000, **kw: object
) -> onnx.ModelProto:
    gb = GraphBuilder("mobilenet_v2", seed=seed, opset=opset)
    x = image_input(gb, batch, 3, 224, 224)
    with gb.scope("features"):
        x = _conv_bn(gb, x, 3, 32, 3, "features.0", stride=2)
        cin, idx = 32, 1
        for t, c, n, s in INVERTED_RESIDUAL_SETTING:
            for i in range(n):
                name, stride, hidden = f"features.{idx}.conv", s if i == 0 else 1, cin * t
                residual = stride == 1 and cin == c
                with gb.scope(f"features.{idx}"):
                    y, j = x, 0
                    if t != 1:
                        y, j = _conv_bn(gb, y, cin, hidden, 1, f"{name}.0"), 1
                    y = _conv_bn(gb, y, hidden, hidden, 3, f"{name}.{j}", stride=stride, group=hidden)
                    y = gb.conv(y, hidden, c, 1, bias=False, name=f"{name}.{j + 1}", gain=1.0)
                    y = gb.bn(y, c, name=f"{name}.{j + 2}", gamma_scale=RESIDUAL_GAMMA if residual else 1.0)
                    x = gb.op("Add", x, y) if residual else y
                cin, idx = c, idx + 1
        x = _conv_bn(gb, x, cin, 1280, 1, f"features.{idx}")
    x = gb.global_avgpool_flatten(x)
    x = gb.gemm(x, 1280, num_classes, name="classifier.1")
    gb.output(x, "output", TensorProto.FLOAT, [batch, num_classes])
    return gb.make_model()
