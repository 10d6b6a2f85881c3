"""TensorFlow control flow v2 ops of a TF.js graph model: If / StatelessIf, whose branches are functions
of the graph's library, become an ONNX If whose branches are subgraphs (they read the If's inputs from the
outer graph). WebDNN folds an If whose condition is known at conversion and runs the others at run time.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto

from webdnn.frontend.keras_builder import KTensor
from webdnn.frontend.tf_ops import TfNode, tf_op

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
        sub_ctx = type(ctx)(sub, functions=ctx.functions, weights=ctx.weights, run=ctx.run)
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
    t = n.tensor(0)
    if any(d is not None and d != 1 for d in t.shape):
        raise n.error(f"a condition of shape {list(t.shape)} (TensorFlow's 'non-empty tensor' rule) is not "
                      "supported; only a single value")
    if str(n.get("Tcond", "DT_BOOL")) == "DT_BOOL":
        return t.name
    return n.b.one("Cast", [t.name], f"{n.name}/cond", to=TensorProto.BOOL)


def _merge(a: tuple[int | None, ...], b: tuple[int | None, ...], n: TfNode) -> tuple[int | None, ...]:
    """The shape both branches give (None where they differ)."""
    if len(a) != len(b):
        raise n.error(f"its branches return values of different ranks ({list(a)} and {list(b)})")
    return tuple(x if x == y else None for x, y in zip(a, b, strict=True))
