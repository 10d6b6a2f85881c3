"""What the GPU-language printers of elementwise expressions share (webgpu/expr_wgsl.py,
webgl/expr_glsl.py): the walk that turns an Expr DAG into one function, a local per
primitive (equal subtrees once), named by its content so that equal expressions share it.
A language gives only its templates: one per primitive, a literal, a local declaration and
the function's frame."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from webdnn.ops.expr import PRIMITIVES, Expr, program, topo


@dataclass(frozen=True)
class Language:
    unary: dict[str, str]  # primitive -> template of its argument {a} (a name or a literal)
    binary: dict[str, str]  # primitive -> template of {a} and {b}; "where" -> {c}, {a}, {b}
    nan_safe: frozenset[str]  # unary primitives that keep NaN without keep_nan
    keep_nan: Callable[[str, str], str]  # (code, a): code, or a where a is NaN
    literal: Callable[[float], str]
    local: str  # declaration of local {t} (typed {ty}: "bool" or "float") = {code}
    frame: str  # the function: {name}, {body} (the locals' lines) and {result}

    def __post_init__(self) -> None:
        printed = {"x", "c", *self.unary, *self.binary}
        if printed != set(PRIMITIVES):
            raise ValueError(f"a printer must print every primitive: {sorted(printed ^ set(PRIMITIVES))}")

    def function(self, root: Expr) -> tuple[str, str]:
        """(name, text) of the function of input 0 (`x`) computing `root`."""
        names: dict[object, str] = {}  # subexpression key -> its local's name or literal
        lines: list[str] = []
        for i, e in enumerate(topo(root)):
            args = [names[a._key] for a in e.args]
            if e.op in ("x", "c"):
                names[e._key] = "x" if e.op == "x" else self.literal(e.value)
                continue
            if e.op in self.unary:
                code = self.unary[e.op].format(a=args[0])
                if e.op not in self.nan_safe:
                    code = self.keep_nan(code, args[0])
            elif e.op == "where":
                code = self.binary["where"].format(c=args[0], a=args[1], b=args[2])
            else:
                code = self.binary[e.op].format(a=args[0], b=args[1])
            names[e._key] = f"t{i}"
            lines.append(self.local.format(t=f"t{i}", ty="bool" if e.is_bool else "float", code=code))
        name = "ex_" + hashlib.sha1(repr(program(root)).encode()).hexdigest()[:12]
        return name, self.frame.format(name=name, body="\n".join(lines), result=names[root._key])
