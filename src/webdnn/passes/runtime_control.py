"""Control flow decided at run time: an If whose condition depends on the input's data (a sample
rate switch, a mode flag). Each branch is converted offline like a model of its own, and the model
is cut around the If into stages; the runtime runs the stages in order and, at the If, reads the
condition and runs the chosen branch's stages (runtime/src/control.ts). Nothing is interpreted
at run time beyond that choice: every stage is an ordinary descriptor with its memory plan and
kernels, and a branch not taken costs nothing but its download.

`defer_if` (called by infer_shapes where the condition does not fold) turns the If's branches into
graphs of their own (typed and optimized now) and types the If's outputs, which must have the same
element type and shape in both branches. After the main graph is optimized, `stage` cuts it:
the nodes not downstream of the first such If form one stage, the If becomes a choice between
its branches' programs (cut again where they hold such Ifs), and the nodes downstream of it are
cut the same way. Values pass between stages by name, through the runtime's environment.

An op whose output size depends on the data (HOST_OPS: NonZero, NonMaxSuppression, Unique, a Compress of a
computed condition; a TopK whose k is computed) is a cut point too: the runtime computes it on the host from the stage
before's result, and the stages after it are symbolic in the size it found (the op's shape rule gave its
output a size symbol of its own, bounded by its input's size), so they are planned once, at that bound, and
bound per run like any model with symbolic dims.

A Loop whose trip count or condition depends on the data is kept too (`defer_loop`): its body becomes a graph
of its own and the runtime runs its stages once per iteration (the program's `loop` step).

Not yet: Scan decided at run time, and runtime control flow in models with symbolic dims.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from webdnn.errors import ShapeError, UnsupportedOperatorError, where
from webdnn.frontend.subgraphs import Branch
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Node, Value
from webdnn.ir.symbolic import is_static, symbol, symbol_name


@dataclass
class BranchGraph:
    """A branch of a run-time If as a graph of its own: `graph.inputs[j]` is the If's input `inputs[j]`.
    `invalid`: why the branch cannot run at the model's input shapes (then `graph` is None), as when a
    model's branches expect different input sizes (silero-vad: 512 samples at 16 kHz, 256 at 8 kHz)."""

    graph: Graph | None
    inputs: list[int]
    invalid: str = ""


def is_runtime_if(node: Node) -> bool:
    return node.op_type == "If" and isinstance(node.attrs.get("then_graph"), BranchGraph)


# Ops whose output size depends on the data (an input that is not constant; a constant one folds): the
# runtime computes them on the host between two stages and binds their size symbol from the result; no
# backend has a kernel for them. A TopK whose k is computed from the data (its shape rule marks it
# k_from_data) is computed there too (is_host_op); the others run on the backends' kernels.
HOST_OPS = frozenset({"NonZero", "NonMaxSuppression", "Compress", "Unique"})  # Compress: by a computed condition


def is_host_op(node: Node) -> bool:
    return node.op_type in HOST_OPS or (node.op_type == "TopK" and bool(node.attrs.get("k_from_data")))


def _arg(v: Value | None, names: dict[int, str], plan: Plan, steps: list[dict[str, Any]], here: str) -> str | None:
    """The environment name of a step's input `v` (None: omitted), a const step first for a constant."""
    if v is None:
        return None
    if v.is_const and id(v) not in names:
        name = plan.fresh()
        steps.extend(_run(Graph("const", 1), [], [(v, name)], names, plan))
        names[id(v)] = name
    return _name(v, names, here)


def _host_steps(node: Node, names: dict[int, str], outs: list[str], plan: Plan) -> list[dict[str, Any]]:
    """The program steps computing host op `node` ({"nonzero": x, "to": y}, {"topk": x, "k": k, ...},
    {"nms": [boxes, scores, ...], ...}), after const steps for its constant inputs (a threshold)."""
    here = where(node.name, node.op_type)
    steps: list[dict[str, Any]] = []

    def arg(v: Value | None) -> str | None:
        return _arg(v, names, plan, steps, here)

    if node.op_type == "NonZero":
        steps.append({"nonzero": arg(node.inputs[0]), "to": outs[0]})
    elif node.op_type == "Unique":
        axis = node.attrs.get("axis")
        steps.append({"unique": arg(node.inputs[0]), "axis": None if axis is None else int(axis),
                      "sorted": int(node.attrs["sorted"]), "to": outs})
    elif node.op_type == "Compress":
        axis = node.attrs.get("axis")
        steps.append({"compress": arg(node.inputs[0]), "condition": arg(node.inputs[1]),
                      "axis": None if axis is None else int(axis), "to": outs[0]})
    elif node.op_type == "TopK":
        steps.append({"topk": arg(node.inputs[0]), "k": arg(node.inputs[1]), "axis": int(node.attrs["axis"]),
                      "largest": int(node.attrs["largest"]), "to": outs})
    else:
        steps.append({"nms": [arg(node.input(i)) for i in range(5)],
                      "center_point_box": int(node.attrs["center_point_box"]), "to": outs[0]})
    return steps


