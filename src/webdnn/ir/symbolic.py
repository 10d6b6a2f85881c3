"""Symbolic dimensions: a tensor dim that is an integer expression of the model's input symbols.

A `Dim` is a plain `int` or a `Sym`. A `Sym` is kept in a canonical form, a polynomial with
integer coefficients over *atoms* (input symbols, and `//`, `cdiv`, `%`, `min`, `max` terms that do
not simplify), so equal expressions compare equal (`384*seq == seq*384`) and every operation
whose result is constant returns a plain `int`. Shape rules therefore work on symbols with the
same arithmetic they use for ints.

What an expression cannot do is pretend to be a number: `int()`, `bool()`, indexing and
comparisons that the symbols' bounds do not decide raise `SymbolicShapeError`, so code that would
bake a size into a kernel fails loudly (infer_node names the node) instead of silently
specializing it. The descriptor writes expressions in the JSON form `to_json` gives
(docs/descriptor-format.md, "Symbolic dimensions").
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from webdnn.errors import ShapeError

P = ParamSpec("P")
R = TypeVar("R")
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
DEFAULT_HINT = 512  # the size an unbounded symbol is planned for (memory plan order)


class SymbolicShapeError(ShapeError):
    """A symbolic dim was used where a concrete number is needed."""


def symbol_name(name: str, fallback: str = "size") -> str:
    """`name` (a dim_param, a value's name) as a symbol name: 'sequence length' -> 'sequence_length', a leading
    digit prefixed with 'd_'; `fallback` when nothing of it is left."""
    s = re.sub(r"[^A-Za-z0-9_.]", "_", name.strip())
    if not s or not NAME_RE.match(s):
        s = f"d_{s}" if s else fallback
    return s if NAME_RE.match(s) else fallback


@dataclass(frozen=True)
class Symbol:
    """An input dim the caller chooses at run time, with inclusive bounds (hi None: unbounded)."""

    name: str
    lo: int = 1
    hi: int | None = None

    def __post_init__(self) -> None:
        if not NAME_RE.match(self.name):
            raise ShapeError(f"symbolic dim name {self.name!r} is not a name (letters, digits, '_', '.')")
        if self.lo < 0 or (self.hi is not None and self.hi < self.lo):
            raise ShapeError(f"symbolic dim {self.name!r}: bounds {self.lo}..{self.hi} are empty or negative")

    @property
    def hint(self) -> int:
        return self.hi if self.hi is not None else max(self.lo, DEFAULT_HINT)


# An atom: a Symbol, or (op, args) for a term that does not simplify.
Atom = Symbol | tuple[str, tuple["Dim", ...]]
Monomial = tuple[Atom, ...]  # sorted atoms (repeated for powers); () is the constant term


@functools.lru_cache(maxsize=65536)
def _key(a: Atom) -> str:
    """A canonical sort key of an atom, short even for deeply nested ones (memory-plan offsets)."""
    if isinstance(a, Symbol):
        return "0" + a.name
    body = a[0] + "(" + ",".join(_poly_key(v) for v in a[1]) + ")"
    return "1" + hashlib.sha1(body.encode()).hexdigest()[:16]


def _poly_key(x: Dim) -> str:
    if not isinstance(x, Sym):
        return str(x)
    return "|".join(f"{c}:{'*'.join(_key(a) for a in m)}" for m, c in x.terms)


class Sym:
    """A non-constant integer expression in canonical polynomial form (see module doc)."""

    __slots__ = ("terms", "_hash")

    def __init__(self, terms: tuple[tuple[Monomial, int], ...]) -> None:
        self.terms = terms
        self._hash = hash(terms)

    # --- arithmetic (results are ints whenever constant) -------------------------------------
    def __add__(self, o: Dim) -> Dim:
        return _make(_add(_poly(self), _poly(o), 1))

    __radd__ = __add__

    def __sub__(self, o: Dim) -> Dim:
        return _make(_add(_poly(self), _poly(o), -1))

    def __rsub__(self, o: Dim) -> Dim:
        return _make(_add(_poly(o), _poly(self), -1))

    def __neg__(self) -> Dim:
        return _make({m: -c for m, c in self.terms})

    def __mul__(self, o: Dim) -> Dim:
        return _make(_mul(_poly(self), _poly(o)))

    __rmul__ = __mul__

    def __floordiv__(self, o: Dim) -> Dim:
        return floordiv(self, o)

    def __rfloordiv__(self, o: Dim) -> Dim:
        return floordiv(o, self)

    def __mod__(self, o: Dim) -> Dim:
        return mod(self, o)

    def __rmod__(self, o: Dim) -> Dim:
        return mod(o, self)

    # --- comparisons: structural equality; order only when the bounds decide ---------------
    def __eq__(self, o: object) -> bool:
        return isinstance(o, Sym) and o.terms == self.terms

    def __ne__(self, o: object) -> bool:
        return not self == o

    def __hash__(self) -> int:
        return self._hash

    def __lt__(self, o: Dim) -> bool:
        return _decide(o - self, 1, f"{text(self)} < {text(o)}")

    def __le__(self, o: Dim) -> bool:
        return _decide(o - self, 0, f"{text(self)} <= {text(o)}")

    def __gt__(self, o: Dim) -> bool:
        return _decide(self - o, 1, f"{text(self)} > {text(o)}")

    def __ge__(self, o: Dim) -> bool:
        return _decide(self - o, 0, f"{text(self)} >= {text(o)}")

    # --- what a symbol cannot be ----------------------------------------------------------------
    def __bool__(self) -> bool:
        lo, hi = bounds(self)
        if lo > 0 or hi < 0:
            return True  # nonzero at every size
        raise SymbolicShapeError(f"the truth of the symbolic size {text(self)} depends on the input size")

    def __int__(self) -> int:
        raise SymbolicShapeError(
            f"a concrete number is needed where the size is {text(self)}, which varies with the input"
        )

    __index__ = __int__

    def __float__(self) -> float:
        return float(self.__int__())

    def __str__(self) -> str:
        return text(self)

    def __format__(self, spec: str) -> str:
        # inside generated source (`in_source`), a size is a placeholder the descriptor writer turns
        # into a reference; anywhere else (messages) it reads as a formula
        if not spec and getattr(_SOURCE, "on", False):
            return placeholder(self)
        return format(text(self), spec)

    def __copy__(self) -> Sym:
        return self  # immutable: graph copies share their sizes

    def __deepcopy__(self, memo: dict[int, Any]) -> Sym:
        return self

    def __repr__(self) -> str:
        return text(self)  # shapes in messages read (1, seq, 384)


Dim = int | Sym


def is_sym(x: object) -> bool:
    return isinstance(x, Sym)


def symbol(name: str, lo: int = 1, hi: int | None = None) -> Sym:
    return Sym((((Symbol(name, lo, hi),), 1),))


def dim(x: Any) -> Dim:
    """A shape entry as a Dim: a Sym stays, anything integral becomes an int."""
    if isinstance(x, Sym):
        return x
    if isinstance(x, bool):
        raise TypeError(f"a bool is not a dim: {x!r}")
    return int(x)


def is_static(shape: Iterable[Any] | None) -> bool:
    return shape is not None and not any(isinstance(d, Sym) for d in shape)


# --- polynomial helpers ----------------------------------------------------------------------
def _poly(x: Dim) -> dict[Monomial, int]:
    if isinstance(x, Sym):
        return dict(x.terms)
    if isinstance(x, bool) or not isinstance(x, int):
        try:
            x = int(x)  # numpy integers
        except (TypeError, ValueError):
            raise TypeError(f"cannot use {x!r} in a symbolic size") from None
    return {(): x} if x else {}


def _add(a: dict[Monomial, int], b: dict[Monomial, int], sign: int) -> dict[Monomial, int]:
    out = dict(a)
    for m, c in b.items():
        out[m] = out.get(m, 0) + sign * c
    return out


def _mul(a: dict[Monomial, int], b: dict[Monomial, int]) -> dict[Monomial, int]:
    out: dict[Monomial, int] = {}
    for ma, ca in a.items():
        for mb, cb in b.items():
            m = tuple(sorted(ma + mb, key=_key))
            out[m] = out.get(m, 0) + ca * cb
    return out


def _make(p: dict[Monomial, int]) -> Dim:
    p = {m: c for m, c in p.items() if c}
    if not p:
        return 0
    if list(p) == [()]:
        return p[()]
    return Sym(tuple(sorted(p.items(), key=lambda t: (len(t[0]), [_key(a) for a in t[0]]))))


def _atom(op: str, *args: Dim) -> Sym:
    return Sym(((((op, tuple(args)),), 1),))


# --- bounds ------------------------------------------------------------------------------------
def bounds(x: Dim) -> tuple[float, float]:
    """Inclusive (lo, hi) of `x` over every allowed symbol value (hi may be inf)."""
    if not isinstance(x, Sym):
        return (x, x)
    lo = hi = 0.0
    for m, c in x.terms:
        mlo, mhi = 1.0, 1.0
        for a in m:
            mlo, mhi = _imul((mlo, mhi), _atom_bounds(a))
        tlo, thi = _imul((mlo, mhi), (c, c))
        lo, hi = lo + tlo, hi + thi
    return (lo, hi)


def _imul(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    ps = [_safe_mul(x, y) for x in a for y in b]
    return (min(ps), max(ps))


def _safe_mul(x: float, y: float) -> float:
    return 0.0 if x == 0 or y == 0 else x * y


@functools.lru_cache(maxsize=65536)  # atoms nest as a DAG (memory-plan offsets): visit each once
def _atom_bounds(a: Atom) -> tuple[float, float]:
    if isinstance(a, Symbol):
        return (a.lo, math.inf if a.hi is None else a.hi)
    op, args = a
    bs = [bounds(v) for v in args]
    if op == "min":
        return (min(b[0] for b in bs), min(b[1] for b in bs))
    if op == "max":
        return (max(b[0] for b in bs), max(b[1] for b in bs))
    (alo, ahi), (blo, bhi) = bs
    if op == "%":
        return (0, max(bhi - 1, 0)) if blo > 0 else (-math.inf, math.inf)
    if blo <= 0:
        return (-math.inf, math.inf)
    rnd = math.floor if op == "//" else math.ceil  # both monotonic: the extremes are at the corners
    lo = alo / (bhi if alo >= 0 else blo) if alo > -math.inf else -math.inf
    hi = ahi / (blo if ahi >= 0 else bhi) if ahi < math.inf else math.inf
    return (rnd(lo) if lo > -math.inf else lo, rnd(hi) if hi < math.inf else hi)


def _decide(x: Dim, at_least: int, what: str) -> bool:
    """Is x >= at_least for every size (True), for none (False)? Else the sizes decide: raise."""
    lo, hi = bounds(x)
    if lo >= at_least:
        return True
    if hi < at_least:
        return False
    raise SymbolicShapeError(f"whether {readable(what)} depends on the input size")


def upper(x: Dim) -> int:
    """The largest value `x` takes over every allowed size (a size to reserve for it)."""
    hi = bounds(x)[1]
    if hi == math.inf:
        raise SymbolicShapeError(
            f"the size {text(x)} has no upper bound; bound its symbols (--input-shape x=1,seq<=512)"
        )
    return int(hi)


def upper_or_none(x: Dim) -> int | None:
    """`upper(x)`, or None when the sizes are unbounded."""
    hi = bounds(x)[1]
    return None if hi == math.inf else int(hi)


def surely(pred: Any) -> bool:
    """`pred()` when the sizes' bounds decide it, else False: for optional fast paths that must hold
    at every size (a fusion taken only when valid for all sizes)."""
    try:
        return bool(pred())
    except SymbolicShapeError:
        return False


def provably_equal(a: Dim, b: Dim) -> bool | None:
    """True / False when a == b holds for all / no sizes, None when it depends."""
    d = _make(_add(_poly(a), _poly(b), -1))
    if d == 0:
        return True
    lo, hi = bounds(d)
    return False if lo > 0 or hi < 0 else None


# --- the other operations ------------------------------------------------------------------------
def exact_div(a: Dim, b: Dim) -> Dim | None:
    """a / b when b divides every term of a (b a single positive term: 384, 12*seq), else None."""
    pa, pb = _poly(a), _poly(b)
    if len(pb) != 1:
        return None
    (mb, cb), = pb.items()
    if cb <= 0 or any(bounds(Sym((((x,), 1),)))[0] < 1 for x in mb):
        return None
    out: dict[Monomial, int] = {}
    for m, c in pa.items():
        rest = list(m)
        for x in mb:
            if x not in rest:
                return None
            rest.remove(x)
        if c % cb:
            return None
        out[tuple(rest)] = c // cb
    return _make(out)


def _negated(a: Dim) -> Dim | None:
    """-a when every term of `a` has a negative coefficient (`-(-x // b)`, the ceil idiom), else None."""
    if isinstance(a, Sym) and all(c < 0 for _, c in a.terms):
        return -a
    return None


def floordiv(a: Dim, b: Dim) -> Dim:
    if not isinstance(a, Sym) and not isinstance(b, Sym):
        return int(a) // int(b)
    neg = _negated(a)
    if neg is not None and not isinstance(b, Sym) and b > 0:
        return -ceildiv(neg, b)  # floor(-p / b) = -ceil(p / b)
    q = exact_div(a, b)
    return q if q is not None else _atom("//", a, b)


def ceildiv(a: Dim, b: Dim) -> Dim:
    if not isinstance(a, Sym) and not isinstance(b, Sym):
        return -(-int(a) // int(b))
    neg = _negated(a)
    if neg is not None and not isinstance(b, Sym) and b > 0:
        return -floordiv(neg, b)
    q = exact_div(a, b)
    return q if q is not None else _atom("cdiv", a, b)


def mod(a: Dim, b: Dim) -> Dim:
    if not isinstance(a, Sym) and not isinstance(b, Sym):
        return int(a) % int(b)
    return 0 if exact_div(a, b) is not None else _atom("%", a, b)


def align(a: Dim, alignment: int) -> Dim:
    return ceildiv(a, alignment) * alignment


def _extreme(op: str, xs: Sequence[Dim]) -> Dim:
    keep: list[Dim] = []
    for x in xs:
        parts = x.terms[0][0][0][1] if _is_atom_of(x, op) else (x,)  # type: ignore[index, union-attr]
        keep.extend(parts)  # flatten nested min/max
    out: list[Dim] = []
    for x in keep:
        if any(provably_equal(x, y) for y in out):
            continue
        dominated = False
        rest: list[Dim] = []
        for y in out:
            lo, hi = bounds(x - y)
            if (op == "max" and hi <= 0) or (op == "min" and lo >= 0):
                dominated = True
                rest.append(y)
            elif (op == "max" and lo >= 0) or (op == "min" and hi <= 0):
                continue  # x dominates y
            else:
                rest.append(y)
        out = rest if dominated else [*rest, x]
    ints = [v for v in out if not isinstance(v, Sym)]
    syms = [v for v in out if isinstance(v, Sym)]
    if len(ints) > 1:
        ints = [max(ints) if op == "max" else min(ints)]
    args = ints + sorted(syms, key=_poly_key)
    if len(args) == 1:
        return args[0]
    return _atom(op, *args)


def _is_atom_of(x: Dim, op: str) -> bool:
    return (isinstance(x, Sym) and len(x.terms) == 1 and x.terms[0][1] == 1 and len(x.terms[0][0]) == 1
            and isinstance(x.terms[0][0][0], tuple) and x.terms[0][0][0][0] == op)


def smax(*xs: Dim) -> Dim:
    return _extreme("max", xs)


def smin(*xs: Dim) -> Dim:
    return _extreme("min", xs)


def prod(xs: Iterable[Dim]) -> Dim:
    out: Dim = 1
    for x in xs:
        out = out * x
    return out


# --- symbols, evaluation, substitution -------------------------------------------------------
def symbols(x: Any) -> set[Symbol]:
    """Every input symbol `x` (a Dim, or nested lists/tuples/dicts of them) mentions."""
    out: set[Symbol] = set()
    _collect(x, out, set())
    return out


def _collect(x: Any, out: set[Symbol], seen: set[Any]) -> None:
    if isinstance(x, Sym):
        for m, _ in x.terms:
            for a in m:
                if isinstance(a, Symbol):
                    out.add(a)
                elif a not in seen:
                    seen.add(a)
                    for v in a[1]:
                        _collect(v, out, seen)
    elif isinstance(x, list | tuple):
        for v in x:
            _collect(v, out, seen)
    elif isinstance(x, dict):
        for v in x.values():
            _collect(v, out, seen)


def evaluate(x: Dim, env: Mapping[str, int], memo: dict[Any, int] | None = None) -> int:
    """The value of `x` with each symbol set from `env` (by name)."""
    if not isinstance(x, Sym):
        return int(x)
    memo = {} if memo is None else memo
    total = 0
    for m, c in x.terms:
        t = c
        for a in m:
            if isinstance(a, Symbol):
                t *= env[a.name]
            else:
                if a not in memo:
                    memo[a] = _eval_atom(a, env, memo)
                t *= memo[a]
        total += t
    return total


def _eval_atom(a: tuple[str, tuple[Dim, ...]], env: Mapping[str, int], memo: dict[Any, int]) -> int:
    op, args = a
    vs = [evaluate(v, env, memo) for v in args]
    if op == "min":
        return min(vs)
    if op == "max":
        return max(vs)
    if op == "//":
        return vs[0] // vs[1]
    if op == "cdiv":
        return -(-vs[0] // vs[1])
    return vs[0] % vs[1]


def substitute(x: Dim, env: Mapping[str, Dim], memo: dict[Any, Dim] | None = None) -> Dim:
    """`x` with the named symbols replaced (by ints or other expressions); simplified."""
    if not isinstance(x, Sym):
        return x
    memo = {} if memo is None else memo
    total: Dim = 0
    for m, c in x.terms:
        t: Dim = c
        for a in m:
            if isinstance(a, Symbol):
                t = t * env.get(a.name, Sym((((a,), 1),)))
            else:
                if a not in memo:
                    memo[a] = _apply(a[0], [substitute(v, env, memo) for v in a[1]])
                t = t * memo[a]
        total = total + t
    return total


def _apply(op: str, args: Sequence[Dim]) -> Dim:
    if op == "min":
        return smin(*args)
    if op == "max":
        return smax(*args)
    if op == "//":
        return floordiv(args[0], args[1])
    if op == "cdiv":
        return ceildiv(args[0], args[1])
    return mod(args[0], args[1])


def hint(x: Dim) -> int:
    """`x` at every symbol's planning hint (its bound, or DEFAULT_HINT when unbounded)."""
    return evaluate(x, {s.name: s.hint for s in symbols(x)})


# --- sizes inside generated source (shaders) -------------------------------------------------------
_SOURCE = threading.local()
_MARK = "\x00"
_PLACEHOLDERS: dict[Sym, str] = {}
_BY_MARK: dict[str, Sym] = {}


@contextlib.contextmanager
def in_source() -> Iterator[None]:
    """Within this block, f-strings write a symbolic size as a placeholder (generated shader code):
    the descriptor writes the text as parts with references, the runtime fills in the numbers."""
    prev = getattr(_SOURCE, "on", False)
    _SOURCE.on = True
    try:
        yield
    finally:
        _SOURCE.on = prev


def sized_source(fn: Callable[P, R]) -> Callable[P, R]:
    """`fn` run `in_source()` (a backend's emit that writes shader code)."""
    @functools.wraps(fn)
    def run(*args: P.args, **kw: P.kwargs) -> R:
        with in_source():
            return fn(*args, **kw)
    return run


def placeholder(x: Sym) -> str:
    if x not in _PLACEHOLDERS:
        mark = f"{_MARK}d{len(_PLACEHOLDERS)}{_MARK}"
        _PLACEHOLDERS[x], _BY_MARK[mark] = mark, x
    return _PLACEHOLDERS[x]


def split_source(s: str) -> list[str | Sym] | None:
    """A generated text's literal parts and sizes, or None when it holds no placeholder."""
    if _MARK not in s:
        return None
    out: list[str | Sym] = []
    for i, part in enumerate(s.split(_MARK)):
        if i % 2:
            out.append(_BY_MARK[f"{_MARK}{part}{_MARK}"])
        elif part:
            out.append(part)
    return out


def readable(s: str) -> str:
    """A generated text with its placeholders written as formulas (for messages)."""
    parts = split_source(s)
    return s if parts is None else "".join(p if isinstance(p, str) else f"{{{text(p)}}}" for p in parts)


# --- printing --------------------------------------------------------------------------------------
def to_json(x: Dim, ref: Any = None) -> Any:
    """The descriptor form: an int, a symbol name, or [op, ...] (docs/descriptor-format.md).
    `ref(atom_sym)` may return a replacement (a table reference) for each non-symbol atom."""
    if not isinstance(x, Sym):
        return int(x)
    terms = []
    for m, c in x.terms:
        factors: list[Any] = [] if c == 1 and m else [c]
        for a in m:
            if isinstance(a, Symbol):
                factors.append(a.name)
            else:
                atom = Sym((((a,), 1),))
                r = ref(atom) if ref is not None else None
                factors.append(r if r is not None else [a[0], *(to_json(v, ref) for v in a[1])])
        terms.append(factors[0] if len(factors) == 1 else ["*", *factors])
    return terms[0] if len(terms) == 1 else ["+", *terms]


def text(x: Dim) -> str:
    """Readable form for messages: 384*seq + 1, cdiv(seq, 16), min(seq, 512)."""
    if not isinstance(x, Sym):
        return str(x)
    parts = []
    for m, c in sorted(x.terms, key=lambda t: not t[0]):  # the constant term last
        fs = []
        for a in m:
            fs.append(a.name if isinstance(a, Symbol) else (
                f"({_paren(a[1][0])} {a[0]} {_paren(a[1][1])})" if a[0] in ("//", "%")
                else f"{a[0]}({', '.join(text(v) for v in a[1])})"))
        body = "*".join(fs)
        if not m:
            parts.append(str(c))
        elif c == 1:
            parts.append(body)
        elif c == -1:
            parts.append(f"-{body}")
        else:
            parts.append(f"{c}*{body}")
    out = parts[0]
    for p in parts[1:]:
        out += f" - {p[1:]}" if p.startswith("-") else f" + {p}"
    return out


def _paren(x: Dim) -> str:
    return f"({text(x)})" if isinstance(x, Sym) and len(x.terms) > 1 else text(x)


def atoms_postorder(xs: Iterable[Dim]) -> list[Sym]:
    """Every non-symbol atom in `xs` (as a one-atom Sym), each after the atoms inside it."""
    seen: dict[Sym, None] = {}

    def walk(x: Dim) -> None:
        if not isinstance(x, Sym):
            return
        for m, _ in x.terms:
            for a in m:
                if isinstance(a, Symbol):
                    continue
                atom = Sym((((a,), 1),))
                if atom not in seen:
                    for v in a[1]:
                        walk(v)
                    seen[atom] = None

    for x in xs:
        walk(x)
    return list(seen)
