"""Gemm and MatMul."""

from __future__ import annotations

from webdnn.ir.graph import Graph, Node
from webdnn.ops._util import broadcast, in_dtype, in_shape, set_out
from webdnn.ops.nn_common import fail
from webdnn.ops.registry import shape_rule


@shape_rule("Gemm")
def gemm(node: Node, graph: Graph) -> None:
    a, b = in_shape(node, 0), in_shape(node, 1)
    if len(a) != 2 or len(b) != 2:
        raise fail(node, f"A {a} and B {b} must be matrices")
    trans_a, trans_b = int(node.attrs.get("transA", 0)), int(node.attrs.get("transB", 0))
    m, k = (a[1], a[0]) if trans_a else a
    k2, n = (b[1], b[0]) if trans_b else b
    if k != k2:
        raise fail(node, f"inner dimensions differ: A {a} (transA={trans_a}), B {b} (transB={trans_b})")
    if node.input(2) is not None:
        c = in_shape(node, 2)
        if len(c) > 2 or any(d not in (1, want) for d, want in zip(reversed(c), (n, m), strict=False)):
            raise fail(node, f"C {c} does not broadcast to ({m}, {n})")
    node.attrs.pop("broadcast", None)  # opset < 7 only; broadcasting is implied since
    node.attrs.update(
        alpha=float(node.attrs.get("alpha", 1.0)),
        beta=float(node.attrs.get("beta", 1.0)),
        transA=trans_a,
        transB=trans_b,
    )
    set_out(node, 0, in_dtype(node, 0), (m, n))


def matmul_shape(node: Node, graph: Graph, a: tuple, b: tuple) -> list:  # type: ignore[type-arg]
    """The output shape of numpy's matmul of shapes a and b (MatMul, MatMulInteger, QLinearMatMul)."""
    if not a or not b:
        raise fail(node, f"MatMul of a scalar (shapes {a}, {b})")
    a2 = (1, *a) if len(a) == 1 else a
    b2 = (*b, 1) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise fail(node, f"inner dimensions differ: {a} @ {b}")
    batch = broadcast(node, a2[:-2], b2[:-2], graph=graph)
    out = [*batch]
    if len(a) > 1:
        out.append(a2[-2])
    if len(b) > 1:
        out.append(b2[-1])
    return out


@shape_rule("MatMul")
def matmul(node: Node, graph: Graph) -> None:
    set_out(node, 0, in_dtype(node, 0), matmul_shape(node, graph, in_shape(node, 0), in_shape(node, 1)))
