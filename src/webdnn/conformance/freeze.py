"""Freeze parameter inputs of a case into constants.

Many ONNX cases feed shape-deciding parameters (axes, shape, scales/sizes, pads, k, ...)
as graph inputs. WebDNN plans shapes and memory offline, so it needs them constant at
conversion (as they are in exported models) and the converter refuses such a case. The runner
first converts it again with that input as a value input (`gives_sizes`: its elements become
size symbols bound from the data at run, nothing frozen), and where that cannot work, with
those inputs turned into initializers holding the case's data; the result records both.

`weight_inputs` picks the float32 inputs to freeze up front (`--freeze-weights`): ONNX's node
cases feed weights (a Conv's W and B, a Gemm's B, a Gather's data) as graph inputs, which a
backend storing weights in another type (webgpu-fp16 stores constants as f16, inputs as f32)
would never see as weights. Where the parameter inputs frozen later (freeze_params) would leave
no input at all, the runner keeps the first of these as an input (run._convert).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import numpy as np
import onnx
from onnx import numpy_helper

from webdnn.frontend.float_compute import SUFFIX

# The converter's message (webdnn.ops._util.const_input) names the value that must be constant.
_NEEDS_CONSTANT = re.compile(r"input \d+ \('([^']+)'\) must be a constant at conversion time")


def input_to_freeze(error: str, model: onnx.ModelProto, already: Iterable[str]) -> str | None:
    """The graph input the converter wants constant (or, when it names a value computed from the inputs,
    the first small int input not frozen yet), or None (not that error, or no such input)."""
    m = _NEEDS_CONSTANT.search(error)
    if not m:
        return None
    name, done = m.group(1), set(already)
    inputs = {i.name for i in model.graph.input}
    if name.endswith(SUFFIX) and name[: -len(SUFFIX)] in inputs:  # an input computed in float32 (float_compute.py)
        name = name[: -len(SUFFIX)]
    if name in inputs:
        return name if name not in done else None
    # a value computed from the inputs (an _expanded case's function body, an If's branch): the
    # first small int input not frozen yet, the kind that holds sizes
    for i in model.graph.input:
        t = i.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim]
        if (i.name not in done and t.elem_type in (onnx.TensorProto.INT64, onnx.TensorProto.INT32)
                and all(d >= 0 for d in dims) and int(np.prod(dims)) <= 16):
            return i.name
    return None


def gives_sizes(model: onnx.ModelProto, values: Mapping[str, np.ndarray], name: str) -> bool:
    """Can graph input `name` run as a value input (`convert(value_inputs=...)`, its elements sizes
    bound from the data at run) with the case's data: a small int tensor of sizes >= 1?"""
    from webdnn.frontend.input_dims import MAX_VALUE_ELEMENTS

    a = values.get(name)
    if a is None or a.dtype not in (np.int64, np.int32) or not 1 <= a.size <= MAX_VALUE_ELEMENTS:
        return False
    return name in {i.name for i in model.graph.input} and bool((a >= 1).all())


def freeze(model: onnx.ModelProto, values: Mapping[str, np.ndarray], names: Iterable[str]) -> onnx.ModelProto:
    """A copy of `model` whose inputs `names` are initializers holding `values`."""
    names = set(names)
    frozen = onnx.ModelProto()
    frozen.CopyFrom(model)
    kept = [i for i in frozen.graph.input if i.name not in names]
    del frozen.graph.input[:]
    frozen.graph.input.extend(kept)
    frozen.graph.initializer.extend(numpy_helper.from_array(np.asarray(values[n]), n) for n in sorted(names))
    return frozen


def weight_inputs(model: onnx.ModelProto) -> list[str]:
    """The float32 graph inputs to freeze as weights: all of them, but the first where every graph
    input is float32 (one input stays, or the whole case would fold at conversion)."""
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    floats = [i.name for i in inputs if i.type.tensor_type.elem_type == onnx.TensorProto.FLOAT]
    return floats[1:] if len(floats) == len(inputs) else floats
