"""Conv (NCHW): implicit GEMM through the tiled matmul core, and a direct depthwise kernel.

Implicit GEMM, per image n and group g (batch z = n * G + g):
    Y[co, p] = sum_k W[co, k] * im2col(X)[k, p],   k = (ci, kh, kw), p = (oh, ow)
with M = C_out / G, N = OH * OW, K = C_in / G * KH * KW. W is already M x K row-major;
the im2col operand is gathered on the fly inside load_b (no im2col buffer), or read as
vec4s when the convolution is 1x1, stride 1, unpadded and N is a multiple of 4. Bias, the
fused activation and a fused elementwise epilogue (fuse_elementwise.fuse_epilogues: residual
Adds, ...) are applied in the store epilogue. 1-D convolutions run as 2-D with H = 1.
"""

from __future__ import annotations

from webdnn.backends.webgpu import packed_weights
from webdnn.backends.webgpu.elementwise import epilogue_storages, host_epilogue
from webdnn.backends.webgpu.expr_wgsl import activation_expr, activation_fn
from webdnn.backends.webgpu.matmul import gemm_dispatch, load_rows, store_rows
from webdnn.backends.webgpu.wgsl import (
    Ctx,
    Dispatch,
    Shader,
    Unsupported,
    elementwise_dispatch,
    need_f32,
    prod,
    register,
    shape,
    u32,
    unravel,
)
from webdnn.ir.graph import Node


def _geometry(node: Node) -> tuple[list[int], list[int], list[int], list[int], list[int], list[int]]:
    """(x shape, y shape, kernel, strides, dilations, pads) as 2-D (N, C, H, W) geometry."""
    x, y = list(shape(node.inputs[0])), list(shape(node.outputs[0]))
    nd = len(x) - 2
    k = [int(v) for v in node.attrs["kernel_shape"]]
    s = [int(v) for v in node.attrs.get("strides", [1] * nd)]
    d = [int(v) for v in node.attrs.get("dilations", [1] * nd)]
    p = [int(v) for v in node.attrs.get("pads", [0] * 2 * nd)]
    if nd == 1:
        return [*x[:2], 1, x[2]], [*y[:2], 1, y[2]], [1, *k], [1, *s], [1, *d], [0, p[0], 0, p[1]]
    if nd != 2:
        raise Unsupported(f"{nd}-D convolution (only 1-D and 2-D)")
    return x, y, k, s, d, p