@dataclass
class LoopGraph:
    """A Loop's body as a graph of its own: inputs [iteration (int64 []), condition (bool []), the carried
    values..., the outer values it reads...], outputs [condition, the carried values..., the scan values...];
    `captures[j]`: the Loop input the j-th outer value comes from."""

    graph: Graph
    captures: list[int]
    carried: int


def is_runtime_loop(node: Node) -> bool:
    return node.op_type == "Loop" and isinstance(node.attrs.get("body_graph"), LoopGraph)


def _loop_steps(node: Node, names: dict[int, str], outs: list[str], plan: Plan) -> list[dict[str, Any]]:
    """{"loop": trip count, "cond": condition, "init": carried values, "inputs": the body's (iteration,
    condition, carried), "body": its steps, "outputs": the body's (condition, carried, scan values), "scans":
    each scan value's dtype and shape, "to": the Loop's outputs}, after const steps for constant inputs."""
    here = where(node.name, node.op_type)
    lg: LoopGraph = node.attrs["body_graph"]
    n_in = int(node.attrs["explicit_inputs"])
    steps: list[dict[str, Any]] = []
    trip, cond = _arg(node.input(0), names, plan, steps, here), _arg(node.input(1), names, plan, steps, here)
    init = [_arg(v, names, plan, steps, here) for v in node.inputs[2:n_in]]
    body_in = [plan.fresh() for _ in range(2 + lg.carried)]
    sub_names = {id(p): n for p, n in zip(lg.graph.inputs, body_in, strict=False)}
    sub_names.update({id(p): _name(node.inputs[i], names, here)
                      for p, i in zip(lg.graph.inputs[2 + lg.carried:], lg.captures, strict=True)})
    body_out = [plan.fresh() for _ in lg.graph.outputs]
    body = _program(lg.graph, list(lg.graph.nodes), list(zip(lg.graph.outputs, body_out, strict=True)), sub_names,
                    plan)
    scans = [{"dtype": v.dtype.value if v.dtype else "float32", "shape": [int(d) for d in v.shape or ()]}
             for v in lg.graph.outputs[1 + lg.carried:]]
    steps.append({"loop": trip, "cond": cond, "init": init, "inputs": body_in, "body": body, "outputs": body_out,
                  "scans": scans, "to": outs})
    return steps


def has_runtime_control(graph: Graph) -> bool:
    return any(is_runtime_if(n) or is_host_op(n) or is_runtime_loop(n) for n in graph.nodes)


def loop_decided_at_run_time(node: Node) -> bool:
    """Whether a Loop's trip count or condition depends on the data (else it is unrolled at conversion): its
    trip count is computed, or its condition is, initially or in the body, through values that are not
    constants (carried values with a computed initial value or computed from such ones, outer values)."""
    body: Branch = node.attrs["body"]
    n_in = int(node.attrs["explicit_inputs"])
    trip, cond = node.input(0), node.input(1)
    if (trip is not None and trip.const is None) or (cond is not None and cond.const is None):
        return True
    carried = node.inputs[2:n_in]
    runtime = {id(c) for c in body.captures if not c.is_const}
    runtime |= {id(p) for p, v in zip(body.params[2:], carried, strict=False) if v is None or not v.is_const}
    while True:
        tainted = set(runtime)
        for n in body.nodes:
            if any(v is not None and id(v) in tainted for v in n.inputs):
                tainted |= {id(o) for o in n.outputs}
        more = {id(p) for p, o in zip(body.params[2:], body.outputs[1:], strict=False) if id(o) in tainted}
        if more <= runtime:
            return bool(body.outputs) and id(body.outputs[0]) in tainted
        runtime |= more


