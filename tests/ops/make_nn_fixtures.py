"""Write runtime/test/fixtures/nn/cases.json: reference cases for the fallback nn kernels.

Each case is one ONNX node run by onnxruntime. The node also goes through the IR shape rule,
and the case records what the runtime kernel receives in a converted model -- the canonical
attributes and the inputs left after canonicalization -- with onnxruntime's output as the
expected value. A fused activation, where given, is applied to the expected output with numpy.

    PYTHONPATH=src python tests/ops/make_nn_fixtures.py
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

from webdnn.backends.common.descriptor import jsonable  # attrs exactly as a descriptor holds them
from webdnn.backends.common.expr_attrs import activation_with_program
from webdnn.ir.graph import Graph, Value
from webdnn.ops.registry import infer_node

OUT = Path(__file__).resolve().parents[2] / "runtime" / "test" / "fixtures" / "nn" / "cases.json"
RNG = np.random.default_rng(1234)
ort.set_default_logger_severity(3)  # no deprecation warnings for tf_half_pixel_for_nn


def data(*shape: int, ints: bool = False) -> np.ndarray:
    """Values k/8 in [-4, 4): exact in float32 and short in JSON (ints: small integers, for ties)."""
    if ints:
        return RNG.integers(-3, 4, shape).astype(np.float32)
    return (RNG.integers(-32, 32, shape) / 8).astype(np.float32)


@dataclass
class Case:
    name: str
    op: str
    inputs: list[np.ndarray | None]  # float32 arrays are runtime inputs unless listed in `const`
    attrs: dict[str, Any] = field(default_factory=dict)
    opset: int = 13
    const: tuple[int, ...] = ()  # input positions given as initializers (parameters the rule folds)
    activation: dict[str, Any] | None = None
    tol: float = 1e-4


def run_ort(c: Case) -> np.ndarray:
    names, graph_ins, inits, feeds = [], [], [], {}
    for i, x in enumerate(c.inputs):
        if x is None:
            names.append("")
            continue
        name = f"i{i}"
        names.append(name)
        if i in c.const or x.dtype != np.float32:
            inits.append(numpy_helper.from_array(x, name))
        else:
            graph_ins.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, list(x.shape)))
            feeds[name] = x
    node = helper.make_node(c.op, names, ["y"], **c.attrs)
    g = helper.make_graph([node], c.name, graph_ins, [helper.make_empty_tensor_value_info("y")], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", c.opset)])
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(sess.run(None, feeds)[0])


def canonical(c: Case) -> tuple[dict[str, Any], list[np.ndarray | None], tuple[int, ...]]:
    graph = Graph(c.name, c.opset)
    values: list[Value | None] = []
    arrays: dict[int, np.ndarray] = {}
    for i, x in enumerate(c.inputs):
        if x is None:
            values.append(None)
            continue
        if i in c.const or x.dtype != np.float32:
            v = graph.const_value(f"c{i}", x)
        else:
            v = graph.new_value(f"x{i}")
            v.set_const(x)  # dtype and shape...
            v.const = None  # ...but a runtime input
            graph.inputs.append(v)
        arrays[id(v)] = x
        values.append(v)
    y = graph.new_value("y")
    node = graph.add_node(c.op, values, [y], json.loads(json.dumps(c.attrs)))
    graph.outputs.append(y)
    infer_node(node, graph)
    if c.activation is not None:
        node.attrs["activation"] = activation_with_program(c.activation)  # as the fallback lowering writes it
    ins = [None if v is None else arrays[id(v)] for v in node.inputs]
    assert y.shape is not None
    return node.attrs, ins, y.shape


def activate(y: np.ndarray, spec: dict[str, Any] | None) -> np.ndarray:
    if spec is None:
        return y
    t = spec["type"]
    y64 = y.astype(np.float64)
    if t == "Relu":
        r = np.maximum(y64, 0)
    elif t == "Clip":
        r = np.clip(y64, spec["min"], spec["max"])
    elif t == "LeakyRelu":
        r = np.where(y64 < 0, y64 * spec["alpha"], y64)
    elif t == "Sigmoid":
        r = 1 / (1 + np.exp(-y64))
    elif t == "HardSigmoid":
        r = np.clip(spec["alpha"] * y64 + spec["beta"], 0, 1)
    elif t == "HardSwish":
        r = y64 * np.clip(y64 / 6 + 0.5, 0, 1)
    elif t == "Tanh":
        r = np.tanh(y64)
    else:
        raise ValueError(t)
    return r.astype(np.float32)


def tensor(x: np.ndarray) -> dict[str, Any]:
    flat = x.astype(np.float32).reshape(-1).tolist()
    return {"shape": list(x.shape), "data": [float(f"{v:.8g}") for v in flat]}


def cases() -> list[Case]:
    cs: list[Case] = []
    acts = [
        {"type": "Relu"},
        {"type": "Clip", "min": 0.0, "max": 6.0},
        {"type": "LeakyRelu", "alpha": 0.1},
        {"type": "Sigmoid"},
        {"type": "HardSigmoid", "alpha": 0.2, "beta": 0.5},
        {"type": "HardSwish"},
        {"type": "Tanh"},
        {"type": "Clip", "min": float("-inf"), "max": 1.0},
    ]
    # Conv: general im2col path, pointwise, depthwise, groups, 1-D and 3-D
    conv = [
        ("3x3_pad1", (2, 3, 7, 6), (5, 3, 3, 3), {"pads": [1, 1, 1, 1]}),
        (
            "stride2_dil_asym",
            (1, 3, 9, 8),
            (4, 3, 3, 2),
            {"strides": [2, 2], "dilations": [2, 1], "pads": [0, 2, 1, 0]},
        ),
        ("same_upper", (1, 2, 7, 9), (3, 2, 2, 3), {"strides": [2, 2], "auto_pad": "SAME_UPPER"}),
        ("same_lower", (1, 2, 7, 9), (3, 2, 2, 3), {"strides": [2, 1], "auto_pad": "SAME_LOWER"}),
        ("group2", (1, 4, 6, 5), (6, 2, 3, 3), {"group": 2, "pads": [1, 0, 1, 2]}),
        ("depthwise", (2, 4, 8, 7), (4, 1, 3, 3), {"group": 4, "pads": [1, 1, 1, 1], "strides": [2, 2]}),
        (
            "depthwise_mult2_dil",
            (1, 3, 9, 9),
            (6, 1, 3, 3),
            {"group": 3, "dilations": [2, 2], "pads": [2, 1, 0, 2]},
        ),
        ("depthwise_s1", (1, 5, 10, 11), (5, 1, 5, 5), {"group": 5, "pads": [2, 2, 2, 2]}),
        ("one_input_channel", (1, 1, 6, 6), (3, 1, 3, 3), {}),
        ("pointwise", (1, 8, 9, 10), (5, 8, 1, 1), {}),
        ("pointwise_stride2", (1, 6, 9, 10), (5, 6, 1, 1), {"strides": [2, 2]}),
        ("pointwise_group", (2, 8, 5, 3), (6, 8 // 2, 1, 1), {"group": 2}),
        ("tiled_k576", (1, 64, 20, 20), (7, 64, 3, 3), {"pads": [1, 1, 1, 1]}),
        ("big_kernel_stride3", (1, 3, 15, 14), (6, 3, 5, 4), {"strides": [3, 2], "pads": [2, 1, 2, 1]}),
        ("1d", (2, 3, 11), (4, 3, 3), {"strides": [2], "pads": [1, 2]}),
        ("1d_depthwise", (1, 4, 13), (4, 1, 5), {"group": 4, "dilations": [2], "pads": [4, 4]}),
        ("3d", (1, 2, 4, 5, 6), (3, 2, 2, 3, 2), {"strides": [1, 2, 1], "pads": [1, 0, 1, 0, 1, 1]}),
    ]
    for name, xs, ws, attrs in conv:
        cs.append(Case(f"Conv_{name}", "Conv", [data(*xs), data(*ws), data(ws[0])], attrs, const=(1, 2)))
    cs.append(Case("Conv_nobias", "Conv", [data(1, 3, 5, 5), data(2, 3, 3, 3)], {}, const=(1,)))
    for i, a in enumerate(acts):
        xs, ws, attrs = [
            ((1, 3, 6, 5), (4, 3, 3, 3), {"pads": [1, 1, 1, 1]}),
            ((1, 4, 6, 5), (4, 1, 3, 3), {"group": 4}),
            ((1, 4, 6, 5), (3, 4, 1, 1), {}),
        ][i % 3]
        cs.append(
            Case(
                f"Conv_act_{a['type']}_{i}",
                "Conv",
                [data(*xs), data(*ws), data(ws[0])],
                attrs,
                const=(1, 2),
                activation=a,
            )
        )
    # ConvTranspose
    convt = [
        (
            "basic",
            (1, 3, 4, 5),
            (3, 2, 3, 3),
            {"strides": [2, 2], "pads": [1, 1, 0, 0], "output_padding": [1, 0]},
        ),
        ("group2_dil", (2, 4, 3, 4), (4, 3, 2, 3), {"group": 2, "dilations": [2, 1], "strides": [1, 2]}),
        ("output_shape", (1, 2, 3, 3), (2, 3, 3, 3), {"strides": [2, 2], "output_shape": [6, 8]}),
        ("output_shape_bigger", (1, 2, 3, 3), (2, 3, 3, 3), {"strides": [2, 2], "output_shape": [8, 7]}),
        ("same_upper", (1, 2, 3, 4), (2, 2, 3, 3), {"strides": [2, 2], "auto_pad": "SAME_UPPER"}),
        ("same_lower", (1, 2, 3, 4), (2, 2, 3, 2), {"strides": [2, 3], "auto_pad": "SAME_LOWER"}),
        ("1d", (1, 3, 5), (3, 2, 4), {"strides": [3], "pads": [1, 2]}),
        ("k1", (1, 4, 3, 3), (4, 5, 1, 1), {}),
        ("tiled", (1, 16, 30, 20), (16, 3, 4, 4), {"strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ]
    for name, xs, ws, attrs in convt:
        cs.append(
            Case(
                f"ConvTranspose_{name}",
                "ConvTranspose",
                [data(*xs), data(*ws), data(ws[1] * attrs.get("group", 1))],
                attrs,
                const=(1, 2),
            )
        )
    cs.append(
        Case(
            "ConvTranspose_act",
            "ConvTranspose",
            [data(1, 2, 3, 3), data(2, 2, 3, 3)],
            {"strides": [2, 2]},
            const=(1,),
            activation={"type": "Relu"},
        )
    )
    # pools
    pools = [
        ("3x3s2p1", (1, 2, 9, 8), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}, 13),
        (
            "3x3s2p1_ceil",
            (1, 2, 9, 8),
            {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1},
            13,
        ),
        ("2x2s2_ceil", (2, 3, 7, 5), {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1}, 13),
        (
            "same_upper",
            (1, 2, 7, 6),
            {"kernel_shape": [3, 2], "strides": [2, 2], "auto_pad": "SAME_UPPER"},
            13,
        ),
        (
            "same_lower",
            (1, 2, 7, 6),
            {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_LOWER"},
            13,
        ),
        ("asym_pads", (1, 1, 6, 7), {"kernel_shape": [3, 3], "pads": [0, 2, 1, 0], "strides": [1, 2]}, 13),
        ("1d", (1, 3, 10), {"kernel_shape": [3], "strides": [2], "pads": [1, 1], "ceil_mode": 1}, 13),
        (
            "3d",
            (1, 2, 4, 5, 6),
            {"kernel_shape": [2, 2, 3], "strides": [2, 1, 2], "pads": [0, 1, 1, 1, 0, 1]},
            13,
        ),
    ]
    for name, xs, attrs, opset in pools:
        cs.append(Case(f"MaxPool_{name}", "MaxPool", [data(*xs)], attrs, opset))
        for cip in (0, 1):
            cs.append(
                Case(
                    f"AveragePool_{name}_cip{cip}",
                    "AveragePool",
                    [data(*xs)],
                    {**attrs, "count_include_pad": cip},
                    opset,
                )
            )
    dil = {"kernel_shape": [2, 3], "strides": [2, 1], "dilations": [2, 2], "pads": [1, 1, 0, 1]}
    cs.append(Case("MaxPool_dilations", "MaxPool", [data(1, 2, 9, 8)], dil, 12))
    cs.append(Case("MaxPool_dilations_ceil", "MaxPool", [data(1, 2, 9, 8)], {**dil, "ceil_mode": 1}, 12))
    for cip in (0, 1):
        cs.append(
            Case(
                f"AveragePool_dilations_cip{cip}",
                "AveragePool",
                [data(1, 2, 9, 8)],
                {**dil, "count_include_pad": cip},
                19,
            )
        )
    for op in ("GlobalAveragePool", "GlobalMaxPool"):
        cs.append(Case(f"{op}_4d", op, [data(2, 3, 5, 4)]))
        cs.append(Case(f"{op}_3d", op, [data(1, 4, 7)]))
    for p in (1, 2):
        x = data(3, 4, 5)
        x[1, :, 2] = 0
        cs.append(Case(f"LpNormalization_p{p}", "LpNormalization", [x], {"p": p, "axis": 1}))
        cs.append(Case(f"LpNormalization_p{p}_last", "LpNormalization", [data(3, 4, 5)], {"p": p}))
    # Gemm
    for ta in (0, 1):
        for tb in (0, 1):
            for cname, cshape in [
                ("none", None),
                ("n", (5,)),
                ("m1", (7, 1)),
                ("mn", (7, 5)),
                ("scalar", ()),
                ("1", (1,)),
            ]:
                a = data(9, 7) if ta else data(7, 9)
                b = data(5, 9) if tb else data(9, 5)
                ins = [a, b] if cshape is None else [a, b, data(*cshape)]
                attrs = {"transA": ta, "transB": tb, "alpha": 0.5 if cname == "mn" else 1.0, "beta": 2.0}
                cs.append(Case(f"Gemm_ta{ta}_tb{tb}_c{cname}", "Gemm", ins, attrs, const=(1, 2)))
    cs.append(Case("Gemm_big_tb", "Gemm", [data(9, 33), data(70, 33), data(70)], {"transB": 1}, const=(1, 2)))
    cs.append(Case("Gemm_big", "Gemm", [data(6, 33), data(33, 70), data(70)], {}, const=(1, 2)))
    cs.append(Case("Gemm_runtime_b", "Gemm", [data(3, 4), data(4, 6)], {"alpha": 2.0}))
    for a in acts[:4]:
        cs.append(
            Case(
                f"Gemm_act_{a['type']}",
                "Gemm",
                [data(3, 8), data(6, 8), data(6)],
                {"transB": 1},
                const=(1, 2),
                activation=a,
            )
        )
    # MatMul
    mm = [
        ((3, 4), (4, 5)),
        ((4,), (4, 5)),
        ((3, 4), (4,)),
        ((4,), (4,)),
        ((2, 3, 4), (4, 5)),
        ((4,), (2, 4, 5)),
        ((2, 1, 3, 4), (5, 4, 6)),
        ((1, 3, 4), (2, 4, 1)),
        ((2, 3, 4), (4,)),
        ((7, 13), (13, 9)),
        ((5, 24), (24, 1030)),
        ((1, 37), (37, 11)),
    ]
    for a, b in mm:
        name = "x".join(map(str, a)) + "_" + "x".join(map(str, b))
        cs.append(Case(f"MatMul_{name}", "MatMul", [data(*a), data(*b)]))
    cs.append(Case("MatMul_act", "MatMul", [data(3, 4), data(4, 5)], activation={"type": "Relu"}))
    # normalization
    for xs in [(2, 3, 4, 5), (3, 4), (2, 3, 7)]:
        c = xs[1]
        var = np.abs(data(c)) + 0.5
        cs.append(
            Case(
                f"BatchNormalization_{len(xs)}d",
                "BatchNormalization",
                [data(*xs), data(c), data(c), data(c), var],
                {"epsilon": 1e-3},
                15,
                const=(1, 2, 3, 4),
            )
        )
    cs.append(
        Case(
            "InstanceNormalization",
            "InstanceNormalization",
            [data(2, 3, 4, 5), data(3), data(3)],
            {"epsilon": 1e-3},
            const=(1, 2),
        )
    )
    cs.append(
        Case(
            "InstanceNormalization_1d",
            "InstanceNormalization",
            [data(1, 2, 9), data(2), data(2)],
            const=(1, 2),
        )
    )
    for axis, sshape in [(-1, (6,)), (1, (4, 6)), (1, (1, 6)), (-2, (4, 1))]:
        xs = (3, 4, 6)
        cs.append(
            Case(
                f"LayerNormalization_axis{axis}_{len(sshape)}",
                "LayerNormalization",
                [data(*xs), data(*sshape), data(*sshape)],
                {"axis": axis},
                17,
                const=(1, 2),
            )
        )
    cs.append(
        Case(
            "LayerNormalization_nobias",
            "LayerNormalization",
            [data(2, 5), data(5)],
            {"epsilon": 1e-2},
            17,
            const=(1,),
        )
    )
    for size in (1, 3, 5):
        cs.append(
            Case(
                f"LRN_{size}",
                "LRN",
                [data(2, 6, 3, 4)],
                {"size": size, "alpha": 1e-2, "beta": 0.75, "bias": 2.0},
            )
        )
    # softmax family
    for op in ("Softmax", "LogSoftmax", "Hardmax"):
        for opset, axis in [(11, None), (11, 0), (11, 2), (13, None), (13, 1), (13, 0), (13, -2)]:
            attrs = {} if axis is None else {"axis": axis}
            cs.append(
                Case(f"{op}_op{opset}_axis{axis}", op, [data(2, 3, 4, ints=op == "Hardmax")], attrs, opset)
            )
    # layout
    for mode in ("DCR", "CRD"):
        cs.append(
            Case(f"DepthToSpace_{mode}", "DepthToSpace", [data(2, 8, 2, 3)], {"blocksize": 2, "mode": mode})
        )
    cs.append(Case("DepthToSpace_b3", "DepthToSpace", [data(1, 18, 2, 2)], {"blocksize": 3}, 11))
    cs.append(Case("SpaceToDepth", "SpaceToDepth", [data(2, 3, 4, 6)], {"blocksize": 2}))
    cs += resize_cases()
    return cs


def resize_cases() -> list[Case]:
    cs: list[Case] = []
    f32 = np.float32
    empty = np.zeros(0, f32)
    coord = ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn"]
    scale_sets = {"up": [1, 1, 2, 1.5], "down": [1, 1, 0.5, 0.6], "mixed": [1, 1, 1.7, 0.4]}
    for cm in coord:
        for nm in ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil"):
            for sname, sc in scale_sets.items():
                attrs = {"mode": "nearest", "coordinate_transformation_mode": cm, "nearest_mode": nm}
                cs.append(
                    Case(
                        f"Resize_nearest_{cm}_{nm}_{sname}",
                        "Resize",
                        [data(1, 2, 5, 6), empty, np.array(sc, f32)],
                        attrs,
                        13,
                        const=(1, 2),
                    )
                )
    for cm in coord + ["half_pixel_symmetric"]:
        for sname, sc in scale_sets.items():
            attrs = {"mode": "linear", "coordinate_transformation_mode": cm}
            cs.append(
                Case(
                    f"Resize_linear_{cm}_{sname}",
                    "Resize",
                    [data(2, 3, 5, 6), None, np.array(sc, f32)],
                    attrs,
                    19,
                    const=(2,),
                )
            )
    for cm in ("half_pixel", "align_corners", "asymmetric", "pytorch_half_pixel"):
        for a, excl in [(-0.75, 0), (-0.5, 1)]:
            for sname, sc in scale_sets.items():
                attrs = {
                    "mode": "cubic",
                    "coordinate_transformation_mode": cm,
                    "cubic_coeff_a": a,
                    "exclude_outside": excl,
                }
                cs.append(
                    Case(
                        f"Resize_cubic_{cm}_{a}_{excl}_{sname}",
                        "Resize",
                        [data(1, 2, 6, 7), None, np.array(sc, f32)],
                        attrs,
                        13,
                        const=(2,),
                    )
                )
    roi = np.array([0, 0, -0.2, 0.1, 1, 1, 0.9, 1.3], f32)
    for mode in ("nearest", "linear", "cubic"):
        attrs = {
            "mode": mode,
            "coordinate_transformation_mode": "tf_crop_and_resize",
            "extrapolation_value": 9.0,
        }
        cs.append(
            Case(
                f"Resize_tf_crop_{mode}",
                "Resize",
                [data(1, 1, 6, 7), roi, None, np.array([1, 1, 5, 4], np.int64)],
                attrs,
                13,
                const=(1, 3),
            )
        )
    for sizes in ([1, 2, 9, 4], [1, 2, 3, 10], [1, 2, 5, 6]):
        for mode in ("nearest", "linear"):
            cs.append(
                Case(
                    f"Resize_sizes_{mode}_{'x'.join(map(str, sizes))}",
                    "Resize",
                    [data(1, 2, 5, 6), empty, empty, np.array(sizes, np.int64)],
                    {"mode": mode},
                    11,
                    const=(1, 2, 3),
                )
            )
    for mode in ("nearest", "linear"):
        for sname, sc in scale_sets.items():
            cs.append(
                Case(
                    f"Resize10_{mode}_{sname}",
                    "Resize",
                    [data(1, 2, 5, 6), np.array(sc, f32)],
                    {"mode": mode},
                    10,
                    const=(1,),
                )
            )
            if min(sc) >= 1:  # onnxruntime's Upsample only enlarges
                cs.append(
                    Case(
                        f"Upsample9_{mode}_{sname}",
                        "Upsample",
                        [data(1, 2, 5, 6), np.array(sc, f32)],
                        {"mode": mode},
                        9,
                        const=(1,),
                    )
                )
    for policy in ("stretch", "not_larger", "not_smaller"):
        attrs = {"axes": [2, 3], "keep_aspect_ratio_policy": policy, "mode": "linear"}
        cs.append(
            Case(
                f"Resize18_policy_{policy}",
                "Resize",
                [data(1, 2, 4, 6), None, None, np.array([7, 7], np.int64)],
                attrs,
                18,
                const=(3,),
            )
        )
    cs.append(
        Case(
            "Resize_nearest_3d_all_axes",
            "Resize",
            [data(2, 3, 4), None, np.array([1.5, 2, 0.5], f32)],
            {"mode": "nearest"},
            13,
            const=(2,),
        )
    )
    cs.append(
        Case(
            "Resize_identity",
            "Resize",
            [data(1, 2, 3, 4), None, np.array([1, 1, 1, 1], f32)],
            {"mode": "linear"},
            13,
            const=(2,),
        )
    )
    return cs


def main() -> None:
    out = []
    for c in cases():
        want = activate(run_ort(c), c.activation)
        attrs, ins, shape = canonical(c)
        assert tuple(want.shape) == tuple(shape), f"{c.name}: rule {shape} vs onnxruntime {want.shape}"
        out.append(
            {
                "name": c.name,
                "op": c.op,
                "attrs": jsonable(attrs),
                "inputs": [None if x is None else tensor(x) for x in ins],
                "outputs": [tensor(want)],
                "tol": c.tol,
            }
        )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps({"generator": "tests/ops/make_nn_fixtures.py", "cases": out}, separators=(",", ":"))
    )
    print(f"wrote {len(out)} cases to {OUT} ({OUT.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
