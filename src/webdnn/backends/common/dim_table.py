"""The descriptor's expression table: every symbolic size a descriptor mentions, written once.

Sizes that depend on the input symbols are written as `{"$dim": i}`, a reference to entry `i` of
the table `dims`. Each non-polynomial term (`cdiv`, `min`, `max`, ...) gets its own entry that
later entries reference, so the memory plan's offsets, which nest every offset below them, stay
linear in size (docs/descriptor-format.md, "Symbolic dimensions").
"""

from __future__ import annotations

from typing import Any

from webdnn.ir.symbolic import Dim, Sym, Symbol, atoms_postorder, symbols, to_json


class DimTable:
    def __init__(self) -> None:
        self.entries: list[Any] = []
        self._index: dict[Sym, int] = {}

    def _atom_ref(self, atom: Sym) -> dict[str, int] | None:
        i = self._index.get(atom)
        return None if i is None else {"$dim": i}

    def ref(self, x: Dim) -> int | dict[str, int]:
        """An int as itself; a symbolic size as a reference to its (new or existing) entry."""
        if not isinstance(x, Sym):
            return int(x)
        if x in self._index:
            return {"$dim": self._index[x]}
        for atom in atoms_postorder([x]):
            if atom not in self._index:
                self._add(atom, to_json(atom, lambda a, atom=atom: None if a == atom else self._atom_ref(a)))
        if x not in self._index:
            self._add(x, to_json(x, self._atom_ref))
        return {"$dim": self._index[x]}

    def _add(self, x: Sym, entry: Any) -> None:
        self._index[x] = len(self.entries)
        self.entries.append(entry)


def symbol_specs(dims: Any) -> list[dict[str, Any]]:
    """The `symbols` field: every input symbol in `dims` (e.g. the inputs' shapes), by name."""
    out: dict[str, Symbol] = {}
    for s in symbols(dims):
        out[s.name] = s
    return [{"name": s.name, "min": s.lo, "max": s.hi} for s in sorted(out.values(), key=lambda s: s.name)]
