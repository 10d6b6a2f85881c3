"""What every webgl kernel generator shares: the `Pass` it returns, the lowering context
and the registry. A generator turns one (canonical, possibly fused) IR node into one or
more passes; each pass is one draw writing one output tensor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from webdnn.backends.common.registry import KernelRegistry
from webdnn.errors import UnsupportedOperatorError, where
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Node, Value

NAME = "webgl"
# Integers travel in float32 textures: exact up to 2**24.
MAX_EXACT_INT = 1 << 24
# Render targets of the multi-target passes (conv and MatMul products): WebGL2's minimum
# MAX_DRAW_BUFFERS, so every device has them.
TARGETS = 4
# Float types computed in float32 (float16 rounded on write, float64 held as float32).
FLOATS = frozenset({DType.FLOAT32, DType.FLOAT16, DType.FLOAT64})
INTS = frozenset({DType.INT64, DType.INT32, DType.INT16, DType.INT8, DType.UINT8})
# Every dtype a texture holds: float16 and float64 are held and computed in float32 (float16
# results are rounded to float16 as they are written); integers are exact up to 2**24.
TEXTURE_DTYPES = FLOATS | INTS | {DType.BOOL}


@dataclass
class Pass:
    op: str  # op type, with a suffix for multi-pass kernels ("Softmax.stats")
    name: str  # node name (+ suffix)
    inputs: list[Value]  # read as X0, X1, ... in `body`
    output: Value
    body: str  # GLSL defining `float compute(int o)` (and any helpers)
    vec4: bool = False  # the body defines `vec4 compute4(int t)` (a whole texel) instead
    # > 1: the body defines `void computeN(int t, out vec4 y0, ...)`, a texel of each of
    # `targets` equal parts of the output, one render target (array layer) each (glsl.fragment)
    targets: int = 1


@dataclass
class Ctx:
    graph: Graph
    float_consts: dict[int, Value] = field(default_factory=dict)

    def fail(self, node: Node, why: str) -> UnsupportedOperatorError:
        return UnsupportedOperatorError(f"{where(node.name, node.op_type, self.graph.opset)}: the {NAME} backend {why}")

    def scratch(self, name: str, shape: tuple[int, ...]) -> Value:
        """A float32 intermediate of a multi-pass kernel."""
        return Value(name, DType.FLOAT32, shape)

    def const(self, name: str, data: np.ndarray) -> Value:
        """A float32 table computed at conversion (uploaded as a weight texture)."""
        v = Value(name)
        v.set_const(np.ascontiguousarray(data, dtype=np.float32))
        return v

    def tex(self, v: Value) -> Value:
        """`v` as it lives in a texture: constants of other dtypes become float32 copies."""
        if v.const is None or v.dtype == DType.FLOAT32:
            return v
        if id(v) not in self.float_consts:
            data = v.const
            if data.dtype.kind in "iub" and data.size and np.abs(data.astype(np.int64)).max() > MAX_EXACT_INT:
                raise UnsupportedOperatorError(
                    f"constant '{v.name}' holds integers beyond 2**24, which the {NAME} backend cannot hold exactly"
                )
            self.float_consts[id(v)] = self.const(v.name + ".f32", data.astype(np.float32))
        return self.float_consts[id(v)]


def need_float(node: Node, ctx: Ctx, vals: list[Value], what: str = "") -> None:
    """Every value is a float tensor (float32, or float16/float64 computed in float32)."""
    for v in vals:
        if v.dtype not in FLOATS:
            raise ctx.fail(node, f"computes {what or node.op_type} on float tensors only "
                                 f"(input '{v.name}' is {v.dtype})")


Generator = Callable[[Ctx, Node], list[Pass]]
GENERATORS: KernelRegistry[Generator] = KernelRegistry("webgl")
kernel = GENERATORS.register


def ins(node: Node, ctx: Ctx, count: int | None = None) -> list[Value]:
    """The node's inputs (present ones, or the first `count`, all required), texture-ready."""
    vals = node.inputs if count is None else node.inputs[:count]
    out = []
    for i, v in enumerate(vals):
        if v is None:
            if count is not None:
                raise ctx.fail(node, f"needs input {i}")
            continue
        out.append(ctx.tex(v))
    return out


def shape(v: Value) -> tuple[int, ...]:
    assert v.shape is not None, f"value {v.name} has no static shape"
    return v.shape


def attr_float(x: Any) -> float:
    if isinstance(x, str):
        return float(x.replace("Infinity", "inf"))
    return float(x)
