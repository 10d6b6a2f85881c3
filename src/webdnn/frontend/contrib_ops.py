"""Operators of the `com.microsoft` domain that exporters and onnxruntime's quantizers write, rewritten into
standard ONNX before the ONNX frontend reads the graph (which refuses every other custom-domain op, listing
them). One function per op, on the protobuf.

- MatMulNBits (onnxruntime's `MatMulNBitsQuantizer`, the 4-bit models transformers.js ships): its packed
  weights are constants, so they are dequantized here, at conversion, into a float32 weight [K, N] and the
  node becomes a MatMul (plus Add for a bias). The float32 weight then goes through every optimization and
  weight encoding (`--weights int8` stores it again in 8 bits).
- The QOperator ops of `quantize_static(..., quant_format=QuantFormat.QOperator)` (QLinearAdd, QLinearMul,
  QLinearGlobalAveragePool, QLinearAveragePool, QLinearSigmoid, QLinearLeakyRelu, QLinearConcat, QGemm): each
  becomes DequantizeLinear of its integer inputs, the float op, and QuantizeLinear to its output's scale and
  zero point, which passes/decompose_quant.py then writes as float arithmetic every backend runs (and folds
  for constant weights). onnxruntime computes them with fixed-point or float steps of its own, so where a
  value lands on a rounding tie the two can differ by one quantization step.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import helper, numpy_helper

from webdnn.errors import UnsupportedOperatorError

DOMAIN = "com.microsoft"


def _attr(node: onnx.NodeProto, name: str, default: int | None = None) -> int:
    for a in node.attribute:
        if a.name == name:
            return int(a.i)
    if default is None:
        raise UnsupportedOperatorError(f"node '{node.name}' ({DOMAIN}.{node.op_type}): attribute '{name}' is missing")
    return default


def _unpack(packed: np.ndarray, bits: int, count: int) -> np.ndarray:
    """`count` unsigned `bits`-bit values per row of `packed` (uint8 rows), the first in the low bits."""
    if bits == 8:
        return packed[..., :count].astype(np.int32)
    per = 8 // bits
    parts = [(packed >> (bits * i)) & ((1 << bits) - 1) for i in range(per)]
    return np.stack(parts, axis=-1).reshape(*packed.shape[:-1], -1)[..., :count].astype(np.int32)


def matmul_nbits(node: onnx.NodeProto, const: Callable[[str], np.ndarray | None]) -> tuple[list[onnx.NodeProto],
                                                                                          list[onnx.TensorProto]]:
    """Y = A @ dequant(B)^T (+ bias): dequant(B)[n, k] = (q[n, k] - zero_point[n, k / block]) * scale[n, k / block],
    q the k-th `bits`-bit value of row n (low bits first), zero point 2^(bits-1) when none is given."""
    where = f"node '{node.name}' ({DOMAIN}.MatMulNBits)"
    k_dim, n_dim = _attr(node, "K"), _attr(node, "N")
    bits, block = _attr(node, "bits", 4), _attr(node, "block_size")
    if bits not in (4, 8):
        raise UnsupportedOperatorError(f"{where}: {bits}-bit weights are not supported (4 and 8 are)")
    ins = list(node.input) + [""] * (6 - len(node.input))
    a, b_name, s_name, zp_name, g_idx, bias = ins[:6]
    b, scales = const(b_name), const(s_name)
    if b is None or scales is None:
        raise UnsupportedOperatorError(f"{where}: its weights and scales must be constants (initializers)")
    if g_idx and const(g_idx) is not None:
        order = const(g_idx).reshape(-1)  # type: ignore[union-attr]
        if not np.array_equal(order, np.arange(k_dim) // block):
            raise UnsupportedOperatorError(f"{where}: a g_idx other than the plain block order is not supported")
    blocks = -(-k_dim // block)
    q = _unpack(b.reshape(n_dim, blocks, -1), bits, block).reshape(n_dim, blocks * block)
    s = scales.astype(np.float32).reshape(n_dim, blocks)
    if zp_name:
        zp = const(zp_name)
        if zp is None:
            raise UnsupportedOperatorError(f"{where}: its zero points must be a constant (an initializer)")
        if zp.dtype == np.uint8:
            z = _unpack(zp.reshape(n_dim, -1), bits, blocks).astype(np.float32)
        else:  # float zero points: dequant = (q - zp) * scale with zp in the scale's type
            z = zp.astype(np.float32).reshape(n_dim, blocks)
    else:
        z = np.full((n_dim, blocks), float(1 << (bits - 1)), np.float32)
    w = (q.astype(np.float32) - np.repeat(z, block, axis=1)) * np.repeat(s, block, axis=1)
    weight = numpy_helper.from_array(np.ascontiguousarray(w[:, :k_dim].T), f"{node.name}__weight")
    out = node.output[0]
    if bias:
        mid = f"{out}__matmul"
        nodes = [helper.make_node("MatMul", [a, weight.name], [mid], name=f"{node.name}__matmul"),
                 helper.make_node("Add", [mid, bias], [out], name=node.name)]
    else:
        nodes = [helper.make_node("MatMul", [a, weight.name], [out], name=node.name)]
    return nodes, [weight]


class _Emitter:
    """Standard ONNX nodes and constants replacing one com.microsoft node, with names derived from it."""

    def __init__(self, node: onnx.NodeProto, elem_type: Callable[[str], int | None]) -> None:
        self.node, self.elem_type = node, elem_type
        self.nodes: list[onnx.NodeProto] = []
        self.tensors: list[onnx.TensorProto] = []

    def add(self, op: str, inputs: list[str], out: str | None = None, **attrs: object) -> str:
        k = len(self.nodes)
        out = out or f"{self.node.output[0]}__{op.lower()}{k}"
        self.nodes.append(helper.make_node(op, inputs, [out], name=f"{self.node.name}__{op.lower()}{k}", **attrs))
        return out

    def const(self, value: np.ndarray, hint: str) -> str:
        t = numpy_helper.from_array(value, f"{self.node.output[0]}__{hint}")
        self.tensors.append(t)
        return t.name

    def dequant(self, x: str, scale: str, zp: str, axis: int = 1) -> str:
        return self.add("DequantizeLinear", [x, scale, zp] if zp else [x, scale], axis=axis)

    def quant(self, y: str, scale: str, zp: str, like: str) -> None:
        """The node's (first) output: y quantized to `scale`/`zp`; without a zero point, a zero of the type of
        `like` (the op's integer input: its output has the same type), uint8 where that is unknown."""
        if not zp:
            t = self.elem_type(like) or onnx.TensorProto.UINT8
            zp = self.const(np.zeros((), helper.tensor_dtype_to_np_dtype(t)), "zero_point")
        self.add("QuantizeLinear", [y, scale, zp], out=self.node.output[0])

    def result(self) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
        self.nodes[-1].name = self.node.name  # the last node keeps the original name, for error messages
        return self.nodes, self.tensors


def _ins(node: onnx.NodeProto, count: int) -> list[str]:
    return list(node.input) + [""] * (count - len(node.input))


def _qlinear_binary(op: str) -> Callable[..., tuple[list[onnx.NodeProto], list[onnx.TensorProto]]]:
    """QLinearAdd / QLinearMul: C = quant(deq(A) op deq(B)), broadcasting as the float op does."""

    def rewrite(node: onnx.NodeProto, const: Callable[[str], np.ndarray | None],
                elem_type: Callable[[str], int | None]) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
        a, a_s, a_zp, b, b_s, b_zp, c_s, c_zp = _ins(node, 8)
        e = _Emitter(node, elem_type)
        e.quant(e.add(op, [e.dequant(a, a_s, a_zp), e.dequant(b, b_s, b_zp)]), c_s, c_zp, a)
        return e.result()

    return rewrite


def _qlinear_unary(op: str, **attrs: object) -> Callable[..., tuple[list[onnx.NodeProto], list[onnx.TensorProto]]]:
    """QLinearSigmoid / QLinearLeakyRelu: Y = quant(op(deq(X)))."""

    def rewrite(node: onnx.NodeProto, const: Callable[[str], np.ndarray | None],
                elem_type: Callable[[str], int | None]) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
        x, x_s, x_zp, y_s, y_zp = _ins(node, 5)
        e = _Emitter(node, elem_type)
        got = {k: helper.get_attribute_value(a) for a in node.attribute for k in attrs if a.name == k}
        e.quant(e.add(op, [e.dequant(x, x_s, x_zp)], **{**attrs, **got}), y_s, y_zp, x)
        return e.result()

    return rewrite


def qlinear_global_average_pool(node: onnx.NodeProto, const: Callable[[str], np.ndarray | None],
                                elem_type: Callable[[str], int | None]) -> tuple[list[onnx.NodeProto],
                                                                                 list[onnx.TensorProto]]:
    """channels_last=1 averages an image [N, H, W, C] over H and W (output [N, 1, 1, C])."""
    x, x_s, x_zp, y_s, y_zp = _ins(node, 5)
    e = _Emitter(node, elem_type)
    d = e.dequant(x, x_s, x_zp)
    if _attr(node, "channels_last", 0):
        nchw = e.add("GlobalAveragePool", [e.add("Transpose", [d], perm=[0, 3, 1, 2])])
        pooled = e.add("Transpose", [nchw], perm=[0, 2, 3, 1])  # of a [N, C, 1, 1]: a reshape, no copy
    else:
        pooled = e.add("GlobalAveragePool", [d])
    e.quant(pooled, y_s, y_zp, x)
    return e.result()


def qlinear_average_pool(node: onnx.NodeProto, const: Callable[[str], np.ndarray | None],
                         elem_type: Callable[[str], int | None]) -> tuple[list[onnx.NodeProto],
                                                                          list[onnx.TensorProto]]:
    x, x_s, x_zp, y_s, y_zp = _ins(node, 5)
    if _attr(node, "channels_last", 0):
        raise UnsupportedOperatorError(f"node '{node.name}' ({DOMAIN}.QLinearAveragePool): channels_last=1 is not "
                                       "supported (export the model channels-first)")
    e = _Emitter(node, elem_type)
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute if a.name != "channels_last"}
    e.quant(e.add("AveragePool", [e.dequant(x, x_s, x_zp)], **attrs), y_s, y_zp, x)
    return e.result()


