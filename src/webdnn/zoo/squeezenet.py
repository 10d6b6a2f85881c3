"""SqueezeNet 1.1 (torchvision: Fire modules, MaxPool ceil_mode=1, conv classifier + GlobalAveragePool)."""

from __future__ import annotations

import onnx
from onnx import TensorProto

from ._graph_builder import Dim, GraphBuilder, image_input

# features index -> (squeeze, expand1x1, expand3x3) of each Fire module; "M" is a ceil-mode MaxPool.
FEATURES: list[tuple[int, int, int] | str] = [
    "M",
    (16, 64, 64),
    (16, 64, 64),
    "M",
    (32, 128, 128),
    (32, 128, 128),
    "M",
    (48, 192, 192),
    (48, 192, 192),
    (64, 256, 256),
    (64, 256, 256),
]


def _fire(gb: GraphBuilder, x: str, cin: int, sq: int, e1: int, e3: int, name: str) -> str:
    with gb.scope(name):
        s = gb.relu(gb.conv(x, cin, sq, 1, name=f"{name}.squeeze"))
        a = gb.relu(gb.conv(s, sq, e1, 1, name=f"{name}.expand1x1"))
        b = gb.relu(gb.conv(s, sq, e3, 3, pad=1, name=f"{name}.expand3x3"))
        return gb.concat([a, b], axis=1)


def build_squeezenet1_1(
    *, seed: int = 0, opset: int = 17, batch: Dim = 1, num_classes: int = 1000, **kw: object
) -> onnx.ModelProto:
    gb = GraphBuilder("squeezenet1_1", seed=seed, opset=opset)
    x = image_input(gb, batch, 3, 224, 224)
    with gb.scope("features"):
        x = gb.relu(gb.conv(x, 3, 64, 3, stride=2, name="features.0"))
        cin = 64
        for i, f in enumerate(FEATURES, start=2):
            if isinstance(f, str):
                x = gb.maxpool(x, 3, 2, ceil_mode=True)
            else:
                x = _fire(gb, x, cin, *f, name=f"features.{i}")
                cin = f[1] + f[2]
    with gb.scope("classifier"):
        x = gb.relu(gb.conv(x, cin, num_classes, 1, name="classifier.1"))
        x = gb.global_avgpool_flatten(x)
    gb.output(x, "output", TensorProto.FLOAT, [batch, num_classes])
    return gb.make_model()
