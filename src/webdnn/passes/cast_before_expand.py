"""Cast the input of an Expand instead of its output: Cast(Expand(x)) -> Expand(Cast(x)).

Sentence-transformers' mean pooling (in every BERT / MiniLM embedding model its exporter writes) broadcasts the
int64 attention mask [batch, seq, 1] to [batch, seq, hidden] and only then casts it to float: the cast of the
expanded tensor is `hidden` times the work of the mask's, and both ops then run on 64-bit integers, which the
JavaScript kernels hold as BigInt64Array (WebKit allocates a BigInt per element read: the Expand and the Cast took
4-5 ms a call each on all-MiniLM-L6-v2 at 128 tokens, 8 % of the model). A cast is elementwise and an Expand only
copies elements, so the two commute exactly: the same values, with the cast on the small tensor.

Applies when the Expand's output is read by that Cast alone and is not a graph output.
"""

from __future__ import annotations

from webdnn.ir.graph import Graph


def run(graph: Graph) -> int:
    users = graph.users()
    moved = 0
    for cast in list(graph.nodes):
        if cast.op_type != "Cast" or cast.input(0) is None:
            continue
        y = cast.inputs[0]
        assert y is not None
        expand = y.producer
        x = expand.input(0) if expand is not None and expand.op_type == "Expand" else None
        if expand is None or x is None or x.is_const or x.shape is None:
            continue
        if len(users.get(id(y), [])) != 1 or graph.is_graph_output(y):
            continue
        out = cast.outputs[0]
        xc = graph.new_value(f"{x.name}_cast", out.dtype, x.shape)
        graph.add_node("Cast", [x], [xc], dict(cast.attrs), name=cast.name, before=expand)
        graph.remove_node(cast)
        expand.inputs[0] = xc
        expand.outputs[0] = out
        out.producer = expand
        moved += 1
    return moved
