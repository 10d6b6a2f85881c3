"""Building ONNX from Keras layers: the graph under construction, the tensors flowing through it and
their layout, and Keras' activations.

Keras tensors are channels-last (NHWC); ONNX's and WebDNN's convolutions, pools and norms are
channels-first. A tensor here remembers which layout its data has (`KTensor.cf`): a spatial layer
moves its input to channels-first once and leaves its output so, and the next spatial layer uses it
as it is, so a chain of convolutions has no Transpose between them. A Transpose back to Keras' order
appears only where a layer reads the data in that order (Dense, Flatten, Reshape, Permute) and at
the model's outputs. Shapes are kept in Keras' order throughout (`KTensor.shape`, None where unknown).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from webdnn.errors import ModelLoadError, UnsupportedOperatorError

OPSET = 17


@dataclass(frozen=True)
class KTensor:
    name: str  # the ONNX value
    shape: tuple[int | None, ...]  # Keras order (batch first, channels last)
    cf: bool = False  # the data is channels-first (NCHW...) although `shape` is in Keras order

    @property
    def rank(self) -> int:
        return len(self.shape)


class Builder:
    """Nodes, initializers, inputs and outputs of the ONNX graph being built; names made unique."""

    def __init__(self, source: str) -> None:
        self.source = source  # for messages: the model file
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._names: set[str] = set()

    def unique(self, base: str) -> str:
        name, i = base, 0
        while name in self._names:
            i += 1
            name = f"{base}_{i}"
        self._names.add(name)
        return name

    def const(self, data: Any, base: str, dtype: Any = np.float32) -> str:
        name = self.unique(base)
        # (copy, not ascontiguousarray, which would make a scalar a 1-element vector)
        self.inits.append(numpy_helper.from_array(np.asarray(data, dtype).copy(order="C"), name))
        return name

    def node(self, op: str, inputs: list[str], base: str, outputs: int = 1, **attrs: Any) -> list[str]:
        outs = [self.unique(f"{base}/{op}" if outputs == 1 else f"{base}/{op}_{i}") for i in range(outputs)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=self.unique(f"{base}/{op}"), **attrs))
        return outs

    def one(self, op: str, inputs: list[str], base: str, **attrs: Any) -> str:
        return self.node(op, inputs, base, **attrs)[0]

    def add_input(self, name: str, shape: tuple[int | None, ...], dtype: str) -> KTensor:
        self._names.add(name)
        dims = [d if d is not None else ("batch" if i == 0 else f"{name}_d{i}") for i, d in enumerate(shape)]
        self.inputs.append(helper.make_tensor_value_info(name, _onnx_dtype(dtype, name), dims))
        return KTensor(name, shape)

    def add_output(self, t: KTensor, name: str) -> None:
        t = self.plain(t, name)
        if name in self._names:  # an output named like another value: an Identity gives it its name
            name = self.unique(name)
        self._names.add(name)
        self.nodes.append(helper.make_node("Identity", [t.name], [name], name=self.unique(f"{name}/Identity")))
        self.outputs.append(helper.make_empty_tensor_value_info(name))

    def model(self, name: str) -> onnx.ModelProto:
        g = helper.make_graph(self.nodes, name, self.inputs, self.outputs, self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="webdnn keras frontend")
        m.ir_version = 8
        return m

    def branch(self) -> Builder:
        """A builder for a subgraph (an If's branch): nodes of its own; names and initializers shared with
        this one (the subgraph reads its constants from the outer graph, as ONNX allows)."""
        sub = Builder(self.source)
        sub._names = self._names
        sub.inits = self.inits
        return sub

    def subgraph(self, name: str, outputs: list[tuple[str, int]],
                 inputs: Sequence[tuple[str, int, tuple[int | None, ...]]] = ()) -> onnx.GraphProto:
        """This builder's nodes as a subgraph returning `outputs` ([(value, ONNX element type)]), each through an
        Identity (a subgraph output must be a value of its own); `inputs`: its formal inputs (a Loop body's
        [(name, element type, shape)]), none for an If's branch."""
        outs: list[onnx.ValueInfoProto] = []
        for value, elem in outputs:
            out = self.unique(f"{name}/out")
            self.nodes.append(helper.make_node("Identity", [value], [out], name=self.unique(f"{out}/Identity")))
            outs.append(helper.make_tensor_value_info(out, elem, None))
        ins = [helper.make_tensor_value_info(v, elem, list(shape)) for v, elem, shape in inputs]
        return helper.make_graph(self.nodes, name, ins, outs)

    # --- layout --------------------------------------------------------------------------------------
    def cf(self, t: KTensor, base: str) -> KTensor:
        """`t` with channels-first data (rank >= 3); as it is if it already is, or has rank <= 2."""
        if t.cf or t.rank <= 2:
            return t
        perm = [0, t.rank - 1, *range(1, t.rank - 1)]
        return KTensor(self.one("Transpose", [t.name], base, perm=perm), t.shape, True)

    def plain(self, t: KTensor, base: str) -> KTensor:
        """`t` with its data in Keras' order."""
        if not t.cf:
            return t
        perm = [0, *range(2, t.rank), 1]
        return KTensor(self.one("Transpose", [t.name], base, perm=perm), t.shape, False)

    @staticmethod
    def axis(t: KTensor, axis: int) -> int:
        """The data axis of Keras axis `axis` of `t` (in its layout)."""
        a = axis % t.rank
        if not t.cf or a == 0:
            return a
        return 1 if a == t.rank - 1 else a + 1


def broadcast(shapes: list[tuple[int | None, ...]]) -> tuple[int | None, ...]:
    """The NumPy broadcast of `shapes` (None: unknown; an unknown dim against a known one > 1 is that one)."""
    rank = max(len(s) for s in shapes)
    out: list[int | None] = []
    for i in range(rank):
        col = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]
        known = [d for d in col if d is not None and d != 1]
        out.append(known[0] if known else (None if any(d is None for d in col) else 1))
    return tuple(out)


