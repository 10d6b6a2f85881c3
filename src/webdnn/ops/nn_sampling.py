"""GridSample (opsets 16 and 20), AffineGrid (opset 20) and RoiAlign (opsets 10 and 16): the shape rules.
Backends have no kernels of their own for them: the decompose pass (passes/decompose.py) rewrites GridSample into
gathers and elementwise math whose coordinate arithmetic is written once, as expressions
(ops/expr.py), and AffineGrid into a MatMul of a constant base grid with theta.

GridSample's canonical attrs: mode (linear | nearest | cubic; opset 16's bilinear/bicubic
renamed), padding_mode (zeros | border | reflection), align_corners (0 | 1). AffineGrid's:
align_corners, and `size` (the output's N, C, spatial... from the constant size input).
RoiAlign's: mode (avg | max), output_height, output_width, sampling_ratio (> 0), spatial_scale,
coordinate_transformation_mode (half_pixel | output_half_pixel; opset 10 behaves as the latter); it is
decomposed into gathers of bilinear taps at coordinates computed from the rois (passes/decompose.py).
"""

from __future__ import annotations

from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Node
from webdnn.ops._util import defaults, in_dtype, in_shape, set_out, take_const_input, trim_inputs
from webdnn.ops.nn_common import fail
from webdnn.ops.registry import shape_rule, unsupported

_MODES = {"bilinear": "linear", "bicubic": "cubic", "linear": "linear", "nearest": "nearest", "cubic": "cubic"}
_PADDING = ("zeros", "border", "reflection")


@shape_rule("GridSample")
def _grid_sample(node: Node, graph: Graph) -> None:
    defaults(node, mode="linear" if graph.opset >= 20 else "bilinear", padding_mode="zeros", align_corners=0)
    mode = _MODES.get(str(node.attrs["mode"]))
    if mode is None:
        raise fail(node, f"mode {node.attrs['mode']!r} is not one of {', '.join(_MODES)}")
    node.attrs["mode"] = mode
    if node.attrs["padding_mode"] not in _PADDING:
        raise fail(node, f"padding_mode {node.attrs['padding_mode']!r} is not one of {', '.join(_PADDING)}")
    node.attrs["align_corners"] = int(node.attrs["align_corners"])
    x, grid = in_shape(node, 0), in_shape(node, 1)
    if len(x) < 3:
        raise fail(node, f"X must have rank 3 or more (N, C, spatial...), got shape {x}")
    if len(grid) != len(x) or grid[0] != x[0] or grid[-1] != len(x) - 2:
        raise fail(node, f"grid shape {grid} does not fit X shape {x}: expected (N, out spatial..., {len(x) - 2})")
    if len(x) > 4 and graph.opset < 20:
        raise fail(node, "GridSample before opset 20 takes 4-D inputs only")
    if in_dtype(node, 0) != DType.FLOAT32 or in_dtype(node, 1) != DType.FLOAT32:
        raise unsupported(node, graph, "GridSample of non-float32 tensors")
    set_out(node, 0, in_dtype(node, 0), (x[0], x[1], *grid[1:-1]))


@shape_rule("AffineGrid")
def _affine_grid(node: Node, graph: Graph) -> None:
    defaults(node, align_corners=0)
    node.attrs["align_corners"] = int(node.attrs["align_corners"])
    take_const_input(node, 1, "size")
    trim_inputs(node)
    size = node.attrs.get("size")
    theta = in_shape(node, 0)
    if not isinstance(size, list) or len(size) not in (4, 5):
        raise fail(node, f"size must be a constant (N, C, H, W) or (N, C, D, H, W), got {size!r}")
    d = len(size) - 2
    if theta != (size[0], d, d + 1):
        raise fail(node, f"theta has shape {theta}, expected ({size[0]}, {d}, {d + 1}) for size {size}")
    if in_dtype(node, 0) != DType.FLOAT32:
        raise unsupported(node, graph, "AffineGrid of non-float32 tensors")
    set_out(node, 0, DType.FLOAT32, (size[0], *size[2:], d))


@shape_rule("RoiAlign")
def _roi_align(node: Node, graph: Graph) -> None:
    defaults(node, mode="avg", output_height=1, output_width=1, sampling_ratio=0, spatial_scale=1.0,
             coordinate_transformation_mode="half_pixel" if graph.opset >= 16 else "output_half_pixel")
    x, rois, idx = in_shape(node, 0), in_shape(node, 1), in_shape(node, 2)
    if node.attrs["mode"] not in ("avg", "max"):
        raise fail(node, f"mode {node.attrs['mode']!r} is not 'avg' or 'max'")
    if node.attrs["coordinate_transformation_mode"] not in ("half_pixel", "output_half_pixel"):
        raise fail(node, f"coordinate_transformation_mode {node.attrs['coordinate_transformation_mode']!r} is not "
                         "'half_pixel' or 'output_half_pixel'")
    if len(x) != 4 or len(rois) != 2 or rois[1] != 4 or len(idx) != 1 or idx[0] != rois[0]:
        raise fail(node, f"X {x}, rois {rois} and batch_indices {idx} must be (N, C, H, W), (R, 4) and (R)")
    if in_dtype(node, 0) != DType.FLOAT32 or in_dtype(node, 1) != DType.FLOAT32:
        raise unsupported(node, graph, "RoiAlign of non-float32 tensors")
    oh, ow, ratio = (int(node.attrs[k]) for k in ("output_height", "output_width", "sampling_ratio"))
    if oh < 1 or ow < 1 or ratio < 0:
        raise fail(node, f"output_height {oh} and output_width {ow} must be positive, sampling_ratio {ratio} >= 0")
    if ratio == 0:
        raise unsupported(node, graph, "sampling_ratio 0 (adaptive: the number of samples per bin follows each "
                                       "roi's size, found only at run time); export with a fixed sampling_ratio")
    node.attrs.update(output_height=oh, output_width=ow, sampling_ratio=ratio,
                      spatial_scale=float(node.attrs["spatial_scale"]))
    set_out(node, 0, DType.FLOAT32, (rois[0], x[1], oh, ow))
