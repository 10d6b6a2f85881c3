"""Gemm (alpha, beta, transA, transB, C broadcast) and MatMul (numpy semantics: 1-D
operands, batch broadcasting): one fragment per output element, with the fused
activation in the same pass; a Gemm with A untransposed and K, N multiples of 4, and a
MatMul with K, N multiples of 4, compute a texel (four outputs of one row) per fragment from
aligned texel reads (`_gemm4`, `_matmul4`)."""

from __future__ import annotations

from webdnn.backends.webgl.core import TARGETS, Ctx, Pass, attr_float, ins, kernel, need_float, shape
from webdnn.backends.webgl.expr_glsl import activation
from webdnn.backends.webgl.glsl import ACT4, broadcast_index, coords, flt, strides
from webdnn.ir.graph import Node, Value
from webdnn.ir.symbolic import prod as sym_prod


def _f32(node: Node, ctx: Ctx, vals: list[Value]) -> None:
    need_float(node, ctx, vals)


@kernel("Gemm")
def _gemm(ctx: Ctx, node: Node) -> list[Pass]:
    xs = ins(node, ctx)
    _f32(node, ctx, xs)
    a = shape(xs[0])
    y = node.outputs[0]
    m, n = shape(y)
    ta, tb = int(node.attrs.get("transA", 0)) == 1, int(node.attrs.get("transB", 0)) == 1
    k = a[0] if ta else a[1]
    alpha, beta = attr_float(node.attrs.get("alpha", 1.0)), attr_float(node.attrs.get("beta", 1.0))
    a_idx = f"k * {m} + i" if ta else f"i * {k} + k"
    b_idx = f"j * {k} + k" if tb else f"k * {n} + j"
    c_term, c_idx = "", ""
    if node.input(2) is not None and beta != 0.0:
        c_idx = broadcast_index((m, n), shape(xs[2]), "c")
        c_term = f" + {flt(beta)} * X2({c_idx})"
        # the texel kernels read C through cterm(c0, c1), where no flat index `o` is in scope
        c_idx = broadcast_index((m, n), shape(xs[2]), "c", flat=f"(c0 * {n} + c1)")
    body = "\n".join([
        activation(node.attrs.get("activation")),
        "float compute(int o) {",
        f"  int i = o / {n}; int j = o % {n}; int c0 = i; int c1 = j;",
        "  float acc = 0.0;",
        f"  for (int k = 0; k < {k}; k++) acc += X0({a_idx}) * X1({b_idx});",
        f"  return act({flt(alpha)} * acc{c_term});" if alpha != 1.0 else f"  return act(acc{c_term});",
        "}",
    ])
    vec4 = not ta and k % 4 == 0 and n % 4 == 0
    b_const = xs[1].const
    if vec4 and m % TARGETS == 0 and (not tb or b_const is not None):
        # four rows per fragment on four render targets (transB: B transposed at conversion)
        b = ctx.const(xs[1].name + ".T", b_const.T) if tb and b_const is not None else xs[1]
        cterm = f"float cterm(int c0, int c1) {{ return {flt(beta)} * X2({c_idx}); }}\n" if c_term else ""
        body = activation(node.attrs.get("activation")) + cterm + _matmul_targets(m, k, n, alpha, bool(c_term))
        return [Pass("Gemm", node.name, [xs[0], b, *xs[2:3]] if c_term else [xs[0], b], y, body, targets=TARGETS)]
    if vec4:
        body += "\n" + _gemm4(m, n, k, tb, alpha, c_idx if c_term else None, beta)
    return [Pass("Gemm", node.name, xs[:3] if c_term else xs[:2], y, body, vec4=vec4)]


def _gemm4(m: int, n: int, k: int, tb: bool, alpha: float, c_idx: str | None, beta: float) -> str:
    """`vec4 compute4(int t)` of a Gemm with A untransposed, K and N multiples of 4: a texel is
    four outputs of one row (N % 4 == 0), A's row is read four k at a time with aligned fetches
    (K % 4 == 0) and B four k (transB: rows j..j+3, four fetches) or four rows (else: one aligned
    fetch of j..j+3 per row) at a time: five fetches per 16 multiply-adds instead of two per one."""
    k4, n4 = k // 4, n // 4
    lines = []
    if c_idx is not None:
        lines.append(f"float cterm(int c0, int c1) {{ return {flt(beta)} * X2({c_idx}); }}")
    lines += [
        "vec4 compute4(int t) {",
        f"  int o = 4 * t; int i = o / {n}; int j = o % {n};",
        f"  int ai = i * {k4}; vec4 acc = vec4(0.0);",
    ]
    if tb:
        lines += [
            f"  int bi = j * {k4};",
            f"  for (int k = 0; k < {k4}; k++) {{",
            "    vec4 a = X0t(ai + k);",
            "    acc += vec4(" + ", ".join(f"dot(a, X1t(bi + {r * k4} + k))" for r in range(4)) + ");",
            "  }",
        ]
    else:
        lines += [
            "  int bi = j >> 2;",
            f"  for (int k = 0; k < {k4}; k++) {{",
            "    vec4 a = X0t(ai + k);",
            "    acc += " + " + ".join(f"a.{'xyzw'[r]} * X1t(bi{f' + {r * n4}' if r else ''})" for r in range(4)) + ";",
            f"    bi += {n};",
            "  }",
        ]
    if alpha != 1.0:
        lines.append(f"  acc *= {flt(alpha)};")
    if c_idx is not None:
        lines.append("  acc += vec4(cterm(i, j), cterm(i, j + 1), cterm(i, j + 2), cterm(i, j + 3));")
    lines += ["  return vec4(act(acc.x), act(acc.y), act(acc.z), act(acc.w));", "}"]
    return "\n".join(lines)