@register("Conv")
def conv(ctx: Ctx, node: Node) -> list[Dispatch]:
    xv, wv, bv = node.inputs[0], node.inputs[1], node.input(2)
    y = node.outputs[0]
    assert xv is not None and wv is not None
    need_f32(xv, wv, bv, y)
    x, ys, k, s, d, p = _geometry(node)
    group = int(node.attrs.get("group", 1))
    act = node.attrs.get("activation")
    if x[1] // group == 1:
        return [_depthwise(ctx, node, x, ys, k, s, d, p, group, act)]
    n_img, cin, ih, iw = x
    cout, oh, ow = ys[1], ys[2], ys[3]
    m, n, kk = cout // group, oh * ow, (cin // group) * k[0] * k[1]
    sh = Shader(ctx)
    f32_keys = epilogue_storages(sh, node)  # e.g. `Conv(x) + x`: x is then read as f32 only
    vw = kk % 4 == 0 and sh._key(wv) not in f32_keys
    wq = packed_weights.packed(ctx, wv) if sh._key(wv) not in f32_keys and packed_weights.packs(ctx, wv) else None
    bufw = sh.read(wv, "vec4<f32>" if vw else "f32") if wq is None else ""
    pointwise = k == [1, 1] and s == [1, 1] and p == [0, 0, 0, 0]
    vx = pointwise and n % 4 == 0 and sh._key(xv) not in f32_keys
    bufx = sh.read(xv, "vec4<f32>" if vx else "f32")
    g, cig = u32(group), u32(cin // group)
    helpers = f"fn img(z: u32) -> u32 {{ return z / {g}; }}\nfn grp(z: u32) -> u32 {{ return z % {g}; }}\n"
    if wq is None:
        helpers += load_rows("load_a", bufw, vw, m, kk, f"grp(z) * {u32(m * kk)}", kk, 1)
    else:
        helpers += packed_weights.load_rows_packed(sh, "load_a", wq[0], wq[1], vw, m, kk, f"grp(z) * {u32(m * kk)}", kk)
    x_base = f"(img(z) * {u32(cin)} + grp(z) * {cig}) * {u32(ih * iw)}"
    if pointwise:
        helpers += load_rows("load_b", bufx, vx, kk, n, x_base, n, 1)
    else:
        # the tap (ci, ky, kx) is decoded once per vec4; the 4 output positions walk (oy, ox)
        helpers += f"""fn load_b(z: u32, kq: u32, pq: u32) -> vec4<f32> {{
    var out = vec4<f32>(0.0);
    if (kq >= {u32(kk)}) {{ return out; }}
    let ci = kq / {u32(k[0] * k[1])};
    let r = kq % {u32(k[0] * k[1])};
    let ky = i32((r / {u32(k[1])}) * {u32(d[0])}) - {p[0]}i;
    let kx = i32((r % {u32(k[1])}) * {u32(d[1])}) - {p[1]}i;
    let base = {x_base} + ci * {u32(ih * iw)};
    var oy = pq / {u32(ow)};
    var ox = pq % {u32(ow)};
    for (var j = 0u; j < 4u; j = j + 1u) {{
        if (pq + j >= {u32(n)}) {{ break; }}
        let yy = i32(oy * {u32(s[0])}) + ky;
        let xx = i32(ox * {u32(s[1])}) + kx;
        if (yy >= 0 && yy < {ih}i && xx >= 0 && xx < {iw}i) {{ out[j] = {bufx}[base + u32(yy) * {u32(iw)} + u32(xx)]; }}
        ox = ox + 1u;
        if (ox == {u32(ow)}) {{ ox = 0u; oy = oy + 1u; }}
    }}
    return out;
}}
"""
    epi = "v"
    if bv is not None:
        epi = f"v + {sh.read(bv)}[grp(z) * {u32(m)} + m]"
    helpers += activation_fn(act)
    vy = n % 4 == 0 and ctx.plan.offset(y) % 16 == 0  # an aliased Concat slice may start mid-vec4
    bufy = sh.write(y, "vec4<f32>" if vy else "f32")
    base = f"(img(z) * {u32(cout)} + grp(z) * {u32(m)}) * {u32(n)}"
    pre, expr, epi_helpers = host_epilogue(sh, node, f"act({epi})", f"{base} + m * {u32(n)} + n")
    store = store_rows(bufy, vy, m, n, base, expr, pre)
    return [gemm_dispatch(sh, m, n, kk, n_img * group, helpers + epi_helpers + store)]


def _depthwise(
    ctx: Ctx, node: Node, x: list[int], ys: list[int], k: list[int], s: list[int], d: list[int], p: list[int],
    group: int, act: dict[str, object] | None,
) -> Dispatch:
    """One thread per output element; C_in / G == 1 (each output channel reads one input channel)."""
    xv, wv, bv, y = node.inputs[0], node.inputs[1], node.input(2), node.outputs[0]
    assert xv is not None and wv is not None
    sh = Shader(ctx)
    bx, bw = sh.read(xv), sh.read(wv)
    bb = sh.read(bv) if bv is not None else None
    by = sh.write(y)
    epi_pre, epi, epi_helpers = host_epilogue(sh, node, activation_expr(act, "acc"), "i")
    _, cin, ih, iw = x
    cout = ys[1]
    mult = cout // group
    body = f"""{unravel("i", ys)}
    let ci = c1 / {u32(mult)};
    let xb = (c0 * {u32(cin)} + ci) * {u32(ih * iw)};
    let wb = c1 * {u32(k[0] * k[1])};
    var acc = {f"{bb}[c1]" if bb else "0.0"};
    for (var kh = 0u; kh < {u32(k[0])}; kh = kh + 1u) {{
        let yy = i32(c2 * {u32(s[0])} + kh * {u32(d[0])}) - {p[0]}i;
        if (yy < 0 || yy >= {ih}i) {{ continue; }}
        for (var kw = 0u; kw < {u32(k[1])}; kw = kw + 1u) {{
            let xx = i32(c3 * {u32(s[1])} + kw * {u32(d[1])}) - {p[1]}i;
            if (xx < 0 || xx >= {iw}i) {{ continue; }}
            acc = acc + {bx}[xb + u32(yy) * {u32(iw)} + u32(xx)] * {bw}[wb + kh * {u32(k[1])} + kw];
        }}
    }}
    {epi_pre}
    {by}[i] = {epi};"""
    return elementwise_dispatch(sh, cout * ys[2] * ys[3] * ys[0], body, epi_helpers)


@register("ConvTranspose")
def conv_transpose(ctx: Ctx, node: Node) -> list[Dispatch]:
    """One thread per output element, visiting only the taps that land on it.

    y[n, co, o] = b[co] + sum_{ci in co's group, t} x[n, ci, (o + pad - t * d) / s] * W[ci, co % M, t]
    over the taps t where o + pad - t * d is a non-negative multiple of s inside the input
    (per spatial axis; with d = 1 the valid taps are every s-th from (o + pad) mod s).
    """
    xv, wv, bv, y = node.inputs[0], node.inputs[1], node.input(2), node.outputs[0]
    assert xv is not None and wv is not None
    need_f32(xv, wv, bv, y)
    xs, ys = shape(xv), shape(y)
    nd = len(xs) - 2
    k = [int(v) for v in node.attrs["kernel_shape"]]
    s = [int(v) for v in node.attrs.get("strides", [1] * nd)]
    d = [int(v) for v in node.attrs.get("dilations", [1] * nd)]
    p = [int(v) for v in node.attrs.get("pads", [0] * 2 * nd)]
    group = int(node.attrs.get("group", 1))
    cin, cout = xs[1], ys[1]
    cig, m = cin // group, cout // group
    sp_in, kprod = prod(xs[2:]), prod(k)
    sh = Shader(ctx)
    bx, bw = sh.read(xv), sh.read(wv)
    bb = sh.read(bv) if bv is not None else None
    by = sh.write(y)
    lines = [unravel("i", ys), f"let g = c1 / {u32(m)};", f"let mm = c1 % {u32(m)};",
             f"let xb = (c0 * {u32(cin)} + g * {u32(cig)}) * {u32(sp_in)};",
             f"let wb = ((g * {u32(cig)}) * {u32(m)} + mm) * {u32(kprod)};",
             f"var acc = {f'{bb}[c1]' if bb else '0.0'};"]
    indent = ""
    for a in range(nd):
        o = f"i32(c{a + 2}) + {p[a]}i"
        if d[a] == 1 and s[a] > 1:
            start = f"u32((({o}) % {s[a]}i + {s[a]}i) % {s[a]}i)"
        else:
            start = "0u"
        step = s[a] if d[a] == 1 else 1
        lines.append(f"{indent}for (var t{a} = {start}; t{a} < {u32(k[a])}; t{a} = t{a} + {u32(step)}) {{")
        indent += "    "
        lines.append(f"{indent}let q{a} = {o} - i32(t{a} * {u32(d[a])});")
        check = f"q{a} < 0i" + (f" || q{a} % {s[a]}i != 0i" if step == 1 and s[a] > 1 else "")
        lines.append(f"{indent}if ({check}) {{ continue; }}")
        lines.append(f"{indent}let x{a} = u32(q{a}) / {u32(s[a])};")
        lines.append(f"{indent}if (x{a} >= {u32(xs[a + 2])}) {{ continue; }}")
    xo = " + ".join(f"x{a} * {u32(prod(xs[a + 3:]))}" for a in range(nd))
    wo = " + ".join(f"t{a} * {u32(prod(k[a + 1:]))}" for a in range(nd))
    lines.append(f"{indent}let xo = xb + {xo};")
    lines.append(f"{indent}let wo = wb + {wo};")
    lines.append(f"{indent}for (var ci = 0u; ci < {u32(cig)}; ci = ci + 1u) {{")
    lines.append(f"{indent}    acc = acc + {bx}[xo + ci * {u32(sp_in)}] * {bw}[wo + ci * {u32(m * kprod)}];")
    lines.append(f"{indent}}}")
    for _ in range(nd):
        indent = indent[:-4]
        lines.append(f"{indent}}}")
    lines.append(f"{by}[i] = {activation_expr(node.attrs.get('activation'), 'acc')};")
    return [elementwise_dispatch(sh, y.size, "\n    ".join(lines))]
