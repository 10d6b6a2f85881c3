"""Write the Node kernel fixtures of the elementwise and tensor families.

Each case is one ONNX node: the shape rule canonicalizes it (the attributes and inputs a
converted model would hand the fallback kernel) and onnxruntime computes the expected
outputs. Output: runtime/test/fixtures/tensor/{elementwise,tensor}.json, read by
runtime/test/{elementwise,tensor}.test.mjs.

    python -m tests.ops.make_tensor_fixtures
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.capi.onnxruntime_pybind11_state import NotImplemented as OrtNotImplemented

from tests.ops.unary_cases import UNARY_CASES, case_input
from webdnn.backends.common.descriptor import jsonable
from webdnn.backends.common.expr_attrs import cpu_attrs
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph
from webdnn.ops.registry import infer_node

OUT_DIR = Path(__file__).resolve().parents[2] / "runtime" / "test" / "fixtures" / "tensor"
rng = np.random.default_rng(42)
I64_MAX = int(np.iinfo(np.int64).max)


@dataclass
class Case:
    name: str
    op: str
    inputs: list[np.ndarray | None]
    attrs: dict[str, Any] = field(default_factory=dict)
    opset: int = 17
    consts: tuple[int, ...] = ()
    n_out: int = 1
    tol: float = 1e-5


def f32(*shape: int, lo: float = -3.0, hi: float = 3.0) -> np.ndarray:
    return np.asarray(rng.uniform(lo, hi, shape), np.float32)


def ints(*shape: int, dtype: type = np.int64, lo: int = -9, hi: int = 10) -> np.ndarray:
    return rng.integers(lo, hi, shape).astype(dtype)


def bools(*shape: int) -> np.ndarray:
    return rng.integers(0, 2, shape).astype(bool)


def i64(*values: int) -> np.ndarray:
    return np.array(values, np.int64)


SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 0.5, 1.5, 2.5, -0.5, -2.5, 1e-30, 1e30], np.float32)


# --- elementwise cases -------------------------------------------------------------------------


def elementwise_cases() -> list[Case]:
    cs: list[Case] = []
    shapes = {
        "same": ((3, 5, 7), (3, 5, 7)),
        "bcast": ((2, 1, 5), (3, 1)),
        "scalar": ((), (4, 3)),
        "rowbias": ((3, 4, 6), (6,)),
    }
    # PRelu broadcasts the slope one way only.
    prelu_shapes = {**shapes, "bcast": ((2, 3, 5), (1, 5)), "scalar": ((4, 3), ())}
    for op in [
        "Add",
        "Sub",
        "Mul",
        "Div",
        "Max",
        "Min",
        "Equal",
        "Less",
        "Greater",
        "LessOrEqual",
        "GreaterOrEqual",
        "PRelu",
        "Pow",
        "Mod",
    ]:
        for tag, (sa, sb) in (prelu_shapes if op == "PRelu" else shapes).items():
            a, b = f32(*sa), f32(*sb)
            if op == "Pow":
                a = np.asarray(np.abs(a) + 0.1, np.float32)
            if op in ("Equal", "LessOrEqual", "GreaterOrEqual") and a.shape == b.shape:
                b = np.where(rng.random(b.shape) < 0.5, a, b).astype(np.float32)
            attrs = {"fmod": 1} if op == "Mod" else {}
            cs.append(Case(f"{op} f32 {tag}", op, [a, b], attrs, opset=16 if op == "PRelu" else 17))
    cs.append(Case("Add f64 bcast", "Add", [rng.standard_normal((2, 3, 1)), rng.standard_normal((4,))]))
    cs.append(Case("Div f64 scalar", "Div", [rng.standard_normal((5,)), np.array(3.0)]))
    cs.append(Case("Pow f32^int64", "Pow", [f32(3, 4), ints(4, lo=0, hi=4)], opset=15))
    cs.append(
        Case(
            "Max f32 NaN", "Max", [np.array([1, np.nan, 3], np.float32), np.array([np.nan, 2, 0], np.float32)]
        )
    )
    for op in ["Add", "Sub", "Mul", "Div", "Max", "Min", "Less", "Equal", "Pow"]:
        b = ints(3, 1, lo=1, hi=4) if op in ("Div", "Pow") else ints(3, 1)
        cs.append(Case(f"{op} int64 bcast", op, [ints(2, 3, 4), b], opset=15))
        b32 = ints(1, 4, dtype=np.int32, lo=1, hi=4) if op in ("Div", "Pow") else ints(1, 4, dtype=np.int32)
        cs.append(Case(f"{op} int32 bcast", op, [ints(3, 1, dtype=np.int32), b32], opset=15))
    cs.append(Case("Div int64 negative", "Div", [i64(7, -7, 7, -7, 0), i64(2, 2, -2, -2, 5)]))
    cs.append(Case("Mod int64", "Mod", [i64(7, -7, 7, -7, 6), i64(3, 3, -3, -3, 3)]))
    cs.append(Case("Mod int64 fmod", "Mod", [i64(7, -7, 7, -7), i64(3, 3, -3, -3)], {"fmod": 1}))
    cs.append(
        Case("Mod int32", "Mod", [np.array([5, -5, 5, -5], np.int32), np.array([3, 3, -3, -3], np.int32)])
    )
    cs.append(
        Case(
            "Mul int32 wraps",
            "Mul",
            [np.array([65536, -70000], np.int32), np.array([65536, 70000], np.int32)],
        )
    )
    cs.append(Case("Mul int64 big", "Mul", [i64(3_000_000_000, -4), i64(3_000_000_000, 5)]))
    cs.append(Case("Add uint8 wraps", "Add", [np.array([250, 3], np.uint8), np.array([10, 4], np.uint8)]))
    cs.append(Case("Sub uint8", "Sub", [np.array([3, 200], np.uint8), np.array([5, 100], np.uint8)]))
    for d in ("LEFT", "RIGHT"):
        cs.append(
            Case(
                f"BitShift {d}",
                "BitShift",
                [np.array([1, 16, 255, 7], np.uint8), np.array([1, 2, 3, 0], np.uint8)],
                {"direction": d},
            )
        )
    cs.extend(bitwise_cases())
    for op in ["And", "Or", "Xor"]:
        cs.append(Case(f"{op} bool bcast", op, [bools(3, 1), bools(4)]))
    cs.append(Case("Equal bool", "Equal", [bools(5), bools(5)], opset=11))
    cs.append(Case("Not", "Not", [bools(2, 3)]))
    cs.append(Case("Where f32", "Where", [bools(3, 1, 4), f32(2, 1), f32(1, 4)]))
    cs.append(Case("Where int64", "Where", [bools(5), ints(5), ints(1)]))
    cs.append(
        Case(
            "Where uint8",
            "Where",
            [bools(2, 2), ints(2, 2, dtype=np.uint8, lo=0), ints(2, dtype=np.uint8, lo=0)],
        )
    )
    cs.append(Case("Sum 3", "Sum", [f32(2, 3), f32(3), f32(2, 1)]))
    cs.append(Case("Mean 3", "Mean", [f32(2, 3), f32(3), f32(2, 1)]))
    cs.append(Case("Max 1", "Max", [f32(2, 3)]))
    cs.append(Case("Min 4 int64", "Min", [ints(4), ints(1), ints(2, 1), ints(4)]))
    cs.extend(unary_cases())
    cs.extend(cast_cases())
    return cs


def _edge_values(dt: type) -> np.ndarray:
    """Integers of `dt` at and near its ends, and small ones of both signs (fixed: no rng draw)."""
    info = np.iinfo(dt)
    lo, hi = int(info.min), int(info.max)
    small = [0, 1, -1, 5, -5, 64, -64, 0x55, -0x56] if lo < 0 else [0, 1, 5, 64, 0x55, 0xAA]
    big = [2**53 + 1, -(2**53) - 3, 2**62 + 12345, -(2**60) - 7] if dt is np.int64 else []
    return np.array([lo, hi, lo + 1, hi - 1, *small, *big], dt)


def bitwise_cases() -> list[Case]:
    """BitShift on every integer type (ONNX opset 28: arithmetic right shifts, left shifts wrapping in
    the type's width, a count that is negative or the width or more giving the sign fill: -1 for a
    right shift of a negative value, else 0) and BitwiseAnd/Or/Xor/Not (opset 18)."""
    cs: list[Case] = []
    for dt in (np.int8, np.int16, np.int32, np.int64, np.uint8):
        name = np.dtype(dt).name
        w = np.iinfo(dt).bits
        x = _edge_values(dt)
        n = len(x)
        # every count from -2 to w + 1 against every value, then the type's extreme counts
        counts = [c for c in range(-2, w + 2) if c >= 0 or np.iinfo(dt).min < 0]
        counts += [int(np.iinfo(dt).max), int(np.iinfo(dt).min)] + ([2**40, -(2**40)] if dt is np.int64 else [])
        xs = np.repeat(x, len(counts)).astype(dt)
        ss = np.tile(np.array(counts, dt), n)
        for d in ("LEFT", "RIGHT"):
            cs.append(Case(f"BitShift {d} {name} counts", "BitShift", [xs, ss], {"direction": d}, opset=28))
        # broadcast: a column of values against a row of counts
        cs.append(Case(f"BitShift LEFT {name} bcast", "BitShift", [x.reshape(n, 1), np.array([1, 3, w - 1], dt)],
                       {"direction": "LEFT"}, opset=28))
        ys = x[::-1].copy()
        for op in ("BitwiseAnd", "BitwiseOr", "BitwiseXor"):
            cs.append(Case(f"{op} {name}", op, [x, ys], opset=18))
            cs.append(Case(f"{op} {name} bcast", op, [x.reshape(n, 1), x[:3].copy()], opset=18))
        cs.append(Case(f"BitwiseNot {name}", "BitwiseNot", [x.reshape(1, n)], opset=18))
    return cs


def unary_cases() -> list[Case]:
    cs: list[Case] = []
    for uc in UNARY_CASES:  # every op of the unary table (tests/ops/unary_cases.py)
        cs.append(Case(f"{uc.name} f32", uc.op, [case_input(uc, rng)], dict(uc.attrs), opset=uc.opset))
    cs.append(Case("Erf dense", "Erf", [np.linspace(-6, 6, 2001, dtype=np.float32)], tol=2e-7))
    cs.append(
        Case(
            "Erf tiny",
            "Erf",
            [np.array([0, 1e-8, -1e-5, 0.4999, 0.5, 1.9999, 2, 4.4999, 4.5, 30], np.float32)],
            tol=2e-7,
        )
    )
    cs.append(Case("Gelu none", "Gelu", [f32(4, 9, lo=-6, hi=6)], opset=20))
    cs.append(Case("Gelu tanh", "Gelu", [f32(4, 9, lo=-6, hi=6)], {"approximate": "tanh"}, opset=20))
    cs.append(Case("Round halves", "Round", [SPECIALS]))
    cs.append(Case("Relu f64", "Relu", [rng.standard_normal((7,))]))
    cs.append(Case("Exp f64", "Exp", [rng.standard_normal((7,))]))
    cs.append(Case("IsNaN", "IsNaN", [SPECIALS]))
    cs.append(Case("IsInf", "IsInf", [SPECIALS]))
    cs.append(Case("IsInf negative only", "IsInf", [SPECIALS], {"detect_positive": 0}))
    cs.append(Case("Abs specials", "Abs", [SPECIALS]))
    for op in ("Relu", "Neg", "Abs", "Sign"):
        cs.append(Case(f"{op} int32", op, [ints(9, dtype=np.int32)], opset=14))
        if op != "Relu":  # onnxruntime has no int64 Relu
            cs.append(Case(f"{op} int64", op, [ints(9)], opset=14))
    cs.append(
        Case(
            "Clip f32 both",
            "Clip",
            [f32(3, 5), np.array(-0.5, np.float32), np.array(1.0, np.float32)],
            opset=13,
            consts=(1, 2),
        )
    )
    cs.append(
        Case(
            "Clip f32 max only", "Clip", [f32(3, 5), None, np.array(0.25, np.float32)], opset=13, consts=(2,)
        )
    )
    cs.append(Case("Clip f32 none", "Clip", [f32(7)], opset=13))
    cs.append(Case("Clip opset6", "Clip", [f32(3, 5)], {"min": -1.0}, opset=6))
    cs.append(
        Case(
            "Clip NaN",
            "Clip",
            [SPECIALS, np.array(-1, np.float32), np.array(1, np.float32)],
            opset=13,
            consts=(1, 2),
        )
    )
    cs.append(
        Case(
            "Clip int64", "Clip", [ints(9), i64(-3).reshape(()), i64(4).reshape(())], opset=13, consts=(1, 2)
        )
    )
    cs.append(
        Case(
            "Clip int32 max",
            "Clip",
            [ints(9, dtype=np.int32), None, np.array(2, np.int32)],
            opset=13,
            consts=(2,),
        )
    )
    return cs


def cast_cases() -> list[Case]:
    cs: list[Case] = []
    fvals = np.concatenate([SPECIALS, np.array([-1.5, 300.7, 3e10, -3e10, 65504, 70000, 1e-6], np.float32)])
    for to in (
        TensorProto.INT64,
        TensorProto.INT32,
        TensorProto.UINT8,
        TensorProto.BOOL,
        TensorProto.DOUBLE,
        TensorProto.FLOAT16,
        TensorProto.INT8,
        TensorProto.INT16,
    ):
        cs.append(Case(f"Cast f32->{TensorProto.DataType.Name(to)}", "Cast", [fvals], {"to": to}, opset=13))
    big = i64(0, -1, 5, 2**40 + 3, -(2**40) - 7, 300, 2**62)
    for to in (
        TensorProto.FLOAT,
        TensorProto.INT32,
        TensorProto.UINT8,
        TensorProto.BOOL,
        TensorProto.DOUBLE,
        TensorProto.FLOAT16,
        TensorProto.INT8,
    ):
        cs.append(Case(f"Cast int64->{TensorProto.DataType.Name(to)}", "Cast", [big], {"to": to}, opset=13))
    cs.append(Case("Cast bool->f32", "Cast", [bools(6)], {"to": TensorProto.FLOAT}, opset=13))
    cs.append(Case("Cast bool->int64", "Cast", [bools(6)], {"to": TensorProto.INT64}, opset=13))
    with np.errstate(over="ignore"):
        halves = fvals.astype(np.float16)
    cs.append(Case("Cast f16->f32", "Cast", [halves], {"to": TensorProto.FLOAT}, opset=13))
    cs.append(
        Case("Cast f16->int64", "Cast", [np.array([1.5, -2.5, 7], np.float16)], {"to": TensorProto.INT64})
    )
    cs.append(
        Case("Cast int32->int64", "Cast", [ints(5, dtype=np.int32)], {"to": TensorProto.INT64}, opset=13)
    )
    cs.append(
        Case("Cast int32->uint8", "Cast", [np.array([-1, 256, 300], np.int32)], {"to": TensorProto.UINT8})
    )
    cs.append(Case("Cast f64->f32", "Cast", [rng.standard_normal(5)], {"to": TensorProto.FLOAT}, opset=13))
    cs.append(Case("Cast uint8->f32", "Cast", [np.array([0, 255, 7], np.uint8)], {"to": TensorProto.FLOAT}))
    cs.append(Case("Cast f32->f32", "Cast", [f32(4)], {"to": TensorProto.FLOAT}, opset=13))
    cs.append(Case("CastLike f32->int32", "CastLike", [f32(6), np.zeros(1, np.int32)], opset=15))
    cs.append(Case("Identity int64", "Identity", [ints(2, 3)]))
    cs.append(
        Case(
            "Dropout mask", "Dropout", [f32(2, 3), np.array(0.5, np.float32)], opset=13, consts=(1,), n_out=2
        )
    )
    cs.append(Case("Dropout plain", "Dropout", [f32(2, 3)], opset=11))
    return cs


# --- tensor cases --------------------------------------------------------------------------------


def tensor_cases() -> list[Case]:
    cs: list[Case] = []
    cs.append(Case("Reshape", "Reshape", [f32(2, 3, 4), i64(4, -1)], consts=(1,)))
    cs.append(Case("Flatten", "Flatten", [ints(2, 3, 4)], {"axis": 2}))
    cs.append(Case("Squeeze", "Squeeze", [f32(1, 3, 1), i64(0)], opset=13, consts=(1,)))
    cs.append(Case("Unsqueeze", "Unsqueeze", [bools(3, 2)], {"axes": [0, -1]}, opset=11))
    for perm in ([1, 0], [1, 0, 2], [0, 2, 3, 1], [3, 1, 0, 2], None):
        rank = 3 if perm is None else len(perm)
        x = f32(*[2, 3, 5, 4][:rank])
        cs.append(Case(f"Transpose {perm}", "Transpose", [x], {} if perm is None else {"perm": perm}))
    cs.append(Case("Transpose int64", "Transpose", [ints(3, 1, 4)], {"perm": [2, 0, 1]}))
    cs.append(Case("Transpose bool", "Transpose", [bools(3, 5)], {"perm": [1, 0]}))
    x = f32(4, 5, 6)
    slices = [
        ("basic", [1], [-1], None, None),
        ("two axes", [0, 1], [I64_MAX, 3], [2, 0], None),
        ("reverse", [-1], [-I64_MAX], [1], [-1]),
        ("neg steps", [4, 10], [0, -100], [2, 1], [-2, -3]),
        ("empty", [5], [1], [0], [1]),
        ("step 2", [-10], [10], [-1], [2]),
        ("inner row", [1, 2], [3, 4], [0, 1], None),
    ]
    for name, starts, ends, axes, steps in slices:
        ins: list[np.ndarray | None] = [x, i64(*starts), i64(*ends), None if axes is None else i64(*axes)]
        if steps is not None:
            ins.append(i64(*steps))
        cs.append(Case(f"Slice {name}", "Slice", ins, opset=13, consts=tuple(range(1, len(ins)))))
    cs.append(Case("Slice opset9", "Slice", [ints(4, 5)], {"starts": [1, -3], "ends": [3, 1000]}, opset=9))
    cs.append(Case("Expand", "Expand", [f32(3, 1), i64(2, 3, 4)], consts=(1,)))
    cs.append(Case("Expand int64", "Expand", [ints(1, 4), i64(3, 1)], consts=(1,)))
    cs.append(Case("Tile", "Tile", [f32(2, 3), i64(2, 3)], consts=(1,)))
    cs.append(Case("Tile int64 3d", "Tile", [ints(2, 1, 3), i64(1, 4, 2)], consts=(1,)))
    cs.append(Case("Concat axis1", "Concat", [f32(2, 1, 3), f32(2, 4, 3), f32(2, 2, 3)], {"axis": 1}))
    cs.append(Case("Concat axis-1 int64", "Concat", [ints(2, 2), ints(2, 3)], {"axis": -1}))
    cs.append(Case("Concat axis0 bool", "Concat", [bools(1, 3), bools(2, 3)], {"axis": 0}))
    cs.append(Case("Split attr", "Split", [f32(2, 7)], {"axis": 1, "split": [2, 5]}, opset=11, n_out=2))
    cs.append(Case("Split input", "Split", [f32(5, 3), i64(1, 3, 1)], opset=13, consts=(1,), n_out=3))
    cs.append(Case("Split num_outputs", "Split", [ints(7, 2)], {"num_outputs": 3}, opset=18, n_out=3))
    pads = [
        ("constant", [1, 2, 0, 1]),
        ("reflect", [2, 1, 1, 3]),
        ("edge", [1, 2, 2, 3]),
        ("wrap", [1, 3, 2, 2]),
        ("constant", [-1, 1, 0, -2]),
    ]
    for mode, p in pads:
        cs.append(
            Case(
                f"Pad {mode} {p}",
                "Pad",
                [f32(3, 4), i64(*p), np.array(1.5, np.float32)],
                {"mode": mode},
                opset=19,
                consts=(1, 2),
            )
        )
    cs.append(
        Case(
            "Pad 3d reflect",
            "Pad",
            [f32(2, 3, 4), i64(1, 0, 2, 0, 2, 1)],
            {"mode": "reflect"},
            opset=13,
            consts=(1,),
        )
    )
    cs.append(
        Case(
            "Pad int64 value",
            "Pad",
            [ints(2, 3), i64(0, 1, 1, 0), i64(-7).reshape(())],
            opset=13,
            consts=(1, 2),
        )
    )
    cs.append(Case("Pad axes", "Pad", [f32(2, 3), i64(2, 1), None, i64(-1)], opset=18, consts=(1, 3)))
    cs.append(Case("Pad opset2", "Pad", [f32(2, 3)], {"pads": [0, 1, 1, 0], "value": -2.0}, opset=2))
    cs.append(Case("Gather axis0", "Gather", [f32(5, 3), i64(0, -1, 2, 2)]))
    cs.append(
        Case(
            "Gather axis1 2d idx",
            "Gather",
            [f32(2, 5, 3), np.array([[0, 4], [-2, 1]], np.int32)],
            {"axis": 1},
        )
    )
    cs.append(Case("Gather scalar", "Gather", [ints(4, 3), np.array(-1, np.int64)], {"axis": 0}))
    cs.append(Case("Gather const idx", "Gather", [f32(3, 4), i64(3, 0)], {"axis": -1}, consts=(1,)))
    cs.append(
        Case(
            "GatherElements axis1",
            "GatherElements",
            [f32(3, 4), np.array([[0, -1], [1, 2], [3, 0]], np.int64)],
            {"axis": 1},
        )
    )
    cs.append(
        Case(
            "GatherElements axis0",
            "GatherElements",
            [ints(3, 2, 2), np.array([[[2, 0], [1, -3]]], np.int32)],
            {"axis": 0},
        )
    )
    cs.append(Case("GatherND", "GatherND", [f32(2, 3, 4), np.array([[1, 2], [0, -1]], np.int64)]))
    cs.append(
        Case(
            "GatherND batch",
            "GatherND",
            [f32(2, 3, 4), np.array([[[1], [0]], [[2], [2]]], np.int64)],
            {"batch_dims": 1},
        )
    )
    for red in ("none", "add", "mul", "max", "min"):
        cs.append(
            Case(
                f"ScatterND {red}",
                "ScatterND",
                [
                    f32(4, 3),
                    np.array([[1], [3], [1]] if red != "none" else [[1], [3]], np.int64),
                    f32(3 if red != "none" else 2, 3),
                ],
                {"reduction": red},
                opset=18,
            )
        )
    cs.append(
        Case(
            "ScatterND int64 elems",
            "ScatterND",
            [ints(2, 3), np.array([[0, 1], [1, -1]], np.int64), i64(100, 200)],
            opset=13,
        )
    )
    cs.append(
        Case("OneHot", "OneHot", [i64(0, 3, -1, 5), i64(4), np.array([0.0, 2.0], np.float32)], consts=(1, 2))
    )
    cs.append(
        Case(
            "OneHot axis0",
            "OneHot",
            [np.array([[1, 0], [2, -3]], np.int64), i64(3).reshape(()), i64(-1, 7)],
            {"axis": 0},
            consts=(1, 2),
            opset=11,
        )
    )
    cs.append(Case("Trilu upper", "Trilu", [f32(2, 3, 4)], opset=14))
    cs.append(
        Case("Trilu lower k", "Trilu", [ints(4, 3), i64(-1).reshape(())], {"upper": 0}, opset=14, consts=(1,))
    )
    cs.append(Case("Trilu upper k", "Trilu", [f32(3, 5), i64(2).reshape(())], opset=14, consts=(1,)))
    for ex in (0, 1):
        for rev in (0, 1):
            cs.append(
                Case(
                    f"CumSum ex{ex} rev{rev}",
                    "CumSum",
                    [f32(2, 5, 3), np.array(1, np.int32)],
                    {"exclusive": ex, "reverse": rev},
                    opset=14,
                    consts=(1,),
                )
            )
    cs.append(Case("CumSum int64", "CumSum", [ints(3, 4), i64(-1).reshape(())], opset=14, consts=(1,)))
    cs.extend(reduce_cases())
    return cs


REDUCE = [
    "ReduceMean",
    "ReduceSum",
    "ReduceMax",
    "ReduceMin",
    "ReduceProd",
    "ReduceL1",
    "ReduceL2",
    "ReduceSumSquare",
    "ReduceLogSum",
    "ReduceLogSumExp",
]


def reduce_cases() -> list[Case]:
    cs: list[Case] = []
    x = f32(2, 3, 4, lo=0.2, hi=1.5)
    for op in REDUCE:
        for axes, keep in (([1], 1), ([0, 2], 0), (None, 0), ([-1], 1), ([0, 1], 1)):
            attrs: dict[str, Any] = {"keepdims": keep}
            ins: list[np.ndarray | None] = [x]
            if axes is not None:
                ins.append(i64(*axes))
            cs.append(
                Case(f"{op} axes={axes} keep={keep}", op, ins, attrs, opset=18, consts=(1,) if axes else ())
            )
        cs.append(Case(f"{op} noop", op, [x], {"noop_with_empty_axes": 1}, opset=18))
    for op in (
        "ReduceSum",
        "ReduceMax",
        "ReduceMin",
        "ReduceProd",
        "ReduceMean",
        "ReduceL1",
        "ReduceSumSquare",
    ):
        cs.append(Case(f"{op} int64", op, [ints(3, 4, lo=-4, hi=5)], {"axes": [1]}, opset=11))
    cs.append(Case("ReduceMean int32", "ReduceMean", [ints(3, 4, dtype=np.int32)], {"axes": [0]}, opset=11))
    cs.append(
        Case("ReduceSum f64", "ReduceSum", [rng.standard_normal((3, 4)), i64(0)], opset=13, consts=(1,))
    )
    cs.append(Case("ReduceMax opset11", "ReduceMax", [f32(3, 4, 5)], {"axes": [2, 0]}, opset=11))
    ties = np.array([[1, 3, 3, 0], [2, 2, -1, 2], [5, 1, 5, 5]], np.float32)
    for op in ("ArgMax", "ArgMin"):
        for last in (0, 1):
            for axis in (0, 1):
                cs.append(
                    Case(
                        f"{op} axis{axis} last{last}",
                        op,
                        [ties],
                        {"axis": axis, "select_last_index": last, "keepdims": axis},
                        opset=13,
                    )
                )
        cs.append(Case(f"{op} int64 3d", op, [ints(2, 3, 4)], {"axis": -2}, opset=13))
    return cs


# --- running and writing ---------------------------------------------------------------------------


def run_ort(c: Case) -> list[np.ndarray]:
    names = ["" if a is None else f"x{i}" for i, a in enumerate(c.inputs)]
    outs = [f"y{k}" for k in range(c.n_out)]
    feeds = {
        n: a
        for i, (n, a) in enumerate(zip(names, c.inputs, strict=True))
        if a is not None and i not in c.consts
    }
    inits = [
        numpy_helper.from_array(np.asarray(a), n)
        for i, (n, a) in enumerate(zip(names, c.inputs, strict=True))
        if a is not None and i in c.consts
    ]
    vis = [
        helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
        for n, a in feeds.items()
    ]
    g = helper.make_graph(
        [helper.make_node(c.op, names, outs, **c.attrs)],
        "g",
        vis,
        [helper.make_empty_tensor_value_info(o) for o in outs],
        initializer=inits,
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", c.opset)])
    model.ir_version = 8
    try:
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        return [np.asarray(r) for r in sess.run(None, feeds)]
    except OrtNotImplemented:
        raise NotImplementedError(c.name) from None


def canonical(c: Case) -> tuple[dict[str, Any], list[np.ndarray | None], int]:
    """The node as the fallback kernel sees it: canonical attrs (with the expression program),
    remaining inputs, output count."""
    graph = Graph("fixture", c.opset)
    data: dict[int, np.ndarray] = {}
    ins = []
    for i, a in enumerate(c.inputs):
        if a is None:
            ins.append(None)
            continue
        v = (
            graph.const_value(f"c{i}", a)
            if i in c.consts
            else graph.new_value(f"x{i}", DType.from_numpy(a.dtype), a.shape)
        )
        data[id(v)] = a
        ins.append(v)
    ys = [graph.new_value(f"y{k}") for k in range(c.n_out)]
    graph.outputs.extend(ys)
    node = graph.add_node(c.op, ins, ys, dict(c.attrs))
    infer_node(node, graph)
    return cpu_attrs(node), [None if v is None else data[id(v)] for v in node.inputs], len(node.outputs)


def encode(a: np.ndarray) -> dict[str, Any]:
    dt = DType.from_numpy(a.dtype)
    if dt == DType.FLOAT16:
        values: list[Any] = a.view(np.uint16).reshape(-1).tolist()  # raw bits, exact
    elif dt == DType.INT64:
        values = [int(v) if abs(int(v)) < 2**53 else str(int(v)) for v in a.reshape(-1).tolist()]
    elif dt == DType.BOOL:
        values = a.astype(np.uint8).reshape(-1).tolist()
    else:
        values = jsonable(a.reshape(-1).tolist())
    return {"dtype": dt.value, "shape": list(a.shape), "data": values}


def build(cases: list[Case]) -> list[dict[str, Any]]:
    out = []
    for c in cases:
        try:
            expected = run_ort(c)
        except NotImplementedError:  # onnxruntime's CPU provider lacks this type: no reference
            print(f"  skipped '{c.name}': onnxruntime has no kernel for it")
            continue
        try:
            attrs, ins, n_out = canonical(c)
        except Exception as e:
            raise RuntimeError(f"case '{c.name}': {e}") from e
        out.append(
            {
                "name": c.name,
                "op": c.op,
                "attrs": jsonable(attrs),
                "inputs": [None if a is None else encode(a) for a in ins],
                "outputs": [encode(e) for e in expected[:n_out]],
                "tol": c.tol,
            }
        )
    return out


def main() -> int:
    ort.set_default_logger_severity(3)  # no opset-legacy warnings for the opset 2/6 cases
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for family, cases in (("elementwise", elementwise_cases()), ("tensor", tensor_cases())):
        path = OUT_DIR / f"{family}.json"
        fixtures = build(cases)
        path.write_text(json.dumps({"cases": fixtures}, separators=(",", ":"), allow_nan=False) + "\n")
        print(f"{path}: {len(fixtures)} cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
