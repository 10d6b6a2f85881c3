"""Lowering to the wasm backend: calls into the C kernel library over one linear memory.

What happens here, once, at conversion time:

- **Layout.** 4-D activations produced or consumed by the NHWC kernels (Conv, pools) live
  in NHWC: each such value gets an NHWC twin. Layout conversions are inserted where a value
  is needed in the other layout (graph inputs/outputs keep the ONNX layout); a conversion
  is a zero-copy view when H*W == 1 or C == 1 (the bytes are the same). Elementwise ops,
  activations and Concat run in whichever layout their inputs already have.
- **Weights** are packed into the layout the kernels read: GEMM panels of NR = 8 columns
  (`[group][panel][K][8]`, k = (ky, kx, ci) for Conv), depthwise filters as `[KH*KW][C]`,
  biases padded; each packed array is a new constant Value.
- **Fusion** beyond the shared passes: Conv + Add (residual) [+ activation] becomes one
  call whose epilogue adds the residual; Add/Sub/Mul/Div + activation likewise.
- **JS kernels.** Ops without a wasm kernel run with the fallback backend's JavaScript
  kernel on typed-array views of the same wasm memory (in NCHW); the descriptor lists
  their op types under `jsKernels`. Every model the fallback runs therefore runs here.

A wasm call is a KernelCall whose `attrs["wasm"]` is `{"fn": export, "params": [...]}`;
each param is an int (int32 word), `{"f": x}` (float32), or `{"in": i}` / `{"out": i}`
(the address of the call's i-th input/output tensor). docs/backends/wasm.md has the rest.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from webdnn.backends.common.backend import Backend
from webdnn.backends.common.descriptor import KernelCall, Program, WeightSource
from webdnn.backends.common.expr_attrs import activation_with_program, cpu_attrs
from webdnn.backends.common.memory_plan import is_view, plan
from webdnn.backends.common.registry import KernelRegistry
from webdnn.backends.fallback.lower import CONVERSION_ONLY
from webdnn.backends.fallback.lower import supported as js_supported
from webdnn.backends.wasm import quantized, recurrent, transformer, winograd
from webdnn.backends.wasm.tiles import A_BLOCK_FLOATS, MR, NR
from webdnn.errors import UnsupportedOperatorError, where
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Node, Value
from webdnn.ir.shapes import broadcast_strides
from webdnn.ir.symbolic import Dim, SymbolicShapeError, bounds, ceildiv, hint, smin, upper
from webdnn.ir.symbolic import prod as sym_prod
from webdnn.ops.expr import Expr, topo
from webdnn.ops.unary_ops import EPILOGUE_PRIMITIVES, UNARY, unary_expr
from webdnn.passes import decompose_quant, decompose_recurrent, fuse_activation
from webdnn.passes.fuse_activation import activation_spec

NAME = "wasm"
ABI = 3  # kernel calling convention; bump with any parameter-block change (runtime checks it)
ALIGNMENT = 16  # bytes: f32x4 loads/stores are 16-byte aligned in the arena and the weights

# The primitives the C expression interpreter runs (v_expr in kernels/wasm/common.h): those an
# epilogue may hold, and erf; programs of other primitives run as JavaScript kernels.
C_PRIMITIVES = EPILOGUE_PRIMITIVES | {"erf"}
EXPR_MAX = 64  # instructions per program (kernels/wasm/common.h)
ACT_NONE, ACT_CLAMP, ACT_EXPR = 0, 1, 2
BINARY_CODES = {"Add": 0, "Sub": 1, "Mul": 2, "Div": 3}
PAD_MODES = {"constant": 0, "reflect": 1, "edge": 2, "wrap": 3}  # kernels/wasm/pad2d_nhwc_x32.c
CAST_CODES = {DType.FLOAT32: 0, DType.UINT8: 1, DType.INT8: 2, DType.INT32: 3}  # kernels/wasm/cast.c
TO_NHWC = (0, 2, 3, 1)
TO_NCHW = (0, 3, 1, 2)

Param = int | dict[str, Any]


def supported() -> list[str]:
    """Ops this backend runs: every fallback op (JS kernels for those without a wasm kernel), and LSTM
    and GRU with kernels of its own (for the layers they cover; decompose_recurrent unrolls the rest)."""
    return sorted({*js_supported(), *recurrent.GATES})


def runs_in_c(e: Expr) -> bool:
    """Whether the C interpreter runs `e`: its primitives, its size, comparisons only as a
    where()'s condition (they are lane masks there)."""
    nodes = topo(e)
    if len(nodes) > EXPR_MAX or not {n.op for n in nodes} <= C_PRIMITIVES:
        return False
    return all(not a.is_bool or (n.op == "where" and j == 0) for n in nodes for j, a in enumerate(n.args))


