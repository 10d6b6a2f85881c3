"""float16 and float64 models computed in float32.

WebDNN's compute kernels (MatMul, Conv, Softmax, pooling, normalizations: the ops registered with
`float32_only`) run in float32, as the browser backends do natively. A model whose tensors are
float16 (exported with `.half()`, or the fp16 variants web model hubs ship) or float64 would
otherwise be refused at its first such op. Here, before the IR is built, every value of such a
type inside the graph becomes float32: its initializers and constants are converted (exactly
for float16), and every attribute naming the type as a target (Cast `to`, EyeLike `dtype`, the
window ops' `output_datatype`, ...) names float32 instead. The graph's interface keeps the
model's types: a float16 input is cast to float32 after it arrives, a float16 output is cast
from float32 just before it leaves, so callers pass and receive the types the model declares.

The result is at least as precise as computing in the narrow type: intermediate values are not
rounded to float16 and do not overflow at its 65504 limit. A type is promoted only when a
float32-only op reads a value of it (ONNX's type inference tells), so a float16 graph of
elementwise ops (which every backend runs in float16 as it is), or a float32 model that rounds
through float16 on purpose, keeps its exact float16 rounding.
"""

from __future__ import annotations

import logging

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, numpy_helper

from webdnn.frontend.narrow_types import MOVES
from webdnn.ops.registry import float32_only_ops

log = logging.getLogger("webdnn")

PROMOTED = (TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16)
# No backend computes in bfloat16: a bfloat16 value read by any op but those narrow_types.py rewrites (casts, data
# movement) makes the graph compute in float32; its interface stays bfloat16 (held as bits, narrow_types.py).
_BF16_HELD_OPS = frozenset({"Cast", "CastLike", *MOVES})
# attributes that name an element type the node produces (op type -> attribute name)
_TYPE_ATTRS = {
    "Cast": "to", "EyeLike": "dtype", "RandomNormal": "dtype", "RandomUniform": "dtype",
    "RandomNormalLike": "dtype", "RandomUniformLike": "dtype", "Multinomial": "dtype", "Bernoulli": "dtype",
    "HannWindow": "output_datatype", "HammingWindow": "output_datatype", "BlackmanWindow": "output_datatype",
    "MelWeightMatrix": "output_datatype", "DequantizeLinear": "output_dtype",
}
SUFFIX = "__float32"
# ops the passes rewrite into float32-only ops (MatMul): they need float32 just the same
_LOWERED_TO_FLOAT32_ONLY = frozenset({"Einsum", "LSTM", "GRU", "RNN", "DFT", "STFT"})


