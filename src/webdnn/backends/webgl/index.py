"""Indexing kernels: GatherElements, GatherND, ScatterND, ScatterElements, OneHot, Trilu. Index tensors are
read per fragment (they may be computed at run time); negative indices count from the
end and out-of-range ones are clamped to [0, dim) (a shader cannot throw; the fallback and
wasm backends raise, the webgpu backend clamps the same way; constant indices are checked
at conversion). ScatterND (ScatterElements) has each output element walk every update tuple (element) in order, so
duplicate indices and reductions give the sequential result."""

from __future__ import annotations

from webdnn.backends.webgl.core import Ctx, Pass, attr_float, ins, kernel, shape
from webdnn.backends.webgl.glsl import coords, flt, linear, norm_index, strides
from webdnn.ir.graph import Node
from webdnn.ir.symbolic import prod as sym_prod
from webdnn.ir.symbolic import smax


@kernel("GatherElements")
def _gather_elements(ctx: Ctx, node: Node) -> list[Pass]:
    x, ind = ins(node, ctx, 2)
    xs, ys = shape(x), shape(node.outputs[0])
    axis = int(node.attrs.get("axis", 0))
    xst = strides(xs)
    terms = [(f"c{d}", xst[d]) for d in range(len(xs)) if d != axis]
    body = (
        f"float compute(int o) {{ {coords('o', ys, 'c')}\n"
        f"  float k = X1(o); {norm_index('k', xs[axis])}\n"
        f"  return X0({linear(terms)} + k_i * {xst[axis]}); }}\n"
    )
    return [Pass("GatherElements", node.name, [x, ind], node.outputs[0], body)]


@kernel("GatherND")
def _gather_nd(ctx: Ctx, node: Node) -> list[Pass]:
    x, ind = ins(node, ctx, 2)
    xs, idx = shape(x), shape(ind)
    b = int(node.attrs.get("batch_dims", 0))
    k = idx[-1]
    xst = strides(xs)
    slice_ = sym_prod(xs[b + k:])
    batch = sym_prod(xs[:b])
    tuples = sym_prod(idx[:-1])
    per_batch = tuples // smax(batch, 1)
    batch_stride = sym_prod(xs[b:])
    lines = ["float compute(int o) {", f"  int t = o / {slice_}; int i = o % {slice_};",
             f"  int off = (t / {smax(per_batch, 1)}) * {batch_stride} + i;"]
    for j in range(k):
        norm = norm_index(f"q{j}", xs[b + j])
        lines.append(f"  float q{j} = X1(t * {k} + {j}); {norm} off += q{j}_i * {xst[b + j]};")
    lines += ["  return X0(off);", "}"]
    return [Pass("GatherND", node.name, [x, ind], node.outputs[0], "\n".join(lines))]


SCATTER = {
    "none": "u", "add": "v + u", "mul": "v * u", "max": "max(v, u)", "min": "min(v, u)",
}


@kernel("ScatterND")
def _scatter_nd(ctx: Ctx, node: Node) -> list[Pass]:
    x, ind, upd = ins(node, ctx, 3)
    xs, idx = shape(x), shape(ind)
    k = idx[-1]
    xst = strides(xs)
    slice_ = sym_prod(xs[k:])
    tuples = sym_prod(idx[:-1])
    combine = SCATTER[str(node.attrs.get("reduction", "none"))]
    lines = ["float compute(int o) {", "  float v = X0(o);", f"  for (int t = 0; t < {tuples}; t++) {{",
             "    int off = 0;"]
    for j in range(k):
        lines.append(f"    float q{j} = X1(t * {k} + {j}); {norm_index(f'q{j}', xs[j])} off += q{j}_i * {xst[j]};")
    lines += [f"    if (o >= off && o < off + {slice_}) {{ float u = X2(t * {slice_} + o - off); v = {combine}; }}",
              "  }", "  return v;", "}"]
    return [Pass("ScatterND", node.name, [x, ind, upd], node.outputs[0], "\n".join(lines))]


@kernel("ScatterElements", "Scatter")  # Scatter: the opset 9-10 name, renamed by the rule
def _scatter_elements(ctx: Ctx, node: Node) -> list[Pass]:
    x, ind, upd = ins(node, ctx, 3)
    xs, idx = shape(x), shape(ind)
    axis = int(node.attrs["axis"])
    xst, ist = strides(xs), strides(idx)
    combine = SCATTER[str(node.attrs.get("reduction", "none"))]
    terms = " + ".join(f"((j / {ist[d]}) % {idx[d]}) * {xst[d]}" for d in range(len(xs)) if d != axis) or "0"
    lines = ["float compute(int o) {", "  float v = X0(o);", f"  for (int j = 0; j < {sym_prod(idx)}; j++) {{",
             f"    float q = X1(j); {norm_index('q', xs[axis])}",
             f"    if ({terms} + q_i * {xst[axis]} == o) {{ float u = X2(j); v = {combine}; }}",
             "  }", "  return v;", "}"]
    return [Pass("ScatterElements", node.name, [x, ind, upd], node.outputs[0], "\n".join(lines))]


@kernel("OneHot")
def _one_hot(ctx: Ctx, node: Node) -> list[Pass]:
    ind = ins(node, ctx)[0]
    idx = shape(ind)
    depth = int(node.attrs["depth"])
    axis = int(node.attrs["axis"])
    off, on = (attr_float(v) for v in node.attrs["values"])
    inner = sym_prod(idx[axis:])
    body = (
        "float compute(int o) {\n"
        f"  int outer = o / {depth * inner}; int d = (o / {inner}) % {depth}; int i = o % {inner};\n"
        f"  int v = int(trunc(X0(outer * {inner} + i))); if (v < 0) v += {depth};\n"
        f"  return v == d ? {flt(on)} : {flt(off)};\n}}\n"
    )
    return [Pass("OneHot", node.name, [ind], node.outputs[0], body)]


@kernel("Trilu")
def _trilu(ctx: Ctx, node: Node) -> list[Pass]:
    x = ins(node, ctx)[0]
    xs = shape(x)
    n, m = smax(xs[-2], 1), smax(xs[-1], 1)
    k = int(node.attrs.get("k", 0))
    keep = f"c - r >= {k}" if int(node.attrs.get("upper", 1)) else f"c - r <= {k}"
    body = (
        f"float compute(int o) {{ int r = (o / {m}) % {n}; int c = o % {m};\n"
        f"  return ({keep}) ? X0(o) : 0.0; }}\n"
    )
    return [Pass("Trilu", node.name, [x], node.outputs[0], body)]