def clamp_bounds(e: Expr) -> tuple[float, float] | None:
    """(lo, hi) when `e` is min(max(x, lo), hi) with constant bounds (either may be absent)."""
    lo, hi = -math.inf, math.inf
    if e.op == "min" and e.args[1].const is not None:
        hi, e = e.args[1].value, e.args[0]
    if e.op == "max" and e.args[1].const is not None:
        lo, e = e.args[1].value, e.args[0]
    return (lo, hi) if e.op == "x" and (lo, hi) != (-math.inf, math.inf) else None


def act_words(e: Expr | None, ref: str) -> list[Param]:
    """The three activation words of a call (kernels/wasm/common.h): none, a clamp, or the
    program `ref` names in the call's attributes ("activation": attrs.activation.expr, "expr":
    attrs.expr), which the runtime appends to the call's parameters."""
    if e is None:
        return [ACT_NONE, {"f": 0.0}, {"f": 0.0}]
    bounds = clamp_bounds(e)
    if bounds is not None:
        return [ACT_CLAMP, {"f": bounds[0]}, {"f": bounds[1]}]
    assert runs_in_c(e)
    return [ACT_EXPR, {"program": ref}, {"f": 0.0}]


def act_params(spec: dict[str, Any] | None) -> list[Param]:
    """The activation words of a fused activation (attrs["activation"])."""
    return act_words(None if spec is None else unary_expr(str(spec["type"]), spec), "activation")


def fusable_in_c(spec: dict[str, Any]) -> bool:
    return runs_in_c(unary_expr(str(spec["type"]), spec))


