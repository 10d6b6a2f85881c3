"""Control flow decided at conversion. If with a condition known then: the chosen branch's nodes take
the If's place. Loop with a known trip count, or none, and a condition that folds each iteration, and
Scan over a sequence of fixed length: unrolled, one copy of the body per iteration, scan outputs stacked.

The condition is often constant only after folding (a Shape compared with a number, an opset
switch an exporter wrote), so infer_shapes calls this when it reaches the If, after the nodes
before it were folded; it then visits the inlined nodes like any others (a nested If included).
The branch's outputs become the If's through Identity nodes (so graph outputs keep their names),
or constants where the branch computed a constant. An If whose condition is only known at run
time is left to the runtime (runtime_control.py).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from webdnn.errors import UnsupportedOperatorError, where
from webdnn.frontend.subgraphs import Branch, clone
from webdnn.ir.graph import Graph, Node, Value


def _sources(v: Value, graph: Graph) -> list[str]:
    """The graph inputs `v` is computed from."""
    seen: set[int] = set()
    out: list[str] = []
    stack = [v]
    while stack:
        x = stack.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        if any(x is i for i in graph.inputs):
            out.append(x.name)
        elif x.producer is not None:
            stack += [i for i in x.producer.inputs if i is not None]
    return sorted(out)


def inline_if(graph: Graph, node: Node, visit: Visit) -> None:
    """Replace the If `node` by its chosen branch, each node typed (or folded) as it is placed."""
    if "then_graph" in node.attrs:  # already left to the runtime (shapes inferred again)
        return
    cond = node.input(0)
    if cond is None:
        raise UnsupportedOperatorError(f"{where(node.name, node.op_type, graph.opset)}: the condition is missing")
    if cond.const is None:  # decided at run time: the runtime chooses between the branches, converted apart
        from webdnn.passes.runtime_control import defer_if

        defer_if(graph, node)
        return
    if np.asarray(cond.const).size != 1:
        raise UnsupportedOperatorError(f"{where(node.name, node.op_type, graph.opset)}: the condition has "
                                       f"{np.asarray(cond.const).size} elements, not one")
    branch: Branch = node.attrs["then_branch" if bool(np.asarray(cond.const).reshape(-1)[0]) else "else_branch"]
    if len(branch.outputs) != len(node.outputs):
        raise UnsupportedOperatorError(f"{where(node.name, node.op_type, graph.opset)}: the branch has "
                                       f"{len(branch.outputs)} outputs, the If {len(node.outputs)}")
    _place(graph, node, branch.nodes, visit)
    _finish(graph, node, branch.outputs, visit)


MAX_ITERATIONS = 1024  # a Loop or Scan unrolled at conversion: one copy of its body per iteration

Visit = Callable[[Node], None]


def _place(graph: Graph, before: Node, nodes: list[Node], visit: Visit) -> None:
    """Put `nodes` before `before` and type (or fold) them in order."""
    at = graph.nodes.index(before)
    graph.nodes[at:at] = nodes
    for n in nodes:
        visit(n)


def _finish(graph: Graph, node: Node, results: list[Value], visit: Visit) -> None:
    """The node's outputs become `results` (constants stay constants), then the node goes."""
    for out, src in zip(node.outputs, results, strict=True):
        if src.is_const and src.producer is None:
            out.producer = None
            out.set_const(np.asarray(src.const))
        else:
            visit(graph.add_node("Identity", [src], [out], name=f"{node.name}/{out.name}", before=node))
    graph.remove_node(node)


def _stack(graph: Graph, node: Node, parts: list[Value], axis: int, visit: Visit) -> Value:
    """The per-iteration values `parts` stacked along a new `axis` (Unsqueeze + Concat)."""
    ax = graph.const_value(f"{node.name}/axis", np.array([axis], np.int64))
    ups = []
    for p in parts:
        u = graph.new_value(f"{node.name}/unsqueezed")
        visit(graph.add_node("Unsqueeze", [p, ax], [u], name=f"{node.name}/Unsqueeze", before=node))
        ups.append(u)
    out = graph.new_value(f"{node.name}/stacked")
    visit(graph.add_node("Concat", ups, [out], {"axis": axis}, name=f"{node.name}/Concat", before=node))
    return out


def _refuse(graph: Graph, node: Node, why: str) -> UnsupportedOperatorError:
    return UnsupportedOperatorError(f"{where(node.name, node.op_type, graph.opset)}: {why}")


def _scalar(v: Value | None) -> object:
    return None if v is None or v.const is None else np.asarray(v.const).reshape(-1)[0].item()


