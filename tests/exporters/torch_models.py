"""Small PyTorch models covering common exporter patterns (not in the zoo): built here, exported by
torch.onnx (TorchScript and dynamo exporters) in test_torch_exports.py."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn


class ResidualBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.c2, self.b2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.b2(self.c2(F.relu(self.b1(self.c1(x))))))


class SmallCNN(nn.Module):
    """BN, hardswish, SiLU, depthwise, ceil-mode pooling, bilinear/nearest interpolate, adaptive pool."""

    def __init__(self) -> None:
        super().__init__()
        self.stem, self.bn = nn.Conv2d(3, 16, 3, 2, 1), nn.BatchNorm2d(16)
        self.block = ResidualBlock(16)
        self.dw, self.pw = nn.Conv2d(16, 16, 3, 1, 1, groups=16), nn.Conv2d(16, 32, 1)
        self.pool = nn.MaxPool2d(3, 2, 1, ceil_mode=True)
        self.fc = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.hardswish(self.bn(self.stem(x)))
        x = self.pool(F.silu(self.pw(self.dw(self.block(x)))))
        y = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        z = F.interpolate(x, size=(y.shape[2], y.shape[3]), mode="nearest")
        return F.softmax(self.fc(F.adaptive_avg_pool2d(y + z, 1).flatten(1)), dim=-1)


class TinyEncoder(nn.Module):
    """nn.TransformerEncoder with GELU and a key-padding mask, LayerNorm, mean pooling."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(100, 64)
        layer = nn.TransformerEncoderLayer(64, 4, 128, dropout=0.0, activation="gelu", batch_first=True)
        self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.ln = nn.LayerNorm(64)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.ln(self.enc(self.emb(ids), src_key_padding_mask=mask == 0)).mean(dim=1)


class Misc(nn.Module):
    """Conv1d, tanh-GELU, cumsum, strided slicing, ConvTranspose2d, reflect pad, clamp, argmax."""

    def __init__(self) -> None:
        super().__init__()
        self.c = nn.Conv1d(8, 8, 5, padding=2)
        self.ct = nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, ...]:
        a = torch.cumsum(F.gelu(self.c(a), approximate="tanh"), dim=-1)[..., ::2]
        b = torch.clamp(F.pad(self.ct(b), (1, 2, 0, 1), mode="reflect"), -0.5, 0.5)
        return a.transpose(1, 2).reshape(a.shape[0], -1), F.leaky_relu(b, 0.1), torch.argmax(a, dim=1)


def build(name: str) -> tuple[nn.Module, tuple[torch.Tensor, ...], list[str]]:
    """(model in eval mode with non-trivial BN statistics, example inputs, input names)."""
    torch.manual_seed(0)
    args: tuple[Any, ...]
    if name == "cnn":
        model: nn.Module = SmallCNN()
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
        args, names = (torch.randn(1, 3, 64, 64),), ["x"]
    elif name == "encoder":
        mask = torch.ones(1, 16, dtype=torch.long)
        mask[0, 12:] = 0
        model, args, names = TinyEncoder(), (torch.randint(0, 100, (1, 16)), mask), ["ids", "mask"]
    elif name == "misc":
        model, args, names = Misc(), (torch.randn(2, 8, 20), torch.randn(1, 4, 5, 6)), ["a", "b"]
    else:
        raise KeyError(name)
    return model.eval(), args, names
