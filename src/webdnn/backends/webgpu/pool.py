"""MaxPool and AveragePool (1-D to 3-D windows): one thread per output element.

The attrs are canonical: explicit pads (begin..., end...), and the output shape already
reflects ceil_mode. AveragePool divides by the number of taps inside the input
(count_include_pad=0) or inside the padded input [-pad_begin, size + pad_end)
(count_include_pad=1), as the fallback kernel does.
"""

from __future__ import annotations

from webdnn.backends.webgpu.wgsl import (
    NEG_INF,
    Ctx,
    Dispatch,
    Shader,
    Unsupported,
    elementwise_dispatch,
    ins,
    need_f32,
    prod,
    register,
    shape,
    u32,
    unravel,
)
from webdnn.ir.graph import Node


@register("MaxPool", "AveragePool")
def pool(ctx: Ctx, node: Node) -> list[Dispatch]:
    x, y = ins(node)[0], node.outputs[0]
    need_f32(x, y)
    if len(node.outputs) > 1:
        raise Unsupported("MaxPool's Indices output")
    xs, ys = shape(x), shape(y)
    nd = len(xs) - 2
    if not 1 <= nd <= 3:
        raise Unsupported(f"{nd}-D pooling")
    k = [int(v) for v in node.attrs["kernel_shape"]]
    s = [int(v) for v in node.attrs.get("strides", [1] * nd)]
    d = [int(v) for v in node.attrs.get("dilations", [1] * nd)]
    p = [int(v) for v in node.attrs.get("pads", [0] * 2 * nd)]
    is_max = node.op_type == "MaxPool"
    include_pad = int(node.attrs.get("count_include_pad", 0)) == 1
    sp = xs[2:]
    sh = Shader(ctx)
    bx, by = sh.read(x), sh.write(y)
    lines = [unravel("i", ys), f"let xb = (c0 * {u32(xs[1])} + c1) * {u32(prod(sp))};"]
    lines.append(f"var acc = {NEG_INF};" if is_max else "var acc = 0.0;")
    lines.append("var cnt = 1.0;")
    indent = ""
    for a in range(nd):
        lines.append(f"{indent}for (var t{a} = 0u; t{a} < {u32(k[a])}; t{a} = t{a} + 1u) {{")
        indent += "    "
        lines.append(f"{indent}let p{a} = i32(c{a + 2} * {u32(s[a])} + t{a} * {u32(d[a])}) - {p[a]}i;")
        lines.append(f"{indent}if (p{a} < 0 || p{a} >= {sp[a]}i) {{ continue; }}")
    flat = " + ".join(f"u32(p{a}) * {u32(prod(sp[a + 1:]))}" for a in range(nd))
    lines.append(f"{indent}let v = {bx}[xb + {flat}];")
    lines.append(f"{indent}{'if (v > acc || v != v) { acc = v; }' if is_max else 'acc = acc + v;'}")
    for _ in range(nd):
        indent = indent[:-4]
        lines.append(f"{indent}}}")
    if not is_max:  # taps counted per axis, as the fallback does
        for a in range(nd):
            lo, hi = (-p[a], sp[a] + p[nd + a]) if include_pad else (0, sp[a])
            lines.append(f"var n{a} = 0.0;")
            lines.append(f"for (var t = 0u; t < {u32(k[a])}; t = t + 1u) {{")
            lines.append(f"    let q = i32(c{a + 2} * {u32(s[a])} + t * {u32(d[a])}) - {p[a]}i;")
            lines.append(f"    if (q >= {lo}i && q < {hi}i) {{ n{a} = n{a} + 1.0; }}")
            lines.append("}")
            lines.append(f"cnt = cnt * n{a};")
        lines.append("acc = acc / cnt;")
    lines.append(f"{by}[i] = acc;")
    return [elementwise_dispatch(sh, y.size, "\n    ".join(lines))]