def qlinear_concat(node: onnx.NodeProto, const: Callable[[str], np.ndarray | None],
                   elem_type: Callable[[str], int | None]) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Inputs: Y_scale, Y_zero_point, then (X, X_scale, X_zero_point) per input."""
    y_s, y_zp, *rest = node.input
    if len(rest) % 3:
        raise UnsupportedOperatorError(f"node '{node.name}' ({DOMAIN}.QLinearConcat): {len(node.input)} inputs, "
                                       "expected 2 + 3 per concatenated tensor")
    e = _Emitter(node, elem_type)
    parts = [e.dequant(rest[i], rest[i + 1], rest[i + 2]) for i in range(0, len(rest), 3)]
    e.quant(e.add("Concat", parts, axis=_attr(node, "axis")), y_s, y_zp, rest[0])
    return e.result()


def qgemm(node: onnx.NodeProto, const: Callable[[str], np.ndarray | None],
          elem_type: Callable[[str], int | None]) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Y = alpha · deq(A)' · deq(B)' + deq(C), C an int32 bias of scale a_scale · b_scale; Y quantized when
    y_scale is given, float otherwise. B's scale may be per output column (axis 0 of B when transB)."""
    a, a_s, a_zp, b, b_s, b_zp, c, y_s, y_zp = _ins(node, 9)
    e = _Emitter(node, elem_type)
    trans_b = _attr(node, "transB", 0)
    alpha = 1.0
    for at in node.attribute:
        if at.name == "alpha":
            alpha = float(at.f)
    ins = [e.dequant(a, a_s, a_zp), e.dequant(b, b_s, b_zp, axis=0 if trans_b else 1)]
    if c:
        ins.append(e.add("Mul", [e.add("Cast", [c], to=onnx.TensorProto.FLOAT), e.add("Mul", [a_s, b_s])]))
    gemm_out = None if y_s else node.output[0]
    y = e.add("Gemm", ins, out=gemm_out, alpha=alpha, transA=_attr(node, "transA", 0), transB=trans_b)
    if y_s:
        e.quant(y, y_s, y_zp, a)
    return e.result()