def _onnx_dtype(dtype: str, where: str) -> int:
    table = {"float32": TensorProto.FLOAT, "int32": TensorProto.INT32, "int64": TensorProto.INT64,
             "bool": TensorProto.BOOL, "float16": TensorProto.FLOAT16, "uint8": TensorProto.UINT8}
    if dtype not in table:
        raise ModelLoadError(f"{where}: element type {dtype!r} is not supported (one of {', '.join(table)})")
    return table[dtype]


# --- activations ---------------------------------------------------------------------------------------
SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def activation(b: Builder, t: KTensor, fn: Any, base: str, keras_version: str = "2") -> KTensor:
    """Keras activation `fn` (a name, or a serialized activation object) applied to `t`."""
    if isinstance(fn, dict):  # Keras 3 may serialize {"class_name": ..., "config": {"name": ...}} or a module path
        fn = fn.get("config", {}).get("name") or fn.get("class_name")
    name = (fn or "linear").lower()
    x = t.name

    def out(v: str) -> KTensor:
        return KTensor(v, t.shape, t.cf)

    if name in ("linear", "identity"):
        return t
    simple = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softplus": "Softplus", "softsign": "Softsign",
              "exponential": "Exp", "elu": "Elu"}
    if name in simple:
        return out(b.one(simple[name], [x], base))
    if name == "relu6":
        return out(b.one("Clip", [x, b.const(0.0, f"{base}/min"), b.const(6.0, f"{base}/max")], base))
    if name == "selu":
        return out(b.one("Selu", [x], base, alpha=SELU_ALPHA, gamma=SELU_SCALE))
    if name == "hard_sigmoid":  # Keras 2: clip(0.2x + 0.5); Keras 3: relu6(x + 3) / 6
        alpha = 0.2 if keras_version.startswith("2") else 1.0 / 6.0
        return out(b.one("HardSigmoid", [x], base, alpha=alpha, beta=0.5))
    if name in ("swish", "silu"):
        return out(b.one("Mul", [x, b.one("Sigmoid", [x], base)], base))
    if name == "hard_swish" or name == "hard_silu":
        return out(b.one("HardSwish", [x], base))
    if name == "gelu":  # Keras' default is the exact (erf) form
        half = b.one("Mul", [x, b.const(0.5, f"{base}/half")], base)
        erf = b.one("Erf", [b.one("Mul", [x, b.const(1 / np.sqrt(2.0), f"{base}/rsqrt2")], base)], base)
        return out(b.one("Mul", [half, b.one("Add", [erf, b.const(1.0, f"{base}/one")], base)], base))
    if name == "mish":
        return out(b.one("Mish", [x], base))
    if name == "leaky_relu":
        return out(b.one("LeakyRelu", [x], base, alpha=0.2))
    if name in ("softmax", "log_softmax"):
        op = "Softmax" if name == "softmax" else "LogSoftmax"
        return out(b.one(op, [x], base, axis=b.axis(t, -1)))
    raise UnsupportedOperatorError(f"{b.source}: layer '{base}': activation '{fn}' is not supported")