def pack_gemm_b(b: np.ndarray) -> np.ndarray:
    """[K, N] -> panels [ceil(N/8), K, 8] (zero-padded columns), flattened."""
    k, n = b.shape
    panels = -(-n // NR)
    padded = np.zeros((k, panels * NR), np.float32)
    padded[:, :n] = b
    return np.ascontiguousarray(padded.reshape(k, panels, NR).transpose(1, 0, 2)).reshape(-1)


def pad_bias(bias: np.ndarray | None, n: int) -> np.ndarray:
    out = np.zeros(-(-n // NR) * NR, np.float32)
    if bias is not None:
        out[:n] = bias
    return out


def block_rows(k: int, rows: Dim) -> Dim:
    """MC: GEMM rows per block, a multiple of MR, so that MC * K stays near A_BLOCK_FLOATS. With a known row count
    the blocks are made even: threads share a call by whole row blocks (kernels/wasm/gemm_grid.h), so 100 rows cut
    64 + 36 kept one of two threads busy for 64 % of the call (the LSTM benchmark's input projection), 52 + 48 for
    52 %."""
    mc = max(MR, (A_BLOCK_FLOATS // max(k, 1)) // MR * MR)
    if isinstance(rows, int):
        n = max(rows, 1)
        even = -(-n // -(-n // mc))  # ceil(rows / number of blocks)
        return -(-even // MR) * MR
    return smin(mc, ceildiv(rows, MR) * MR)  # rows may be symbolic


@dataclass
class _Fused:
    residual: Value | None
    act: dict[str, Any] | None
    out: Value  # the original value the fused chain defines
    skip: list[Node]


# op type -> the wasm lowering of a node: `lower(lowering, node)` emits its wasm calls and returns
# True, or returns False when this node's operands need the JavaScript kernel instead
LOWERINGS: KernelRegistry[Callable[[_Lowering, Node], bool]] = KernelRegistry(NAME)


class _Lowering:
    def __init__(self, graph: Graph) -> None:
        self.g = graph
        self.nodes: list[Node] = []  # every node of the lowered program, for the memory plan
        self.calls: list[KernelCall] = []
        self.has_nchw: set[int] = {id(v) for v in graph.inputs}  # the original Value holds the data
        self.twin: dict[int, Value] = {}  # id(original 4-D value) -> its NHWC twin, once written
        self.skip: set[int] = set()
        self.js_ops: set[str] = set()
        self.users = graph.users()
        self.stack_bytes = 0  # the largest per-thread stack scratch any call needs
        self.absorbed: dict[int, Node] = {}  # id(Transpose output) -> Transpose read in place by its MatMuls
        self.sources: dict[int, WeightSource] = {}  # weights the runtime computes at load (Winograd filters)

    def need_stack(self, nbytes: Dim) -> None:
        """Declare that a call keeps `nbytes` of per-thread scratch on its stack (symbolic: its bound)."""
        self.stack_bytes = max(self.stack_bytes, upper(nbytes))

    # ---- values and layouts ----------------------------------------------------------
    def available(self, v: Value) -> bool:
        return v.is_const or id(v) in self.has_nchw or id(v) in self.twin

    def in_nhwc(self, v: Value) -> bool:
        """Does `v` (non-const) live in NHWC only, so NHWC consumers avoid a conversion?"""
        return id(v) in self.twin and id(v) not in self.has_nchw

    def new_value(self, base: str, dtype: DType, shape: tuple[int, ...]) -> Value:
        return self.g.new_value(base, dtype, shape)

    def const(self, base: str, data: np.ndarray) -> Value:
        return self.g.const_value(base, np.ascontiguousarray(data))

    def nhwc(self, v: Value) -> Value:
        """The NHWC twin of the 4-D value `v`, converting (or viewing) once if needed."""
        if id(v) in self.twin:
            return self.twin[id(v)]
        assert v.shape is not None and v.dtype is not None and len(v.shape) == 4
        n, c, h, w = v.shape
        t = self.new_value(f"{v.name}_nhwc", v.dtype, (n, h, w, c))
        self.twin[id(v)] = t
        if v.is_const:
            assert v.const is not None
            t.set_const(np.ascontiguousarray(v.const.transpose(TO_NHWC)))
        elif h * w == 1 or c == 1:
            self._view(v, t)
        else:
            self._transpose(v, t, n, c, h * w)
        return t

    def nchw(self, v: Value) -> Value:
        """`v` itself, holding its data in the ONNX layout (converted once if needed)."""
        if v.is_const or id(v) in self.has_nchw:
            return v
        t = self.twin[id(v)]
        assert v.shape is not None
        n, c, h, w = v.shape
        self.has_nchw.add(id(v))
        if h * w == 1 or c == 1:
            self._view(t, v)
        else:
            self._transpose(t, v, n, h * w, c)
        return v

    def _view(self, src: Value, dst: Value) -> None:
        self.nodes.append(Node("Reshape", f"{dst.name}_view", [src], [dst], {}))

    def _transpose(self, src: Value, dst: Value, batch: int, rows: int, cols: int) -> None:
        assert src.dtype is not None
        if src.dtype.itemsize not in (1, 4):
            raise UnsupportedOperatorError(
                f"value '{src.name}' ({src.dtype.value}): the {NAME} backend converts layouts of 8- and 32-bit "
                "tensors only"
            )
        self.emit("Transpose", f"{dst.name}_layout", [src], [dst], {},
                  f"transpose_2d_x{src.dtype.itemsize * 8}", [{"in": 0}, {"out": 0}, batch, rows, cols])

    def emit(self, op: str, name: str, inputs: list[Value | None], outputs: list[Value], attrs: dict[str, Any],
             fn: str, params: list[Param], act: dict[str, Any] | None = None) -> None:
        """A wasm call; `act`: its fused activation, recorded with its program in the attributes
        (where the runtime reads the program from, and checks the activation words against)."""
        self.nodes.append(Node(op, name, list(inputs), list(outputs), {}))
        attrs = {k: v for k, v in attrs.items() if k != "activation"}
        if act is not None:
            attrs["activation"] = activation_with_program(act)
        wasm = {"fn": fn, "params": params}
        self.calls.append(KernelCall(op, name, list(inputs), list(outputs), {**attrs, "wasm": wasm}))

    def defined(self, orig: Value, nhwc: bool) -> Value:
        """The value a kernel writes for the original value `orig`, in the chosen layout."""
        if not nhwc:
            self.has_nchw.add(id(orig))
            return orig
        assert orig.shape is not None and orig.dtype is not None
        n, c, h, w = orig.shape
        t = self.new_value(f"{orig.name}_nhwc", orig.dtype, (n, h, w, c))
        self.twin[id(orig)] = t
        return t

    # ---- fusion ----------------------------------------------------------------------
    def single_user(self, v: Value) -> Node | None:
        us = self.users.get(id(v), [])
        if len(us) != 1 or self.g.is_graph_output(v):
            return None
        return us[0]

    def fuse_tail(self, out: Value, allow_residual: bool) -> _Fused:
        """Follow `out` into an Add with a same-shape available operand, then an activation."""
        fused = _Fused(None, None, out, [])
        nxt = self.single_user(out)
        if allow_residual and nxt is not None and nxt.op_type == "Add" and len(nxt.inputs) == 2:
            other = nxt.inputs[1] if nxt.inputs[0] is out else nxt.inputs[0]
            y = nxt.outputs[0]
            if (other is not None and other is not out and not other.is_const and self.available(other)
                    and other.shape == out.shape and other.dtype == out.dtype == y.dtype and y.shape == out.shape):
                fused.residual, fused.out = other, y
                fused.skip.append(nxt)
                nxt = self.single_user(y)
        if nxt is not None and nxt.inputs and nxt.inputs[0] is fused.out:
            spec = activation_spec(nxt)
            if spec is not None and fusable_in_c(spec) and nxt.outputs[0].dtype == fused.out.dtype:
                fused.act, fused.out = spec, nxt.outputs[0]
                fused.skip.append(nxt)
        return fused

    # ---- per op ----------------------------------------------------------------------
    def lower_node(self, node: Node) -> None:
        if id(node) in self.skip:
            return
        if is_view(node):
            x = node.input(0)
            assert x is not None
            node = Node(node.op_type, node.name, [self.nchw(x)], list(node.outputs), dict(node.attrs))
            self.nodes.append(node)
            self.has_nchw.add(id(node.outputs[0]))
            return
        lowering = LOWERINGS.get(node.op_type)
        try:
            if lowering is not None and lowering(self, node):
                return
        except SymbolicShapeError as e:
            raise UnsupportedOperatorError(
                f"{where(node.name, node.op_type, self.g.opset)}: the {NAME} backend cannot run it at a size that "
                f"varies with the input ({e}); fix the dims it depends on with --input-shape"
            ) from None
        self.js(node)

    def js(self, node: Node) -> None:
        if node.op_type in CONVERSION_ONLY or node.op_type not in set(js_supported()):
            raise UnsupportedOperatorError(
                f"{where(node.name, node.op_type, self.g.opset)}: the {NAME} backend cannot run it here"
                + (" (its inputs are not constant at conversion time). Fix input shapes with --input-shape."
                   if node.op_type in CONVERSION_ONLY else ".")
            )
        inputs = [self.nchw(v) if v is not None else None for v in node.inputs]
        for o in node.outputs:
            self.has_nchw.add(id(o))
        self.nodes.append(Node(node.op_type, node.name, inputs, list(node.outputs), {}))
        # the JS kernel's attributes: the float unary ops carry their expression program
        self.calls.append(KernelCall(node.op_type, node.name, inputs, list(node.outputs), cpu_attrs(node)))
        self.js_ops.add(node.op_type)

    @staticmethod
    def f32(*vs: Value | None) -> bool:
        return all(v is None or v.dtype == DType.FLOAT32 for v in vs)

    @LOWERINGS.register("Conv")
    def op_Conv(self, node: Node) -> bool:
        x, w, b = node.input(0), node.input(1), node.input(2)
        y = node.outputs[0]
        if (x is None or w is None or w.const is None or (b is not None and b.const is None)
                or x.shape is None or len(x.shape) != 4 or not self.f32(x, w, b, y)):
            return False
        a = node.attrs
        n, c, h, wd = x.shape
        _, m, oh, ow = y.shape or ()
        kh, kw = a["kernel_shape"]
        sh, sw = a.get("strides", [1, 1])
        dh, dw = a.get("dilations", [1, 1])
        pt, pl, _pb, _pr = a.get("pads", [0, 0, 0, 0])
        group = int(a.get("group", 1))
        cg, mg = c // group, m // group
        wconst = w.const.astype(np.float32)
        bconst = None if b is None or b.const is None else b.const.astype(np.float32)
        fused = self.fuse_tail(y, allow_residual="activation" not in a)
        act = a.get("activation") or fused.act
        xin = self.nhwc(x)
        res = self.nhwc(fused.residual) if fused.residual is not None else None
        out = self.defined(fused.out, nhwc=True)
        self.skip.update(id(s) for s in fused.skip)
        geo = [n, h, wd, c, oh, ow]
        win = [kh, kw, sh, sw, pt, pl, dh, dw]
        if cg == 1 and mg == 1:
            cp = -(-c // 4) * 4
            wp = np.zeros((kh * kw, cp), np.float32)
            wp[:, :c] = wconst.reshape(c, kh * kw).T
            bp = np.zeros(cp, np.float32)
            if bconst is not None:
                bp[:c] = bconst
            if res is None:
                self.emit("Conv", node.name, [xin, self.const(f"{w.name}_dw", wp), self.const(f"{node.name}_bias", bp)],
                          [out], dict(a), "dwconv2d_nhwc_f32",
                          [{"in": 0}, {"in": 1}, {"in": 2}, {"out": 0}, n, h, wd, c, oh, ow, *win,
                           *act_params(act), cp], act=act)
                return True
        # speed choices, right at any size: a symbolic plane decides at the symbols' bounds (hint)
        if winograd.applies(group, (kh, kw), (sh, sw), (dh, dw), hint(n), c, m, hint(oh), hint(ow)):
            tb = winograd.tile_block(hint(n), c, hint(oh), hint(ow))
            packed = self.const(f"{w.name}_winograd", winograd.pack_filters(wconst))
            # stored as the 3x3 filters (a quarter of the transformed ones), transformed by the runtime at load
            self.sources[id(packed)] = WeightSource(winograd.TRANSFORM, np.ascontiguousarray(wconst, np.float32),
                                                    [m, c])
            inputs_w: list[Value | None] = [xin, packed, self.const(f"{node.name}_bias", pad_bias(bconst, m))]
            if res is not None:
                inputs_w.append(res)
            self.need_stack(winograd.stack_bytes(c, tb))
            self.emit("Conv", node.name, inputs_w, [out], dict(a), "conv2d_winograd_nhwc_f32",
                      [{"in": 0}, {"in": 1}, {"in": 2}, {"out": 0}, {"in": 3} if res is not None else 0,
                       *geo, m, pt, pl, *act_params(act), tb], act=act)
            return True
        k = kh * kw * cg
        panels = [pack_gemm_b(wconst[g * mg:(g + 1) * mg].transpose(2, 3, 1, 0).reshape(k, mg)) for g in range(group)]
        biases = [pad_bias(None if bconst is None else bconst[g * mg:(g + 1) * mg], mg) for g in range(group)]
        rows = n * oh * ow
        mc = block_rows(k, rows)
        pointwise = kh == kw == sh == sw == 1 and pt == pl == 0 and (oh, ow) == (h, wd)
        inputs: list[Value | None] = [xin, self.const(f"{w.name}_packed", np.concatenate(panels)),
                                      self.const(f"{node.name}_bias", np.concatenate(biases))]
        if res is not None:
            inputs.append(res)
        self.need_stack(4 if pointwise else mc * k * 4)  # the im2col block per thread (pointwise: col[1])
        self.emit("Conv", node.name, inputs, [out], dict(a), "conv2d_nhwc_f32",
                  [{"in": 0}, {"in": 1}, {"in": 2}, {"out": 0}, {"in": 3} if res is not None else 0,
                   *geo, m, *win, group, *act_params(act), mc], act=act)
        return True

    def _gemm(self, node: Node, a_val: Value, bmat: np.ndarray, bias: np.ndarray | None,
              bias_add: Node | None = None) -> bool:
        y = node.outputs[0] if bias_add is None else bias_add.outputs[0]  # a fused bias Add's output
        assert a_val.shape is not None
        k, ncols = bmat.shape
        rows = sym_prod(a_val.shape[:-1])
        fused = self.fuse_tail(y, allow_residual="activation" not in node.attrs)
        act = node.attrs.get("activation") or fused.act
        res = self.nchw(fused.residual) if fused.residual is not None else None
        out = self.defined(fused.out, nhwc=False)
        self.skip.update(id(s) for s in fused.skip + ([bias_add] if bias_add is not None else []))
        inputs: list[Value | None] = [self.nchw(a_val), self.const(f"{node.name}_packed", pack_gemm_b(bmat)),
                                      self.const(f"{node.name}_bias", pad_bias(bias, ncols))]
        if res is not None:
            inputs.append(res)
        self.emit(node.op_type, node.name, inputs, [out], dict(node.attrs), "gemm_f32",
                  [{"in": 0}, {"in": 1}, {"in": 2}, {"out": 0}, {"in": 3} if res is not None else 0,
                   rows, k, ncols, *act_params(act), block_rows(k, rows)], act=act)
        return True

    @LOWERINGS.register("Gemm")
    def op_Gemm(self, node: Node) -> bool:
        a_val, b_val, c_val = node.input(0), node.input(1), node.input(2)
        y = node.outputs[0]
        if (a_val is None or b_val is None or b_val.const is None or int(node.attrs.get("transA", 0))
                or not self.f32(a_val, b_val, c_val, y) or a_val.shape is None or len(a_val.shape) != 2):
            return False
        bmat = b_val.const.astype(np.float32)
        if int(node.attrs.get("transB", 0)):
            bmat = bmat.T
        bmat = bmat * np.float32(node.attrs.get("alpha", 1.0))
        ncols = bmat.shape[1]
        bias = None
        if c_val is not None:
            if c_val.const is None or c_val.shape is None or sym_prod(c_val.shape) not in (1, ncols):
                return False
            if len(c_val.shape) == 2 and c_val.shape[0] != 1 and a_val.shape[0] != 1:
                return False
            bias = np.broadcast_to(c_val.const.astype(np.float32).reshape(-1), (ncols,)) * np.float32(
                node.attrs.get("beta", 1.0))
        return self._gemm(node, a_val, np.ascontiguousarray(bmat, np.float32), bias)

    @LOWERINGS.register("MatMul")
    def op_MatMul(self, node: Node) -> bool:
        a_val, b_val = node.input(0), node.input(1)
        if (a_val is None or b_val is None or b_val.const is None or b_val.const.ndim != 2
                or a_val.shape is None or len(a_val.shape) < 2 or not self.f32(a_val, b_val, node.outputs[0])
                or id(a_val) in self.absorbed):
            bmm = transformer.plan_bmm(self, node)  # two runtime operands (or a batched constant)
            if bmm is not None:
                transformer.emit_bmm(self, node, bmm)
                return True
            for v in node.inputs:
                transformer.materialize(self, v)
            return False
        bmat = b_val.const.astype(np.float32)
        bias, add = transformer.bias_add(self, node, bmat.shape[1])
        return self._gemm(node, a_val, bmat, bias, add)

    @LOWERINGS.register("LSTM", "GRU")
    def op_recurrent(self, node: Node) -> bool:
        return recurrent.lower_recurrent(self, node)

    @LOWERINGS.register("Transpose")
    def op_Transpose(self, node: Node) -> bool:
        return transformer.lower_transpose(self, node)

    @LOWERINGS.register("LayerNormalization")
    def op_LayerNormalization(self, node: Node) -> bool:
        return transformer.lower_layernorm(self, node)

    @LOWERINGS.register("InstanceNormalization")
    def op_InstanceNormalization(self, node: Node) -> bool:
        return transformer.lower_instance_norm(self, node)

    @LOWERINGS.register("Gelu")
    def op_Gelu(self, node: Node) -> bool:
        return transformer.lower_gelu(self, node, 0)

    @LOWERINGS.register("Erf")
    def op_Erf(self, node: Node) -> bool:
        return transformer.lower_gelu(self, node, 1)

    def _pool(self, node: Node, mode: int) -> bool:
        x, y = node.input(0), node.outputs[0]
        if x is None or x.shape is None or len(x.shape) != 4 or len(node.outputs) != 1 or not self.f32(x, y):
            return False
        a = node.attrs
        n, c, h, w = x.shape
        oh, ow = (y.shape or ())[2:]
        kh, kw = a["kernel_shape"]
        sh, sw = a.get("strides", [1, 1])
        dh, dw = a.get("dilations", [1, 1])
        pt, pl, pb, pr = a.get("pads", [0, 0, 0, 0])
        xin = self.nhwc(x)
        out = self.defined(y, nhwc=True)
        self.emit(node.op_type, node.name, [xin], [out], dict(a), "pool2d_nhwc_f32",
                  [{"in": 0}, {"out": 0}, n, h, w, c, oh, ow, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, mode])
        return True

    @LOWERINGS.register("MaxPool")
    def op_MaxPool(self, node: Node) -> bool:
        return quantized.lower_maxpool(self, node) or self._pool(node, 0)

    @LOWERINGS.register("QLinearConv")
    def op_QLinearConv(self, node: Node) -> bool:
        return quantized.lower_qconv(self, node)

    @LOWERINGS.register("QLinearMatMul")
    def op_QLinearMatMul(self, node: Node) -> bool:
        return quantized.lower_qlinear_matmul(self, node)

    @LOWERINGS.register("ConvInteger")
    def op_ConvInteger(self, node: Node) -> bool:
        return quantized.lower_conv_integer(self, node)

    @LOWERINGS.register("MatMulInteger")
    def op_MatMulInteger(self, node: Node) -> bool:
        return quantized.lower_matmul_integer(self, node)

    @LOWERINGS.register("QLinearAdd")
    def op_QLinearAdd(self, node: Node) -> bool:
        return quantized.lower_qadd(self, node)

    @LOWERINGS.register("AveragePool")
    def op_AveragePool(self, node: Node) -> bool:
        return self._pool(node, 1 if int(node.attrs.get("count_include_pad", 0)) else 2)

    def _global_pool(self, node: Node, mode: int) -> bool:
        x, y = node.input(0), node.outputs[0]
        if x is None or x.shape is None or len(x.shape) != 4 or not self.f32(x, y):
            return False
        n, c, h, w = x.shape
        xin = self.nhwc(x)
        out = self.defined(y, nhwc=True)
        self.emit(node.op_type, node.name, [xin], [out], {}, "global_pool_nhwc_f32",
                  [{"in": 0}, {"out": 0}, n, h * w, c, mode])
        return True

    @LOWERINGS.register("GlobalAveragePool")
    def op_GlobalAveragePool(self, node: Node) -> bool:
        return self._global_pool(node, 1)

    @LOWERINGS.register("GlobalMaxPool")
    def op_GlobalMaxPool(self, node: Node) -> bool:
        return self._global_pool(node, 0)

    def _layout_for(self, vals: list[Value | None], out: Value) -> bool | None:
        """NHWC (True), NCHW (False) for an elementwise-like op; None: only NCHW is possible."""
        live = [v for v in vals if v is not None and not v.is_const]
        if out.shape is None or len(out.shape) != 4:
            return False
        if any(self.in_nhwc(v) for v in live) and all(v.shape is not None and len(v.shape) == 4 for v in live):
            return True
        return False

    def _operand(self, v: Value, nhwc: bool, rank: int) -> Value:
        if not nhwc:
            return self.nchw(v)
        if v.is_const:
            assert v.const is not None
            data = v.const.reshape((1,) * (rank - v.const.ndim) + v.const.shape)
            return self.const(f"{v.name}_nhwc", data.transpose(TO_NHWC))
        return self.nhwc(v)

    @LOWERINGS.register("Add", "Sub", "Mul", "Div")
    def op_binary(self, node: Node) -> bool:
        a_val, b_val, y = node.input(0), node.input(1), node.outputs[0]
        if a_val is None or b_val is None or not self.f32(a_val, b_val, y) or y.shape is None:
            return False
        if a_val.is_const and b_val.is_const:
            return False
        nhwc = self._layout_for([a_val, b_val], y)
        rank = len(y.shape)
        out_shape = tuple(y.shape[i] for i in TO_NHWC) if nhwc else y.shape
        ops = [self._operand(v, bool(nhwc), rank) for v in (a_val, b_val)]
        strides = [broadcast_strides(v.shape or (), out_shape) for v in ops]
        dims, sa, sb = _collapse(list(out_shape), strides[0], strides[1])
        if dims is None:
            return False
        fused = self.fuse_tail(y, allow_residual=False)
        out = self.defined(fused.out, nhwc=bool(nhwc))
        self.skip.update(id(s) for s in fused.skip)
        self.emit(node.op_type, node.name, [ops[0], ops[1]], [out], {}, "binary_f32",
                  [{"in": 0}, {"in": 1}, {"out": 0}, BINARY_CODES[node.op_type], *dims, *sa, *sb,
                   *act_params(fused.act)], act=fused.act)
        return True


    @LOWERINGS.register(*(op for op in UNARY if op not in ("Identity", "Gelu", "Erf")))
    def op_unary(self, node: Node) -> bool:
        """An op of the unary table whose expression the C interpreter runs (else a JS kernel)."""
        x, y = node.input(0), node.outputs[0]
        if x is None or node.op_type == "Identity" or not self.f32(x, y) or x.shape is None:
            return False
        e = unary_expr(node.op_type, node.attrs)
        if not runs_in_c(e):
            return False
        nhwc = self.in_nhwc(x)
        xin = self.nhwc(x) if nhwc else self.nchw(x)
        out = self.defined(y, nhwc=nhwc)
        self.emit(node.op_type, node.name, [xin], [out], cpu_attrs(node), "unary_f32",
                  [{"in": 0}, {"out": 0}, x.size, *act_words(e, "expr")])
        return True

    @LOWERINGS.register("Cast")
    def op_Cast(self, node: Node) -> bool:
        """float32, uint8, int8, int32 to one another (kernels/wasm/cast.c), in the input's layout."""
        x, y = node.input(0), node.outputs[0]
        if x is None or x.dtype not in CAST_CODES or y.dtype not in CAST_CODES or x.dtype == y.dtype:
            return False
        nhwc = self.in_nhwc(x)
        xin = self.nhwc(x) if nhwc else self.nchw(x)
        out = self.defined(y, nhwc=nhwc)
        self.emit("Cast", node.name, [xin], [out], {"to": node.attrs["to"]}, "cast",
                  [{"in": 0}, {"out": 0}, x.size, CAST_CODES[x.dtype], CAST_CODES[y.dtype]])
        return True

    @LOWERINGS.register("Pad")
    def op_Pad(self, node: Node) -> bool:
        """A float32 Pad of the spatial axes of a 4-D tensor (non-negative pads) in NHWC
        (kernels/wasm/pad2d_nhwc_x32.c), next to the convolutions that read it; other Pads run as JavaScript."""
        x, y = node.input(0), node.outputs[0]
        pads = [int(v) for v in node.attrs.get("pads", [])]
        mode = PAD_MODES.get(str(node.attrs.get("mode", "constant")))
        if (x is None or not self.f32(x, y) or x.shape is None or len(x.shape) != 4 or len(node.inputs) > 1
                or len(pads) != 8 or mode is None or any(v < 0 for v in pads) or any(pads[i] for i in (0, 1, 4, 5))
                or (mode != 0 and any(bounds(d)[0] <= 0 for d in x.shape[2:]))):  # reflect/edge of an empty axis
            return False
        n, c, h, w = x.shape
        oh, ow = (y.shape or ())[2:]
        xin = self.nhwc(x)
        out = self.defined(y, nhwc=True)
        self.emit("Pad", node.name, [xin], [out], dict(node.attrs), "pad2d_nhwc_x32",
                  [{"in": 0}, {"out": 0}, n, h, w, c, oh, ow, pads[2], pads[3], mode,
                   {"f": float(node.attrs.get("value", 0.0) or 0.0)}])
        return True

    @LOWERINGS.register("ReduceMin", "ReduceMax")
    def op_reduce_all(self, node: Node) -> bool:
        """The min or max of a whole float32 tensor (DynamicQuantizeLinear's range); other reductions are JS."""
        x, y = node.input(0), node.outputs[0]
        if (x is None or not self.f32(x, y) or x.shape is None or len(node.inputs) > 1
                or sorted(node.attrs.get("axes") or range(len(x.shape))) != list(range(len(x.shape)))
                or (not node.attrs.get("axes") and node.attrs.get("noop_with_empty_axes"))):
            return False
        n = sym_prod(x.shape)
        if not isinstance(n, int) or n < 1:
            return False
        xin = self.nhwc(x) if self.in_nhwc(x) else self.nchw(x)  # every element, in whichever layout it is
        out = self.defined(y, nhwc=False)
        self.emit(node.op_type, node.name, [xin], [out], dict(node.attrs), "reduce_all_f32",
                  [{"in": 0}, {"out": 0}, n, int(node.op_type == "ReduceMax")])
        return True

    @LOWERINGS.register("Concat")
    def op_Concat(self, node: Node) -> bool:
        y = node.outputs[0]
        vals = [v for v in node.inputs if v is not None]
        if y.shape is None or y.dtype is None or any(v.dtype != y.dtype or v.shape is None for v in vals):
            return False
        axis = int(node.attrs["axis"])
        nhwc = self._layout_for(list(vals), y) and axis == 1
        shape = tuple(y.shape[i] for i in TO_NHWC) if nhwc else y.shape
        if nhwc:
            axis = 3
        ins = [self._operand(v, bool(nhwc), len(y.shape)) for v in vals]
        outer = sym_prod(shape[:axis])
        item = y.dtype.itemsize
        out = self.defined(y, nhwc=bool(nhwc))
        params: list[Param] = [{"out": 0}, outer, sym_prod(shape[axis:]) * item, len(ins)]
        for i, v in enumerate(ins):
            assert v.shape is not None
            params += [{"in": i}, sym_prod(v.shape[axis:]) * item]
        self.emit("Concat", node.name, list(ins), [out], {"axis": axis}, "concat", params)
        return True

    @LOWERINGS.register("Softmax")
    def op_Softmax(self, node: Node) -> bool:
        x, y = node.input(0), node.outputs[0]
        if x is None or x.shape is None or not self.f32(x, y) or int(node.attrs["axis"]) != len(x.shape) - 1:
            return False
        cols = x.shape[-1]
        out = self.defined(y, nhwc=False)
        self.emit("Softmax", node.name, [self.nchw(x)], [out], dict(node.attrs), "softmax_f32",
                  [{"in": 0}, {"out": 0}, x.size // max(cols, 1), cols])
        return True


def _collapse(dims: list[int], sa: list[int], sb: list[int]) -> tuple[list[int] | None, list[int], list[int]]:
    """Merge adjacent axes where both operands stay contiguous-or-broadcast; pad to 4 axes."""
    d: list[int] = []
    a: list[int] = []
    b: list[int] = []
    for n, x, y in zip(dims, sa, sb, strict=True):
        if n == 1:
            continue
        if d and _mergeable(a[-1], x, n) and _mergeable(b[-1], y, n):
            d[-1] *= n
            a[-1] = x
            b[-1] = y
            continue
        d.append(n)
        a.append(x)
        b.append(y)
    if not d:
        d, a, b = [1], [0], [0]
    if len(d) > 4 or a[-1] not in (0, 1) or b[-1] not in (0, 1):
        return None, [], []
    pad = 4 - len(d)
    return [1] * pad + d, [0] * pad + a, [0] * pad + b


def _mergeable(outer: int, inner: int, n: int) -> bool:
    return (outer == 0 and inner == 0) or (outer != 0 and outer == inner * n)


def lower(graph: Graph) -> Program:
    lw = _Lowering(graph)
    for node in graph.nodes:
        lw.lower_node(node)
    for v in graph.outputs:
        if not v.is_const:
            lw.nchw(v)
    mp = plan(graph, ALIGNMENT, lw.nodes)
    extra = {"wasm": {"abi": ABI, "stackBytes": lw.stack_bytes}, "jsKernels": sorted(lw.js_ops)}
    return Program(NAME, graph, lw.calls, mp, weight_alignment=ALIGNMENT, extra=extra, sources=lw.sources)


def _keeps_activation(spec: dict[str, Any], producer: Node) -> bool:
    """Whether the wasm kernel of `producer` applies its fused activation: not the batched
    MatMul of two runtime operands (bmm_f32 has no epilogue), nor a program the C interpreter
    cannot run; those activations run as their own kernel after the producer."""
    b = producer.input(1)
    bmm = producer.op_type == "MatMul" and b is not None and not b.is_const
    return fusable_in_c(spec) and not bmm


PASSES = (("decompose_recurrent", lambda g: decompose_recurrent.run(g, keep=recurrent.native)),
          ("decompose_quant", lambda g: decompose_quant.run_deferred(g, keep=quantized.native)),
          ("split_activations", lambda g: fuse_activation.split(g, _keeps_activation)))
BACKEND = Backend(NAME, ALIGNMENT, lower, supported, passes=PASSES, conversion_only=CONVERSION_ONLY, symbolic=True)
