"""int8 / int4 weights read in the shader (`webdnn convert --weights int8|int4` for webgpu and webgpu-fp16).

Under `--weights int8|int4` every weight travels block-quantized (backends/common/weight_encoding.py) and the
runtime decodes it to float32 at load. The GEMM operands of MatMul/Gemm (B) and Conv (the filters) are the
exception on webgpu: they stay 8- or 4-bit on the GPU too, a quarter (an eighth) of float32's memory and of
the bandwidth the GEMM spends reading them, and the loader unpacks them in the shader. They are the same
numbers: the same array (in the layout the kernel reads) quantized by the same function, so outputs do not
change.

A packed weight is one uint8 tensor, bound as array<u32>:
  words [0, S)       the blocks' scales, bfloat16, two per word (block b in bits 16·(b % 2)..)
  words [S, S + Q)   the values, 32 / bits per word: element e in bits bits·(e % per)..  of word S + e / per
with blocks of INT8_BLOCK consecutive elements, S = ceil(blocks / 2), per = 4 (int8) or 8 (int4),
Q = ceil(count / per). Its download is the encoded float32 weight's size (2 bytes per block, then the values)
plus at most 6 bytes of padding.
"""

from __future__ import annotations

import numpy as np

from webdnn.backends.common.weight_encoding import INT8_BLOCK, MIN_ELEMENTS, pack_int4, quantize_int8
from webdnn.backends.webgpu.wgsl import Ctx, Shader, u32
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Value

BITS = {"int8": 8, "int4": 4}  # the encodings whose GEMM weights stay packed


def packs(ctx: Ctx, w: Value) -> bool:
    """Whether `w` is read packed: a float32 weight the encoding would quantize anyway."""
    if not ctx.weight_bits or not w.is_const or w.dtype != DType.FLOAT32:
        return False
    data = np.asarray(w.const)
    return data.size >= MIN_ELEMENTS and bool(np.isfinite(data).all())


def packed(ctx: Ctx, w: Value, data: np.ndarray | None = None) -> tuple[Value, int]:
    """The packed tensor of `w` (or of `data`, the layout the kernel reads), and its first value word."""
    if data is None and id(w) in ctx.packed:
        return ctx.packed[id(w)]
    flat = np.ascontiguousarray(np.asarray(w.const) if data is None else data, np.float32).reshape(-1)
    bits, q = quantize_int8(flat, 127 if ctx.weight_bits == 8 else 7)
    scale_words = -(-bits.size // 2)
    scales = np.zeros(2 * scale_words, "<u2")
    scales[: bits.size] = bits
    values = (q.view(np.uint8) if ctx.weight_bits == 8 else pack_int4(q)).reshape(-1)
    words = np.zeros(4 * -(-values.size // 4), np.uint8)
    words[: values.size] = values
    blob = np.concatenate([scales.view(np.uint8), words])
    ctx.packed[id(w)] = (ctx.graph.const_value(f"{w.name}_q{ctx.weight_bits}", blob), scale_words)
    return ctx.packed[id(w)]


def load_rows_packed(sh: Shader, fn: str, w: Value, first: int, vec: bool, rows: int, cols: int, base: str,
                     row_stride: int) -> str:
    """`fn(z, r, c)` -> vec4 of M[r, c..c+3], M[r, c] element base(z) + r*row_stride + c of the packed `w`
    (matmul.load_rows for a packed operand; `vec` when the four lie in one word and one block)."""
    bits = sh.ctx.weight_bits
    per = 32 // bits
    buf = sh.read(w, "u32")
    inside = f"r < {u32(rows)} && c < {u32(cols)}"
    top = 32 - bits  # a value's bits shifted to the top of the word, then arithmetically back: sign-extended
    scale = (f"fn {fn}_scale(e: u32) -> f32 {{\n"
             f"    let b = e / {INT8_BLOCK}u;\n"
             f"    return bitcast<f32>((({buf}[b >> 1u] >> ((b & 1u) << 4u)) & 0xffffu) << 16u);\n}}\n")
    if vec:  # cols % 4 == 0, base and row_stride multiples of 4: one word, one block
        lanes = ", ".join(f"bitcast<i32>(w << ({top}u - s - {bits * j}u))" for j in range(4))
        return scale + (
            f"fn {fn}(z: u32, r: u32, c: u32) -> vec4<f32> {{\n"
            f"    if (!({inside})) {{ return vec4<f32>(0.0); }}\n"
            f"    let e = {base} + r * {u32(row_stride)} + c;\n"
            f"    let w = {buf}[{first}u + e / {per}u];\n"
            f"    let s = {bits}u * (e % {per}u);\n"
            f"    let q = vec4<i32>({lanes}) >> vec4<u32>({top}u);\n"
            f"    return vec4<f32>(q) * {fn}_scale(e);\n}}\n"
        )
    at = f"{fn}_at"
    return scale + (
        f"fn {at}(z: u32, r: u32, c: u32) -> f32 {{\n"
        f"    if (!({inside})) {{ return 0.0; }}\n"
        f"    let e = {base} + r * {u32(row_stride)} + c;\n"
        f"    let q = bitcast<i32>({buf}[{first}u + e / {per}u] << ({top}u - {bits}u * (e % {per}u))) >> {top}u;\n"
        f"    return f32(q) * {fn}_scale(e);\n}}\n"
        f"fn {fn}(z: u32, r: u32, c: u32) -> vec4<f32> {{\n"
        f"    return vec4<f32>({at}(z, r, c), {at}(z, r, c + 1u), {at}(z, r, c + 2u), {at}(z, r, c + 3u));\n}}\n"
    )