REWRITES = {
    "MatMulNBits": lambda node, const, elem_type: matmul_nbits(node, const),
    "QLinearAdd": _qlinear_binary("Add"), "QLinearMul": _qlinear_binary("Mul"),
    "QLinearSigmoid": _qlinear_unary("Sigmoid"), "QLinearLeakyRelu": _qlinear_unary("LeakyRelu", alpha=0.01),
    "QLinearGlobalAveragePool": qlinear_global_average_pool, "QLinearAveragePool": qlinear_average_pool,
    "QLinearConcat": qlinear_concat, "QGemm": qgemm,
}


def expand_contrib_ops(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` with the com.microsoft ops of REWRITES written as standard ONNX (the same object when it has
    none); other custom-domain ops stay for the frontend to report."""
    g = model.graph
    if not any(n.domain == DOMAIN and n.op_type in REWRITES for n in g.node):
        return model
    model = onnx.ModelProto.FromString(model.SerializeToString())  # the caller's model stays as it was
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    consts: dict[str, np.ndarray] = {}

    def const(name: str) -> np.ndarray | None:
        if name not in consts and name in inits:
            consts[name] = numpy_helper.to_array(inits[name])
        return consts.get(name)

    types: dict[str, int] | None = None

    def elem_type(name: str) -> int | None:
        """A tensor's element type, from onnx's type inference (which passes over the com.microsoft ops)."""
        nonlocal types
        if types is None:
            inferred = onnx.shape_inference.infer_shapes(model).graph
            types = {v.name: v.type.tensor_type.elem_type for v in [*inferred.input, *inferred.value_info]}
            types.update({t.name: t.data_type for t in inferred.initializer})
            for n in inferred.node:  # the zero point fixes the output type of a (Q)Linear op
                if n.op_type in ("QuantizeLinear", "QLinearConv", "QLinearMatMul") and len(n.input) > 2:
                    zp = n.input[2 if n.op_type == "QuantizeLinear" else 7]
                    if zp in types:
                        types.setdefault(n.output[0], types[zp])
        return types.get(name) or None

    nodes: list[onnx.NodeProto] = []
    for n in g.node:
        if n.domain == DOMAIN and n.op_type in REWRITES:
            new, tensors = REWRITES[n.op_type](n, const, elem_type)
            nodes += new
            g.initializer.extend(tensors)
        else:
            nodes.append(n)
    del g.node[:]
    g.node.extend(nodes)
    used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    keep = [t for t in g.initializer if t.name in used]  # the packed weights are no longer read
    del g.initializer[:]
    g.initializer.extend(keep)
    if not any(n.domain == DOMAIN for n in g.node):
        kept = [o for o in model.opset_import if o.domain != DOMAIN]
        del model.opset_import[:]
        model.opset_import.extend(kept)
    return model