def defer_loop(graph: Graph, node: Node) -> None:
    """Keep the Loop `node` for the runtime: its body becomes an optimized graph (LoopGraph), the Loop's
    outputs typed: the carried values as they came in (a carried value must keep its type and shape), the scan
    values stacked along a new first axis whose length, the iteration count, is a symbol of its own (at most
    the trip count when that is a constant)."""
    from webdnn.passes import infer_shapes
    from webdnn.passes.pipeline import PASSES, run_passes

    here = where(node.name, node.op_type, graph.opset)
    if any(not is_static(v.shape or ()) for v in graph.inputs) or graph.value_inputs:
        raise UnsupportedOperatorError(
            f"{here}: its trip count or condition is computed at run time, which models with symbolic dims cannot do "
            "yet; fix the input dims with --input-shape")
    body: Branch = node.attrs["body"]
    n_in = int(node.attrs["explicit_inputs"])
    carried = node.inputs[2:n_in]
    if any(v is None for v in carried) or len(body.params) != 2 + len(carried):
        raise UnsupportedOperatorError(f"{here}: its body takes {len(body.params)} inputs for {len(carried)} carried "
                                       "values (it needs the iteration, the condition and one per carried value)")
    sub = Graph(f"{node.name}/body", graph.opset)
    for p, (dt, sh) in zip(body.params, [(DType.INT64, ()), (DType.BOOL, ()),
                                         *((v.dtype, v.shape) for v in carried if v is not None)], strict=True):
        p.dtype, p.shape = dt, tuple(sh or ())
    sub.inputs = list(body.params)
    mapping: dict[int, Value] = {}
    taken: list[int] = []
    for i, v in enumerate(node.inputs[n_in:], start=n_in):
        if v is None or v.is_const or id(v) in mapping or all(v is not c for c in body.captures):
            continue
        mapping[id(v)] = Value(v.name, v.dtype, v.shape)
        sub.inputs.append(mapping[id(v)])
        taken.append(i)
    sub.nodes, sub.outputs = _rebind(body, mapping)
    for v in sub.values():
        sub.reserve_name(v.name)
    for n in sub.nodes:
        sub.reserve_name(n.name)
    try:
        infer_shapes.run(sub)
    except ShapeError as e:  # e.g. a Slice by the iteration number: its body is one graph for every iteration
        raise UnsupportedOperatorError(f"{here}: its trip count or condition is computed at run time, so its body "
                                       f"is converted once for every iteration, and it cannot be: {e}") from None
    run_passes(sub, PASSES[1:])
    n_c = len(carried)
    if len(sub.outputs) < 1 + n_c or len(node.outputs) != len(sub.outputs) - 1:
        raise UnsupportedOperatorError(f"{here}: its body has {len(sub.outputs)} outputs for {n_c} carried values "
                                       f"and {len(node.outputs)} Loop outputs")
    for k, (v, o) in enumerate(zip(carried, sub.outputs[1:1 + n_c], strict=True)):
        assert v is not None
        if v.dtype != o.dtype or tuple(v.shape or ()) != tuple(o.shape or ()):
            raise UnsupportedOperatorError(
                f"{here}: carried value {k} ('{v.name}') comes in as {_show(v)} and leaves the body as {_show(o)}; a "
                "Loop decided at run time needs each carried value to keep its type and shape")
    m = node.input(0)
    trips = int(np.asarray(m.const).reshape(-1)[0]) if m is not None and m.const is not None else None
    iterations = symbol(f"{symbol_name(node.outputs[0].name)}.iterations", 0, None if trips is None else max(trips, 0))
    for out, v in zip(node.outputs[:n_c], carried, strict=True):
        out.dtype, out.shape = v.dtype, v.shape  # type: ignore[union-attr]
    for out, v in zip(node.outputs[n_c:], sub.outputs[1 + n_c:], strict=True):
        out.dtype, out.shape = v.dtype, (iterations, *(v.shape or ()))
    node.attrs = {"body_graph": LoopGraph(sub, taken, n_c), "explicit_inputs": n_in}


