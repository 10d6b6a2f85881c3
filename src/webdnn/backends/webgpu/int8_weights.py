"""int8 weights read in the shader (`webdnn convert --weights int8` for webgpu and webgpu-fp16).

Under `--weights int8` every weight travels block-quantized (backends/common/weight_encoding.py) and the
runtime decodes it to float32 at load. The GEMM operands of MatMul/Gemm (B) and Conv (the filters) are
the exception on webgpu: they stay 8-bit on the GPU too, a quarter of float32's memory and of the bandwidth
the GEMM spends reading them, and the loader unpacks them in the shader. They are the same numbers: the
same array (in the layout the kernel reads) quantized by the same function, so outputs do not change.

A packed weight is one uint8 tensor, bound as array<u32>:
  words [0, S)       the blocks' scales, bfloat16, two per word (block b in bits 16·(b % 2)..)
  words [S, S + Q)   the int8 values, four per word, element e in byte e % 4 of word S + e / 4
with blocks of INT8_BLOCK consecutive elements, S = ceil(blocks / 2), Q = ceil(count / 4). Its download is
the same size as the encoded float32 weight's (2 bytes per block and one per element, plus padding).
"""

from __future__ import annotations

import numpy as np

from webdnn.backends.common.weight_encoding import INT8_BLOCK, MIN_ELEMENTS, quantize_int8
from webdnn.backends.webgpu.wgsl import Ctx, Shader, u32
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Value


def packs(ctx: Ctx, w: Value) -> bool:
    """Whether `w` is read as packed int8: a float32 weight the int8 encoding would quantize anyway."""
    if not ctx.int8_weights or not w.is_const or w.dtype != DType.FLOAT32:
        return False
    data = np.asarray(w.const)
    return data.size >= MIN_ELEMENTS and bool(np.isfinite(data).all())


def packed(ctx: Ctx, w: Value, data: np.ndarray | None = None) -> tuple[Value, int]:
    """The packed tensor of `w` (or of `data`, the layout the kernel reads), and its first value word."""
    if data is None and id(w) in ctx.packed:
        return ctx.packed[id(w)]
    flat = np.ascontiguousarray(np.asarray(w.const) if data is None else data, np.float32).reshape(-1)
    bits, q = quantize_int8(flat)
    scale_words = -(-bits.size // 2)
    scales = np.zeros(2 * scale_words, "<u2")
    scales[: bits.size] = bits
    values = np.zeros(4 * -(-q.size // 4), np.int8)
    values[: q.size] = q
    blob = np.concatenate([scales.view(np.uint8), values.view(np.uint8)])
    ctx.packed[id(w)] = (ctx.graph.const_value(f"{w.name}_q8", blob), scale_words)
    return ctx.packed[id(w)]


def load_rows_q8(sh: Shader, fn: str, w: Value, first: int, vec: bool, rows: int, cols: int, base: str,
                 row_stride: int) -> str:
    """`fn(z, r, c)` -> vec4 of M[r, c..c+3], M[r, c] element base(z) + r*row_stride + c of the packed `w`
    (matmul.load_rows for a packed int8 operand; `vec` when one word holds the four)."""
    buf = sh.read(w, "u32")
    inside = f"r < {u32(rows)} && c < {u32(cols)}"
    scale = (f"fn {fn}_scale(e: u32) -> f32 {{\n"
             f"    let b = e / {INT8_BLOCK}u;\n"
             f"    return bitcast<f32>((({buf}[b >> 1u] >> ((b & 1u) << 4u)) & 0xffffu) << 16u);\n}}\n")
    if vec:  # cols % 4 == 0, base and row_stride multiples of 4: one word, one block
        return scale + (
            f"fn {fn}(z: u32, r: u32, c: u32) -> vec4<f32> {{\n"
            f"    if (!({inside})) {{ return vec4<f32>(0.0); }}\n"
            f"    let e = {base} + r * {u32(row_stride)} + c;\n"
            f"    let w = {buf}[{first}u + e / 4u];\n"
            f"    let q = vec4<i32>(bitcast<i32>(w << 24u), bitcast<i32>(w << 16u), bitcast<i32>(w << 8u), "
            f"bitcast<i32>(w)) >> vec4<u32>(24u);\n"
            f"    return vec4<f32>(q) * {fn}_scale(e);\n}}\n"
        )
    at = f"{fn}_at"
    return scale + (
        f"fn {at}(z: u32, r: u32, c: u32) -> f32 {{\n"
        f"    if (!({inside})) {{ return 0.0; }}\n"
        f"    let e = {base} + r * {u32(row_stride)} + c;\n"
        f"    let q = bitcast<i32>({buf}[{first}u + e / 4u] << (24u - 8u * (e % 4u))) >> 24u;\n"
        f"    return f32(q) * {fn}_scale(e);\n}}\n"
        f"fn {fn}(z: u32, r: u32, c: u32) -> vec4<f32> {{\n"
        f"    return vec4<f32>({at}(z, r, c), {at}(z, r, c + 1u), {at}(z, r, c + 2u), {at}(z, r, c + 3u));\n}}\n"
    )
