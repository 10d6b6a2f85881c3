"""ResNet-50 (torchvision v1.5: stride on the 3x3 conv; Conv + BatchNormalization kept separate)."""

from __future__ import annotations

import onnx
from onnx import TensorProto

from ._graph_builder import Dim, GraphBuilder, image_input

# The last BN of each residual branch is scaled down so the variance added by each block stays small
# (the role zero_init_residual plays in training), keeping activations O(1) through 16 blocks.
RESIDUAL_GAMMA = 0.3


def _conv_bn(
    gb: GraphBuilder,
    x: str,
    cin: int,
    cout: int,
    k: int,
    *,
    name: str,
    bn: str,
    stride: int = 1,
    pad: int = 0,
    gamma_scale: float = 1.0,
) -> str:
    x = gb.conv(x, cin, cout, k, stride=stride, pad=pad, bias=False, name=name)
    return gb.bn(x, cout, name=bn, gamma_scale=gamma_scale)


def _bottleneck(gb: GraphBuilder, x: str, cin: int, planes: int, stride: int, name: str) -> str:
    cout = planes * 4
    with gb.scope(name):
        y = gb.relu(_conv_bn(gb, x, cin, planes, 1, name=f"{name}.conv1", bn=f"{name}.bn1"))
        y = gb.relu(
            _conv_bn(gb, y, planes, planes, 3, stride=stride, pad=1, name=f"{name}.conv2", bn=f"{name}.bn2")
        )
        y = _conv_bn(
            gb, y, planes, cout, 1, name=f"{name}.conv3", bn=f"{name}.bn3", gamma_scale=RESIDUAL_GAMMA
        )
        if stride != 1 or cin != cout:
            x = _conv_bn(
                gb, x, cin, cout, 1, stride=stride, name=f"{name}.downsample.0", bn=f"{name}.downsample.1"
            )
        return gb.relu(gb.op("Add", y, x))


def build_resnet50(
    *, seed: int = 0, opset: int = 17, batch: Dim = 1, num_classes: int = 1000, **kw: object
) -> onnx.ModelProto:
    gb = GraphBuilder("resnet50", seed=seed, opset=opset)
    x = image_input(gb, batch, 3, 224, 224)
    x = gb.relu(_conv_bn(gb, x, 3, 64, 7, stride=2, pad=3, name="conv1", bn="bn1"))
    x = gb.maxpool(x, 3, 2, pad=1)
    cin = 64
    for stage, (planes, blocks, stride) in enumerate([(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)], 1):
        for b in range(blocks):
            x = _bottleneck(gb, x, cin, planes, stride if b == 0 else 1, f"layer{stage}.{b}")
            cin = planes * 4
    x = gb.global_avgpool_flatten(x)
    x = gb.gemm(x, 2048, num_classes, name="fc")
    gb.output(x, "output", TensorProto.FLOAT, [batch, num_classes])
    return gb.make_model()