def defer_if(graph: Graph, node: Node) -> None:
    """Keep the If `node` for the runtime: its branches become optimized graphs, its outputs typed."""
    from webdnn.passes import infer_shapes
    from webdnn.passes.pipeline import PASSES, run_passes

    here = where(node.name, node.op_type, graph.opset)
    if any(not is_static(v.shape or ()) for v in graph.inputs) or graph.value_inputs:
        raise UnsupportedOperatorError(
            f"{here}: its condition is computed at run time, which models with symbolic dims cannot do yet; fix the "
            "input dims with --input-shape")
    subs: dict[str, BranchGraph] = {}
    for key in ("then_branch", "else_branch"):
        branch: Branch = node.attrs[key]
        sub = Graph(f"{node.name}/{key}", graph.opset)
        mapping: dict[int, Value] = {}
        taken: list[int] = []
        for i, v in enumerate(node.inputs[1:], start=1):
            if v is None or v.is_const or id(v) in mapping or all(v is not c for c in branch.captures):
                continue
            p = Value(v.name, v.dtype, v.shape)
            mapping[id(v)] = p
            sub.inputs.append(p)
            taken.append(i)
        nodes, outs = _rebind(branch, mapping)
        sub.nodes, sub.outputs = nodes, outs
        for v in sub.values():
            sub.reserve_name(v.name)
        for n in nodes:
            sub.reserve_name(n.name)
        try:
            infer_shapes.run(sub)
        except ShapeError as e:  # this branch cannot run at these input shapes: the runtime refuses it if chosen
            subs[key] = BranchGraph(None, [], str(e))
            continue
        run_passes(sub, PASSES[1:])
        subs[key] = BranchGraph(sub, taken)
    valid = [bg.graph for bg in subs.values() if bg.graph is not None]
    if not valid:
        raise ShapeError(f"{here}: neither branch can run at these input shapes: {subs['then_branch'].invalid}")
    for g in valid:
        if len(g.outputs) != len(node.outputs):
            raise UnsupportedOperatorError(f"{here}: a branch has {len(g.outputs)} outputs, the If {len(node.outputs)}")
    a, b = valid[0].outputs, valid[-1].outputs
    for k, (out, x, y) in enumerate(zip(node.outputs, a, b, strict=True)):
        if x.dtype != y.dtype or tuple(x.shape or ()) != tuple(y.shape or ()):
            raise UnsupportedOperatorError(
                f"{here}: output {k} ('{out.name}') is {_show(x)} in then_branch but {_show(y)} in else_branch; an "
                "If decided at run time needs the same type and shape from both branches")
        out.dtype, out.shape = x.dtype, x.shape
    node.attrs = {"then_graph": subs["then_branch"], "else_graph": subs["else_branch"]}


def _rebind(branch: Branch, mapping: dict[int, Value]) -> tuple[list[Node], list[Value]]:
    """The branch's own nodes (moved, not copied: the If keeps them no more) reading `mapping`'s values for
    the outer ones, nested subgraphs included; and its outputs."""
    def get(v: Value | None) -> Value | None:
        return None if v is None else mapping.get(id(v), v)

    for n in branch.nodes:
        n.inputs = [get(v) for v in n.inputs]
        for a in n.attrs.values():
            if isinstance(a, Branch):
                a.captures = [mapping.get(id(v), v) for v in a.captures]
                _rebind(a, mapping)
    branch.outputs = [mapping.get(id(v), v) for v in branch.outputs]
    return branch.nodes, branch.outputs


def _show(v: Value) -> str:
    return f"{v.dtype.value if v.dtype else '?'} {list(v.shape or ())}"


# --- stages ---------------------------------------------------------------------------------------

@dataclass
class Plan:
    """The stages (graphs to convert, in order of first use) and the program that runs them."""

    stages: list[Graph] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    _count: int = 0

    def fresh(self) -> str:
        self._count += 1
        return f"%{self._count}"


def stage(graph: Graph) -> Plan:
    """Cut `graph` (optimized, holding run-time Ifs) into stages and the program that runs them; the
    program reads the graph's inputs and writes its outputs by their names."""
    plan = Plan()
    names = {id(v): v.name for v in graph.inputs}
    plan.steps = _program(graph, list(graph.nodes), [(v, v.name) for v in graph.outputs], names, plan)
    return plan


