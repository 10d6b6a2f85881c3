"""Resize / Upsample, modes nearest, linear and cubic, every coordinate mode but tf_crop_and_resize.

The per-axis source taps are computed here, at conversion, exactly as the fallback kernel
computes them (float32 coordinates, the same rounding rules), and stored as a weight
tensor per resized axis: (out_len, 4) float32 rows [index0, index1, weight0, weight1]
(index1 = index0 and weight1 = 0 for nearest), or for cubic (out_len, 8) rows
[index0..3, weight0..3] (read as two vec4s). The shader visits the T^A tap combinations
of the A resized axes for each output element (T = 1, 2 or 4 taps per axis).
"""

from __future__ import annotations

import numpy as np

from webdnn.backends.common.resize_taps import axis_taps, is_identity, unresized
from webdnn.backends.webgpu.wgsl import (
    Ctx,
    Dispatch,
    Shader,
    Unsupported,
    elementwise_dispatch,
    ins,
    need_f32,
    register,
    shape,
    strides,
    u32,
    unravel,
)
from webdnn.ir.graph import Node


def fr(x: float) -> float:
    return float(np.float32(x))


def axis_table(mode: str, coord: str, nearest: str, len_in: int, len_out: int, scale: float,
               cubic_a: float = -0.75, exclude: bool = False) -> np.ndarray:
    """(len_out, 4) float32 rows [i0, i1, w0, w1] for one axis (nearest: i1 = i0, w1 = 0);
    cubic: (len_out, 8) [i0..i3, w0..w3]. The taps are common/resize_taps.py's."""
    try:
        t = axis_taps(mode, coord, nearest, len_in, len_out, scale, cubic_a=cubic_a, exclude=exclude)
    except KeyError as e:
        raise Unsupported(f"Resize mode {e}") from None
    if mode == "nearest":
        i, w = t[:, 0, 0], t[:, 0, 1]
        return np.stack([i, i, w, np.zeros_like(w)], axis=1).astype(np.float32)
    return np.concatenate([t[..., 0], t[..., 1]], axis=1).astype(np.float32)


@register("Resize", "Upsample")
def resize(ctx: Ctx, node: Node) -> list[Dispatch]:
    x, y = ins(node)[0], node.outputs[0]
    need_f32(x, y)
    mode = node.attrs.get("mode", "nearest")
    if mode not in ("nearest", "linear", "cubic"):
        raise Unsupported(f"mode {mode!r}")
    cubic_a = float(node.attrs.get("cubic_coeff_a", -0.75))
    exclude = int(node.attrs.get("exclude_outside", 0)) == 1
    taps = {"nearest": 1, "linear": 2, "cubic": 4}[mode]
    coord = node.attrs.get("coordinate_transformation_mode", "half_pixel")
    if coord == "tf_crop_and_resize":
        raise Unsupported("coordinate_transformation_mode 'tf_crop_and_resize'")
    nearest = node.attrs.get("nearest_mode", "round_prefer_floor")
    xs, ys = shape(x), shape(y)
    scales = [fr(s) for s in node.attrs["scales"]]
    st = strides(xs)
    sh = Shader(ctx)
    bx = sh.read(x)
    resized: list[tuple[int, str]] = []
    for a, (li, lo, s) in enumerate(zip(xs, ys, scales, strict=True)):
        if unresized(li, lo, s):  # (a batch axis of symbolic length: no table to make)
            continue
        table = axis_table(mode, coord, nearest, li, lo, s, cubic_a, exclude)
        cols = table.shape[1] // 2  # index columns, then as many weight columns
        if not is_identity(np.stack([table[:, :cols], table[:, cols:]], axis=-1), li):
            tv = ctx.graph.const_value(f"{node.name}_taps{a}", table)
            resized.append((a, sh.read(tv, "vec4<f32>")))
    if len(resized) > 4:
        raise Unsupported("more than 4 resized axes")
    by = sh.write(y)
    lines = [unravel("i", ys)]
    fixed = " + ".join(f"c{d} * {u32(st[d])}" for d in range(len(xs)) if d not in {a for a, _ in resized}) or "0u"
    for a, buf in resized:
        if taps == 4:
            lines.append(f"let t{a} = {buf}[c{a} * 2u];")
            lines.append(f"let w{a} = {buf}[c{a} * 2u + 1u];")
        else:
            lines.append(f"let t{a} = {buf}[c{a}];")
            lines.append(f"let w{a} = t{a}.zw;")
    lines.append("var acc = 0.0;")
    lanes = "xyzw"
    for combo in range(taps ** len(resized)):
        idx, wts = [fixed], []
        for bit, (a, _) in enumerate(resized):
            k = (combo // taps ** bit) % taps
            idx.append(f"u32(t{a}.{lanes[k]}) * {u32(st[a])}")
            wts.append(f"w{a}.{lanes[k]}")
        weight = " * ".join(wts) if mode != "nearest" and wts else "1.0"
        lines.append(f"acc = acc + {weight} * {bx}[{' + '.join(idx)}];")
    lines.append(f"{by}[i] = acc;")
    return [elementwise_dispatch(sh, y.size, "\n    ".join(lines))]
