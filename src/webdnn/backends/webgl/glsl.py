"""GLSL ES 3.00 building blocks shared by the webgl kernel generators.

Every tensor lives in an RGBA32F texture holding four consecutive flat (row-major) elements
per texel: texel t holds elements 4t..4t+3 (the last texel is padded with zeros). Texel t of
a texture W texels wide sits at (t % W, t / W); tensors beyond 4096 x 4096 texels use a 2-D
array texture of 4096 x 4096-texel layers (layer t / 4096**2). The flat index of an element
never depends on its texture, so views (Reshape, ...) share their root's texture.

A kernel ("pass") writes one output tensor; each fragment writes the texel t = y * W_out + x:
- generic: the body defines `float compute(int o)`, called for o = 4t..4t+3 (o < size);
- vectorized: the body defines `vec4 compute4(int t)`, the whole texel at once (components
  beyond the tensor's end are zeroed by main).
Inputs are read with `float X<k>(int i)` (element i; k = input position), `vec4 X<k>t(int t)`
(texel t, elements 4t..4t+3) and `vec4 X<k>v(int i)` (elements i..i+3, any alignment: two
texel fetches when i % 4 != 0). Shapes are baked in as constants, so the only uniforms are the
samplers (and `u_base`, the layer's first texel, for array-texture outputs).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from webdnn.errors import ConversionError
from webdnn.ir.shapes import strides as strides  # re-exported to the kernels
from webdnn.ir.symbolic import Dim, Sym, ceildiv, hint, smax, upper_or_none

# Widest texture the lowering lays tensors out in: every WebGL2 device supports at least
# 2048 (the spec minimum) and nearly all 4096. A tensor of more than 4096 x 4096 elements
# goes to a 2-D array texture of 4096 x 4096 layers (MAX_ARRAY_TEXTURE_LAYERS is at least
# 256 everywhere), so no texture dimension ever exceeds 4096. The runtime checks the real limits.
MAX_TEXTURE_WIDTH = 4096
LAYER_SIZE = MAX_TEXTURE_WIDTH * MAX_TEXTURE_WIDTH
MAX_LAYERS = 256


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    layers: int = 1  # > 1: a TEXTURE_2D_ARRAY of `layers` width x height layers
    # texels per layer in the flat order (0: width * height): flat texel t is texel t % stride
    # of layer t / stride (row-major in the layer); a multi-target pass's output has one layer
    # per render target, each holding exactly its share of the tensor
    stride: int = 0

    @property
    def layer_texels(self) -> int:
        return self.stride or self.width * self.height

    @property
    def texels(self) -> int:
        return self.layer_texels * self.layers


def texels_for(size: Dim) -> Dim:
    """Texels holding `size` elements, four per texel (at least one)."""
    return smax(ceildiv(size, 4), 1)


def layout_for(size: int) -> Layout:
    """Layout of `size` elements (ceil(size / 4) texels, row-major): a near-square 2-D texture
    whose width is a power of two (at most 4096), else layers of 4096 x 4096 texels.
    Near-square, not one long row: GPUs shade 2 x 2 quads (a one-row target wastes half of
    every quad) and SwiftShader splits a draw among its threads by rows."""
    size = texels_for(size)
    if isinstance(size, Sym):
        # a symbolic size: the width chosen at the planning hint (any width is right), the height
        # follows the size; the texture must fit one layer at every size the bounds allow
        most = upper_or_none(size)  # unbounded: a size beyond one layer fails the runtime's texture checks
        if most is not None and most > LAYER_SIZE:
            raise ConversionError(f"webgl: a tensor of up to {4 * most} elements needs texture layers, which "
                                  "dynamic sizes cannot use; bound the input symbols lower or fix the input shape")
        width = layout_for(4 * hint(size)).width
        return Layout(width, ceildiv(size, width))
    if size <= LAYER_SIZE:
        width = min(MAX_TEXTURE_WIDTH, 1 << max(0, math.ceil(math.log2(math.sqrt(size)))))
        return Layout(width, math.ceil(size / width))
    layers = math.ceil(size / LAYER_SIZE)
    if layers > MAX_LAYERS:
        raise ConversionError(
            f"webgl: a tensor of {4 * size} elements needs {layers} texture layers, more than {MAX_LAYERS}"
        )
    return Layout(MAX_TEXTURE_WIDTH, MAX_TEXTURE_WIDTH, layers)


def targets_layout(size: int, targets: int) -> Layout:
    """Layout of the output of a pass with `targets` render targets: one layer per target, each
    holding a contiguous 1/targets of the tensor's texels (laid out like layout_for)."""
    texels = texels_for(size)
    assert texels % targets == 0, (size, targets)
    lay = layout_for(4 * (texels // targets))
    if lay.layers > 1:
        raise ConversionError(f"webgl: a tensor of {size} elements is too large for a multi-target pass")
    return Layout(lay.width, lay.height, targets, texels // targets)


def flt(x: float | Sym) -> str:
    """A float literal that reads back as the same float32 value (non-finite via bit tricks); a
    symbolic size as the conversion of its integer value."""
    if isinstance(x, Sym):
        return f"float({x})"
    x = float(np.float32(x))
    if math.isnan(x):
        return "uintBitsToFloat(0x7fc00000u)"
    if math.isinf(x):
        return "uintBitsToFloat(0x7f800000u)" if x > 0 else "uintBitsToFloat(0xff800000u)"
    r = repr(x)
    return r if ("." in r or "e" in r) else r + ".0"


def _pow2(x: Dim) -> bool:
    return not isinstance(x, Sym) and x & (x - 1) == 0


def texel(lay: Layout, idx: str) -> str:
    """GLSL ivec2 (ivec3 for array textures) coordinate of texel index `idx` in `lay`; in an
    array texture whose layer is not a whole power-of-two texture, `idx` must be a variable
    and `<idx>_l`, `<idx>_r` (layer, texel in the layer) must be in scope (see texel_prelude)."""
    if lay.layers > 1:
        if lay.stride in (0, lay.width * lay.height) and _pow2(lay.width) and _pow2(lay.height):
            sw, sh = lay.width.bit_length() - 1, lay.height.bit_length() - 1
            return f"ivec3({idx} & {lay.width - 1}, ({idx} >> {sw}) & {lay.height - 1}, {idx} >> {sw + sh})"
        return f"ivec3({idx}_r & {lay.width - 1}, {idx}_r >> {lay.width.bit_length() - 1}, {idx}_l)"
    if lay.height == 1:
        return f"ivec2({idx}, 0)"
    if lay.width & (lay.width - 1) == 0:
        shift = lay.width.bit_length() - 1
        return f"ivec2({idx} & {lay.width - 1}, {idx} >> {shift})"
    return f"ivec2({idx} % {lay.width}, {idx} / {lay.width})"


def texel_prelude(lay: Layout, idx: str) -> str:
    """Statements texel(lay, idx) needs first (layer and in-layer texel of a strided array)."""
    if lay.layers > 1 and "_r" in texel(lay, idx):
        return f"int {idx}_l = {idx} / {lay.layer_texels}; int {idx}_r = {idx} - {idx}_l * {lay.layer_texels}; "
    return ""


def coords(var: str, shape: Sequence[int], prefix: str) -> str:
    """GLSL statements `int <prefix><d> = ...;` decomposing flat index `var` over `shape`."""
    lines = []
    for d, (n, s) in enumerate(zip(shape, strides(shape), strict=True)):
        if n == 1:
            e = "0"
        else:
            e = var if s == 1 else f"({var} / {s})"
            if d > 0:
                e = f"{e} % {n}"
        lines.append(f"int {prefix}{d} = {e};")
    return " ".join(lines)


def linear(terms: Sequence[tuple[str, int]], base: int = 0) -> str:
    """GLSL int expression base + sum(var * coefficient), skipping zero coefficients."""
    parts = [f"{base}"] if base else []  # an f-string: a symbolic base becomes a placeholder (str() would not)
    for v, c in terms:
        if c == 0:
            continue
        parts.append(v if c == 1 else f"{v} * {c}")
    return " + ".join(parts) if parts else "0"


def broadcast_index(out_shape: Sequence[int], in_shape: Sequence[int], prefix: str, flat: str = "o") -> str:
    """Flat index into a tensor of `in_shape` broadcast (numpy rules) to `out_shape`, given the
    output's coordinates named `<prefix><d>` and its flat index `flat`."""
    if tuple(in_shape) == tuple(out_shape):
        return flat
    lead = len(out_shape) - len(in_shape)
    ist = strides(in_shape)
    terms = [(f"{prefix}{d + lead}", ist[d] if in_shape[d] != 1 else 0) for d in range(len(in_shape))]
    return linear(terms)


def norm_index(var: str, dim: int) -> str:
    """GLSL statements turning float index `var` (an integer value) into the int `var`_i in [0, dim):
    negative from the end, then clamped. The clamp is done on the float, before int(), which is
    undefined beyond the int range (an int64 index of 2**32 + 1 arrives as 4294967296.0)."""
    v = f"{var}_i"
    return (f"if ({var} < 0.0) {var} += {flt(dim)}; "
            f"int {v} = int(clamp({var}, 0.0, {flt(smax(dim - 1, 0))}));")


# NaN in, NaN out, as onnxruntime: GLSL leaves min/max/clamp of NaN undefined (SwiftShader's
# give the bound) and SwiftShader's exp/log/sign of NaN give numbers. So bounds are a comparison
# and a choice (`v < 0.0 ? 0.0 : v` is false for NaN: as cheap as max), and transcendental
# results are replaced by v where v's bits say NaN (`v != v` may be folded away).
def is_nan(v: str) -> str:
    """GLSL bool: float `v` (a name) is NaN, tested on its bits."""
    return f"((floatBitsToUint({v}) & 0x7fffffffu) > 0x7f800000u)"


def keep_nan(expr: str, v: str) -> str:
    """`expr`, or v itself where v is NaN."""
    return f"({is_nan(v)} ? {v} : {expr})"


def clamp_keep_nan(v: str, lo: float | None, hi: float | None) -> str:
    """min(max(v, lo), hi) (hi wins when lo > hi, as onnxruntime) keeping NaN; None: no bound.
    `v` is a name or a cheap expression (it is repeated)."""
    if lo is not None and hi is not None and lo > hi:
        lo = hi
    e = v
    if lo is not None:
        e = f"({v} < {flt(lo)} ? {flt(lo)} : {v})"
    if hi is not None:
        e = f"({v} > {flt(hi)} ? {flt(hi)} : {e})"
    return e


# `act` of each component (kernels that end in a vec4 per render target)
ACT4 = "vec4 act4(vec4 v) { return vec4(act(v.x), act(v.y), act(v.z), act(v.w)); }"

# float16 rounding of a finite v (packHalf2x16 leaves inf/NaN and overflow undefined)
HALF_ROUND = (
    "  if ((floatBitsToUint(v) & 0x7f800000u) != 0x7f800000u) {\n"
    "    v = abs(v) >= 65520.0 ? sign(v) * uintBitsToFloat(0x7f800000u)\n"
    "                          : unpackHalf2x16(packHalf2x16(vec2(v, 0.0))).x;\n"
    "  }\n"
)
# `half_(v)`: v as a float16 store keeps it (rounded; inf/NaN unchanged)
HALF = "float half_(float v) {\n" + HALF_ROUND + "  return v;\n}\n"
# log with IEEE results at 0 and below (GLSL leaves them undefined)
LOG = """
float log_(float x) {
  if (x == 0.0) return uintBitsToFloat(0xff800000u);
  if (x < 0.0) return uintBitsToFloat(0x7fc00000u);
  return log(x);
}
"""


# Module-scope functions a pass may call without writing them (expr_glsl.py's expression
# functions and their helpers): call token (e.g. "erf_(") -> definition. `fragment` adds those a
# pass calls, each once, callees before callers (GLSL needs a declaration before a call).
_LIBRARY: dict[str, str] = {}


def define(call: str, text: str) -> None:
    if _LIBRARY.get(call, text) != text:
        raise ValueError(f"two definitions of GLSL {call!r}")
    _LIBRARY[call] = text


def _definitions(body: str) -> str:
    """The library definitions `body` calls and does not define, dependencies first."""
    out: list[str] = []

    def need(text: str) -> None:
        for call, fn in _LIBRARY.items():
            if fn not in out and fn not in body and re.search(r"(?<!\w)" + re.escape(call), text):
                need(fn.replace(call, "", 1))  # (its own name removed: what it calls)
                out.append(fn)

    need(body)
    return "".join(out)


def _fetchers(k: int, lay: Layout, body: str) -> list[str]:
    """Sampler u<k> and its readers X<k> (element), X<k>t (texel), X<k>v (4 elements, any alignment)."""
    lines = [
        f"uniform {'sampler2DArray' if lay.layers > 1 else 'sampler2D'} u{k};",
        f"vec4 X{k}t(int t) {{ {texel_prelude(lay, 't')}return texelFetch(u{k}, {texel(lay, 't')}, 0); }}",
        f"float X{k}(int i) {{ return X{k}t(i >> 2)[i & 3]; }}",
    ]
    if f"X{k}v(" in body:
        lines.append(
            f"vec4 X{k}v(int i) {{\n  int s = i & 3; vec4 a = X{k}t(i >> 2);\n  if (s == 0) return a;\n"
            f"  vec4 b = X{k}t((i >> 2) + 1);\n"
            "  return s == 1 ? vec4(a.yzw, b.x) : (s == 2 ? vec4(a.zw, b.xy) : vec4(a.w, b.xyz));\n}"
        )
    return lines


def fragment(in_layouts: Sequence[Layout], out_size: int, out_layout: Layout, body: str, half: bool = False,
             vec4: bool = False, targets: int = 1) -> str:
    """The complete fragment shader of one pass: samplers, fetchers, `body`, main.
    `vec4`: the body defines `vec4 compute4(int t)`, else `float compute(int o)`.
    `targets` > 1: the body defines `void computeN(int t, out vec4 y0, ..)`, writing texel
    t + k * S of the output (S = its layer_texels) to yk, one render target (layer) each.
    `half`: the output is float16, so each value is rounded to float16 as it is written."""
    lines = ["#version 300 es", "precision highp float;", "precision highp int;", "precision highp sampler2D;"]
    if any(lay.layers > 1 for lay in in_layouts):
        lines.append("precision highp sampler2DArray;")
    for k, lay in enumerate(in_layouts):
        lines += _fetchers(k, lay, body)
    # an array-texture output is drawn one layer at a time; u_base is the layer's first texel
    if out_layout.layers > 1:
        lines.append("uniform int u_base;")
    base = "u_base + " if out_layout.layers > 1 else ""
    size = smax(out_size, 1)
    texels = texels_for(size)
    if targets > 1:
        lines.append(" ".join(f"layout(location = {k}) out vec4 y{k}_;" for k in range(targets)))
    else:
        lines.append("out vec4 y_;")
    if half and "float half_(" not in body:  # a fused body may define it already (float16 intermediates)
        lines.append(HALF.strip())
    defs = _definitions(body)
    if defs:
        lines.append(defs.strip())
    lines.append(body.strip())
    if targets > 1:
        assert out_layout.layers == targets and out_size % 4 == 0 and out_layout.texels == texels_for(out_size)
        # only float32 products use targets (float16 Conv/MatMul are refused at conversion)
        assert not half, "float16 multi-target passes are not supported"
        ys = [f"v{k}" for k in range(targets)]
        lines.append("\n".join([
            "void main() {", "  ivec2 p = ivec2(gl_FragCoord.xy);", f"  int t = p.y * {out_layout.width} + p.x;",
            "  vec4 " + ", ".join(f"{y} = vec4(0.0)" for y in ys) + ";",
            f"  if (t < {out_layout.layer_texels}) computeN(t, {', '.join(ys)});",
            *(f"  y{k}_ = v{k};" for k in range(targets)), "}"]))
        return "\n".join(lines) + "\n"
    main = ["void main() {", "  ivec2 p = ivec2(gl_FragCoord.xy);", f"  int t = {base}p.y * {out_layout.width} + p.x;",
            "  vec4 v = vec4(0.0);"]
    if vec4:
        main.append(f"  if (t < {texels}) v = compute4(t);")
        if isinstance(size % 4, Sym):  # the last texel's padding stays zero, its fill known at run time
            main.append(f"  if (t == {texels - 1}) {{ int r = {size} - 4 * t; v = vec4(v.x, r > 1 ? v.y : 0.0, "
                        "r > 2 ? v.z : 0.0, r > 3 ? v.w : 0.0); }")
        elif size % 4 != 0:  # the last texel's padding stays zero
            main.append(f"  if (t == {texels - 1}) v = vec4(v.x, {'v.y' if size % 4 > 1 else '0.0'}, "
                        f"{'v.z' if size % 4 > 2 else '0.0'}, 0.0);")
    else:
        main.append(f"  if (t < {texels}) {{")
        main.append("    int o = 4 * t;")
        for c, comp in enumerate("xyzw"):
            guard = f"if (o + {c} < {size}) " if size % 4 != 0 and c else ""  # symbolic: unless surely a multiple
            main.append(f"    {guard}v.{comp} = compute(o + {c});")
        main.append("  }")
    if half:
        main.append("  v = vec4(half_(v.x), half_(v.y), half_(v.z), half_(v.w));")
    main += ["  y_ = v;", "}"]
    lines.append("\n".join(main))
    return "\n".join(lines) + "\n"
