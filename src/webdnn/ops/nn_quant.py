"""Quantization ops: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, MatMulInteger,
ConvInteger, QLinearMatMul, QLinearConv, and QLinearAdd (com.microsoft's op, which the frontend expands
and passes/fuse_qdq.py makes from QDQ Adds: quantize(dequantize(A) + dequantize(B)), per-tensor
parameters, broadcasting as Add). The shape rules; passes/decompose_quant.py writes each
out as float32 arithmetic every backend runs (no kernel of its own on any backend).

Canonical attributes: `axis` non-negative, `block_size` (0: per-tensor or per-axis), and `to`, the
quantized element type (QuantizeLinear: its zero point's type, else `output_dtype`, else uint8;
DequantizeLinear: its scale's type, or `output_dtype`). 8- and 16-bit integers (and int32 for
DequantizeLinear) are the quantized types here; 2- and 4-bit and float8 ones are not.
"""

from __future__ import annotations

from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Node
from webdnn.ir.symbolic import Dim, provably_equal
from webdnn.ops._util import broadcast, in_dtype, in_shape, norm_axis, set_out
from webdnn.ops.nn_common import fail
from webdnn.ops.nn_conv import conv_shape
from webdnn.ops.nn_gemm import matmul_shape
from webdnn.ops.registry import shape_rule, unsupported

# the integer range of each quantized type
RANGES = {DType.UINT8: (0, 255), DType.INT8: (-128, 127), DType.INT16: (-32768, 32767)}
FLOATS = (DType.FLOAT32, DType.FLOAT16, DType.FLOAT64)


def _int_type(node: Node, graph: Graph, dt: DType, what: str, allowed: tuple[DType, ...] = tuple(RANGES)) -> DType:
    if dt not in allowed:
        raise unsupported(node, graph, f"{what} has element type {dt.value}; quantized types here are "
                          f"{', '.join(d.value for d in allowed)}")
    return dt


