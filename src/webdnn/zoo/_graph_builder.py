"""Small helper for writing ONNX graphs by hand, shared by the zoo builders.

Parameters (``param``) are named like the PyTorch/Keras state-dict entries they stand for; they come from
``weights`` when given (pretrained models) and are otherwise drawn from a seeded generator in float32.
Non-parameter constants (axes, shapes, scalars) become ``Constant`` nodes, as the PyTorch exporter emits them.
Every opset-dependent op form (axes as attribute or input, Clip bounds, Resize inputs) lives here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

MIN_OPSET = 11
MAX_OPSET = 21
Dim = int | str
Ints = int | Sequence[int]

# Opset where an op's `axes` attribute became an input.
_AXES_INPUT_SINCE = {
    "Unsqueeze": 13,
    "Squeeze": 13,
    "ReduceSum": 13,
    "ReduceMean": 18,
    "ReduceL2": 18,
    "ReduceMax": 18,
}


def _pair(v: Ints, n: int = 2) -> list[int]:
    return [int(v)] * n if isinstance(v, int) else [int(i) for i in v]


class GraphBuilder:
    """Accumulates nodes, initializers and graph inputs/outputs; see the module docstring."""

    def __init__(
        self,
        name: str,
        *,
        seed: int = 0,
        opset: int = 17,
        weights: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        if not MIN_OPSET <= opset <= MAX_OPSET:
            raise ValueError(f"opset {opset} not supported (use {MIN_OPSET}..{MAX_OPSET})")
        self.name = name
        self.opset = opset
        self.rng = np.random.default_rng(seed)
        self.weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._used_names: set[str] = set()
        self._scope: list[str] = []

    # ----- naming and plumbing -------------------------------------------------------------------
    def unique(self, base: str) -> str:
        name, i = base, 0
        while name in self._used_names:
            i += 1
            name = f"{base}_{i}"
        self._used_names.add(name)
        return name

    @contextmanager
    def scope(self, name: str) -> Iterator[None]:
        """Name nodes /a/b/Op inside scope "a.b" (the innermost scope is the full module path)."""
        self._scope.append(name)
        try:
            yield
        finally:
            self._scope.pop()

    def node(self, op_type: str, inputs: Sequence[str], n_out: int = 1, **attrs: object) -> list[str]:
        path = self._scope[-1].replace(".", "/") + "/" if self._scope else ""
        name = self.unique(f"/{path}{op_type}")
        outputs = [self.unique(f"{name}_output_{i}") for i in range(n_out)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(helper.make_node(op_type, list(inputs), outputs, name=name, **attrs))
        return outputs

    def op(self, op_type: str, *inputs: str, **attrs: object) -> str:
        """A single-output node."""
        return self.node(op_type, inputs, **attrs)[0]

    def input(self, name: str, elem_type: int, shape: Sequence[Dim]) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, elem_type, list(shape)))
        self._used_names.add(name)
        return name

    def output(self, value: str, name: str, elem_type: int, shape: Sequence[Dim] | None = None) -> str:
        """Expose node output `value` as the graph output `name` (the value is renamed everywhere)."""
        if value != name:
            if name in self._used_names:
                raise ValueError(f"name {name!r} already used")
            self._used_names.add(name)
            for node in self.nodes:
                for names in (node.input, node.output):
                    for i, v in enumerate(names):
                        if v == value:
                            names[i] = name
        self.outputs.append(
            helper.make_tensor_value_info(name, elem_type, None if shape is None else list(shape))
        )
        return name

    def initializer(self, array: np.ndarray, name: str) -> str:
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), self.unique(name)))
        return self.initializers[-1].name

    def constant(
        self, value: float | Sequence[int] | Sequence[float] | np.ndarray, dtype: type = np.int64
    ) -> str:
        """A Constant node; python scalars give 0-d tensors."""
        arr = np.asarray(value, dtype=dtype)
        return self.op("Constant", value=numpy_helper.from_array(arr))

    def param(self, name: str, shape: Sequence[int], init: Callable[[], np.ndarray]) -> np.ndarray:
        """A parameter array: `weights[name]` when weights were given, else `init()`."""
        if self.weights is None:
            arr = init()
        elif name in self.weights:
            arr = np.asarray(self.weights[name], dtype=np.float32)
        else:
            raise KeyError(f"weight {name!r} missing from the supplied weights")
        if tuple(arr.shape) != tuple(shape):
            raise ValueError(f"weight {name!r} has shape {arr.shape}, expected {tuple(shape)}")
        return arr

    # ----- random initialisers (float32 throughout: no float64 temporaries for big tensors) --------
    def normal(self, shape: Sequence[int], std: float, mean: float = 0.0) -> np.ndarray:
        arr = self.rng.standard_normal(tuple(shape), dtype=np.float32)
        arr *= np.float32(std)
        if mean:
            arr += np.float32(mean)
        return arr

    def uniform(self, shape: Sequence[int], low: float, high: float) -> np.ndarray:
        arr = self.rng.random(tuple(shape), dtype=np.float32)
        arr *= np.float32(high - low)
        arr += np.float32(low)
        return arr

    # ----- layers ------------------------------------------------------------------------------------
    def conv(
        self,
        x: str,
        cin: int,
        cout: int,
        kernel: Ints,
        *,
        name: str,
        stride: Ints = 1,
        pad: Ints = 0,
        group: int = 1,
        bias: bool = True,
        gain: float = 2.0,
    ) -> str:
        """Conv with He-normal weights: std = sqrt(gain / fan_in); gain 2 suits a following ReLU."""
        kh, kw = _pair(kernel)
        ph, pw = _pair(pad)
        shape = [cout, cin // group, kh, kw]
        fan_in = shape[1] * kh * kw
        w = self.param(f"{name}.weight", shape, lambda: self.normal(shape, (gain / fan_in) ** 0.5))
        inputs = [x, self.initializer(w, f"{name}.weight")]
        if bias:
            b = self.param(f"{name}.bias", [cout], lambda: self.normal([cout], 0.05))
            inputs.append(self.initializer(b, f"{name}.bias"))
        return self.op(
            "Conv",
            *inputs,
            kernel_shape=[kh, kw],
            strides=_pair(stride),
            pads=[ph, pw, ph, pw],
            dilations=[1, 1],
            group=group,
        )

    def bn(self, x: str, c: int, *, name: str, eps: float = 1e-5, gamma_scale: float = 1.0) -> str:
        """Inference BatchNormalization with non-trivial statistics.

        gamma is drawn so that E[gamma^2 / var] = gamma_scale^2: activations keep their scale on average.
        """
        var = self.param(f"{name}.running_var", [c], lambda: self.uniform([c], 0.5, 1.5))
        mean = self.param(f"{name}.running_mean", [c], lambda: self.normal([c], 0.1))
        norm = np.float32(gamma_scale / (13 / 12) ** 0.5)  # E[U(0.5, 1.5)^2] = 13/12
        scale = self.param(f"{name}.weight", [c], lambda: self.uniform([c], 0.5, 1.5) * np.sqrt(var) * norm)
        beta = self.param(f"{name}.bias", [c], lambda: self.normal([c], 0.1))
        names = [
            self.initializer(scale, f"{name}.weight"),
            self.initializer(beta, f"{name}.bias"),
            self.initializer(mean, f"{name}.running_mean"),
            self.initializer(var, f"{name}.running_var"),
        ]
        return self.op("BatchNormalization", x, *names, epsilon=eps)

    def relu(self, x: str) -> str:
        return self.op("Relu", x)

    def relu6(self, x: str) -> str:
        return self.clip(x, 0.0, 6.0)

    def clip(self, x: str, lo: float | None, hi: float | None) -> str:
        """Clip with bounds as inputs (opset 11+); a missing bound is an empty input name."""
        ins = [x, "" if lo is None else self.constant(lo, np.float32)]
        if hi is not None:
            ins.append(self.constant(hi, np.float32))
        return self.op("Clip", *ins)

    def maxpool(self, x: str, kernel: Ints, stride: Ints, pad: Ints = 0, ceil_mode: bool = False) -> str:
        ph, pw = _pair(pad)
        return self.op(
            "MaxPool",
            x,
            kernel_shape=_pair(kernel),
            strides=_pair(stride),
            pads=[ph, pw, ph, pw],
            ceil_mode=int(ceil_mode),
        )

    def avgpool(
        self, x: str, kernel: Ints, stride: Ints, pad: Ints = 0, count_include_pad: bool = True
    ) -> str:
        ph, pw = _pair(pad)
        return self.op(
            "AveragePool",
            x,
            kernel_shape=_pair(kernel),
            strides=_pair(stride),
            pads=[ph, pw, ph, pw],
            ceil_mode=0,
            count_include_pad=int(count_include_pad),
        )

    def global_avgpool_flatten(self, x: str) -> str:
        return self.op("Flatten", self.op("GlobalAveragePool", x), axis=1)

    def gemm(self, x: str, fin: int, fout: int, *, name: str, gain: float = 1.0) -> str:
        """torch.nn.Linear on 2-D input: Gemm with transB=1 and an [out, in] weight."""
        shape = [fout, fin]
        w = self.param(f"{name}.weight", shape, lambda: self.normal(shape, (gain / fin) ** 0.5))
        b = self.param(f"{name}.bias", [fout], lambda: self.normal([fout], 0.05))
        wn, bn = self.initializer(w, f"{name}.weight"), self.initializer(b, f"{name}.bias")
        return self.op("Gemm", x, wn, bn, alpha=1.0, beta=1.0, transB=1)

    def concat(self, xs: Sequence[str], axis: int = 1) -> str:
        return self.op("Concat", *xs, axis=axis)

    # ----- opset-dependent forms --------------------------------------------------------------------
    def _axes_op(self, op_type: str, x: str, axes: Sequence[int] | None, **attrs: object) -> str:
        if axes is None:
            return self.op(op_type, x, **attrs)
        if self.opset >= _AXES_INPUT_SINCE[op_type]:
            return self.op(op_type, x, self.constant(list(axes)), **attrs)
        return self.op(op_type, x, axes=list(axes), **attrs)

    def unsqueeze(self, x: str, axes: Sequence[int]) -> str:
        return self._axes_op("Unsqueeze", x, axes)

    def squeeze(self, x: str, axes: Sequence[int]) -> str:
        return self._axes_op("Squeeze", x, axes)

    def reduce(self, op_type: str, x: str, axes: Sequence[int], keepdims: bool = True) -> str:
        return self._axes_op(op_type, x, axes, keepdims=int(keepdims))

    def resize(self, x: str, sizes: str, mode: str = "linear", coord: str = "half_pixel") -> str:
        """Resize to `sizes` (int64 [4]); opset 11-12 need empty roi/scales tensors, 13+ omit them."""
        if self.opset >= 13:
            roi = scales = ""
        else:
            roi = self.constant(np.zeros(0, np.float32), np.float32)
            scales = self.constant(np.zeros(0, np.float32), np.float32)
        return self.op("Resize", x, roi, scales, sizes, mode=mode, coordinate_transformation_mode=coord)

    # ----- result ------------------------------------------------------------------------------------
    def make_model(self, doc: str = "") -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, self.name, self.inputs, self.outputs, initializer=self.initializers, doc_string=doc
        )
        opsets = [helper.make_opsetid("", self.opset)]
        model = helper.make_model(
            graph,
            opset_imports=opsets,
            producer_name="webdnn.zoo",
            ir_version=helper.find_min_ir_version_for(opsets),
        )
        return model


def image_input(
    gb: GraphBuilder, batch: Dim, channels: int, height: Dim, width: Dim, name: str = "input"
) -> str:
    return gb.input(name, TensorProto.FLOAT, [batch, channels, height, width])
