"""Einsum: the shape rule, and the equation parsed into the form passes/decompose_einsum.py rewrites
into Transposes, Reshapes, ReduceSums and batched MatMuls (no kernel of its own on any backend).

Canonical attribute `terms`: one letter string per operand and `output` (an ellipsis expanded
into the upper-case letters A, B, ... for its dims, right-aligned as numpy broadcasts them); an
implicit output (no "->") is the letters used once, in alphabetical order, after the ellipsis'.
A letter repeated within one operand (a diagonal) is not supported.
"""

from __future__ import annotations

from webdnn.ir.graph import Graph, Node
from webdnn.ir.symbolic import Dim, provably_equal
from webdnn.ops._util import in_dtype, in_shape, set_out
from webdnn.ops.nn_common import fail
from webdnn.ops.registry import shape_rule, unsupported

ELLIPSIS_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def parse(equation: str, ranks: list[int]) -> tuple[list[str], str]:
    """(one letter string per operand, the output's letters), ellipses expanded; ValueError if malformed."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    parts = lhs.split(",")
    if len(parts) != len(ranks):
        raise ValueError(f"the equation names {len(parts)} operands, the node has {len(ranks)}")
    ell = 0
    for p, r in zip(parts, ranks, strict=True):
        if "..." in p:
            ell = max(ell, r - (len(p) - 3))
    if ell > len(ELLIPSIS_LETTERS):
        raise ValueError("the ellipsis covers too many dims")
    terms = []
    for p, r in zip(parts, ranks, strict=True):
        bare = p.replace("...", "")
        if p.count("...") > 1 or (bare and not (bare.isalpha() and bare.islower())):  # '' is a scalar's term
            raise ValueError(f"operand term '{p}' is not lower-case letters with at most one ellipsis")
        if "..." in p:
            n = r - (len(p) - 3)
            if n < 0:
                raise ValueError(f"operand term '{p}' has more letters than its rank {r}")
            p = p.replace("...", ELLIPSIS_LETTERS[ell - n:ell])
        if len(p) != r:
            raise ValueError(f"operand term '{p}' has {len(p)} letters for rank {r}")
        terms.append(p)
    ell_letters = ELLIPSIS_LETTERS[:ell]
    if arrow:  # an ellipsis left out of the output is summed away
        bare = rhs.replace("...", "")
        if rhs.count("...") > 1 or (bare and not (bare.isalpha() and bare.islower())):
            raise ValueError(f"output term '{rhs}' is not lower-case letters with at most one ellipsis")
        out = rhs.replace("...", ell_letters)
    else:
        letters = "".join(terms)
        out = ell_letters + "".join(sorted(c for c in set(letters) if c.islower() and letters.count(c) == 1))
    if len(set(out)) != len(out):
        raise ValueError(f"the output repeats a letter ('{out}')")
    return terms, out


@shape_rule("Einsum")
def einsum(node: Node, graph: Graph) -> None:
    equation = str(node.attrs.get("equation", ""))
    shapes = [in_shape(node, i) for i in range(len(node.inputs))]
    if not shapes:
        raise fail(node, "Einsum needs at least one input")
    try:
        terms, out = parse(equation, [len(s) for s in shapes])
    except ValueError as e:
        raise fail(node, f"equation '{equation}': {e}") from None
    for t in terms:
        if len(set(t)) != len(t):
            raise unsupported(node, graph, f"equation '{equation}' takes a diagonal (a letter repeated in '{t}')")
    sizes: dict[str, Dim] = {}
    for t, s in zip(terms, shapes, strict=True):
        for c, d in zip(t, s, strict=True):
            had = sizes.get(c)
            if had is None or provably_equal(had, 1):
                sizes[c] = d
            elif provably_equal(d, 1) is not True and provably_equal(d, had) is not True:
                raise fail(node, f"equation '{equation}': '{c}' is {had} in one operand and {d} in another")
    missing = [c for c in out if c not in sizes]
    if missing:
        raise fail(node, f"equation '{equation}': output letter(s) {missing} name no operand dim")
    dtypes = {in_dtype(node, i) for i in range(len(node.inputs))}
    if len(dtypes) != 1:
        raise fail(node, f"operands of different element types {sorted(d.value for d in dtypes)}")
    node.attrs.update(equation=equation, terms=terms, output=out)
    set_out(node, 0, dtypes.pop(), [sizes[c] for c in out])
