"""A TF.js graph model (a TensorFlow GraphDef as tfjs-converter writes it into model.json, plus its weight
shards) -> an ONNX model, without TensorFlow.

The GraphDef's JSON form: nodes {name, op, input: ["other", "other:1", "^control"], attr: {key: AttrValue}},
where an AttrValue is one of {"s": base64}, {"i": "7"}, {"f": 0.5}, {"b": true}, {"type": "DT_FLOAT"},
{"shape": {...}}, {"tensor": {...}} or {"list": {...}}. Const nodes take their values from the weight
shards (by node name) or, when inline, from their "tensor". Only the nodes the outputs need are converted,
in dependency order; each op is translated by its function in tf_ops_*.py.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import numpy as np
import onnx

from webdnn.errors import ModelLoadError, UnsupportedOperatorError
from webdnn.frontend import tf_ops_control, tf_ops_math, tf_ops_nn, tf_ops_shape  # noqa: F401  (register ops)
from webdnn.frontend.keras_builder import Builder, KTensor
from webdnn.frontend.tf_ops import IGNORED, OPS, Context, TfNode

_NP_TYPES = {"DT_FLOAT": np.float32, "DT_INT32": np.int32, "DT_INT64": np.int64, "DT_BOOL": np.bool_,
             "DT_HALF": np.float16, "DT_UINT8": np.uint8, "DT_INT8": np.int8, "DT_INT16": np.int16,
             "DT_UINT16": np.uint16, "DT_DOUBLE": np.float64}
_IO_TYPES = {"DT_FLOAT": "float32", "DT_INT32": "int32", "DT_INT64": "int64", "DT_BOOL": "bool",
             "DT_HALF": "float16", "DT_UINT8": "uint8"}
_VALUE_FIELDS = {"floatVal": np.float32, "intVal": np.int32, "int64Val": np.int64, "boolVal": np.bool_,
                 "doubleVal": np.float64, "halfVal": np.uint16}


def decode_attr(a: Mapping[str, Any]) -> Any:
    """An AttrValue's value: str, int, float, bool, a DataType name, a shape (list, -1 for unknown; None for
    unknown rank), a numpy array, or a list of those; None when it is empty (proto3 left out the default)."""
    if "s" in a:
        return base64.b64decode(a["s"]).decode("utf-8", "replace")
    if "i" in a:
        return int(a["i"])
    if "f" in a:
        return float(a["f"])
    if "b" in a:
        return bool(a["b"])
    if "type" in a:
        return str(a["type"])
    if "shape" in a:
        return _shape(a["shape"])
    if "tensor" in a:
        return tensor_value(a["tensor"], "attribute")
    if "list" in a:
        lst = a["list"] or {}
        for key in ("i", "s", "f", "b", "type", "shape"):
            if key in lst:
                return [decode_attr({key: v}) for v in lst[key]]
        return []
    if "func" in a:  # control flow v2: the name of a function of the graph's library
        return Func(str(a["func"].get("name", "")))
    return None


class Func(str):
    """A function attribute's value (If's then_branch, While's body): the function's name."""


def _shape(s: Mapping[str, Any]) -> list[int] | None:
    if s.get("unknownRank"):
        return None
    return [int(d.get("size", 0)) for d in s.get("dim", [])]


def tensor_value(t: Mapping[str, Any], where: str) -> np.ndarray | None:
    """The value of an inline TensorProto, or None when it carries none (its data is in the weight shards)."""
    dtype = str(t.get("dtype", "DT_FLOAT"))
    if dtype not in _NP_TYPES:
        raise UnsupportedOperatorError(f"{where}: tensor element type {dtype} is not supported")
    shape = _shape(t.get("tensorShape", {})) or []
    np_type = _NP_TYPES[dtype]
    count = int(np.prod(shape)) if shape else 1
    if "tensorContent" in t:
        raw = base64.b64decode(t["tensorContent"])
        return np.frombuffer(raw, np_type, count).reshape(shape).copy()
    for key, vt in _VALUE_FIELDS.items():
        if key in t:
            vals = np.asarray([v if not isinstance(v, str) else int(v) for v in t[key]], vt)
            if key == "halfVal":
                vals = vals.view(np.float16)
            vals = vals.astype(np_type)
            if vals.size == count:
                return vals.reshape(shape)
            return np.full(shape, vals[-1] if vals.size else 0, np_type)  # TF repeats the last value
    return None


def _ref(name: str) -> str:
    """A node input reference without the ':0' of a first output."""
    return name.removesuffix(":0")


def graph_to_onnx(topology: Mapping[str, Any], weights: Mapping[str, np.ndarray], signature: Mapping[str, Any] | None,
                  source: str) -> onnx.ModelProto:
    """`topology`: model.json's modelTopology ({"node": [...]}); `weights` by Const node name; `signature`:
    userDefinedMetadata.signature (inputs and outputs by tensor name), when the converter wrote one."""
    nodes = {str(nd["name"]): nd for nd in topology.get("node", [])}
    if len(nodes) != len(topology.get("node", [])):
        seen: set[str] = set()
        dup = next(str(nd["name"]) for nd in topology["node"] if str(nd["name"]) in seen or seen.add(str(nd["name"])))
        raise ModelLoadError(f"{source}: two nodes are named '{dup}'; node names of a GraphDef must be unique")
    if not nodes:
        raise ModelLoadError(f"{source}: the graph model has no nodes")
    functions = {str(f["signature"]["name"]): f for f in (topology.get("library") or {}).get("function", [])}
    inputs = [_ref(k) for k in (signature or {}).get("inputs", {})] or \
        [n for n, nd in nodes.items() if nd["op"] == "Placeholder"]
    outputs = [_ref(k) for k in (signature or {}).get("outputs", {})] or _sinks(nodes)
    order = _needed(nodes, outputs, source)
    _check_ops(order, nodes, functions, source)
    b = Builder(source)
    ctx = Context(b, functions=functions, weights=dict(weights), run=_run_function)
    for name in inputs:
        nd = nodes.get(name)
        if nd is None or nd["op"] not in ("Placeholder", "PlaceholderWithDefault"):
            raise ModelLoadError(f"{source}: the signature's input '{name}' is not a Placeholder of the graph")
    for name in order:
        nd = nodes[name]
        if nd["op"] in ("Placeholder", "PlaceholderWithDefault") and name in inputs:
            attr = {k: decode_attr(v) for k, v in (nd.get("attr") or {}).items()}
            shape = attr.get("shape")
            dtype = str(attr.get("dtype", "DT_FLOAT"))
            if shape is None:
                raise ModelLoadError(f"{source}: input '{name}' has an unknown rank; give its shape with --input-shape")
            if dtype not in _IO_TYPES:
                raise UnsupportedOperatorError(f"{source}: input '{name}' has element type {dtype}")
            ctx.values[name] = b.add_input(_onnx_input_name(name), tuple(None if d < 0 else d for d in shape),
                                           _IO_TYPES[dtype])
            continue
        _convert_node(name, nd, ctx, source)
    for name in outputs:
        if name in ctx.consts and name not in ctx.values:
            ctx.tensor(name)
        if name not in ctx.values:
            raise ModelLoadError(f"{source}: output '{name}' is not produced by the graph (is it an output index the "
                                 "op does not have?)")
        b.add_output(ctx.values[name], name.replace(":", "_"))
    return b.model("tfjs_graph_model")


def _check_ops(order: list[str], nodes: Mapping[str, Any], functions: Mapping[str, Any], source: str) -> None:
    """One error listing every op of the graph and of the functions it calls that has no translation."""
    unknown: dict[str, list[str]] = {}
    seen_fns: set[str] = set()

    def visit(names: list[str], where: Mapping[str, Any], prefix: str) -> None:
        for name in names:
            nd = where[name]
            op = nd["op"]
            if op not in OPS and op not in ("Const", "Placeholder", "PlaceholderWithDefault") and op not in IGNORED:
                unknown.setdefault(op, []).append(prefix + name)
            for a in (nd.get("attr") or {}).values():
                fn = str(a["func"].get("name", "")) if isinstance(a, Mapping) and "func" in a else None
                if fn is None or fn in seen_fns:
                    continue
                seen_fns.add(fn)
                if fn not in functions:
                    raise ModelLoadError(f"{source}: node '{prefix + name}' ({op}) calls function '{fn}', which the "
                                         "graph's library does not define")
                f = functions[fn]
                body = {str(x["name"]): x for x in f.get("nodeDef", [])}
                visit(list(body), body, f"{fn}/")

    visit(order, nodes, "")
    if unknown:
        listed = [f"{op} (node{'s' if len(v) > 1 else ''} {', '.join(repr(x) for x in v[:2])})"
                  for op, v in sorted(unknown.items())]
        raise UnsupportedOperatorError(f"{source}: TensorFlow op(s) not supported: " + "; ".join(listed)
                                       + ". See docs/frontends.md for the supported ops")


def _convert_node(name: str, nd: Mapping[str, Any], ctx: Context, source: str) -> None:
    """One node of the graph or of a function body into ctx (constants are kept as values until read)."""
    op = nd["op"]
    attr = {k: decode_attr(v) for k, v in (nd.get("attr") or {}).items()}
    if op == "Const":
        value = ctx.weights.get(name)  # tfjs-converter puts a function's constants in the shards too
        if value is None:
            value = tensor_value((nd.get("attr", {}).get("value") or {}).get("tensor", {}), f"{source}: {name}")
        if value is None:
            raise ModelLoadError(f"{source}: constant '{name}' has no value in the weight shards or model.json")
        ctx.consts[name] = np.asarray(value)
        return
    args = [ctx.ref(i) for i in nd.get("input", []) if not i.startswith("^")]
    if op in ("Placeholder", "PlaceholderWithDefault"):
        if op == "Placeholder" or not args:
            raise ModelLoadError(f"{source}: Placeholder '{name}' is not an input of the signature and has no value")
        ctx.values[name] = ctx.tensor(args[0])
        return
    if op in IGNORED:
        return
    outs = OPS[op](TfNode(name, op, attr, args, ctx))
    for k, t in enumerate(outs):
        ctx.values[name if k == 0 else f"{name}:{k}"] = t


# Ops whose outputs are several output args: an input "node:arg:k" inside a function is flat output
# offset[arg] + k (a single-arg op's outputs are just k).
_OUTPUT_ARGS = {
    "FusedBatchNorm": ("y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2"),
    "FusedBatchNormV3": ("y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2",
                         "reserve_space_3"),
    "TopKV2": ("values", "indices"), "Unique": ("y", "idx"),
}


def _run_function(ctx: Context, fn: str, args: list[KTensor | np.ndarray], where: str) -> list[KTensor]:
    """Function `fn` of the library applied to `args` in ctx's builder (a branch's builder for If): its
    nodes converted with its input args bound to `args` (constants stay constants), its results returned
    in its output args' order."""
    f = ctx.functions.get(fn)
    if f is None:
        raise ModelLoadError(f"{ctx.b.source}: {where} calls function '{fn}', which the library does not define")
    sig = f["signature"]
    in_args = [str(a["name"]) for a in sig.get("inputArg", [])]
    if len(in_args) != len(args):
        raise ModelLoadError(f"{ctx.b.source}: {where} passes {len(args)} inputs to function '{fn}', which takes "
                             f"{len(in_args)}")
    body = {str(x["name"]): x for x in f.get("nodeDef", [])}

    def ref(r: str) -> str:  # inside a function a node's output is "node:arg:k": the flat "node" / "node:n"
        parts = r.split(":")
        if len(parts) == 3:
            ops = _OUTPUT_ARGS.get(str(body[parts[0]]["op"])) if parts[0] in body else None
            k = (ops.index(parts[1]) if ops and parts[1] in ops else 0) + int(parts[2])
            return parts[0] if k == 0 else f"{parts[0]}:{k}"
        return _ref(r)

    inner = Context(ctx.b, functions=ctx.functions, weights=ctx.weights, run=ctx.run, ref=ref)
    for a, v in zip(in_args, args, strict=True):
        if isinstance(v, np.ndarray):
            inner.consts[a] = v
        else:
            inner.values[a] = v
    ret = f.get("ret", {})
    outs = [ref(str(ret[str(a["name"])])) for a in sig.get("outputArg", [])]
    for name in _needed(body, outs, f"{ctx.b.source}: function '{fn}'", external=set(in_args)):
        _convert_node(name, body[name], inner, ctx.b.source)
    return [inner.tensor(o) for o in outs]


