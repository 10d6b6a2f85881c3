"""Input dims: what the model declares and what the user gives, as ints or input symbols.

`--input-shape x=1,seq<=512,384` (or the Python API's `input_shapes={"x": (1, "seq<=512", 384)}`)
fixes some dims and names others: a name becomes a symbol the runtime binds from the actual
input, with optional bounds (`seq<=512`, `8<=seq<=512`). A model's own dynamic dims (ONNX
`dim_param`, an unknown dim, or -1 as older exporters write them) stay symbolic when the
conversion is dynamic (the default), and are fixed to 1 with a warning under --fixed (the fastest
code for that size). A 0 is an empty tensor by the spec, but older exporters mean a dynamic dim by
it: in a dynamic conversion it is a symbol of lower bound 0 (an empty tensor, or any size); under
--fixed it stays 0, with a warning. One name is one
symbol across every input.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx

from webdnn.errors import ShapeError
from webdnn.ir.symbolic import NAME_RE, Dim, Sym, Symbol, symbol, symbol_name

log = logging.getLogger("webdnn")

_BOUNDED = re.compile(r"^\s*(?:(\d+)\s*<=\s*)?([A-Za-z_][A-Za-z0-9_.]*)\s*(?:<=\s*(\d+))?\s*$")

DimSpec = int | str | Sym


def parse_dim(spec: DimSpec, where: str) -> int | tuple[str, int | None, int | None]:
    """An int, or (name, lo, hi) for a symbol spec such as 'seq', 'seq<=512', '8<=seq<=512'."""
    def bad() -> ShapeError:
        return ShapeError(
            f"{where}: dim {spec!r} is not a non-negative integer nor a symbolic dim (a name such as 'seq', "
            "optionally bounded: 'seq<=512', '8<=seq<=512'); give every dim that way (e.g. x=1,3,224,224 or "
            "input_ids=1,seq)"
        )

    if isinstance(spec, Sym):
        raise ShapeError(f"{where}: give a symbolic dim by name (e.g. 'seq<=512'), not as an expression")
    if isinstance(spec, bool):
        raise bad()
    if isinstance(spec, int):
        if spec < 0:
            raise bad()
        return spec
    if isinstance(spec, str):
        s = spec.strip()
        if re.fullmatch(r"\d+", s):
            return int(s)
        m = _BOUNDED.match(s)
        if m:
            lo, name, hi = m.group(1), m.group(2), m.group(3)
            return (name, None if lo is None else int(lo), None if hi is None else int(hi))
        raise bad()
    if isinstance(spec, np.integer):
        return parse_dim(int(spec), where)
    raise bad()


class SymbolTable:
    """The conversion's input symbols by name: one Symbol per name, bounds merged."""

    def __init__(self) -> None:
        self.bounds: dict[str, tuple[int | None, int | None]] = {}
        self._made: dict[str, Sym] = {}
        self.value_names: set[str] = set()  # symbols of value inputs' elements (value_symbols)

    def declare(self, name: str, lo: int | None, hi: int | None, where: str) -> None:
        if not NAME_RE.match(name):
            raise ShapeError(f"{where}: {name!r} cannot name a symbolic dim (letters, digits, '_', '.')")
        plo, phi = self.bounds.get(name, (None, None))
        for old, new, what in ((plo, lo, "lower"), (phi, hi, "upper")):
            if old is not None and new is not None and old != new:
                raise ShapeError(f"{where}: symbol '{name}' is given {what} bounds {old} and {new}; give one")
        self.bounds[name] = (plo if lo is None else lo, phi if hi is None else hi)

    def made(self, name: str) -> bool:
        return name in self._made

    def get(self, name: str) -> Sym:
        if name not in self._made:
            lo, hi = self.bounds.get(name, (None, None))
            lo = 1 if lo is None else lo
            if hi is not None and hi < lo:
                raise ShapeError(f"symbol '{name}': bounds {lo} <= {name} <= {hi} admit no size")
            self._made[name] = symbol(name, lo, hi)
        return self._made[name]


def sanitize(name: str, fallback: str) -> str:
    """An ONNX dim_param as a symbol name ('batch_size', 'sequence length' -> 'sequence_length')."""
    return symbol_name(name, fallback)


