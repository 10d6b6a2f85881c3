"""Resize / Upsample: nearest (every nearest_mode), linear and cubic, with the coordinate
modes of the fallback kernel. Interpolation is separable, so the lowering computes per-axis
tap tables (source index and weight per output index, float32 coordinates as onnxruntime)
at conversion; they travel as one small weight texture and each fragment sums the
product of its axes' taps."""

from __future__ import annotations

import numpy as np

from webdnn.backends.common.resize_taps import COORD, NEAREST, TAPS, axis_taps, is_identity, unresized
from webdnn.backends.webgl.core import Ctx, Pass, attr_float, ins, kernel, need_float, shape
from webdnn.backends.webgl.glsl import coords, flt, strides
from webdnn.ir.graph import Node

f32 = np.float32


@kernel("Resize", "Upsample")
def _resize(ctx: Ctx, node: Node) -> list[Pass]:
    x = ins(node, ctx)[0]
    need_float(node, ctx, [x])
    xs, y = shape(x), node.outputs[0]
    ys = shape(y)
    rank = len(xs)
    mode = node.attrs.get("mode", "nearest")
    cmode = node.attrs.get("coordinate_transformation_mode", "half_pixel")
    nmode = node.attrs.get("nearest_mode", "round_prefer_floor")
    if mode not in TAPS or cmode not in COORD or nmode not in NEAREST:
        raise ctx.fail(node, f"does not support Resize mode {mode!r} with {cmode!r} and its nearest_mode")
    scales = [float(f32(attr_float(s))) for s in node.attrs["scales"]]
    roi = [attr_float(r) for r in node.attrs.get("roi", [0.0] * rank + [1.0] * rank)]
    cubic_a = attr_float(node.attrs.get("cubic_coeff_a", -0.75))
    exclude = int(node.attrs.get("exclude_outside", 0)) == 1
    extrapolate = cmode == "tf_crop_and_resize"
    tables = [None if unresized(xs[a], ys[a], scales[a]) else
              axis_taps(mode, cmode, nmode, xs[a], ys[a], scales[a], cubic_a=cubic_a, exclude=exclude,
                        roi=(roi[a], roi[rank + a])) for a in range(rank)]
    axes = [a for a in range(rank) if tables[a] is not None and not is_identity(tables[a], xs[a])]
    xst = strides(xs)
    taps = TAPS[mode]
    offsets, parts, off = {}, [], 0
    for a in axes:
        offsets[a] = off
        parts.append(tables[a].reshape(-1))
        off += tables[a].size
    kept = [d for d in range(rank) if d not in axes and not (isinstance(xs[d], int) and xs[d] <= 1)]
    base = " + ".join([f"c{d} * {xst[d]}" for d in kept] or ["0"])
    lines = ["float compute(int o) {", "  " + coords("o", ys, "c"), f"  int b = {base};", "  float acc = 0.0;"]
    indent = "  "
    for a in axes:
        lines.append(f"{indent}for (int t{a} = 0; t{a} < {taps}; t{a}++) {{")
        indent += "  "
        lines.append(f"{indent}int q{a} = {offsets[a]} + (c{a} * {taps} + t{a}) * 2;")
        lines.append(f"{indent}int i{a} = int(X1(q{a})); float w{a} = X1(q{a} + 1);")
        if extrapolate:
            lines.append(f"{indent}if (i{a} < 0) return {flt(attr_float(node.attrs.get('extrapolation_value', 0.0)))};")
    idx = " + ".join(["b"] + [f"i{a} * {xst[a]}" for a in axes])
    w = " * ".join([f"w{a}" for a in axes] or ["1.0"])
    lines.append(f"{indent}acc += {w} * X0({idx});")
    for _ in axes:
        indent = indent[:-2]
        lines.append(f"{indent}}}")
    lines += ["  return acc;", "}"]
    inputs = [x]
    if axes:
        inputs.append(ctx.const(y.name + ".taps", np.concatenate(parts).astype(np.float32)))
    return [Pass(node.op_type, node.name, inputs, y, "\n".join(lines))]