@kernel("MatMul")
def _matmul(ctx: Ctx, node: Node) -> list[Pass]:
    xs = ins(node, ctx, 2)
    _f32(node, ctx, xs)
    a = shape(xs[0])
    b = shape(xs[1])
    a2 = (1, a[0]) if len(a) == 1 else a
    b2 = (b[0], 1) if len(b) == 1 else b
    m, k, n = a2[-2], a2[-1], b2[-1]
    rank = max(len(a2), len(b2)) - 2
    ab = (1,) * (rank - (len(a2) - 2)) + tuple(a2[:-2])
    bb = (1,) * (rank - (len(b2) - 2)) + tuple(b2[:-2])
    batch = tuple(max(p, q) for p, q in zip(ab, bb, strict=True))
    full = batch + (m, n)
    ast, bst = strides(ab), strides(bb)
    a_off = " + ".join([f"c{d} * {ast[d] * m * k}" for d in range(rank) if ab[d] != 1] or ["0"])
    b_off = " + ".join([f"c{d} * {bst[d] * k * n}" for d in range(rank) if bb[d] != 1] or ["0"])
    body = "\n".join([
        activation(node.attrs.get("activation")),
        "float compute(int o) {",
        "  " + coords("o", full, "c"),
        f"  int ai = {a_off} + c{rank} * {k}; int bi = {b_off} + c{rank + 1};",
        "  float acc = 0.0;",
        f"  for (int k = 0; k < {k}; k++) {{ acc += X0(ai) * X1(bi); ai += 1; bi += {n}; }}",
        "  return act(acc);",
        "}",
    ])
    vec4 = k % 4 == 0 and n % 4 == 0
    rows = sym_prod(batch) * m
    if vec4 and all(d == 1 for d in bb) and ab == batch and rows % TARGETS == 0:
        # B shared by every row (weights): four rows per fragment, one per render target
        body = activation(node.attrs.get("activation")) + _matmul_targets(rows, k, n)
        return [Pass("MatMul", node.name, xs, node.outputs[0], body, targets=TARGETS)]
    if vec4:
        body += "\n" + _matmul4(full, rank, k, n, a_off, b_off)
    return [Pass("MatMul", node.name, xs, node.outputs[0], body, vec4=vec4)]


def _matmul_targets(rows: int, k: int, n: int, alpha: float = 1.0, cterm: bool = False) -> str:
    """`computeN` of Y[rows][n] = A[rows][k] . B[k][n] (A's batches flattened into rows, B shared)
    over TARGETS render targets, each a contiguous quarter of the rows: a fragment computes four
    outputs (one texel) of rows r + q * rows / TARGETS, q < TARGETS, from four A fetches (four
    k of each row) and four B fetches (four k rows of four columns) per 64 multiply-adds.
    Gemm: the sum is scaled by `alpha`, then `cterm(row, column)` (beta * C) is added."""
    k4, n4, share = k // 4, n // 4, rows // TARGETS
    ts = range(TARGETS)
    epilogue = [f"  s{q} *= {flt(alpha)};" for q in ts] if alpha != 1.0 else []
    if cterm:
        epilogue += [f"  s{q} += vec4(" + ", ".join(f"cterm(r + {q * share}, j + {e})" for e in range(4)) + ");"
                     for q in ts]
    return "\n".join([
        ACT4,
        f"void computeN(int t, {', '.join(f'out vec4 y{q}' for q in ts)}) {{",
        f"  int r = t / {n4}; int bi = t - r * {n4}; int ai = r * {k4}; int j = 4 * bi;",
        "  vec4 " + ", ".join(f"s{q} = vec4(0.0)" for q in ts) + ";",
        f"  for (int kk = 0; kk < {k4}; kk++) {{",
        "    " + " ".join(f"vec4 b{e} = X1t(bi{f' + {e * n4}' if e else ''});" for e in range(4)),
        *(f"    {{ vec4 a = X0t(ai + {q * share * k4}); s{q} += a.x * b0 + a.y * b1 + a.z * b2 + a.w * b3; }}"
          for q in ts),
        f"    ai++; bi += {n};",
        "  }",
        *epilogue,
        *(f"  y{q} = act4(s{q});" for q in ts),
        "}",
    ])


def _matmul4(full: tuple[int, ...], rank: int, k: int, n: int, a_off: str, b_off: str) -> str:
    """`vec4 compute4(int t)` of a MatMul with K and N multiples of 4: a texel is four outputs
    of one row (N % 4 == 0, so they share the batch and row), the A row is read four k at a
    time and B four rows at a time with aligned texel fetches (every A row and B row starts on
    a texel): five fetches per 16 multiply-adds instead of two per one."""
    k4, n4 = k // 4, n // 4
    return "\n".join([
        "vec4 compute4(int t) {",
        "  int o = 4 * t;",
        "  " + coords("o", full, "c"),
        f"  int ai = (({a_off}) + c{rank} * {k}) >> 2; int bi = (({b_off}) + c{rank + 1}) >> 2;",
        "  vec4 acc = vec4(0.0);",
        f"  for (int kk = 0; kk < {k4}; kk++) {{",
        "    vec4 a = X0t(ai + kk);",
        "    acc += " + " + ".join(f"a.{'xyzw'[r]} * X1t(bi{f' + {r * n4}' if r else ''})" for r in range(4)) + ";",
        f"    bi += {n};",
        "  }",
        "  return vec4(act(acc.x), act(acc.y), act(acc.z), act(acc.w));",
        "}",
    ])