def input_shape(
    inp: onnx.ValueInfoProto, override: Sequence[DimSpec] | None, dynamic: bool, table: SymbolTable
) -> tuple[Dim, ...]:
    """The IR shape of a graph input (module doc for the rules)."""
    tt = inp.type.tensor_type
    dims = list(tt.shape.dim) if tt.HasField("shape") else None
    if override is not None:
        where = f"--input-shape {inp.name}"
        parsed = [parse_dim(d, where) for d in override]
        if dims is not None and len(dims) != len(parsed):
            raise ShapeError(f"{where}: rank {len(parsed)} given, the model says rank {len(dims)}")
        for p in parsed:
            if isinstance(p, tuple):
                table.declare(p[0], p[1], p[2], where)
        for i, (d, p) in enumerate(zip(dims or [], parsed, strict=False)):
            if isinstance(p, int) and d.HasField("dim_value") and d.dim_value > 0 and d.dim_value != p:
                raise ShapeError(f"{where}: dim {i} is given as {p} where the model fixes {d.dim_value}")
            if isinstance(p, tuple) and d.HasField("dim_value") and d.dim_value > 0:
                raise ShapeError(f"{where}: dim {i} is given as '{p[0]}' where the model fixes {d.dim_value}")
        return tuple(p if isinstance(p, int) else table.get(p[0]) for p in parsed)
    if dims is None:
        raise ShapeError(
            f"input '{inp.name}' has no shape in the model; give it with --input-shape {inp.name}=D1,D2,... "
            "(integers, or names for dynamic dims)"
        )
    out: list[Dim] = []
    for i, d in enumerate(dims):
        if d.HasField("dim_value") and (d.dim_value > 0 or (d.dim_value == 0 and not dynamic)):
            if d.dim_value == 0:  # an empty tensor by the spec, a dynamic dim by some older exporters
                log.warning("input '%s' dim %d is 0 (an empty tensor); if the exporter meant a dynamic dim, convert "
                            "without --fixed or give it with --input-shape", inp.name, i)
            out.append(int(d.dim_value))
            continue
        label = d.dim_param or (f"{d.dim_value}" if d.HasField("dim_value") else "?")
        if dynamic:
            name = sanitize(d.dim_param, f"{sanitize(inp.name, 'input')}_{i}")
            if d.HasField("dim_value") and d.dim_value == 0 and not table.made(name):
                table.declare(name, 0, None, f"input '{inp.name}' dim {i}")  # empty, as the spec reads it, or any
            out.append(table.get(name))
        else:
            log.warning(
                "input '%s' has a dynamic dimension '%s': using 1. Fix it with --input-shape %s=..., or keep it "
                "dynamic without --fixed (or a name: --input-shape %s=...,seq,...)",
                inp.name, label, inp.name, inp.name,
            )
            out.append(1)
    return tuple(out)


def names_in(shapes: dict[str, Any] | None) -> bool:
    """Does any --input-shape name a symbol (which makes the conversion dynamic)?"""
    return any(isinstance(parse_dim(d, f"--input-shape {k}"), tuple) for k, v in (shapes or {}).items() for d in v)


__all__ = ["DimSpec", "SymbolTable", "Symbol", "input_shape", "names_in", "parse_dim", "sanitize"]


# A value input's elements become symbols, so it must be small: a shape, a k, a few pads.
MAX_VALUE_ELEMENTS = 16


def value_symbols(v: Any, table: SymbolTable, specs: Sequence[str] | None = None) -> np.ndarray:
    """The symbols of a value input's elements (`--value-input k`): an object array of `v`'s shape.

    A scalar (or one-element) input named 'k' gives the symbol 'k', a longer one 'shape.0',
    'shape.1', ..., unless `specs` names them (with bounds: 'rows<=64'). Each is a size of at
    least 1 (an ONNX 0 or -1 in a Reshape's shape would change the op's meaning, so the runtime
    refuses those values with an `InputError`), unbounded unless bounded: the backends plan
    memory and textures at the bounds (512 where unbounded).
    """
    where = f"--value-input {v.name}"
    if v.dtype is None or v.dtype.value not in ("int64", "int32"):
        raise ShapeError(f"{where}: input '{v.name}' is {v.dtype and v.dtype.value}; only int64 or int32 inputs "
                         "can give sizes")
    if v.shape is None or not all(isinstance(d, int) for d in v.shape):
        raise ShapeError(f"{where}: input '{v.name}' has shape {v.shape}; a value input needs a fixed shape "
                         "(fix it with --input-shape)")
    n = int(np.prod(v.shape)) if v.shape else 1
    if not 1 <= n <= MAX_VALUE_ELEMENTS:
        raise ShapeError(f"{where}: input '{v.name}' has {n} elements; a value input has 1 to "
                         f"{MAX_VALUE_ELEMENTS} (one symbol each)")
    if specs:  # `--value-input shape=rows<=64,cols<=64`: a name and bounds per element
        if len(specs) != n:
            raise ShapeError(f"{where}: {len(specs)} names given for the {n} elements of input '{v.name}'")
        names = []
        for spec in specs:
            p = parse_dim(spec, where)
            if not isinstance(p, tuple):
                raise ShapeError(f"{where}: {spec!r} is not a symbol name (e.g. 'rows' or 'rows<=64')")
            table.declare(p[0], p[1], p[2], where)
            names.append(p[0])
    else:
        base = sanitize(v.name, "value")
        names = [base] if n == 1 else [f"{base}.{i}" for i in range(n)]
    for name in names:
        if name in table.value_names or table.made(name):
            raise ShapeError(f"{where}: the symbol '{name}' for input '{v.name}' already names "
                             f"{'another value input' if name in table.value_names else 'an input dim'}; rename one")
        table.value_names.add(name)
    return np.array([table.get(name) for name in names], dtype=object).reshape(v.shape)
