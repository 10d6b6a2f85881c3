"""Conv (NCHW): implicit GEMM through the tiled matmul core, and a direct depthwise kernel.

Implicit GEMM, per image n and group g (batch z = n * G + g):
    Y[co, p] = sum_k W[co, k] * im2col(X)[k, p],   k = (ci, kh, kw), p = (oh, ow)
with M = C_out / G, N = OH * OW, K = C_in / G * KH * KW. W is already M x K row-major;
the im2col operand is gathered on the fly inside load_b (no im2col buffer), or read as
vec4s when the convolution is 1x1, stride 1, unpadded and N is a multiple of 4. Bias and
the fused activation are applied in the store epilogue. 1-D convolutions run as 2-D with
H = 1.
"""

from __future__ import annotations

from webdnn.backends.webgpu.matmul import gemm_dispatch, load_rows, store_rows
from webdnn.backends.webgpu.wgsl import (
    Ctx,
    Dispatch,
    Shader,
    Unsupported,
    activation_expr,
    activation_fn,
    elementwise_dispatch,
    need_f32,
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
    vw = kk % 4 == 0
    bufw = sh.read(wv, "vec4<f32>" if vw else "f32")
    pointwise = k == [1, 1] and s == [1, 1] and p == [0, 0, 0, 0]
    vx = pointwise and n % 4 == 0
    bufx = sh.read(xv, "vec4<f32>" if vx else "f32")
    g, cig = u32(group), u32(cin // group)
    helpers = f"fn img(z: u32) -> u32 {{ return z / {g}; }}\nfn grp(z: u32) -> u32 {{ return z % {g}; }}\n"
    helpers += load_rows("load_a", bufw, vw, m, kk, f"grp(z) * {u32(m * kk)}", kk, 1)
    x_base = f"(img(z) * {u32(cin)} + grp(z) * {cig}) * {u32(ih * iw)}"
    if pointwise:
        helpers += load_rows("load_b", bufx, vx, kk, n, x_base, n, 1)
    else:
        helpers += f"""fn load_b_at(z: u32, kq: u32, pq: u32) -> f32 {{
    if (kq >= {u32(kk)} || pq >= {u32(n)}) {{ return 0.0; }}
    let ci = kq / {u32(k[0] * k[1])};
    let r = kq % {u32(k[0] * k[1])};
    let yy = i32((pq / {u32(ow)}) * {u32(s[0])} + (r / {u32(k[1])}) * {u32(d[0])}) - {p[0]}i;
    let xx = i32((pq % {u32(ow)}) * {u32(s[1])} + (r % {u32(k[1])}) * {u32(d[1])}) - {p[1]}i;
    if (yy < 0 || yy >= {ih}i || xx < 0 || xx >= {iw}i) {{ return 0.0; }}
    return {bufx}[{x_base} + ci * {u32(ih * iw)} + u32(yy) * {u32(iw)} + u32(xx)];
}}
fn load_b(z: u32, kq: u32, pq: u32) -> vec4<f32> {{
    return vec4<f32>(load_b_at(z, kq, pq), load_b_at(z, kq, pq + 1u),
                     load_b_at(z, kq, pq + 2u), load_b_at(z, kq, pq + 3u));
}}
"""
    epi = "v"
    if bv is not None:
        epi = f"v + {sh.read(bv)}[grp(z) * {u32(m)} + m]"
    helpers += activation_fn(act)
    vy = n % 4 == 0
    bufy = sh.write(y, "vec4<f32>" if vy else "f32")
    store = store_rows(bufy, vy, m, n, f"(img(z) * {u32(cout)} + grp(z) * {u32(m)}) * {u32(n)}", f"act({epi})")
    return [gemm_dispatch(sh, m, n, kk, n_img * group, helpers + store)]


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
    {by}[i] = {activation_expr(act, "acc")};"""
    return elementwise_dispatch(sh, cout * ys[2] * ys[3] * ys[0], body)
