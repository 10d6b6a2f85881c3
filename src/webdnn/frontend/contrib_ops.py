"""Operators of the `com.microsoft` domain that exporters and onnxruntime's quantizers write, rewritten into
standard ONNX before the ONNX frontend reads the graph (which refuses every other custom-domain op, listing
them). One function per op, on the protobuf.

- MatMulNBits (onnxruntime's `MatMulNBitsQuantizer`, the 4-bit models transformers.js ships): its packed
  weights are constants, so they are dequantized here, at conversion, into a float32 weight [K, N] and the
  node becomes a MatMul (plus Add for a bias). The float32 weight then goes through every optimization and
  weight encoding (`--weights int8` stores it again in 8 bits).
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


REWRITES = {"MatMulNBits": matmul_nbits}


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

    nodes: list[onnx.NodeProto] = []
    for n in g.node:
        if n.domain == DOMAIN and n.op_type in REWRITES:
            new, tensors = REWRITES[n.op_type](n, const)
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
