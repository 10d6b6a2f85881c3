"""Resize (opsets 10..19) and Upsample, canonicalized to one form.

Canonical attrs: mode (nearest|linear|cubic), coordinate_transformation_mode, nearest_mode,
cubic_coeff_a, exclude_outside, extrapolation_value, antialias=0, keep_aspect_ratio_policy
"stretch", and full-rank `scales` (float32 values), `roi` (2*rank floats), `axes` and
`sizes` (the output shape); the
roi/scales/sizes inputs are dropped. Resize-10 and Upsample map half-way pixels the way
onnxruntime does for them: coordinate mode "asymmetric" and nearest_mode "simple" (floor
when upsampling an axis, ceil when downsampling it).

Sizes are computed in float32 like onnxruntime: out = trunc(float32(in) * scale), and a
`sizes` input becomes the scale float32(out) / float32(in).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from webdnn.ir.graph import Graph, Node
from webdnn.ir.symbolic import Dim, Sym, SymbolicShapeError, bounds, dim
from webdnn.ops._util import const_input, in_dtype, in_shape, norm_axis, set_out, trim_inputs
from webdnn.ops.nn_common import fail, float_attr
from webdnn.ops.registry import shape_rule, unsupported

MODES = ("nearest", "linear", "cubic")
COORD_MODES = (
    "half_pixel",
    "half_pixel_symmetric",
    "pytorch_half_pixel",
    "align_corners",
    "asymmetric",
    "tf_half_pixel_for_nn",
    "tf_crop_and_resize",
)
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "simple")
POLICIES = ("stretch", "not_larger", "not_smaller")


def _f32(x: float) -> float:
    return float(np.float32(x))


def _out_size(size: Dim, scale: float) -> Dim:
    if isinstance(size, Sym):  # exact for a whole or a 1/whole scale (float32 products of sizes < 2^24 are)
        s = float(np.float32(scale))
        if s >= 1 and s == int(s):
            return size * int(s)
        if s < 1 and (1 / s) == int(1 / s):
            return size // int(1 / s)
        raise SymbolicShapeError(f"a scale of {s} rounds differently at each size")
    return int(np.float32(size) * np.float32(scale))


def _optional_const(node: Node, i: int) -> np.ndarray | None:
    data = const_input(node, i)
    return None if data is None or data.size == 0 else data


def _mode(node: Node, graph: Graph) -> str:
    mode = str(node.attrs.get("mode", "nearest"))
    mode = {"bilinear": "linear"}.get(mode, mode)
    if mode not in MODES:
        raise unsupported(node, graph, f"mode '{mode}' (supported: {', '.join(MODES)})")
    return mode


def _check_choice(node: Node, graph: Graph, key: str, choices: Sequence[str], default: str) -> str:
    v = str(node.attrs.get(key, default))
    if v not in choices:
        raise unsupported(node, graph, f"{key} '{v}' (supported: {', '.join(choices)})")
    return v


def _finish(node: Node, graph: Graph, x: Sequence[int], scales: list[float], out: list[int]) -> None:
    mode = _mode(node, graph)
    node.attrs.update(
        mode=mode,
        coordinate_transformation_mode=_check_choice(
            node, graph, "coordinate_transformation_mode", COORD_MODES, "half_pixel"
        ),
        nearest_mode=_check_choice(node, graph, "nearest_mode", NEAREST_MODES, "round_prefer_floor"),
        cubic_coeff_a=float_attr(node, "cubic_coeff_a", -0.75),
        exclude_outside=int(node.attrs.get("exclude_outside", 0)),
        extrapolation_value=float_attr(node, "extrapolation_value", 0.0),
        keep_aspect_ratio_policy="stretch",
        axes=list(range(len(x))),
        scales=[_f32(s) for s in scales],
        sizes=[dim(o) for o in out],  # the output shape, so a re-run needs no float math
    )
    node.attrs.setdefault("roi", [0.0] * len(x) + [1.0] * len(x))
    if int(node.attrs.get("antialias", 0)) and mode != "nearest" and any(s < 1 for s in scales):
        raise unsupported(node, graph, "antialias=1 when downsampling with linear/cubic")
    node.attrs["antialias"] = 0
    if any(s <= 0 for s in scales) or any(bounds(o)[1] < 1 for o in out):
        raise fail(node, f"scales {scales} give an empty output {out} for input {list(x)}")
    node.inputs = node.inputs[:1]
    trim_inputs(node)
    set_out(node, 0, in_dtype(node, 0), out)


def _canonical(node: Node, graph: Graph, x: Sequence[int]) -> bool:
    """Re-check a node this rule already canonicalized (shape inference may run twice)."""
    if len(node.inputs) != 1 or "scales" not in node.attrs or "sizes" not in node.attrs:
        return False
    sizes = [int(s) for s in node.attrs["sizes"]]
    if len(sizes) != len(x):
        raise fail(node, f"canonical sizes {sizes} do not match input rank {len(x)}")
    _finish(node, graph, x, [float(s) for s in node.attrs["scales"]], sizes)
    return True


def _expand(node: Node, values: Sequence[float], axes: list[int], rank: int, fill: float) -> list[float]:
    if len(values) != len(axes):
        raise fail(node, f"{len(values)} values given for {len(axes)} axes")
    full = [fill] * rank
    for a, v in zip(axes, values, strict=True):
        full[a] = float(v)
    return full


def _from_sizes(
    node: Node, graph: Graph, x: Sequence[int], sizes: list[int], axes: list[int]
) -> tuple[list[float], list[int]]:
    policy = _check_choice(node, graph, "keep_aspect_ratio_policy", POLICIES, "stretch")
    out = list(x)
    scales = [1.0] * len(x)
    if policy == "stretch":
        for a, s in zip(axes, sizes, strict=True):
            out[a] = int(s)
            scales[a] = _f32(np.float32(s) / np.float32(x[a]))
        return scales, out
    ratios = [np.float32(s) / np.float32(x[a]) for a, s in zip(axes, sizes, strict=True)]
    scale = _f32(min(ratios) if policy == "not_larger" else max(ratios))
    for a in axes:
        scales[a] = scale
        out[a] = int(math.floor(float(np.float32(scale) * np.float32(x[a])) + 0.5))  # std::round: half up
    return scales, out


@shape_rule("Resize")
def resize(node: Node, graph: Graph) -> None:
    x = in_shape(node, 0)
    rank = len(x)
    if _canonical(node, graph, x):
        return
    if graph.opset < 11:  # Resize-10: (X, scales)
        data = _optional_const(node, 1)
        if data is None:
            raise fail(node, "scales input is required")
        _legacy(node, graph, x, [float(s) for s in data.reshape(-1)])
        return
    axes = [norm_axis(node, int(a), rank) for a in node.attrs.get("axes", range(rank))]
    roi, scales_in, sizes_in = (_optional_const(node, i) for i in (1, 2, 3))
    if roi is not None:
        half = roi.reshape(-1).tolist()
        n = len(half) // 2
        starts, ends = _expand(node, half[:n], axes, rank, 0.0), _expand(node, half[n:], axes, rank, 1.0)
        node.attrs["roi"] = starts + ends
    if scales_in is not None:
        scales = _expand(node, [float(s) for s in scales_in.reshape(-1)], axes, rank, 1.0)
        out = [_out_size(d, s) for d, s in zip(x, scales, strict=True)]
    elif sizes_in is not None:
        sizes = [int(s) for s in sizes_in.reshape(-1)]
        if len(sizes) != len(axes):
            raise fail(node, f"{len(sizes)} sizes given for {len(axes)} axes")
        scales, out = _from_sizes(node, graph, x, sizes, axes)
    else:
        raise fail(node, "one of scales and sizes must be given")
    _finish(node, graph, x, scales, out)


def _legacy(node: Node, graph: Graph, x: Sequence[int], scales: list[float]) -> None:
    """Resize-10 and Upsample: asymmetric coordinates, onnxruntime's 'simple' nearest rounding."""
    if len(scales) != len(x):
        raise fail(node, f"{len(scales)} scales for rank {len(x)}")
    node.attrs.update(coordinate_transformation_mode="asymmetric", nearest_mode="simple")
    _finish(node, graph, x, scales, [_out_size(d, s) for d, s in zip(x, scales, strict=True)])


@shape_rule("Upsample")
def upsample(node: Node, graph: Graph) -> None:
    x = in_shape(node, 0)
    if _canonical(node, graph, x):
        return
    if "scales" in node.attrs:  # Upsample-7 attribute form (and the canonical form)
        scales = [float(s) for s in node.attrs["scales"]]
    else:
        data = _optional_const(node, 1)
        if data is None:
            raise fail(node, "scales are required")
        scales = [float(s) for s in data.reshape(-1)]
    _legacy(node, graph, x, scales)