def unroll_loop(graph: Graph, node: Node, visit: Visit) -> None:
    """A Loop whose trip count (if it has one) and condition, each iteration, are known at conversion: one
    copy of the body per iteration, each typed before the next is made (its condition must fold). A Loop
    decided by the data is left to the runtime instead (runtime_control.defer_loop)."""
    from webdnn.passes.runtime_control import defer_loop, loop_decided_at_run_time

    if "body_graph" in node.attrs:  # already left to the runtime (shapes inferred again)
        return
    if loop_decided_at_run_time(node):
        defer_loop(graph, node)
        return
    body: Branch = node.attrs["body"]
    n_in = int(node.attrs["explicit_inputs"])
    trip, cond = node.input(0), node.input(1)
    carried = [v for v in node.inputs[2:n_in] if v is not None]
    n_scan = len(body.outputs) - 1 - len(carried)
    trips = _scalar(trip)
    if trip is not None and trips is None:
        raise _refuse(graph, node, "its trip count is computed at run time" + _from(trip, graph)
                      + "; only a Loop whose trip count is known at conversion is supported (it is unrolled)")
    going = True if cond is None else _scalar(cond)
    if going is None:
        raise _refuse(graph, node, "its condition is computed at run time" + _from(cond, graph)
                      + "; only a Loop whose condition is known at conversion is supported (it is unrolled)")
    # Without a trip count the Loop runs while its condition holds: unrolled as long as the condition folds each
    # iteration (a counter compared with a constant, as TensorFlow's while loops are written), MAX_ITERATIONS at most.
    scans: list[list[Value]] = [[] for _ in range(n_scan)]
    i = 0
    while going and (trips is None or i < int(trips)):  # type: ignore[arg-type]
        if i >= MAX_ITERATIONS:
            raise _refuse(graph, node, f"it runs more than {MAX_ITERATIONS} iterations, too many to unroll")
        values = {id(body.params[0]): graph.const_value(f"{node.name}/i", np.array(i, np.int64)),
                  id(body.params[1]): graph.const_value(f"{node.name}/cond", np.array(True))}
        values.update({id(p): v for p, v in zip(body.params[2:], carried, strict=True)})
        nodes, outs = clone(graph, body, values, f"{node.name}/{i}")
        _place(graph, node, nodes, visit)
        going = _scalar(outs[0])
        if going is None:
            raise _refuse(graph, node, f"its body computes its condition at run time (iteration {i}); only a Loop "
                                       "whose condition is known at conversion is supported (it is unrolled)")
        carried = outs[1:1 + len(carried)]
        for k in range(n_scan):
            scans[k].append(outs[1 + len(carried) + k])
        i += 1
    if n_scan and i == 0:
        raise _refuse(graph, node, "it runs no iteration, so its scan outputs would be empty tensors")
    _finish(graph, node, [*carried, *(_stack(graph, node, parts, 0, visit) for parts in scans)], visit)


def unroll_scan(graph: Graph, node: Node, visit: Visit) -> None:
    """A Scan over a sequence of fixed length: one copy of the body per element."""
    if graph.opset < 9:
        raise _refuse(graph, node, "Scan before opset 9 (batched, with sequence_lens) is not supported; "
                                   "re-export the model at opset 9 or later")
    body: Branch = node.attrs["body"]
    n_in = int(node.attrs["explicit_inputs"])
    m = int(node.attrs["num_scan_inputs"])
    ins = node.inputs[:n_in]
    states, xs = list(ins[:n_in - m]), list(ins[n_in - m:])
    n_scan_out = len(body.outputs) - len(states)

    def attr(key: str, n: int) -> list[int]:
        return [int(a) for a in node.attrs.get(key) or [0] * n]

    in_axes, in_dirs = attr("scan_input_axes", m), attr("scan_input_directions", m)
    out_axes, out_dirs = attr("scan_output_axes", n_scan_out), attr("scan_output_directions", n_scan_out)
    lengths = set()
    for x, a in zip(xs, in_axes, strict=True):
        assert x is not None and x.shape is not None
        a = a + len(x.shape) if a < 0 else a
        d = x.shape[a]
        if not isinstance(d, int | np.integer):
            raise _refuse(graph, node, f"its sequence length varies ({d}); it is unrolled at conversion, so fix it "
                                       "with --input-shape")
        lengths.add(int(d))
    if len(lengths) != 1:
        raise _refuse(graph, node, f"its scan inputs have different lengths {sorted(lengths)}")
    steps = lengths.pop()
    if steps > MAX_ITERATIONS:
        raise _refuse(graph, node, f"it runs {steps} iterations, more than the {MAX_ITERATIONS} unrolled at conversion")
    if steps == 0 and n_scan_out:
        raise _refuse(graph, node, "it runs no iteration, so its scan outputs would be empty tensors")
    scans: list[list[Value]] = [[] for _ in range(n_scan_out)]
    for t in range(steps):
        values = {id(p): v for p, v in zip(body.params, states, strict=False)}
        for p, x, a, rev in zip(body.params[len(states):], xs, in_axes, in_dirs, strict=True):
            assert x is not None and x.shape is not None
            idx = graph.const_value(f"{node.name}/t", np.array(steps - 1 - t if rev else t, np.int64))
            part = graph.new_value(f"{node.name}/{t}/x")
            visit(graph.add_node("Gather", [x, idx], [part], {"axis": a}, name=f"{node.name}/{t}/Gather", before=node))
            values[id(p)] = part
        nodes, outs = clone(graph, body, values, f"{node.name}/{t}")
        _place(graph, node, nodes, visit)
        states = list(outs[:len(states)])
        for k in range(n_scan_out):
            scans[k].append(outs[len(states) + k])
    results: list[Value] = [v for v in states if v is not None]
    for parts, a, rev in zip(scans, out_axes, out_dirs, strict=True):
        rank = len(parts[0].shape or ()) + 1
        results.append(_stack(graph, node, parts[::-1] if rev else parts, a + rank if a < 0 else a, visit))
    _finish(graph, node, results, visit)


def _from(v: Value | None, graph: Graph) -> str:
    names = _sources(v, graph) if v is not None else []
    return f" from input(s) {', '.join(names)}" if names else ""