def promote(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with its float16/float64 graph values computed in float32 (a copy), or the model
    itself when it needs nothing: see the module docstring."""
    g = model.graph
    f32_ops = float32_only_ops() | _LOWERED_TO_FLOAT32_ONLY
    ops = _op_types(g)
    held = _elem_types(g)
    bf16_ops = frozenset(ops - _BF16_HELD_OPS)
    if not ops & f32_ops and not (TensorProto.BFLOAT16 in held and bf16_ops):
        return model
    types = [t for t in PROMOTED if t in held
             and _reaches_float32_op(model, t, bf16_ops if t == TensorProto.BFLOAT16 else f32_ops)]
    if not types:
        return model
    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    names = {TensorProto.DataType.Name(t).lower() for t in types}
    log.info("the model computes in %s: its graph runs in float32 (inputs and outputs keep their types)",
             " and ".join(sorted(names)))
    renames: dict[str, str] = {}
    casts_in: list[onnx.NodeProto] = []
    outputs_as_inputs = {o.name for o in g.output} & {i.name for i in g.input}
    inits = {i.name for i in g.initializer}
    for inp in g.input:
        t = inp.type.tensor_type.elem_type if inp.type.HasField("tensor_type") else 0
        if t in types and inp.name not in inits and inp.name not in outputs_as_inputs:
            renames[inp.name] = inp.name + SUFFIX
            casts_in.append(onnx.helper.make_node("Cast", [inp.name], [inp.name + SUFFIX], to=TensorProto.FLOAT,
                                                  name=inp.name + SUFFIX))
    produced = {o for n in g.node for o in n.output}
    casts_out: list[onnx.NodeProto] = []
    for o in g.output:
        t = o.type.tensor_type.elem_type if o.type.HasField("tensor_type") else 0
        if t in types and o.name in produced:
            renames[o.name] = o.name + SUFFIX
            casts_out.append(onnx.helper.make_node("Cast", [o.name + SUFFIX], [o.name], to=t, name=o.name + SUFFIX))
    _promote_graph(g, set(types), renames, keep={o.name for o in g.output} & inits, interface=False)
    nodes = casts_in + list(g.node) + casts_out
    del g.node[:]
    g.node.extend(nodes)
    return out


def _promote_graph(g: onnx.GraphProto, types: set[int], renames: dict[str, str], keep: set[str],
                   interface: bool) -> None:
    """Rewrite `g` in place: values of `types` become float32, names in `renames` are renamed
    wherever they are read or written (nested graphs too: ONNX names are unique across scopes).
    `interface`: a nested graph's own inputs and outputs are promoted as well."""
    for init in g.initializer:
        if init.data_type in types and init.name not in keep:
            init.CopyFrom(_as_float32(init))
    for vi in list(g.value_info) + (list(g.input) + list(g.output) if interface else []):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type in types:
            vi.type.tensor_type.elem_type = TensorProto.FLOAT
    for vi in g.value_info:
        if vi.name in renames:
            vi.name = renames[vi.name]
    for n in g.node:
        n.input[:] = [renames.get(x, x) for x in n.input]
        n.output[:] = [renames.get(x, x) for x in n.output]
        for a in n.attribute:
            if a.type == AttributeProto.TENSOR and a.t.data_type in types:
                a.t.CopyFrom(_as_float32(a.t))
            elif a.type == AttributeProto.INT and _TYPE_ATTRS.get(n.op_type) == a.name and a.i in types:
                a.i = TensorProto.FLOAT
            elif a.type == AttributeProto.GRAPH:
                _promote_graph(a.g, types, renames, set(), interface=True)
            elif a.type == AttributeProto.GRAPHS:
                for sub in a.graphs:
                    _promote_graph(sub, types, renames, set(), interface=True)


def _as_float32(t: TensorProto) -> TensorProto:
    return numpy_helper.from_array(np.asarray(numpy_helper.to_array(t), dtype=np.float32), t.name)


def _reaches_float32_op(model: onnx.ModelProto, t: int, f32_ops: frozenset[str]) -> bool:
    """Whether a float32-only op reads a value of type `t` (by ONNX's type inference): a float32 model that
    only rounds through float16 on purpose, next to a Softmax, stays as it is. When the types cannot be
    inferred (a model over protobuf's 2 GB, a nested graph's values), yes."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False).graph
    except Exception:  # noqa: BLE001 (inference is best effort here)
        return True
    known = {vi.name: vi.type.tensor_type.elem_type for vi in [*inferred.input, *inferred.output,
                                                               *inferred.value_info] if vi.type.HasField("tensor_type")}
    known.update({i.name: i.data_type for i in inferred.initializer})
    for n in inferred.node:
        if any(a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS) for a in n.attribute):
            return True  # nested graphs: their values are not typed here
        if n.op_type in f32_ops and any(known.get(x, t) == t for x in n.input if x):
            return True
    return False


def _op_types(g: onnx.GraphProto) -> set[str]:
    ops: set[str] = set()
    for n in g.node:
        if n.domain in ("", "ai.onnx"):
            ops.add(n.op_type)
        for a in n.attribute:
            for sub in ([a.g] if a.type == AttributeProto.GRAPH else list(a.graphs)):
                ops |= _op_types(sub)
    return ops


def _elem_types(g: onnx.GraphProto) -> set[int]:
    """Every element type the graph (and its nested graphs) names for a value, a constant or a target."""
    found = {i.data_type for i in g.initializer}
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        if vi.type.HasField("tensor_type"):
            found.add(vi.type.tensor_type.elem_type)
    for n in g.node:
        for a in n.attribute:
            if a.type == AttributeProto.TENSOR:
                found.add(a.t.data_type)
            elif a.type == AttributeProto.INT and _TYPE_ATTRS.get(n.op_type) == a.name:
                found.add(a.i)
            for sub in ([a.g] if a.type == AttributeProto.GRAPH else list(a.graphs)):
                found |= _elem_types(sub)
    return found
