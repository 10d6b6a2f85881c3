"""TensorFlow control flow v2 ops of a TF.js graph model, whose branches and bodies are functions of the
graph's library:

- If / StatelessIf become an ONNX If whose branches are subgraphs (they read the If's inputs from the outer
  graph). WebDNN folds an If whose condition is known at conversion and runs the others at run time.
- While / StatelessWhile become an ONNX Loop without a trip count: the condition function applied to the
  initial values decides the first iteration; the body is the body function followed by the condition
  function on its results. WebDNN unrolls such a Loop at conversion where the condition folds every
  iteration (a counter compared with a constant, as tf.while_loop and Keras' RNNs write it); a loop
  decided at run time is refused, as an ONNX Loop is.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from onnx import TensorProto

from webdnn.frontend.keras_builder import KTensor
from webdnn.frontend.tf_ops import Context, TfNode, tf_op

_ELEM = {"DT_FLOAT": TensorProto.FLOAT, "DT_INT32": TensorProto.INT32, "DT_INT64": TensorProto.INT64,
         "DT_BOOL": TensorProto.BOOL, "DT_HALF": TensorProto.FLOAT16, "DT_UINT8": TensorProto.UINT8}


@tf_op("If", "StatelessIf")
def _if(n: TfNode) -> list[KTensor]:
    ctx = n.ctx
    assert ctx.run is not None
    tout = [str(t) for t in n.get("Tout", [])]
    bad = [t for t in tout if t not in _ELEM]
    if bad:
        raise n.error(f"outputs of element type {bad[0]}")
    cond = _condition(n)
    args: list[KTensor | np.ndarray] = []
    for i in range(1, len(n.args)):
        c = n.const(i)
        args.append(c if c is not None else n.b.plain(n.tensor(i), n.name))
    graphs, shapes = [], []
    for key in ("then_branch", "else_branch"):
        fn = n.get(key)
        if fn is None:
            raise n.error(f"it has no {key}")
        sub = n.b.branch()
        sub_ctx = Context(sub, functions=ctx.functions, weights=ctx.weights, run=ctx.run)
        outs = [sub.plain(t, n.name) for t in ctx.run(sub_ctx, str(fn), args, f"node '{n.name}' ({n.op})")]
        if len(outs) != len(tout):
            raise n.error(f"its {key} '{fn}' returns {len(outs)} values, Tout lists {len(tout)}")
        graphs.append(sub.subgraph(f"{n.name}/{key}", [(t.name, _ELEM[e]) for t, e in zip(outs, tout, strict=True)]))
        shapes.append([t.shape for t in outs])
    names = n.b.node("If", [cond], n.name, outputs=len(tout), then_branch=graphs[0], else_branch=graphs[1])
    return [KTensor(v, _merge(a, b, n)) for v, a, b in zip(names, shapes[0], shapes[1], strict=True)]


def _condition(n: TfNode) -> str:
    """ONNX If's one-element bool condition. TF takes a non-bool scalar as `!= 0` (a non-scalar as
    "non-empty", which is left out here)."""
    return _bool(n, n.tensor(0), str(n.get("Tcond", "DT_BOOL")) == "DT_BOOL", n.b)


def _bool(n: TfNode, t: KTensor, is_bool: bool, b: Any) -> str:
    if any(d is not None and d != 1 for d in t.shape):
        raise n.error(f"a condition of shape {list(t.shape)} (TensorFlow's 'non-empty tensor' rule) is not "
                      "supported; only a single value")
    return t.name if is_bool else b.one("Cast", [t.name], f"{n.name}/cond", to=TensorProto.BOOL)


@tf_op("While", "StatelessWhile")
def _while(n: TfNode) -> list[KTensor]:
    ctx = n.ctx
    assert ctx.run is not None
    types = [str(t) for t in n.get("T", [])]
    if len(types) != len(n.args):
        raise n.error(f"its T attribute lists {len(types)} types for {len(n.args)} loop values")
    bad = [t for t in types if t not in _ELEM]
    if bad:
        raise n.error(f"loop values of element type {bad[0]}")
    cond_fn, body_fn = n.get("cond"), n.get("body")
    if cond_fn is None or body_fn is None:
        raise n.error("it needs a cond and a body function")
    where = f"node '{n.name}' ({n.op})"
    init: list[KTensor | np.ndarray] = []
    for i in range(len(n.args)):
        c = n.const(i)
        init.append(c if c is not None else n.b.plain(n.tensor(i), n.name))
    cond_bool = _returns_bool(ctx, str(cond_fn))
    first = ctx.run(ctx, str(cond_fn), init, where)[0]
    cond0 = _bool(n, n.b.plain(first, n.name), cond_bool, n.b)
    # The body: loop values the body returns unchanged (a maximum_iterations) stay constants inside it.
    invariant = _passed_through(ctx, str(body_fn))
    sub = n.b.branch()
    it, going = sub.unique(f"{n.name}/iteration"), sub.unique(f"{n.name}/cond_in")
    params: list[KTensor | np.ndarray] = []
    formal: list[tuple[str, int, tuple[int | None, ...]]] = [(it, TensorProto.INT64, ()), (going, TensorProto.BOOL, ())]
    for k, (v, t) in enumerate(zip(init, types, strict=True)):
        shape = tuple(v.shape) if isinstance(v, np.ndarray) else v.shape
        name = sub.unique(f"{n.name}/v{k}")
        formal.append((name, _ELEM[t], shape))
        params.append(v if isinstance(v, np.ndarray) and k in invariant else KTensor(name, shape))
    sub_ctx = Context(sub, functions=ctx.functions, weights=ctx.weights, run=ctx.run)
    outs = [sub.plain(t, n.name) for t in ctx.run(sub_ctx, str(body_fn), params, where)]
    if len(outs) != len(init):
        raise n.error(f"its body '{body_fn}' returns {len(outs)} values for {len(init)} loop values")
    again = _bool(n, sub.plain(ctx.run(sub_ctx, str(cond_fn), list(outs), where)[0], n.name), cond_bool, sub)
    body = sub.subgraph(f"{n.name}/body", [(again, TensorProto.BOOL),
                                           *((o.name, _ELEM[t]) for o, t in zip(outs, types, strict=True))], formal)
    starts = [n.tensor(i).name if isinstance(v, np.ndarray) else v.name for i, v in enumerate(init)]
    names = n.b.node("Loop", ["", cond0, *starts], n.name, outputs=len(init), body=body)
    return [KTensor(v, tuple(x.shape) if isinstance(x, np.ndarray) else x.shape)
            for v, x in zip(names, init, strict=True)]


def _returns_bool(ctx: Context, fn: str) -> bool:
    f = ctx.functions.get(fn) or {}
    out = (f.get("signature", {}).get("outputArg") or [{}])[0]
    return str(out.get("type", "DT_BOOL")) == "DT_BOOL"


def _passed_through(ctx: Context, fn: str) -> set[int]:
    """The positions of a body function's inputs that it returns unchanged, as the same output."""
    f = ctx.functions.get(fn) or {}
    sig = f.get("signature", {})
    ins = [str(a["name"]) for a in sig.get("inputArg", [])]
    ret = f.get("ret", {})
    outs = [str(ret.get(str(a["name"]), "")) for a in sig.get("outputArg", [])]
    return {k for k, (a, r) in enumerate(zip(ins, outs, strict=False)) if r in (a, f"{a}:0")}


def _merge(a: tuple[int | None, ...], b: tuple[int | None, ...], n: TfNode) -> tuple[int | None, ...]:
    """The shape both branches give (None where they differ)."""
    if len(a) != len(b):
        raise n.error(f"its branches return values of different ranks ({list(a)} and {list(b)})")
    return tuple(x if x == y else None for x, y in zip(a, b, strict=True))