def _program(graph: Graph, nodes: list[Node], outputs: list[tuple[Value, str]], names: dict[int, str],
             plan: Plan) -> list[dict[str, Any]]:
    """Steps computing `outputs` (value, environment name) from the values `names` has (id -> name)."""
    first = next((n for n in nodes if is_runtime_if(n) or is_host_op(n) or is_runtime_loop(n)), None)
    if first is None:
        return _run(graph, nodes, outputs, names, plan)
    downstream: list[Node] = []
    tainted = {id(o) for o in first.outputs}
    for n in nodes[nodes.index(first) + 1:]:
        if any(v is not None and id(v) in tainted for v in n.inputs):
            downstream.append(n)
            tainted.update(id(o) for o in n.outputs)
    head = [n for n in nodes if n is not first and all(n is not d for d in downstream)]
    made = {id(o) for n in head for o in n.outputs}
    later = [first, *downstream]
    needed = list({id(v): v for n in later for v in n.inputs if v is not None and id(v) in made}.values())
    needed += [v for v, _ in outputs if id(v) in made and all(v is not x for x in needed)]
    exports = [(v, plan.fresh()) for v in needed]
    steps = _program(graph, head, exports, names, plan)  # (it may hold a cut point of its own)
    names.update({id(v): n for v, n in exports})
    outs = [plan.fresh() for _ in first.outputs]
    if is_host_op(first) or is_runtime_loop(first):  # the runtime computes it, sizes and all
        steps += _host_steps(first, names, outs, plan) if is_host_op(first) else _loop_steps(first, names, outs, plan)
        names.update({id(o): n for o, n in zip(first.outputs, outs, strict=True)})
        steps += _program(graph, downstream, outputs, names, plan)
        return steps
    step: dict[str, Any] = {"if": _name(first.inputs[0], names, where(first.name, first.op_type))}
    for key, label in (("then_graph", "then"), ("else_graph", "else")):
        bg: BranchGraph = first.attrs[key]
        if bg.graph is None:
            step[label] = [{"fail": f"{where(first.name, 'If')}: the model was converted for input shapes at which "
                            f"its {label} branch cannot run ({bg.invalid}); convert it with input shapes that suit "
                            "this branch (--input-shape) to run it"}]
            continue
        sub_names = {id(p): _name(first.inputs[i], names, where(first.name, first.op_type))
                     for p, i in zip(bg.graph.inputs, bg.inputs, strict=True)}
        step[label] = _program(bg.graph, list(bg.graph.nodes), list(zip(bg.graph.outputs, outs, strict=True)),
                               sub_names, plan)
    steps.append(step)
    names.update({id(o): n for o, n in zip(first.outputs, outs, strict=True)})
    steps += _program(graph, downstream, outputs, names, plan)
    return steps


def _name(v: Value | None, names: dict[int, str], reader: str) -> str:
    """The environment name of `v`, which `reader` (for the message) reads."""
    if v is None or id(v) not in names:
        raise UnsupportedOperatorError(f"{reader}: input '{v.name if v else ''}' is not available to the stage that "
                                       "reads it (an internal error; please report it)")
    return names[id(v)]


def _run(graph: Graph, nodes: list[Node], outputs: list[tuple[Value, str]], names: dict[int, str],
         plan: Plan) -> list[dict[str, Any]]:
    """One stage of `nodes` (if any) writing `outputs`; outputs that are constants or values the environment
    already has are written by const and copy steps."""
    steps: list[dict[str, Any]] = []
    made = {id(o) for n in nodes for o in n.outputs}
    computed = list({id(v): v for v, _ in outputs if id(v) in made}.values())
    if computed:
        g = Graph(f"{graph.name}/stage{len(plan.stages)}", graph.opset)
        inner: dict[int, Value] = {}
        ins: list[str] = []
        for n in nodes:
            for j, v in enumerate(n.inputs):
                if v is None or v.is_const or id(v) in made:
                    continue
                if id(v) not in inner:
                    inner[id(v)] = Value(v.name, v.dtype, v.shape)
                    g.inputs.append(inner[id(v)])
                    ins.append(_name(v, names, where(n.name, n.op_type)))
                n.inputs[j] = inner[id(v)]
        g.nodes, g.outputs = nodes, computed
        for v in g.values():
            g.reserve_name(v.name)
        for n in nodes:
            g.reserve_name(n.name)
        plan.stages.append(g)
        produced = [next(name for x, name in outputs if x is v) for v in computed]
        steps.append({"run": len(plan.stages) - 1, "inputs": ins, "outputs": produced})
        names = {**names, **{id(v): p for v, p in zip(computed, produced, strict=True)}}
    for v, name in outputs:
        if v.is_const and v.producer is None:
            data = np.asarray(v.const)
            if data.dtype == np.float16:  # its bits, as the runtime holds float16
                data = data.view(np.uint16)
            steps.append({"const": name, "dtype": v.dtype.value if v.dtype else str(data.dtype),
                          "shape": list(data.shape), "data": [_json_number(x) for x in data.reshape(-1)]})
        elif names.get(id(v)) != name:
            steps.append({"copy": _name(v, names, f"output '{name}'"), "to": name})
    return steps


def _json_number(x: np.generic) -> int | float | str:
    """A constant's element as JSON: a number, or "NaN" / "Infinity" / "-Infinity" (which JSON has no number
    for; control.ts reads them back)."""
    if isinstance(x, np.bool_):
        return int(x)
    v = x.item()
    if isinstance(v, float) and not np.isfinite(v):
        return "NaN" if np.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    return v  # type: ignore[no-any-return]