def _check_param(node: Node, i: int, x: tuple[Dim, ...], axis: int, block: int, what: str) -> None:
    """A scale or zero point: a scalar (per tensor), a vector along `axis` (per axis) or, with a
    block size, x's shape with `axis` divided into blocks."""
    p = in_shape(node, i)
    n = 1
    for d in p:
        n = n * int(d) if isinstance(d, int) else 0
    if block:
        want = tuple(-(-int(d) // block) if j == axis else d for j, d in enumerate(x))
        if len(p) != len(x) or any(provably_equal(a, b) is not True for a, b in zip(p, want, strict=True)):
            raise fail(node, f"blocked {what} has shape {list(p)}; block size {block} along axis {axis} of "
                       f"{list(x)} needs {list(want)}")
    elif n == 1 and len(p) <= 1:
        return
    elif len(p) != 1 or provably_equal(p[0], x[axis]) is not True:
        raise fail(node, f"{what} has shape {list(p)}: a scalar, or one value per element of axis {axis} "
                   f"({x[axis]}) is expected")


def _axis_and_block(node: Node, x: tuple[Dim, ...]) -> tuple[int, int]:
    """The canonical axis (0 when the parameters are per tensor: the attribute's default of 1 is then
    meaningless, and out of range for a vector) and block size."""
    block = int(node.attrs.get("block_size", 0))
    scalar = all(len(in_shape(node, i)) == 0 or in_shape(node, i) == (1,)
                 for i in (1, 2) if node.input(i) is not None)
    axis = 0 if scalar and not block else norm_axis(node, int(node.attrs.get("axis", 1)), len(x))
    if block < 0:
        raise fail(node, f"block_size {block} is negative")
    node.attrs.update(axis=axis, block_size=block)
    return axis, block


@shape_rule("QuantizeLinear")
def quantize_linear(node: Node, graph: Graph) -> None:
    x = in_shape(node, 0)
    if in_dtype(node, 0) not in FLOATS:
        raise fail(node, f"input has element type {in_dtype(node, 0).value}, not a float")
    axis, block = _axis_and_block(node, x)
    _check_param(node, 1, x, axis, block, "y_scale")
    zp = node.input(2)
    given = node.attrs.pop("output_dtype", 0)
    if zp is not None:
        to = in_dtype(node, 2)
        _check_param(node, 2, x, axis, block, "y_zero_point")
    else:
        to = DType.from_onnx(int(given)) if given else DType.UINT8
    node.attrs["to"] = _int_type(node, graph, to, "the quantized output").value
    if int(node.attrs.pop("saturate", 1)) != 1 and to not in RANGES:
        raise unsupported(node, graph, "saturate=0 (it concerns float8 outputs only)")
    node.attrs.pop("precision", None)  # the division is computed in float32 (the default precision for float32 x)
    set_out(node, 0, to, x)


@shape_rule("DequantizeLinear")
def dequantize_linear(node: Node, graph: Graph) -> None:
    x = in_shape(node, 0)
    _int_type(node, graph, in_dtype(node, 0), "the quantized input", (*RANGES, DType.INT32))
    axis, block = _axis_and_block(node, x)
    _check_param(node, 1, x, axis, block, "x_scale")
    if node.input(2) is not None:
        _check_param(node, 2, x, axis, block, "x_zero_point")
        if in_dtype(node, 2) != in_dtype(node, 0):
            raise fail(node, f"x_zero_point is {in_dtype(node, 2).value}, x is {in_dtype(node, 0).value}")
    given = node.attrs.pop("output_dtype", 0)
    to = DType.from_onnx(int(given)) if given else in_dtype(node, 1)
    if to not in FLOATS:
        raise fail(node, f"output type {to.value} is not a float")
    node.attrs["to"] = to.value
    set_out(node, 0, to, x)


@shape_rule("DynamicQuantizeLinear")
def dynamic_quantize_linear(node: Node, graph: Graph) -> None:
    if in_dtype(node, 0) not in FLOATS:
        raise fail(node, f"input has element type {in_dtype(node, 0).value}, not a float")
    set_out(node, 0, DType.UINT8, in_shape(node, 0))
    set_out(node, 1, in_dtype(node, 0), ())
    set_out(node, 2, DType.UINT8, ())


def _check_zero_point(node: Node, graph: Graph, i: int, of: int, n: Dim, what: str) -> None:
    """An integer op's zero point: a scalar, or one per row (A), column (B) or output channel (W)."""
    if node.input(i) is None:
        return
    if in_dtype(node, i) != in_dtype(node, of):
        raise fail(node, f"{what} has element type {in_dtype(node, i).value}, its tensor {in_dtype(node, of).value}")
    p = in_shape(node, i)
    if len(p) > 1 or (len(p) == 1 and p[0] != 1 and provably_equal(p[0], n) is not True):
        raise unsupported(node, graph, f"{what} of shape {list(p)} (a scalar or a vector of {n} is supported)")


@shape_rule("MatMulInteger")
def matmul_integer(node: Node, graph: Graph) -> None:
    for i in (0, 1):
        _int_type(node, graph, in_dtype(node, i), f"input {i}", (DType.UINT8, DType.INT8))
    shape = matmul_shape(node, graph, in_shape(node, 0), in_shape(node, 1))
    a, b = in_shape(node, 0), in_shape(node, 1)
    _check_zero_point(node, graph, 2, 0, a[-2] if len(a) > 1 else 1, "a_zero_point")
    _check_zero_point(node, graph, 3, 1, b[-1] if len(b) > 1 else 1, "b_zero_point")
    set_out(node, 0, DType.INT32, shape)


@shape_rule("ConvInteger")
def conv_integer(node: Node, graph: Graph) -> None:
    for i in (0, 1):
        _int_type(node, graph, in_dtype(node, i), f"input {i}", (DType.UINT8, DType.INT8))
    shape = conv_shape(node, graph, 0, 1, None)
    _check_zero_point(node, graph, 2, 0, 1, "x_zero_point")
    _check_zero_point(node, graph, 3, 1, in_shape(node, 1)[0], "w_zero_point")
    set_out(node, 0, DType.INT32, shape)


def _check_scales(node: Node, graph: Graph, scales: dict[int, Dim]) -> None:
    for i, n in scales.items():
        p = in_shape(node, i)
        if len(p) > 1 or (len(p) == 1 and p[0] != 1 and provably_equal(p[0], n) is not True):
            raise unsupported(node, graph, f"input {i} (a scale or zero point) of shape {list(p)} (a scalar or a "
                              f"vector of {n} is supported)")


@shape_rule("QLinearMatMul")
def qlinear_matmul(node: Node, graph: Graph) -> None:
    # a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point
    for i in (0, 3):
        _int_type(node, graph, in_dtype(node, i), f"input {i}", (DType.UINT8, DType.INT8))
    a, b = in_shape(node, 0), in_shape(node, 3)
    shape = matmul_shape(node, graph, a, b)
    rows, cols = a[-2] if len(a) > 1 else 1, b[-1] if len(b) > 1 else 1
    _check_scales(node, graph, {1: rows, 2: rows, 4: cols, 5: cols, 6: 1, 7: 1})
    to = _int_type(node, graph, in_dtype(node, 7), "y_zero_point", (DType.UINT8, DType.INT8))
    set_out(node, 0, to, shape)


@shape_rule("QLinearConv")
def qlinear_conv(node: Node, graph: Graph) -> None:
    # x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, B
    for i in (0, 3):
        _int_type(node, graph, in_dtype(node, i), f"input {i}", (DType.UINT8, DType.INT8))
    shape = conv_shape(node, graph, 0, 3, 8)
    m = in_shape(node, 3)[0]
    _check_scales(node, graph, {1: 1, 2: 1, 4: m, 5: m, 6: 1, 7: 1})
    to = _int_type(node, graph, in_dtype(node, 7), "y_zero_point", (DType.UINT8, DType.INT8))
    set_out(node, 0, to, shape)


@shape_rule("QLinearAdd")
def qlinear_add(node: Node, graph: Graph) -> None:
    # A, A_scale, A_zero_point, B, B_scale, B_zero_point, C_scale, C_zero_point
    for i in (0, 3):
        _int_type(node, graph, in_dtype(node, i), f"input {i}", (DType.UINT8, DType.INT8))
    _check_scales(node, graph, {1: 1, 2: 1, 4: 1, 5: 1, 6: 1, 7: 1})
    to = _int_type(node, graph, in_dtype(node, 7), "C_zero_point", (DType.UINT8, DType.INT8))
    set_out(node, 0, to, broadcast(node, in_shape(node, 0), in_shape(node, 3), graph=graph))
