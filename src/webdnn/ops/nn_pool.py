"""Pooling: MaxPool, AveragePool, LpPool (explicit pads, ceil_mode kept), global pools, LpNormalization; MaxUnpool
and Col2Im, their inverses, which passes/decompose.py writes as ScatterElements of constant or given indices.

Canonical attributes: MaxUnpool  output_shape (the whole output's, from the input or kernel_shape/strides/pads);
Col2Im  image_shape, block_shape, dilations, pads, strides (every spatial axis)."""

from __future__ import annotations

from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Node
from webdnn.ops._util import in_dtype, in_shape, norm_axis, set_out
from webdnn.ops.nn_common import check_rank, drop_unused_outputs, fail, window_attrs
from webdnn.ops.registry import shape_rule, unsupported
from webdnn.ops.tensor_common import ints_param


def _pool(node: Node, graph: Graph) -> None:
    x = in_shape(node, 0)
    check_rank(node, x, 3)
    nd = len(x) - 2
    kernel = node.attrs.get("kernel_shape")
    if kernel is None or len(kernel) != nd:
        raise fail(node, f"kernel_shape {kernel} must give {nd} sizes")
    kernel = [int(k) for k in kernel]
    _, _, _, out = window_attrs(node, graph, x[2:], kernel, pool=True)
    node.attrs["kernel_shape"] = kernel
    set_out(node, 0, in_dtype(node, 0), (x[0], x[1], *out))


@shape_rule("MaxPool")
def max_pool(node: Node, graph: Graph) -> None:
    """A read Indices output (int64, the same shape) is kept; passes/decompose.py then writes the op as a gather of
    the windows, a ReduceMax and an ArgMax (the kernels compute the values only)."""
    users = graph.users()
    if len(node.outputs) > 1 and not (users.get(id(node.outputs[1])) or graph.is_graph_output(node.outputs[1])):
        drop_unused_outputs(node, graph, 1, "Indices")
    if int(node.attrs.get("storage_order", 0)) not in (0, 1):
        raise unsupported(node, graph, "storage_order must be 0 or 1")
    node.attrs.setdefault("storage_order", 0)
    _pool(node, graph)
    if len(node.outputs) > 1:
        y = node.outputs[0]
        assert y.shape is not None
        if not all(isinstance(d, int) for d in (*in_shape(node, 0), *y.shape)):
            raise unsupported(node, graph, "its Indices output over a shape that varies with the input (fix the "
                                           "input shape with --input-shape)")
        set_out(node, 1, DType.INT64, y.shape)


@shape_rule("AveragePool")
def average_pool(node: Node, graph: Graph) -> None:
    node.attrs["count_include_pad"] = int(node.attrs.get("count_include_pad", 0))
    _pool(node, graph)


@shape_rule("LpPool")
def lp_pool(node: Node, graph: Graph) -> None:
    """(Σ |x|^p over each window)^(1/p); passes/decompose.py writes it as an AveragePool of |x|^p."""
    p = int(node.attrs.get("p", 2))
    if p < 1:
        raise fail(node, f"p = {p} is not a positive integer")
    node.attrs["p"] = p
    _pool(node, graph)


@shape_rule("GlobalAveragePool", "GlobalMaxPool")
def global_pool(node: Node, graph: Graph) -> None:
    x = in_shape(node, 0)
    check_rank(node, x, 3)
    set_out(node, 0, in_dtype(node, 0), (x[0], x[1], *([1] * (len(x) - 2))))


@shape_rule("LpNormalization")
def lp_normalization(node: Node, graph: Graph) -> None:
    x = in_shape(node, 0)
    p = int(node.attrs.get("p", 2))
    if p not in (1, 2):
        raise unsupported(node, graph, f"p={p} (only 1 and 2 are defined)")
    node.attrs.update(axis=norm_axis(node, int(node.attrs.get("axis", -1)), len(x)), p=p)
    set_out(node, 0, in_dtype(node, 0), x)


def _static(node: Node, dims: tuple[object, ...], what: str) -> list[int]:
    if not all(isinstance(d, int) for d in dims):
        raise fail(node, f"{what} {dims} must be fixed at conversion (its indices are computed then)")
    return [int(d) for d in dims]  # type: ignore[call-overload]


@shape_rule("MaxUnpool")
def max_unpool(node: Node, graph: Graph) -> None:
    x, idx = in_shape(node, 0), in_shape(node, 1)
    check_rank(node, x, 3)
    nd = len(x) - 2
    kernel = [int(k) for k in node.attrs.get("kernel_shape", [])]
    if len(kernel) != nd or tuple(idx) != tuple(x):
        raise fail(node, f"kernel_shape {kernel} must give {nd} sizes, and indices {idx} have X's shape {x}")
    if in_dtype(node, 1) not in (DType.INT64, DType.INT32):
        raise fail(node, "indices must be int64")
    strides = [int(s) for s in node.attrs.get("strides", [1] * nd)]
    pads = [int(p) for p in node.attrs.get("pads", [0] * 2 * nd)]
    given = ints_param(node, 2, "output_shape") if len(node.inputs) > 2 else node.attrs.get("output_shape")
    if given is not None:
        out = [int(d) for d in given]
        if len(out) != len(x) or out[:2] != _static(node, x[:2], "X's N and C"):
            raise fail(node, f"output_shape {out} must be X's N, C and {nd} spatial sizes")
    else:
        sp = _static(node, tuple(x[2:]), "X's spatial shape")
        grown = [(d - 1) * s - pads[i] - pads[nd + i] + k
                 for i, (d, s, k) in enumerate(zip(sp, strides, kernel, strict=True))]
        out = [*_static(node, x[:2], "X's N and C"), *grown]
    if min(out) < 0:
        raise fail(node, f"the output shape {out} is negative")
    node.attrs.update(kernel_shape=kernel, strides=strides, pads=pads, output_shape=out)
    del node.inputs[2:]
    set_out(node, 0, in_dtype(node, 0), out)


@shape_rule("Col2Im")
def col2im(node: Node, graph: Graph) -> None:
    x = in_shape(node, 0)
    image, block = ints_param(node, 1), ints_param(node, 2)
    if image is None or block is None or len(image) != len(block) or len(x) != 3:
        raise fail(node, f"input {x} must be (N, C * prod(block_shape), L), image_shape and block_shape constant "
                         "lists of one length")
    nd = len(image)
    image, block = [int(d) for d in image], [int(d) for d in block]
    dil = [int(d) for d in node.attrs.get("dilations", [1] * nd)]
    pads = [int(p) for p in node.attrs.get("pads", [0] * 2 * nd)]
    strides = [int(s) for s in node.attrs.get("strides", [1] * nd)]
    counts = [(image[i] + pads[i] + pads[nd + i] - dil[i] * (block[i] - 1) - 1) // strides[i] + 1 for i in range(nd)]
    k, blocks = 1, 1
    for b, n in zip(block, counts, strict=True):
        k, blocks = k * b, blocks * n
    _, ck, length = _static(node, tuple(x), "the input's N, C * prod(block_shape) and L")
    if min(counts) < 1 or ck % k or length != blocks:
        raise fail(node, f"input {x} does not hold blocks {block} of image {image} (expected C * {k} rows and "
                         f"{blocks} columns)")
    node.attrs.update(image_shape=image, block_shape=block, dilations=dil, pads=pads, strides=strides)
    del node.inputs[1:]
    set_out(node, 0, in_dtype(node, 0), (x[0], ck // k, *image))
