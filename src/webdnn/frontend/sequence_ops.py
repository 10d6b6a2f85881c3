"""ONNX's sequence ops inside a graph, resolved at conversion into tensor ops.

Exporters write sequences around lists of tensors (PyTorch's `torch.split` / `torch.stack` / list
appends in scripted code, TensorFlow's TensorArrays): a sequence whose length and positions are
known at conversion is a Python list of tensor names here, and each op becomes tensor ops or
nothing:
- `SequenceConstruct`, `SequenceEmpty`, `SequenceInsert`, `SequenceErase`: a new list;
- `SplitToSequence`: a Split (its pieces Squeezed when `keepdims=0` without `split`);
- `SequenceAt`: an Identity of the element; `SequenceLength`: a constant;
- `ConcatFromSequence`: a Concat (of Unsqueezed elements with `new_axis=1`).
Positions must be constants (initializers or Constant nodes) and SplitToSequence's input must
have a known length along its axis. A model input or output of sequence type, a sequence in a
Loop or If, and SequenceMap stay unsupported with an error naming the node.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from webdnn.errors import UnsupportedOperatorError, where

OPS = frozenset({"SequenceConstruct", "SequenceEmpty", "SequenceInsert", "SequenceErase", "SplitToSequence",
                 "SequenceAt", "SequenceLength", "ConcatFromSequence"})


def resolve(model: onnx.ModelProto, opset: int) -> onnx.ModelProto:
    """`model` with its main graph's sequence ops written as tensor ops (a copy), or `model` itself."""
    if not any(n.op_type in OPS and n.domain in ("", "ai.onnx") for n in model.graph.node):
        return model
    try:
        inferred = onnx.shape_inference.infer_shapes(model).graph
    except Exception:  # noqa: BLE001 (ranks and lengths are then unknown: the ops that need them say so)
        inferred = model.graph
    out = onnx.ModelProto()
    out.CopyFrom(model)
    return _Resolver(out.graph, inferred, opset).run(out)


