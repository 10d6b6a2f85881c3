"""VGG16 (torchvision layout: features.N convs, classifier.0/3/6 Linear; Dropout omitted)."""

from __future__ import annotations

import onnx
from onnx import TensorProto

from ._graph_builder import Dim, GraphBuilder, image_input

VGG16_CFG: list[int | str] = [
    64,
    64,
    "M",
    128,
    128,
    "M",
    256,
    256,
    256,
    "M",
    512,
    512,
    512,
    "M",
    512,
    512,
    512,
    "M",
]


def build_vgg16(
    *, seed: int = 0, opset: int = 17, batch: Dim = 1, num_classes: int = 1000, **kw: object
) -> onnx.ModelProto:
    gb = GraphBuilder("vgg16", seed=seed, opset=opset)
    x = image_input(gb, batch, 3, 224, 224)
    cin = 3
    with gb.scope("features"):
        for i, v in enumerate(VGG16_CFG):
            if v == "M":
                x = gb.maxpool(x, 2, 2)
                continue
            assert isinstance(v, int)
            x = gb.relu(gb.conv(x, cin, v, 3, pad=1, name=f"features.{i}"))
            cin = v
    # AdaptiveAvgPool2d((7, 7)) is the identity on 7x7 maps: torch exports nothing for it at 224x224.
    x = gb.op("Flatten", x, axis=1)
    with gb.scope("classifier"):
        x = gb.relu(gb.gemm(x, 512 * 7 * 7, 4096, name="classifier.0", gain=2.0))
        x = gb.relu(gb.gemm(x, 4096, 4096, name="classifier.3", gain=2.0))
        x = gb.gemm(x, 4096, num_classes, name="classifier.6")
    gb.output(x, "output", TensorProto.FLOAT, [batch, num_classes])
    return gb.make_model()
