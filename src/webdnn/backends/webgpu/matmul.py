"""Tiled matrix multiplication: Gemm, MatMul (batched, broadcasting) and the GEMM core
that Conv's implicit GEMM reuses.

The core computes, for each batch z, C[z] (M x N) = epilogue(A[z] (M x K) @ B[z] (K x N)).
A workgroup of TX x TY threads owns a BM x BN output tile (BM = 4 TY, BN = 4 TX); each
thread accumulates a 4 x 4 block in registers (four vec4 rows). K is walked in steps of
BK: the A tile (BM x BK) and B tile (BK x BN) are staged in workgroup memory as vec4s
along k and n. Operands are read through generated functions `load_a(z, m, k)` (A[m,
k..k+3]) and `load_b(z, k, n)` (B[k, n..n+3]) that return zeros outside the matrix, so
any M, N, K works; they are single vec4 loads when the operand is contiguous and its
row length is a multiple of 4, four checked scalar loads otherwise (transposed or
gathered operands, e.g. Conv's im2col). `store(z, m, n, v)` writes four columns with
the epilogue (bias, alpha/beta, activation), as one vec4 store when possible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from webdnn.backends.webgpu import packed_weights
from webdnn.backends.webgpu.elementwise import epilogue_storages, host_epilogue
from webdnn.backends.webgpu.expr_wgsl import activation_fn
from webdnn.backends.webgpu.wgsl import (
    MAX_GROUPS,
    Ctx,
    Dispatch,
    Shader,
    Unsupported,
    broadcast_strides,
    ceil_div,
    f32,
    ins,
    need_f32,
    prod,
    register,
    shape,
    u32,
    unravel,
)
from webdnn.ir.graph import Node, Value
from webdnn.ir.symbolic import Dim, hint, upper_or_none


@dataclass
class Tiling:
    tx: int
    ty: int
    bk: int

    @property
    def bm(self) -> int:
        return 4 * self.ty

    @property
    def bn(self) -> int:
        return 4 * self.tx


def choose_tiling(m: Dim, n: Dim) -> Tiling:
    # a speed choice, right at every size: symbolic sizes choose at their planning hint (the bound)
    m, n = hint(m), hint(n)
    if m <= 8:
        return Tiling(32, 2, 16)  # 8 x 128 tiles: matrix-vector-like products
    if m >= 64 and n >= 64:
        return Tiling(16, 16, 16)  # 64 x 64 tiles, 256 threads
    return Tiling(8, 8, 16)  # 32 x 32 tiles, 64 threads


def gemm_dispatch(sh: Shader, m: int, n: int, k: int, batches: int, loaders: str, t: Tiling | None = None) -> Dispatch:
    """Assemble the tiled GEMM. `loaders` defines load_a, load_b and store (see module doc)."""
    t = t or choose_tiling(m, n)
    threads = t.tx * t.ty
    bk4, bn4 = t.bk // 4, t.bn // 4
    a_vecs, b_vecs = t.bm * bk4, t.bk * bn4
    most = upper_or_none(batches)  # None: unbounded (the runtime checks each size's dispatches)
    if most is not None and most > MAX_GROUPS:
        raise Unsupported(f"{batches} matrix batches exceed the dispatch limit")
    acc = "\n".join(f"    var acc{r} = vec4<f32>(0.0);" for r in range(4))
    fma = []
    for r in range(4):
        fma.append(f"            let a{r} = As[(ty * 4u + {r}u) * {u32(bk4)} + k4];")
    for j in range(4):
        fma.append(f"            let b{j} = Bs[(k4 * 4u + {j}u) * {u32(bn4)} + tx];")
    for r in range(4):
        fma.append(f"            acc{r} = acc{r} + a{r}.x * b0 + a{r}.y * b1 + a{r}.z * b2 + a{r}.w * b3;")
    stores = "\n".join(f"    store(z, m0 + ty * 4u + {r}u, n0 + tx * 4u, acc{r});" for r in range(4))
    body = f"""let z = wid.z;
    let m0 = wid.y * {u32(t.bm)};
    let n0 = wid.x * {u32(t.bn)};
    let tx = lxy.x;
    let ty = lxy.y;
{acc}
    for (var k0 = 0u; k0 < {u32(k)}; k0 = k0 + {u32(t.bk)}) {{
        for (var l = lid; l < {u32(a_vecs)}; l = l + {u32(threads)}) {{
            As[l] = load_a(z, m0 + l / {u32(bk4)}, k0 + (l % {u32(bk4)}) * 4u);
        }}
        for (var l = lid; l < {u32(b_vecs)}; l = l + {u32(threads)}) {{
            Bs[l] = load_b(z, k0 + l / {u32(bn4)}, n0 + (l % {u32(bn4)}) * 4u);
        }}
        workgroupBarrier();
        for (var k4 = 0u; k4 < {u32(bk4)}; k4 = k4 + 1u) {{
{chr(10).join(fma)}
        }}
        workgroupBarrier();
    }}
{stores}"""
    helpers = (
        f"var<workgroup> As: array<vec4<f32>, {a_vecs}>;\n"
        f"var<workgroup> Bs: array<vec4<f32>, {b_vecs}>;\n" + loaders
    )
    groups = (ceil_div(n, t.bn), ceil_div(m, t.bm), batches)
    return sh.finish(body, groups, (t.tx, t.ty, 1), helpers, workgroup_bytes=(a_vecs + b_vecs) * 16)


# ---------------------------------------------------------------- operand loaders


def load_rows(fn: str, buf: str, vec: bool, rows: int, cols: int, base: str, row_stride: int, col_stride: int) -> str:
    """`fn(z, r, c)` -> vec4 of M[r, c..c+3] where M[r, c] = buf[base(z) + r*row_stride + c*col_stride]."""
    inside = f"r < {u32(rows)} && c < {u32(cols)}"
    if vec:  # col_stride == 1, cols % 4 == 0, base and row_stride multiples of 4: one aligned vec4
        return (
            f"fn {fn}(z: u32, r: u32, c: u32) -> vec4<f32> {{\n"
            f"    if ({inside}) {{ return {buf}[({base} + r * {u32(row_stride)} + c) / 4u]; }}\n"
            f"    return vec4<f32>(0.0);\n}}\n"
        )
    at = f"{fn}_at"
    return (
        f"fn {at}(z: u32, r: u32, c: u32) -> f32 {{\n"
        f"    if ({inside}) {{ return {buf}[{base} + r * {u32(row_stride)} + c * {u32(col_stride)}]; }}\n"
        f"    return 0.0;\n}}\n"
        f"fn {fn}(z: u32, r: u32, c: u32) -> vec4<f32> {{\n"
        f"    return vec4<f32>({at}(z, r, c), {at}(z, r, c + 1u), {at}(z, r, c + 2u), {at}(z, r, c + 3u));\n}}\n"
    )


def store_rows(buf: str, vec: bool, rows: int, cols: int, base: str, epilogue: str, pre: str = "") -> str:
    """store(z, m, n, v): C[m, n..n+3] = epi(v) with C[m, n] = buf[base(z) + m*cols + n].

    `epilogue` is an f32 expression of `v` (the accumulated value), `z`, `m` and `n`, after the
    statements `pre` (a fused elementwise epilogue's loads and lets). A vec4 store runs it per lane.
    """
    epi = f"fn epi(z: u32, v: f32, m: u32, n: u32) -> f32 {{\n    {pre}\n    return {epilogue};\n}}\n" if pre else (
        f"fn epi(z: u32, v: f32, m: u32, n: u32) -> f32 {{ return {epilogue}; }}\n")
    if vec:
        lanes = ", ".join(f"epi(z, v[{j}], m, n + {j}u)" for j in range(4))
        inside = f"m < {u32(rows)} && n < {u32(cols)}"
        return (
            f"{epi}"
            f"fn store(z: u32, m: u32, n: u32, v: vec4<f32>) {{\n"
            f"    if ({inside}) {{ {buf}[({base} + m * {u32(cols)} + n) / 4u] = vec4<f32>({lanes}); }}\n"
            f"}}\n"
        )
    lanes = "\n".join(
        f"    if (n + {j}u < {u32(cols)}) {{ {buf}[o + {j}u] = epi(z, v[{j}], m, n + {j}u); }}" for j in range(4)
    )
    return (
        f"{epi}"
        f"fn store(z: u32, m: u32, n: u32, v: vec4<f32>) {{\n"
        f"    if (m >= {u32(rows)}) {{ return; }}\n"
        f"    let o = {base} + m * {u32(cols)} + n;\n{lanes}\n}}\n"
    )


def batch_base(fn: str, out_batch: tuple[int, ...], batch: tuple[int, ...], matrix: int) -> str:
    """`fn(z)`: element offset of operand matrix for output batch z (broadcast over batch dims)."""
    if prod(batch) <= 1:
        return f"fn {fn}(z: u32) -> u32 {{ return 0u; }}\n"
    st = [s * matrix for s in broadcast_strides(batch, out_batch)]
    terms = [f"c{d} * {u32(s)}" for d, s in enumerate(st) if s]
    return f"fn {fn}(z: u32) -> u32 {{\n    {unravel('z', out_batch)}\n    return {' + '.join(terms) or '0u'};\n}}\n"


# ---------------------------------------------------------------- Gemm and MatMul


def _matmul(
    ctx: Ctx,
    a: Value,
    b: Value,
    y: Value,
    *,
    trans_a: bool = False,
    trans_b: bool = False,
    bias: Value | None = None,
    alpha: float = 1.0,
    beta: float = 1.0,
    act: dict[str, object] | None = None,
    node: Node,
) -> Dispatch:
    """y = act(alpha * op(a) @ op(b) + beta * bias), then `node`'s fused epilogue (if it has one)."""
    need_f32(a, b, y, bias)
    sa, sb = shape(a), shape(b)
    a2 = (1, *sa) if len(sa) == 1 else sa
    b2 = (*sb, 1) if len(sb) == 1 else sb
    m, k = (a2[-1], a2[-2]) if trans_a else (a2[-2], a2[-1])
    n = b2[-2] if trans_b else b2[-1]
    if b.is_const and trans_b and len(b2) == 2:  # weights stored in the layout the kernel reads: K x N
        b = ctx.graph.const_value(f"{b.name}_kn", np.ascontiguousarray(np.asarray(b.const).T))
        trans_b = False
    out_batch = tuple(int(d) for d in np.broadcast_shapes(a2[:-2], b2[:-2]))
    batches = prod(out_batch)
    sh = Shader(ctx)
    va = not trans_a and k % 4 == 0
    vb = not trans_b and n % 4 == 0
    if va and vb and sh._key(a) == sh._key(b):
        va = vb = False  # one binding cannot be read as two types
    f32_keys = epilogue_storages(sh, node)
    va, vb = va and sh._key(a) not in f32_keys, vb and sh._key(b) not in f32_keys
    bufa = sh.read(a, "vec4<f32>" if va else "f32")
    loaders = batch_base("base_a", out_batch, a2[:-2], m * k) + batch_base("base_b", out_batch, b2[:-2], k * n)
    loaders += load_rows("load_a", bufa, va, m, k, "base_a(z)", 1 if trans_a else k, m if trans_a else 1)
    if not trans_b and sh._key(b) not in f32_keys and sh._key(b) != sh._key(a) and packed_weights.packs(ctx, b):
        bq, first = packed_weights.packed(ctx, b)
        loaders += packed_weights.load_rows_packed(sh, "load_b", bq, first, n % 4 == 0, k, n, "base_b(z)", n)
    else:
        bufb = sh.read(b, "vec4<f32>" if vb else "f32")
        loaders += load_rows("load_b", bufb, vb, k, n, "base_b(z)", 1 if trans_b else n, k if trans_b else 1)
    epi = "v" if alpha == 1.0 else f"v * {f32(alpha)}"
    if bias is not None and beta != 0.0:
        bs = broadcast_strides(shape(bias), (m, n))
        bufc = sh.read(bias)
        idx = " + ".join(t for t in (f"m * {u32(bs[0])}" if bs[0] else "", f"n * {u32(bs[1])}" if bs[1] else "") if t)
        term = f"{bufc}[{idx or '0u'}]"
        epi = f"{epi} + {term}" if beta == 1.0 else f"{epi} + {f32(beta)} * {term}"
    loaders += activation_fn(act)
    vy = n % 4 == 0 and ctx.plan.offset(y) % 16 == 0  # an aliased Concat slice may start mid-vec4
    bufy = sh.write(y, "vec4<f32>" if vy else "f32")
    pre, expr, helpers = host_epilogue(sh, node, f"act({epi})", f"z * {u32(m * n)} + m * {u32(n)} + n")
    loaders += helpers + store_rows(bufy, vy, m, n, f"z * {u32(m * n)}", expr, pre)
    return gemm_dispatch(sh, m, n, k, batches, loaders)


@register("MatMul")
def matmul(ctx: Ctx, node: Node) -> list[Dispatch]:
    a, b = ins(node)[:2]  # then the epilogue's operands
    return [_matmul(ctx, a, b, node.outputs[0], act=node.attrs.get("activation"), node=node)]


@register("Gemm")
def gemm(ctx: Ctx, node: Node) -> list[Dispatch]:
    a, b = node.inputs[0], node.inputs[1]
    assert a is not None and b is not None
    return [
        _matmul(
            ctx, a, b, node.outputs[0],
            trans_a=bool(node.attrs.get("transA", 0)), trans_b=bool(node.attrs.get("transB", 0)),
            bias=node.input(2), alpha=float(node.attrs.get("alpha", 1.0)), beta=float(node.attrs.get("beta", 1.0)),
            act=node.attrs.get("activation"), node=node,
        )
    ]