class _Resolver:
    def __init__(self, g: onnx.GraphProto, inferred: onnx.GraphProto, opset: int) -> None:
        self.g, self.opset = g, opset
        self.consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        self.shapes: dict[str, list[int | None]] = {}
        for vi in (*inferred.input, *inferred.value_info, *inferred.output):
            if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape"):
                self.shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else None
                                        for d in vi.type.tensor_type.shape.dim]
        self.seqs: dict[str, list[str]] = {}
        self.nodes: list[onnx.NodeProto] = []
        self.count = 0

    def run(self, model: onnx.ModelProto) -> onnx.ModelProto:
        for i, n in enumerate(self.g.node):
            name = n.name or f"{n.op_type}_{i}"
            if n.op_type == "Constant" and n.domain in ("", "ai.onnx"):
                a = next((a for a in n.attribute if a.name == "value"), None)
                if a is not None:
                    self.consts[n.output[0]] = numpy_helper.to_array(a.t)
            if n.domain in ("", "ai.onnx") and n.op_type in OPS:
                self.op(n, name)
                continue
            used = [x for x in n.input if x in self.seqs]
            if used:
                raise self.refuse(name, n.op_type, f"reads the sequence '{used[0]}'; sequences are resolved at "
                                                   "conversion, for the sequence ops only")
            self.nodes.append(n)
        left = [o.name for o in self.g.output if o.name in self.seqs]
        if left:
            raise UnsupportedOperatorError(f"graph output '{left[0]}' is a sequence; WebDNN's outputs are tensors "
                                           "(concatenate it with ConcatFromSequence)")
        del self.g.node[:]
        self.g.node.extend(self.nodes)
        return model

    def refuse(self, name: str, op: str, why: str) -> UnsupportedOperatorError:
        return UnsupportedOperatorError(f"{where(name, op, self.opset)}: {why}")

    def fresh(self, base: str) -> str:
        self.count += 1
        return f"{base}__seq{self.count}"

    def emit(self, op: str, inputs: list[str], out: str | None, name: str, **attrs: object) -> str:
        out = out or self.fresh(name)
        self.nodes.append(helper.make_node(op, inputs, [out], name=self.fresh(name), **attrs))
        return out

    def const_int(self, v: str, name: str, op: str) -> int:
        if v not in self.consts:
            raise self.refuse(name, op, f"its position '{v}' is computed at run time; it must be a constant")
        return int(np.asarray(self.consts[v]).reshape(-1)[0])

    def seq(self, v: str, name: str, op: str) -> list[str]:
        if v not in self.seqs:
            raise self.refuse(name, op, f"reads '{v}', which is not a sequence built in this graph (a model input "
                                        "of sequence type, or one from a Loop or If, is not supported)")
        return self.seqs[v]

    def axes(self, v: str, axis: int) -> str:
        return self.emit("Constant", [], None, v, value=numpy_helper.from_array(np.array([axis], np.int64)))

    def op(self, n: onnx.NodeProto, name: str) -> None:
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        op, ins, y = n.op_type, list(n.input), n.output[0]
        if op == "SequenceConstruct":
            self.seqs[y] = list(ins)
        elif op == "SequenceEmpty":
            self.seqs[y] = []
        elif op in ("SequenceInsert", "SequenceErase"):
            items = list(self.seq(ins[0], name, op))
            pos_name = ins[2] if op == "SequenceInsert" and len(ins) > 2 else ins[1] if op == "SequenceErase" and \
                len(ins) > 1 else ""
            pos = self.const_int(pos_name, name, op) if pos_name else (len(items) if op == "SequenceInsert" else -1)
            if op == "SequenceInsert":
                items.insert(pos + len(items) if pos < 0 else pos, ins[1])
            else:
                if not -len(items) <= pos < len(items):
                    raise self.refuse(name, op, f"position {pos} is outside the sequence of {len(items)}")
                del items[pos]
            self.seqs[y] = items
        elif op == "SequenceAt":
            items = self.seq(ins[0], name, op)
            pos = self.const_int(ins[1], name, op)
            if not -len(items) <= pos < len(items):
                raise self.refuse(name, op, f"position {pos} is outside the sequence of {len(items)}")
            self.emit("Identity", [items[pos]], y, name)
        elif op == "SequenceLength":
            n_items = len(self.seq(ins[0], name, op))
            self.emit("Constant", [], y, name, value=numpy_helper.from_array(np.array(n_items, np.int64)))
        elif op == "ConcatFromSequence":
            items = self.seq(ins[0], name, op)
            if not items:
                raise self.refuse(name, op, "concatenates an empty sequence")
            axis, new_axis = int(attrs["axis"]), int(attrs.get("new_axis", 0))
            if new_axis:
                items = [self.unsqueeze(x, axis, name) for x in items]
            self.emit("Concat", items, y, name, axis=axis)
        else:  # SplitToSequence
            self.split(n, name, attrs)

    def unsqueeze(self, x: str, axis: int, name: str) -> str:
        if self.opset >= 13:
            return self.emit("Unsqueeze", [x, self.axes(name, axis)], None, name)
        return self.emit("Unsqueeze", [x], None, name, axes=[axis])

    def split(self, n: onnx.NodeProto, name: str, attrs: dict[str, object]) -> None:
        x = n.input[0]
        split = n.input[1] if len(n.input) > 1 and n.input[1] else ""
        axis, keepdims = int(attrs.get("axis", 0)), int(attrs.get("keepdims", 1))  # type: ignore[call-overload]
        shape = self.shapes.get(x)
        if split:
            if split not in self.consts:
                raise self.refuse(name, n.op_type, f"its split '{split}' is computed at run time")
            sizes = np.asarray(self.consts[split]).reshape(-1)
            if np.asarray(self.consts[split]).ndim == 0:  # one size: equal pieces, the last smaller
                length = shape[axis] if shape is not None and -len(shape) <= axis < len(shape) else None
                if length is None:
                    raise self.refuse(name, n.op_type, f"the length of '{x}' along axis {axis} is not known")
                size = int(sizes[0])
                sizes = np.array([size] * (length // size) + ([length % size] if length % size else []), np.int64)
            pieces = [self.fresh(name) for _ in sizes]
            sizes_c = self.emit("Constant", [], None, name, value=numpy_helper.from_array(sizes.astype(np.int64)))
            self.nodes.append(helper.make_node("Split", [x, sizes_c], pieces, name=self.fresh(name), axis=axis)
                              if self.opset >= 13 else
                              helper.make_node("Split", [x], pieces, name=self.fresh(name), axis=axis,
                                               split=[int(s) for s in sizes]))
            self.seqs[n.output[0]] = pieces
            return
        length = shape[axis] if shape is not None and -len(shape) <= axis < len(shape) else None
        if length is None:
            raise self.refuse(name, n.op_type, f"the length of '{x}' along axis {axis} is not known at conversion")
        ones = np.ones(length, np.int64)
        pieces = [self.fresh(name) for _ in range(length)]
        ones_c = self.emit("Constant", [], None, name, value=numpy_helper.from_array(ones))
        self.nodes.append(helper.make_node("Split", [x, ones_c], pieces, name=self.fresh(name), axis=axis)
                          if self.opset >= 13 else
                          helper.make_node("Split", [x], pieces, name=self.fresh(name), axis=axis, split=[1] * length))
        if not keepdims:
            pieces = [self.emit("Squeeze", [p, self.axes(name, axis)] if self.opset >= 13 else [p], None, name,
                                **({} if self.opset >= 13 else {"axes": [axis]})) for p in pieces]
        self.seqs[n.output[0]] = pieces
