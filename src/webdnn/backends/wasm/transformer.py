"""Transformer lowering helpers of the wasm backend (kernels in runtime/kernels/wasm/transformer_f32_simd128.c).

- **Batched MatMul** with two runtime operands (`bmm_f32`): every operand is read or written
  through element strides, so a Transpose feeding a MatMul (attention's head split, K^T) is
  not executed at all: the MatMul reads the Transpose's input in place ("absorbed"
  Transposes); a Transpose after it (head merge) is written directly. The epilogue takes a
  following scalar Mul/Div (attention scale), an Add of a tensor broadcastable to the output
  (attention mask) and a last-axis Softmax.
- **Transpose** that is not absorbed: `transpose_any`, axes that stay adjacent collapsed, rank <= 6.
- LayerNormalization (`layernorm_f32`), Gelu / Erf (`gelu_f32`), and the bias Add fused into `gemm_f32`.

`plan_bmm` only inspects the graph (no emission), so `_Lowering.op_Transpose` can ask whether
every reader of a Transpose would absorb it before deciding to skip it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from webdnn.backends.wasm.tiles import NR, PACK_FLOATS
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Node, Value
from webdnn.ir.shapes import strides
from webdnn.ir.symbolic import ceildiv, smin, surely
from webdnn.ir.symbolic import prod as sym_prod

if TYPE_CHECKING:
    from webdnn.backends.wasm.lower import _Lowering



@dataclass
class View:
    """A logical tensor of `shape` read from `src` with element `strides`."""

    src: Value
    shape: tuple[int, ...]
    strides: list[int]


def view_of(lw: _Lowering, v: Value, assume: frozenset[int] = frozenset()) -> View:
    """`v` itself, or the input of the absorbed Transpose that defines it, with strides."""
    assert v.shape is not None
    t = v.producer
    if t is not None and t.op_type == "Transpose" and (id(v) in lw.absorbed or id(v) in assume):
        x = t.input(0)
        assert x is not None and x.shape is not None
        xs = strides(x.shape)
        perm = [int(p) for p in t.attrs["perm"]]
        return View(x, v.shape, [xs[p] for p in perm])
    return View(v, v.shape, strides(v.shape))


def _batch_strides(shape: tuple[int, ...], strides: list[int], batch: tuple[int, ...], tail: int) -> list[int]:
    """Strides over the output batch axes of an operand whose last `tail` axes are not batch axes."""
    own = shape[:len(shape) - tail]
    own_s = strides[:len(shape) - tail]
    pad = len(batch) - len(own)
    out = []
    for i in range(len(batch)):
        j = i - pad
        out.append(0 if j < 0 or own[j] == 1 else own_s[j])
    return out


def _collapse_batch(batch: tuple[int, ...], ops: list[list[int]],
                    max_axes: int = 2) -> tuple[list[int], list[list[int]]] | None:
    dims: list[int] = []
    st: list[list[int]] = [[] for _ in ops]
    for i, n in enumerate(batch):
        if n == 1:
            continue
        if dims and all(s[-1] == o[i] * n for s, o in zip(st, ops, strict=True)):
            dims[-1] *= n
            for s, o in zip(st, ops, strict=True):
                s[-1] = o[i]
            continue
        dims.append(n)
        for s, o in zip(st, ops, strict=True):
            s.append(o[i])
    if len(dims) > max_axes:
        return None
    pad = max_axes - len(dims)
    return [1] * pad + dims, [[0] * pad + s for s in st]


@dataclass
class BmmPlan:
    a: View
    b: View
    r: Value | None
    r_strides: list[int]  # over the output's full rank
    alpha: float
    softmax: bool
    out: Value  # the value the call writes (the MatMul's, or the fused chain's end)
    out_strides: list[int]  # element strides of the MatMul's logical output in `out`
    skip: list[Node] = field(default_factory=list)
    nc: int = NR


def _f32(*vs: Value | None) -> bool:
    return all(v is None or v.dtype == DType.FLOAT32 for v in vs)


def _scalar(v: Value | None) -> float | None:
    if v is None or v.const is None or v.const.size != 1:
        return None
    return float(np.asarray(v.const, dtype=np.float64).reshape(()))


def plan_bmm(lw: _Lowering, node: Node, assume: frozenset[int] = frozenset()) -> BmmPlan | None:
    """How `bmm_f32` runs this MatMul (with its fused epilogue), or None when it cannot."""
    a_val, b_val, y = node.input(0), node.input(1), node.outputs[0]
    if (a_val is None or b_val is None or a_val.shape is None or b_val.shape is None or y.shape is None
            or len(a_val.shape) < 2 or len(b_val.shape) < 2 or not _f32(a_val, b_val, y)
            or "activation" in node.attrs or y.size == 0):
        return None
    a, b = view_of(lw, a_val, assume), view_of(lw, b_val, assume)
    k = a.shape[-1]
    n = b.shape[-1]
    if b.shape[-2] != k or k == 0:
        return None
    plan = BmmPlan(a, b, None, [], 1.0, False, y, strides(y.shape))
    nc8 = ceildiv(n, NR) * NR
    plan.nc = smin(nc8, max(NR, PACK_FLOATS // k // NR * NR))  # n may be symbolic, k is not
    cur = y
    # epilogue: [* or / scalar] [+ R] [Softmax(last axis)] [Transpose keeping the last axis last]
    nxt = lw.single_user(cur)
    if nxt is not None and nxt.op_type in ("Mul", "Div") and nxt.outputs[0].shape == y.shape:
        other = nxt.input(1) if nxt.input(0) is cur else nxt.input(0)
        c = _scalar(other)
        if c is not None and (nxt.op_type == "Mul" or (nxt.input(0) is cur and c != 0.0)):
            plan.alpha = c if nxt.op_type == "Mul" else 1.0 / c
            plan.skip.append(nxt)
            cur = nxt.outputs[0]
            nxt = lw.single_user(cur)
    if nxt is not None and nxt.op_type == "Add" and len(nxt.inputs) == 2 and nxt.outputs[0].shape == y.shape:
        other = nxt.input(1) if nxt.input(0) is cur else nxt.input(0)
        if (other is not None and other is not cur and other.shape is not None and _f32(other)
                and lw.available(other) and len(other.shape) <= len(y.shape)):
            rs = _batch_strides(other.shape, strides(other.shape), y.shape, 0)
            plan.r, plan.r_strides = other, rs
            plan.skip.append(nxt)
            cur = nxt.outputs[0]
            nxt = lw.single_user(cur)
    if (nxt is not None and nxt.op_type == "Softmax" and int(nxt.attrs["axis"]) == len(y.shape) - 1
            and surely(lambda: plan.nc >= n) and _f32(nxt.outputs[0])):
        plan.softmax = True
        plan.skip.append(nxt)
        cur = nxt.outputs[0]
        nxt = lw.single_user(cur)
    if nxt is not None and nxt.op_type == "Transpose" and _f32(nxt.outputs[0]):
        perm = [int(p) for p in nxt.attrs["perm"]]
        t = nxt.outputs[0]
        if perm[-1] == len(perm) - 1 and t.shape is not None:
            ts = strides(t.shape)
            plan.out_strides = [ts[perm.index(i)] for i in range(len(perm))]
            plan.skip.append(nxt)
            cur = t
    plan.out = cur
    return plan if _bmm_params(plan, y.shape) is not None else None


def _bmm_params(plan: BmmPlan, yshape: tuple[int, ...]) -> list[Any] | None:
    """Everything of the parameter block but the tensor addresses (None: batch axes do not collapse)."""
    a, b = plan.a, plan.b
    m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
    batch = yshape[:-2]
    sa = _batch_strides(a.shape, a.strides, batch, 2)
    sb = _batch_strides(b.shape, b.strides, batch, 2)
    sc = plan.out_strides[:-2]
    rfull = plan.r_strides if plan.r is not None else [0] * len(yshape)
    got = _collapse_batch(batch, [sa, sb, sc, rfull[:-2]])
    if got is None:
        return None
    dims, (ba, bb, bc, br) = got
    if plan.out_strides[-1] != 1:
        return None
    return [dims[0], dims[1], m, n, k, *ba, a.strides[-2], a.strides[-1], *bb, b.strides[-2], b.strides[-1],
            *bc, plan.out_strides[-2], *br, rfull[-2], rfull[-1], {"f": plan.alpha}, int(plan.softmax), plan.nc]


def emit_bmm(lw: _Lowering, node: Node, plan: BmmPlan) -> None:
    y = node.outputs[0]
    assert y.shape is not None
    words = _bmm_params(plan, y.shape)
    assert words is not None
    lw.skip.update(id(s) for s in plan.skip)
    inputs: list[Value | None] = [lw.nchw(plan.a.src), lw.nchw(plan.b.src)]
    if plan.r is not None:
        inputs.append(lw.nchw(plan.r))
    out = lw.defined(plan.out, nhwc=False)
    lw.need_stack(plan.nc * plan.a.shape[-1] * 4)
    attrs = {"alpha": plan.alpha, "softmax": plan.softmax, "fused": [s.op_type for s in plan.skip]}
    lw.emit("MatMul", node.name, inputs, [out], attrs, "bmm_f32",
            [{"in": 0}, {"in": 1}, {"out": 0}, {"in": 2} if plan.r is not None else 0, *words])


def transpose_params(shape: tuple[int, ...], perm: list[int]) -> tuple[list[int], list[int]] | None:
    """(dims, input strides) of the output axes, adjacent axes merged, padded to 6; None if rank > 6."""
    xs = strides(shape)
    dims: list[int] = []
    st: list[int] = []
    for p in perm:
        d, s = shape[p], xs[p]
        if d == 1:
            continue
        if dims and st[-1] == s * d:
            dims[-1] *= d
            st[-1] = s
            continue
        dims.append(d)
        st.append(s)
    if len(dims) > 6:
        return None
    pad = 6 - len(dims)
    return [1] * pad + dims, [0] * pad + st


def bias_add(lw: _Lowering, node: Node, n: int) -> tuple[np.ndarray | None, Node | None]:
    """The constant bias of an Add right after a MatMul/Gemm output ([N] or broadcast to it), to fuse."""
    y = node.outputs[0]
    nxt = lw.single_user(y)
    if "activation" in node.attrs or nxt is None or nxt.op_type != "Add" or len(nxt.inputs) != 2:
        return None, None
    other = nxt.input(1) if nxt.input(0) is y else nxt.input(0)
    if (other is None or other is y or other.const is None or other.shape is None or not _f32(other, nxt.outputs[0])
            or nxt.outputs[0].shape != y.shape or any(d != 1 for d in other.shape[:-1])
            or (other.shape and other.shape[-1] not in (1, n))):
        return None, None
    return np.broadcast_to(np.asarray(other.const, np.float32).reshape(-1), (n,)).copy(), nxt


def materialize(lw: _Lowering, v: Value | None) -> None:
    """Run an absorbed Transpose after all (its reader is not a strided kernel after all)."""
    if v is not None and id(v) in lw.absorbed:
        t = lw.absorbed.pop(id(v))
        if not emit_transpose(lw, t):
            lw.js(t)


def lower_transpose(lw: _Lowering, node: Node) -> bool:
    y = node.outputs[0]
    users = lw.users.get(id(y), [])
    if (users and not lw.g.is_graph_output(y) and all(u.op_type == "MatMul" for u in users)
            and all(plan_bmm(lw, u, frozenset({id(y)})) is not None for u in users)):
        lw.absorbed[id(y)] = node  # every reader reads the input through strides
        return True
    return emit_transpose(lw, node)


def emit_transpose(lw: _Lowering, node: Node) -> bool:
    x, y = node.input(0), node.outputs[0]
    if x is None or x.shape is None or x.dtype is None or x.dtype.itemsize not in (1, 2, 4, 8) or x.dtype != y.dtype:
        return False
    got = transpose_params(x.shape, [int(p) for p in node.attrs["perm"]])
    if got is None:
        return False
    dims, strides = got
    xin = lw.nchw(x)
    out = lw.defined(y, nhwc=False)
    lw.emit("Transpose", node.name, [xin], [out], dict(node.attrs), "transpose_any",
            [{"in": 0}, {"out": 0}, x.dtype.itemsize, *dims, *strides])
    return True


def lower_layernorm(lw: _Lowering, node: Node) -> bool:
    x, scale, bias, y = node.input(0), node.input(1), node.input(2), node.outputs[0]
    if x is None or x.shape is None or scale is None or len(node.outputs) != 1 or not _f32(x, scale, bias, y):
        return False
    axis = int(node.attrs["axis"])
    if axis == 2 and len(x.shape) == 4 and lw.in_nhwc(x) and _spatial_layernorm(lw, node):
        return True
    inner = tuple(x.shape[axis:])
    cols = sym_prod(inner)
    params: list[Value] = []
    for i, v in enumerate((scale, bias)):
        if v is None:
            continue
        if v.const is not None:
            c = np.asarray(v.const, np.float32)
            c = c.reshape(c.shape[-len(inner):]) if c.ndim > len(inner) else c
            params.append(lw.const(f"{node.name}_{'scale' if i == 0 else 'bias'}",
                                   np.broadcast_to(c, inner).reshape(-1)))
        elif v.shape is not None and sym_prod(v.shape) == cols:
            params.append(lw.nchw(v))
        else:
            return False
    out = lw.defined(y, nhwc=False)
    lw.emit("LayerNormalization", node.name, [lw.nchw(x), *params], [out], dict(node.attrs), "layernorm_f32",
            [{"in": 0}, {"in": 1}, {"in": 2} if bias is not None else 0, {"out": 0},
             x.size // max(cols, 1), cols, {"f": float(node.attrs["epsilon"])}])
    return True


def _spatial_layernorm(lw: _Lowering, node: Node) -> bool:
    """Instance normalization (LayerNormalization over H, W of NCHW) of a tensor that lives in NHWC, normalized
    there (layernorm_spatial_nhwc_f32) rather than converted to NCHW and back; constant scale and bias only."""
    x, scale, bias, y = node.input(0), node.input(1), node.input(2), node.outputs[0]
    assert x is not None and x.shape is not None and scale is not None
    n, c, h, w = x.shape
    if not all(isinstance(d, int) for d in (n, c, h, w)) or c % 4 or any(v is not None and v.const is None
                                                                        for v in (scale, bias)):
        return False
    params: list[Value] = []
    for tag, v in (("scale", scale), ("bias", bias)):
        if v is not None and v.const is not None:
            c4 = np.asarray(v.const, np.float32)
            c4 = c4.reshape(c4.shape[-2:]) if c4.ndim > 2 else c4  # leading dims of 1 (a LayerNorm's [.., H, W])
            params.append(lw.const(f"{node.name}_{tag}", np.broadcast_to(c4, (h, w)).reshape(-1)))
    out = lw.defined(y, nhwc=True)
    lw.emit("LayerNormalization", node.name, [lw.nhwc(x), *params], [out], dict(node.attrs),
            "layernorm_spatial_nhwc_f32", [{"in": 0}, {"in": 1}, {"in": 2} if bias is not None else 0, {"out": 0},
                                           n, h * w, c, {"f": float(node.attrs["epsilon"])}, 0])
    return True


def lower_instance_norm(lw: _Lowering, node: Node) -> bool:
    """InstanceNormalization of a 4-D tensor that lives in NHWC, with constant per-channel scale and bias
    (layernorm_spatial_nhwc_f32); others run as the JavaScript kernel."""
    x, scale, bias, y = node.input(0), node.input(1), node.input(2), node.outputs[0]
    if (x is None or x.shape is None or len(x.shape) != 4 or scale is None or bias is None or scale.const is None
            or bias.const is None or not _f32(x, scale, bias, y) or not lw.in_nhwc(x)):
        return False
    n, c, h, w = x.shape
    if not all(isinstance(d, int) for d in (n, c, h, w)) or c % 4:
        return False
    params = [lw.const(f"{node.name}_{tag}", np.asarray(v.const, np.float32).reshape(-1))
              for tag, v in (("scale", scale), ("bias", bias)) if v.const is not None]
    out = lw.defined(y, nhwc=True)
    lw.emit("InstanceNormalization", node.name, [lw.nhwc(x), *params], [out], dict(node.attrs),
            "layernorm_spatial_nhwc_f32", [{"in": 0}, {"in": 1}, {"in": 2}, {"out": 0}, n, h * w, c,
                                           {"f": float(node.attrs["epsilon"])}, 1])
    return True


def lower_gelu(lw: _Lowering, node: Node, mode: int) -> bool:
    """Gelu (exact, mode 0) or Erf (mode 1), elementwise in whichever layout the input has."""
    x, y = node.input(0), node.outputs[0]
    if x is None or x.shape is None or not _f32(x, y) or (mode == 0 and node.attrs.get("approximate") != "none"):
        return False
    nhwc = lw.in_nhwc(x)
    xin = lw.nhwc(x) if nhwc else lw.nchw(x)
    out = lw.defined(y, nhwc=nhwc)
    lw.emit(node.op_type, node.name, [xin], [out], dict(node.attrs), "gelu_f32", [{"in": 0}, {"out": 0}, x.size, mode])
    return True
