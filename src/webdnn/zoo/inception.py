"""Inception v3 (torchvision structure, 299x299, no aux head, transform_input=False).

BasicConv2d = Conv(no bias) + BatchNormalization(eps=1e-3) + Relu. The pooling branches use
avg_pool2d(kernel 3, stride 1, padding 1), which torch exports as AveragePool with count_include_pad=1.
"""

from __future__ import annotations

import onnx
from onnx import TensorProto

from ._graph_builder import Dim, GraphBuilder, Ints, image_input


class _Inception:
    def __init__(self, gb: GraphBuilder) -> None:
        self.gb = gb

    def basic(self, x: str, cin: int, cout: int, k: Ints, name: str, stride: int = 1, pad: Ints = 0) -> str:
        gb = self.gb
        y = gb.conv(x, cin, cout, k, stride=stride, pad=pad, bias=False, name=f"{name}.conv")
        return gb.relu(gb.bn(y, cout, name=f"{name}.bn", eps=1e-3))

    def pool_branch(self, x: str, cin: int, cout: int, name: str) -> str:
        return self.basic(self.gb.avgpool(x, 3, 1, pad=1, count_include_pad=True), cin, cout, 1, name)

    def block_a(self, x: str, cin: int, pool_features: int, n: str) -> str:
        b = self.basic
        b1 = b(x, cin, 64, 1, f"{n}.branch1x1")
        b5 = b(b(x, cin, 48, 1, f"{n}.branch5x5_1"), 48, 64, 5, f"{n}.branch5x5_2", pad=2)
        b3 = b(b(x, cin, 64, 1, f"{n}.branch3x3dbl_1"), 64, 96, 3, f"{n}.branch3x3dbl_2", pad=1)
        b3 = b(b3, 96, 96, 3, f"{n}.branch3x3dbl_3", pad=1)
        bp = self.pool_branch(x, cin, pool_features, f"{n}.branch_pool")
        return self.gb.concat([b1, b5, b3, bp])

    def block_b(self, x: str, cin: int, n: str) -> str:
        b = self.basic
        b3 = b(x, cin, 384, 3, f"{n}.branch3x3", stride=2)
        bd = b(b(x, cin, 64, 1, f"{n}.branch3x3dbl_1"), 64, 96, 3, f"{n}.branch3x3dbl_2", pad=1)
        bd = b(bd, 96, 96, 3, f"{n}.branch3x3dbl_3", stride=2)
        return self.gb.concat([b3, bd, self.gb.maxpool(x, 3, 2)])

    def block_c(self, x: str, cin: int, c7: int, n: str) -> str:
        b, row, col = self.basic, (1, 7), (7, 1)
        b1 = b(x, cin, 192, 1, f"{n}.branch1x1")
        b7 = b(x, cin, c7, 1, f"{n}.branch7x7_1")
        b7 = b(b7, c7, c7, row, f"{n}.branch7x7_2", pad=(0, 3))
        b7 = b(b7, c7, 192, col, f"{n}.branch7x7_3", pad=(3, 0))
        bd = b(x, cin, c7, 1, f"{n}.branch7x7dbl_1")
        bd = b(bd, c7, c7, col, f"{n}.branch7x7dbl_2", pad=(3, 0))
        bd = b(bd, c7, c7, row, f"{n}.branch7x7dbl_3", pad=(0, 3))
        bd = b(bd, c7, c7, col, f"{n}.branch7x7dbl_4", pad=(3, 0))
        bd = b(bd, c7, 192, row, f"{n}.branch7x7dbl_5", pad=(0, 3))
        bp = self.pool_branch(x, cin, 192, f"{n}.branch_pool")
        return self.gb.concat([b1, b7, bd, bp])

    def block_d(self, x: str, cin: int, n: str) -> str:
        b = self.basic
        b3 = b(b(x, cin, 192, 1, f"{n}.branch3x3_1"), 192, 320, 3, f"{n}.branch3x3_2", stride=2)
        b7 = b(x, cin, 192, 1, f"{n}.branch7x7x3_1")
        b7 = b(b7, 192, 192, (1, 7), f"{n}.branch7x7x3_2", pad=(0, 3))
        b7 = b(b7, 192, 192, (7, 1), f"{n}.branch7x7x3_3", pad=(3, 0))
        b7 = b(b7, 192, 192, 3, f"{n}.branch7x7x3_4", stride=2)
        return self.gb.concat([b3, b7, self.gb.maxpool(x, 3, 2)])

    def block_e(self, x: str, cin: int, n: str) -> str:
        b, cat = self.basic, self.gb.concat
        b1 = b(x, cin, 320, 1, f"{n}.branch1x1")
        b3 = b(x, cin, 384, 1, f"{n}.branch3x3_1")
        b3 = cat(
            [
                b(b3, 384, 384, (1, 3), f"{n}.branch3x3_2a", pad=(0, 1)),
                b(b3, 384, 384, (3, 1), f"{n}.branch3x3_2b", pad=(1, 0)),
            ]
        )
        bd = b(b(x, cin, 448, 1, f"{n}.branch3x3dbl_1"), 448, 384, 3, f"{n}.branch3x3dbl_2", pad=1)
        bd = cat(
            [
                b(bd, 384, 384, (1, 3), f"{n}.branch3x3dbl_3a", pad=(0, 1)),
                b(bd, 384, 384, (3, 1), f"{n}.branch3x3dbl_3b", pad=(1, 0)),
            ]
        )
        bp = self.pool_branch(x, cin, 192, f"{n}.branch_pool")
        return cat([b1, b3, bd, bp])


def build_inception_v3(
    *, seed: int = 0, opset: int = 17, batch: Dim = 1, num_classes: int = 1000, **kw: object
) -> onnx.ModelProto:
    gb = GraphBuilder("inception_v3", seed=seed, opset=opset)
    net = _Inception(gb)
    x = image_input(gb, batch, 3, 299, 299)
    x = net.basic(x, 3, 32, 3, "Conv2d_1a_3x3", stride=2)
    x = net.basic(x, 32, 32, 3, "Conv2d_2a_3x3")
    x = net.basic(x, 32, 64, 3, "Conv2d_2b_3x3", pad=1)
    x = gb.maxpool(x, 3, 2)
    x = net.basic(x, 64, 80, 1, "Conv2d_3b_1x1")
    x = net.basic(x, 80, 192, 3, "Conv2d_4a_3x3")
    x = gb.maxpool(x, 3, 2)
    for name, cin, pool_features in [("Mixed_5b", 192, 32), ("Mixed_5c", 256, 64), ("Mixed_5d", 288, 64)]:
        with gb.scope(name):
            x = net.block_a(x, cin, pool_features, name)
    with gb.scope("Mixed_6a"):
        x = net.block_b(x, 288, "Mixed_6a")
    for name, c7 in [("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)]:
        with gb.scope(name):
            x = net.block_c(x, 768, c7, name)
    with gb.scope("Mixed_7a"):
        x = net.block_d(x, 768, "Mixed_7a")
    for name, cin in [("Mixed_7b", 1280), ("Mixed_7c", 2048)]:
        with gb.scope(name):
            x = net.block_e(x, cin, name)
    x = gb.global_avgpool_flatten(x)
    x = gb.gemm(x, 2048, num_classes, name="fc")
    gb.output(x, "output", TensorProto.FLOAT, [batch, num_classes])
    return gb.make_model()