def _onnx_input_name(name: str) -> str:
    return name.replace(":", "_")


def _sinks(nodes: Mapping[str, Any]) -> list[str]:
    """Without a signature: every node no other node reads (as tfjs does), Const and NoOp excepted."""
    read = {_ref(i).lstrip("^").split(":")[0] for nd in nodes.values() for i in nd.get("input", [])}
    return [n for n, nd in nodes.items() if n not in read and nd["op"] not in ("Const", "NoOp")]


def _needed(nodes: Mapping[str, Any], outputs: list[str], source: str, external: set[str] | None = None) -> list[str]:
    """The nodes the outputs depend on (data inputs only), each after its inputs; `external`: names that are
    not nodes (a function's input args)."""
    external = external or set()
    order: list[str] = []
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    for out in outputs:
        root = out.split(":")[0]
        if root in external:
            continue
        if root not in nodes:
            raise ModelLoadError(f"{source}: output '{out}' names no node of the graph")
        stack: list[tuple[str, bool]] = [(root, False)]
        while stack:
            name, expanded = stack.pop()
            if expanded:
                state[name] = 2
                order.append(name)
                continue
            if state.get(name) == 2:
                continue
            if state.get(name) == 1:
                raise ModelLoadError(f"{source}: the graph has a cycle through '{name}' (TensorFlow v1 control flow: "
                                     "NextIteration/Merge loops are not supported)")
            state[name] = 1
            stack.append((name, True))
            for i in reversed(nodes[name].get("input", [])):
                if i.startswith("^"):
                    continue
                dep = i.split(":")[0]
                if dep in external:
                    continue
                if dep not in nodes:
                    raise ModelLoadError(f"{source}: node '{name}' reads '{i}', which is not in the graph")
                if state.get(dep) != 2:
                    stack.append((dep, False))
    return order
