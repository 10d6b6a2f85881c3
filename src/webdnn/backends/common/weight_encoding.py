"""How a descriptor stores its weights for download (`webdnn convert --weights fp32|fp16|int8`).

The backends always receive the same float32 (or their own dtype) weights at the same offsets; only the bytes
that travel are encoded, and the runtime decodes them once at load (runtime/src/weights.ts), before any
backend sees them. Per weight tensor, one of:

- "raw": the tensor's bytes as they are (every non-float32 tensor, float32 tensors under MIN_ELEMENTS
  elements such as biases, any tensor with a non-finite value, and everything under fp32);
- "fp16": IEEE half precision, round to nearest even (a tensor beyond half's range stays raw);
- "int8": symmetric 8-bit in blocks of INT8_BLOCK consecutive elements (in the tensor's stored layout, so
  pre-packed and transformed weights encode like any other): the blocks' scales, then one int8 per element,
  x ≈ q · scale. A scale is max |x| / 127 rounded up to bfloat16 (float32's upper 16 bits: its whole
  exponent range, so tiny weights keep their precision; rounded up, so no value clips) and the values are
  quantized with that rounded scale. Blocks of 32 consecutive elements follow the weights' local range (a
  filter's, a row's) without knowing the layout; with a 2-byte scale each they store 1.0625 bytes per
  weight (0.266 of float32).
- "int4": the same blocks at 4 bits (GGML's q4_0 idea, symmetric): the blocks' scales (max |x| / 7, rounded
  up to bfloat16), then two values in [-7, 7] per byte, the even element in the low nibble: 0.5625 bytes per
  weight (0.141 of float32), for models that tolerate it (large MatMul weights; `--check-accuracy` says).
"""

from __future__ import annotations

import numpy as np

ENCODINGS = ("fp32", "fp16", "int8", "int4")
INT8_BLOCK = 32
MIN_ELEMENTS = 1024
STORED_ALIGNMENT = 4  # each stored tensor starts at a multiple of 4 bytes
HALF_MAX = 65504.0


def encode(data: np.ndarray, encoding: str) -> tuple[str, bytes]:
    """(type, stored bytes) of one weight tensor under `encoding`."""
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown weight encoding {encoding!r}; one of {', '.join(ENCODINGS)}")
    raw = np.ascontiguousarray(data).astype(data.dtype.newbyteorder("<"), copy=False).tobytes()
    if encoding == "fp32" or data.dtype != np.float32 or data.size < MIN_ELEMENTS or not np.isfinite(data).all():
        return "raw", raw
    if encoding == "fp16":
        if float(np.abs(data).max()) > HALF_MAX:
            return "raw", raw
        return "fp16", data.astype("<f2").tobytes()
    if encoding == "int4":
        bits, q = quantize_int8(data, 7)
        return "int4", bits.astype("<u2").tobytes() + pack_int4(q).tobytes()
    bits, q = quantize_int8(data)
    return "int8", bits.astype("<u2").tobytes() + q.tobytes()


def pack_int4(q: np.ndarray) -> np.ndarray:
    """Values in [-8, 7], two per byte, the even element in the low nibble (an odd count pads with 0)."""
    nib = np.zeros(q.size + q.size % 2, np.uint8)
    nib[: q.size] = q.astype(np.int8).view(np.uint8) & 0xF
    return (nib[0::2] | (nib[1::2] << 4)).astype(np.uint8)


def unpack_int4(packed: np.ndarray, count: int) -> np.ndarray:
    lo = (packed & 0xF).astype(np.int8)
    hi = (packed >> 4).astype(np.int8)
    both = np.stack([lo, hi], axis=-1).reshape(-1)[:count]
    return np.where(both > 7, both - 16, both).astype(np.int8)


def quantize_int8(data: np.ndarray, top: int = 127) -> tuple[np.ndarray, np.ndarray]:
    """The blocks' scales (bfloat16 bits, one per INT8_BLOCK elements) and the values in [-top, top] (one per
    element, int8): 127 for int8, 7 for int4."""
    flat = np.ascontiguousarray(data, np.float32).reshape(-1)
    n = flat.size
    blocks = -(-n // INT8_BLOCK)
    padded = np.zeros(blocks * INT8_BLOCK, np.float32)
    padded[:n] = flat
    grid = padded.reshape(blocks, INT8_BLOCK)
    amax = np.abs(grid).max(axis=1)
    exact = np.where(amax > 0, amax / np.float32(top), np.float32(1.0)).astype(np.float32)
    u = exact.view(np.uint32).astype(np.uint64)
    bits = ((u >> 16) + ((u & 0xFFFF) != 0)).astype(np.uint16)  # rounded up: |x| / scale <= 127
    scales = scale_of(bits)
    q = np.clip(np.rint(grid / scales[:, None]), -top, top).astype(np.int8).reshape(-1)[:n]
    return bits, q


def scale_of(bits: np.ndarray) -> np.ndarray:
    """bfloat16 bits -> float32."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def decode(kind: str, stored: bytes, dtype: np.dtype, count: int) -> np.ndarray:
    """The values the runtime decodes from `stored` (the reference of runtime/src/weights.ts)."""
    if kind == "raw":
        return np.frombuffer(stored, dtype.newbyteorder("<"), count).astype(dtype)
    if kind == "fp16":
        return np.frombuffer(stored, "<f2", count).astype(np.float32)
    blocks = -(-count // INT8_BLOCK)
    scales = scale_of(np.frombuffer(stored, "<u2", blocks))
    if kind == "int4":
        q = unpack_int4(np.frombuffer(stored, np.uint8, -(-count // 2), offset=2 * blocks), count).astype(np.float32)
    else:
        q = np.frombuffer(stored, np.int8, count, offset=2 * blocks).astype(np.float32)
    return (q * np.repeat(scales, INT8_BLOCK)[:count]).astype(np.float32)


def stored_size(kind: str, byte_length: int) -> int:
    """The stored bytes of a tensor of `byte_length` decoded bytes (float32 for fp16 / int8)."""
    if kind == "raw":
        return byte_length
    count = byte_length // 4
    if kind == "fp16":
        return 2 * count
    return 2 * -(-count // INT8_BLOCK) + (-(-count // 2) if kind == "int4" else count)
