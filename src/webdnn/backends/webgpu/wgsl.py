"""WGSL building blocks shared by the webgpu kernel generators.

A generator turns one IR node into one or more `Dispatch`es: a complete WGSL compute
shader with every shape baked in as a constant, its workgroup counts, and the tensors
it binds. `Shader` collects the bindings while a generator writes the body: each
distinct storage (a memory-plan root in the arena, or a weight) becomes one binding of
group 0, reads first, then writes. Arena tensors are declared `read_write` even when
only read: the whole arena is one GPUBuffer, and WebGPU forbids using one buffer as
read-only and writable storage in the same dispatch. Weights are `read`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from webdnn.backends.common.memory_plan import MemoryPlan
from webdnn.backends.common.registry import KernelRegistry
from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Node, Value
from webdnn.ir.shapes import broadcast_strides as broadcast_strides  # re-exported to the kernels
from webdnn.ir.shapes import strides as strides
from webdnn.ir.symbolic import Dim, Sym, ceildiv, is_sym, readable, smax, text, upper, upper_or_none
from webdnn.ir.symbolic import prod as prod

MAX_GROUPS = 65535  # maxComputeWorkgroupsPerDimension (WebGPU default limit)
MAX_BINDINGS = 8  # maxStorageBuffersPerShaderStage (WebGPU default limit)
WG = 64  # workgroup size of the one-thread-per-element kernels


class Unsupported(Exception):
    """A generator cannot handle this node (dtype, attribute value, rank): the reason."""


@dataclass
class Dispatch:
    code: str
    workgroups: tuple[int, int, int]
    inputs: list[Value]  # bindings 0..len(inputs)-1, read
    outputs: list[Value]  # the following bindings, written
    workgroup_size: tuple[int, int, int] = (WG, 1, 1)
    workgroup_bytes: int = 0


@dataclass
class Ctx:
    graph: Graph
    plan: MemoryPlan
    # ids of the float32 values stored as f16 (the webgpu-fp16 descriptor, fp16.py): their
    # bindings are array<f16> / array<vec4<f16>>, and Shader.finish converts every access
    half: set[int] = field(default_factory=set)
    weight_bits: int = 0  # `--weights int8|int4`: 8 or 4, GEMM weights stay packed (packed_weights.py)
    packed: dict[int, tuple[Value, int]] = field(default_factory=dict)  # weight id -> (packed, first word)
    _windows: dict[int, tuple[Value, int]] = field(default_factory=dict)

    def itemsize(self, v: Value) -> int:
        """Bytes per element of `v` as stored."""
        assert v.dtype is not None
        return 2 if id(v) in self.half else v.dtype.itemsize

    def bound(self, v: Value) -> tuple[Value, int]:
        """The tensor a binding of `v` names and the bytes from its start to `v`'s: `v` itself
        (0) unless `v` is a Concat slice off a binding boundary (memory_plan alias_concat); then
        a window from the boundary below, which the descriptor lists as a tensor of its own."""
        if v.is_const:
            return v, 0
        shift = self.plan.offset(v) % self.plan.alignment
        if shift == 0:
            return v, 0
        w = self._windows.get(id(v))
        if w is None:
            item = self.itemsize(v)
            assert shift % item == 0
            win = Value(f"{v.name}@-{shift}", v.dtype, (shift // item + v.size,))
            if id(v) in self.half:
                self.half.add(id(win))
            self.plan.add_slice(win, v, -shift)
            self._windows[id(v)] = w = (win, shift)
        return w


Generator = Callable[[Ctx, Node], list[Dispatch]]
GENERATORS: KernelRegistry[Generator] = KernelRegistry("webgpu")
register = GENERATORS.register


# ---------------------------------------------------------------- literals and types


# WGSL has no inf/nan literals, and a constant expression that evaluates to one is a
# shader-creation error: read the bits from private variables (declared by Shader.finish
# when used) so the value is made at run time.
POS_INF = "bitcast<f32>(INF_BITS)"
NEG_INF = "(-bitcast<f32>(INF_BITS))"
NAN = "bitcast<f32>(NAN_BITS)"
_SPECIALS = "var<private> INF_BITS: u32 = 0x7f800000u;\nvar<private> NAN_BITS: u32 = 0x7fc00000u;\n"


def f32(x: float | Sym) -> str:
    """An f32 WGSL expression for `x` (rounded to float32 first; a symbolic size converted from its integer)."""
    if isinstance(x, Sym):
        return f"f32({x})"
    x = float(np.float32(x))
    if math.isnan(x):
        return NAN
    if math.isinf(x):
        return POS_INF if x > 0 else NEG_INF
    return f"f32({x!r})"


def u32(n: Dim) -> str:
    if isinstance(n, Sym):  # a size: at every size the bounds allow (unbounded, or negative: the runtime's checks)
        most = upper_or_none(n)
        if most is not None and most >= 2**32:
            raise Unsupported(f"index {text(n)} may not fit in u32")
    elif not 0 <= n < 2**32:
        raise Unsupported(f"index {n} does not fit in u32")
    return f"{n}u" if isinstance(n, Sym) else f"{int(n)}u"


# ---------------------------------------------------------------- element types
#
# How each dtype lives in a storage buffer and what type a loaded element has in WGSL:
#   float32 -> array<f32>, f32          int32 -> array<i32>, i32
#   int64 -> array<vec2<u32>> (low word, high word; int64 arithmetic is done on the words)
#   float64 -> array<vec2<u32>>, loaded as f32 (rounded to nearest) and stored back exactly:
#       float64 models compute in float32 (WGSL has no f64)
#   bool, uint8, int8 -> array<u32>, 4 elements per word (byte j of word w is element 4w + j),
#       loaded as bool / u32 / i32
#   int16, float16 -> array<u32>, 2 elements per word, loaded as i32 / f32
# Packed tensors keep the host byte layout, so inputs and outputs cross the runtime
# boundary untouched; a kernel writing a packed output computes one whole word per thread
# (`map_dispatch`), so no two threads ever write the same word.

_STORAGE = {
    DType.FLOAT32: "f32", DType.INT32: "i32", DType.INT64: "vec2<u32>", DType.FLOAT64: "vec2<u32>",
    DType.BOOL: "u32", DType.UINT8: "u32", DType.INT8: "u32", DType.INT16: "u32", DType.FLOAT16: "u32",
}
_ARITH = {
    DType.FLOAT32: "f32", DType.INT32: "i32", DType.INT64: "vec2<u32>", DType.BOOL: "bool", DType.UINT8: "u32",
    DType.INT8: "i32", DType.INT16: "i32", DType.FLOAT16: "f32", DType.FLOAT64: "f32",
}


def _name(dtype: DType | None) -> str:
    return dtype.value if dtype else "?"


def pack(dtype: DType | None) -> int:
    """Elements per storage word: 4 for 1-byte types, 2 for 2-byte types, else 1."""
    size = dtype.itemsize if dtype else 4
    return 4 // size if size < 4 else 1


def storage_type(dtype: DType | None) -> str:
    """The WGSL array element type a tensor of `dtype` is bound as."""
    if dtype not in _STORAGE:
        raise Unsupported(f"{_name(dtype)} tensors are not supported by the webgpu backend")
    return _STORAGE[dtype]


def arith_type(dtype: DType | None) -> str:
    """The WGSL type of one loaded element of `dtype` (see `load`)."""
    if dtype not in _ARITH:
        raise Unsupported(f"{_name(dtype)} arithmetic is not supported by the webgpu backend")
    return _ARITH[dtype]


def elem_type(dtype: DType | None) -> str:
    """The WGSL element type of an unpacked tensor of `dtype` (f32, i32, int64 as vec2<u32>)."""
    if dtype in (DType.FLOAT32, DType.INT32, DType.INT64):
        return _STORAGE[dtype]
    raise Unsupported(f"{_name(dtype)} tensors are not supported by this webgpu kernel")


def bits_type(dtype: DType | None) -> str:
    """The WGSL type that moves one element's bits of an unpacked dtype (data-movement kernels)."""
    if pack(dtype) > 1:
        raise Unsupported(f"{_name(dtype)} tensors are packed; this kernel moves whole words")
    return storage_type(dtype)


def load(buf: str, dtype: DType | None, idx: str) -> str:
    """WGSL expression of element `idx` (a u32 expression) of `buf`, typed `arith_type(dtype)`."""
    p = pack(dtype)
    if dtype == DType.FLOAT64:
        return f"f64_to_f32({buf}[{idx}])"
    if p == 1:
        storage_type(dtype)
        return f"{buf}[{idx}]"
    if p == 4:
        byte = f"(({buf}[({idx}) >> 2u] >> ((({idx}) & 3u) << 3u)) & 0xffu)"
        if dtype == DType.BOOL:
            return f"({byte} != 0u)"
        if dtype == DType.UINT8:
            return byte
        return f"(bitcast<i32>({byte} << 24u) >> 24u)"  # int8, sign-extended
    half = f"(({buf}[({idx}) >> 1u] >> ((({idx}) & 1u) << 4u)) & 0xffffu)"
    if dtype == DType.FLOAT16:
        return f"unpack2x16float({half}).x"
    return f"(bitcast<i32>({half} << 16u) >> 16u)"  # int16


def to_bits(dtype: DType | None, expr: str) -> str:
    """The low bits (u32) that store the value `expr` (typed arith_type) of a packed dtype."""
    if dtype == DType.BOOL:
        return f"select(0u, 1u, {expr})"
    if dtype == DType.UINT8:
        return f"(({expr}) & 0xffu)"
    if dtype == DType.INT8:
        return f"(bitcast<u32>({expr}) & 0xffu)"
    if dtype == DType.INT16:
        return f"(bitcast<u32>({expr}) & 0xffffu)"
    if dtype == DType.FLOAT16:  # pack2x16float is undefined out of f16's range: overflow to +-inf here
        return f"f16_bits({expr})"
    raise Unsupported(f"{_name(dtype)} is not a packed type")


def narrow(dtype: DType | None, expr: str) -> str:
    """`expr` (typed arith_type(dtype)) as it reads back after a store: packed integers wrap to
    their width, float16 rounds. A composed kernel applies it to intermediates it keeps in registers."""
    if dtype == DType.UINT8:
        return f"(({expr}) & 0xffu)"
    if dtype in (DType.INT8, DType.INT16):
        bits = 32 - 8 * dtype.itemsize
        return f"(bitcast<i32>(bitcast<u32>({expr}) << {bits}u) >> {bits}u)"
    if dtype == DType.FLOAT16:
        return f"unpack2x16float(f16_bits({expr})).x"
    return expr


def zero(dtype: DType | None) -> str:
    """WGSL zero of arith_type(dtype)."""
    t = arith_type(dtype)
    return {"f32": "0.0", "i32": "0i", "u32": "0u", "bool": "false", "vec2<u32>": "vec2<u32>(0u, 0u)"}[t]


def literal(dtype: DType | None, value: float | int | bool) -> str:
    """WGSL constant of arith_type(dtype) holding `value`."""
    t = arith_type(dtype)
    if t == "f32":
        return f32(float(value))
    if t == "bool":
        return "true" if value else "false"
    if t == "vec2<u32>":
        v = int(value) & (2**64 - 1)
        return f"vec2<u32>({v & 0xFFFFFFFF}u, {v >> 32}u)"
    if t == "u32":
        return f"{int(value) & 0xFFFFFFFF}u"
    v = int(value)
    return f"{v}i" if v != -(2**31) else "i32(-2147483648)"


def unravel(index: str, shape: Sequence[int], prefix: str = "c") -> str:
    """WGSL lines defining `{prefix}0..` = the coordinates of linear `index` in `shape`."""
    if not shape:
        return ""
    lines = [f"var {prefix}_r = {index};"]
    for d in range(len(shape) - 1, 0, -1):
        # a dim that may be 0 (a size found in the data) divides as 1: with no element there is no index
        # to unravel, and WGSL refuses a constant division by zero
        n = u32(smax(shape[d], 1) if is_sym(shape[d]) else shape[d])
        lines.append(f"let {prefix}{d} = {prefix}_r % {n}; {prefix}_r = {prefix}_r / {n};")
    lines.append(f"let {prefix}0 = {prefix}_r;")
    return "\n    ".join(lines)


def dot(prefix: str, st: Sequence[int], base: str = "0u") -> str:
    """WGSL sum of coordinates `{prefix}d` times strides (zero strides dropped)."""
    terms = [f"{prefix}{d} * {u32(s)}" if s != 1 else f"{prefix}{d}" for d, s in enumerate(st) if s != 0]
    if base != "0u":
        terms.insert(0, base)
    return " + ".join(terms) if terms else "0u"


def grid(groups: Dim) -> tuple[Dim, Dim, int]:
    """(x, y, 1) workgroup counts covering `groups`, each within the per-dimension limit (a
    symbolic count: at every size its bounds allow)."""
    groups = smax(groups, 1)
    most = upper_or_none(groups)  # None: unbounded sizes (the runtime checks each size's dispatches)
    if most is not None and most <= MAX_GROUPS:
        return (groups, 1, 1)
    y = ceildiv(groups, MAX_GROUPS)
    x = ceildiv(groups, y)
    if most is not None and upper(y) > MAX_GROUPS:
        raise Unsupported(f"{text(groups)} workgroups exceed the dispatch limit")
    return (x, y, 1)


def ceil_div(a: Dim, b: Dim) -> Dim:
    return ceildiv(a, b)


# ---------------------------------------------------------------- NaN-keeping choices


# NaN in, NaN out, as onnxruntime: WGSL leaves max/min/clamp of NaN unspecified (SwiftShader's
# give the bound), SwiftShader's exp/log/tanh/sign of NaN give numbers, and `x != x` may be
# folded away. So bounds are a comparison and a select (`x < 0 ? 0 : x` is false for NaN: as
# cheap as max), and transcendental results are replaced by x where x's bits say NaN.
def is_nan(x: str) -> str:
    """WGSL bool: f32 `x` (a name or a simple expression, read more than once) is NaN, tested on its bits."""
    return f"((bitcast<u32>({x}) & 0x7fffffffu) > 0x7f800000u)"


def keep_nan(expr: str, x: str) -> str:
    """`expr`, or x itself where x is NaN."""
    return f"select({expr}, {x}, {is_nan(x)})"


def clamp_keep_nan(x: str, lo: float | None, hi: float | None) -> str:
    """min(max(x, lo), hi) (hi wins when lo > hi, as onnxruntime) keeping NaN; None: no bound."""
    if lo is not None and hi is not None and lo > hi:
        lo = hi
    e = x
    if lo is not None:
        e = f"select({x}, {f32(lo)}, {x} < {f32(lo)})"
    if hi is not None:
        e = f"select({e}, {f32(hi)}, {x} > {f32(hi)})"
    return e


# f32 max/min that give NaN if either operand is NaN, as onnxruntime's Max/Min and Softmax's row max
# (WGSL's max/min leave NaN unspecified)
MINMAX_NAN = (
    f"fn max_nan(a: f32, b: f32) -> f32 {{ return select(b, a, a > b || {is_nan('a')}); }}\n"
    f"fn min_nan(a: f32, b: f32) -> f32 {{ return select(b, a, a < b || {is_nan('a')}); }}\n"
)


# ---------------------------------------------------------------- shader assembly


@dataclass
class _Binding:
    name: str
    value: Value
    elem: str
    writable: bool
    shift: int = 0  # bytes from the binding's start to the tensor's (Ctx.bound)
    half: bool = False  # stored as f16 (Ctx.half): declared with _HALF[elem], accesses converted

    @property
    def stored(self) -> str:
        return _HALF[self.elem] if self.half else self.elem


_ELEM_BYTES = {"f32": 4, "i32": 4, "u32": 4, "vec2<u32>": 8, "vec4<f32>": 16, "f16": 2, "vec4<f16>": 8}
_HALF = {"f32": "f16", "vec4<f32>": "vec4<f16>"}


def _accesses(code: str, name: str) -> Iterator[tuple[int, int, int]]:
    """(start, index start, end) of every top-level `name[...]` in `code`, brackets matched
    (an index may hold further accesses, which the caller rewrites recursively)."""
    pat = re.compile(rf"\b{name}\[")
    pos = 0
    while (m := pat.search(code, pos)) is not None:
        depth, j = 1, m.end()
        while depth:
            depth += {"[": 1, "]": -1}.get(code[j], 0)
            j += 1
        yield m.start(), m.end(), j
        pos = j


def _half_access(code: str, name: str, elem: str) -> str:
    """`code` with every access to the f16-stored binding `name` converted: a load `name[e]` reads
    as `elem(name[e])` (f32 math on f16 storage), a store `name[e] = x;` as `name[e] = f16(x);`
    (the stored expression matched up to its `;`; compound assignments expanded)."""
    out, pos = [], 0
    for start, idx, end in _accesses(code, name):
        if start < pos:  # inside a store's expression, already rewritten
            continue
        ref = f"{name}[{_half_access(code[idx:end - 1], name, elem)}]"
        op = re.match(r"\s*([-+*/]?)=(?!=)", code[end:])
        if op is None:
            out.append(f"{code[pos:start]}{elem}({ref})")
            pos = end
            continue
        k, depth = end + op.end(), 0
        while depth or code[k] != ";":
            depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(code[k], 0)
            k += 1
        rhs = _half_access(code[end + op.end():k].strip(), name, elem)
        if op.group(1):
            rhs = f"{elem}({ref}) {op.group(1)} ({rhs})"
        out.append(f"{code[pos:start]}{ref} = {_HALF[elem]}({rhs})")
        pos = k
    return "".join(out) + code[pos:]


def _shift_index(code: str, name: str, by: int) -> str:
    """Every `name[e]` in `code` as `name[by + (e)]` (brackets matched, nested uses included)."""
    out, pos = [], 0
    for _, idx, end in _accesses(code, name):
        out.append(f"{code[pos:idx]}{by}u + ({_shift_index(code[idx:end - 1], name, by)})]")
        pos = end
    return "".join(out) + code[pos:]


@dataclass
class Shader:
    """Collects a shader's bindings; `finish` assembles the source and the Dispatch."""

    ctx: Ctx
    reads: list[_Binding] = field(default_factory=list)
    writes: list[_Binding] = field(default_factory=list)
    _keys: dict[tuple[str, int], _Binding] = field(default_factory=dict)

    def _key(self, v: Value) -> tuple[str, int]:
        return ("w", id(v)) if v.is_const else ("a", id(self.ctx.plan.root(v)))

    def _bind(self, v: Value, elem: str, writable: bool) -> str:
        if v.size == 0:
            raise Unsupported(f"tensor '{v.name}' is empty")
        v, shift = self.ctx.bound(v)
        k = self._key(v)
        b = self._keys.get(k)
        if b is not None:
            if b.elem != elem or (writable and not b.writable):
                raise Unsupported(f"tensor '{v.name}' is bound twice with different types")
            return b.name
        group = self.writes if writable else self.reads
        half = id(v) in self.ctx.half
        if half and elem not in _HALF:
            raise Unsupported(f"tensor '{v.name}' is stored as f16 (webgpu-fp16) but this kernel binds it as {elem}; "
                              "convert for the fp32 'webgpu' backend")
        if shift % _ELEM_BYTES.get(_HALF[elem] if half else elem, shift + 1):
            raise Unsupported(f"tensor '{v.name}' lies {shift} bytes into its binding, not a whole {elem}")
        b = _Binding(f"{'out' if writable else 'in'}{len(group)}", v, elem, writable, shift, half)
        group.append(b)
        self._keys[k] = b
        return b.name

    def read(self, v: Value, elem: str = "f32") -> str:
        return self._bind(v, elem, False)

    def write(self, v: Value, elem: str = "f32") -> str:
        return self._bind(v, elem, True)

    def at(self, v: Value, idx: str) -> str:
        """Element `idx` of `v` bound in its storage type, as arith_type(v.dtype) (see `load`)."""
        return load(self.read(v, storage_type(v.dtype)), v.dtype, idx)

    def finish(
        self,
        body: str,
        workgroups: tuple[int, int, int],
        size: tuple[int, int, int] = (WG, 1, 1),
        helpers: str = "",
        workgroup_bytes: int = 0,
    ) -> Dispatch:
        if len(self.reads) + len(self.writes) > MAX_BINDINGS:
            raise Unsupported(f"more than {MAX_BINDINGS} tensors in one kernel")
        decls = []
        for i, b in enumerate([*self.reads, *self.writes]):
            access = "read" if b.value.is_const else "read_write"
            decls.append(f"@group(0) @binding({i}) var<storage, {access}> {b.name}: array<{b.stored}>;")
        for w in workgroups:
            most = upper_or_none(w)  # unbounded sizes: the runtime checks each size's dispatches
            if most is not None and most > MAX_GROUPS:
                raise Unsupported(f"{readable(str(w))} workgroups exceed the dispatch limit")
        defs = ""  # the registered definitions called, and those they call in turn
        while True:
            text = helpers + body + defs
            missing = [fns for call, fns in _HELPERS.items()
                       if fns not in text and re.search(r"(?<!\w)" + re.escape(call), text)]
            if not missing:
                break
            defs += "".join(dict.fromkeys(missing))
        specials = _SPECIALS if "INF_BITS" in text or "NAN_BITS" in text else ""
        specials += defs
        for b in [*self.reads, *self.writes]:
            if b.shift:  # a Concat slice bound from the boundary below: index past the bytes before it
                body = _shift_index(body, b.name, b.shift // _ELEM_BYTES[b.stored])
                helpers = _shift_index(helpers, b.name, b.shift // _ELEM_BYTES[b.stored])
            if b.half:
                body, helpers = _half_access(body, b.name, b.elem), _half_access(helpers, b.name, b.elem)
        enable = "enable f16;\n" if any(b.half for b in [*self.reads, *self.writes]) else ""
        code = (
            enable + "\n".join(decls) + "\n" + specials + helpers
            + f"@compute @workgroup_size({size[0]}, {size[1]}, {size[2]})\n"
            + "fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,\n"
            + "        @builtin(local_invocation_id) lxy: vec3<u32>) {\n"
            + f"    {body.strip()}\n}}\n"
        )
        return Dispatch(code, workgroups, [b.value for b in self.reads], [b.value for b in self.writes], size,
                        workgroup_bytes)


def elementwise_dispatch(sh: Shader, n: int, body: str, helpers: str = "") -> Dispatch:
    """One thread per element: `body` sees `i` (u32 < n)."""
    groups = grid(ceil_div(n, WG))
    pre = f"let i = (wid.x + wid.y * {u32(groups[0])}) * {u32(WG)} + lid;\n    if (i >= {u32(n)}) {{ return; }}\n    "
    return sh.finish(pre + body, groups, helpers=helpers)


def store(buf: str, dtype: DType | None, idx: str, expr: str) -> str:
    """WGSL statement storing `expr` (typed arith_type(dtype)) as element `idx` of an unpacked tensor."""
    if pack(dtype) > 1:
        raise Unsupported(f"{_name(dtype)} is packed: write it with map_dispatch")
    if dtype == DType.FLOAT64:
        expr = f"f32_to_f64({expr})"
    return f"{buf}[{idx}] = {expr};"


# helper functions added to a shader when its code calls them (Shader.finish)
_F64 = """fn f64_to_f32(v: vec2<u32>) -> f32 {
    let sign = v.y & 0x80000000u;
    let e = (v.y >> 20u) & 0x7ffu;
    let nan = (v.y & 0xfffffu) != 0u || v.x != 0u;
    if (e == 0x7ffu) { return bitcast<f32>(sign | 0x7f800000u | select(0u, 0x400000u, nan)); }
    let ee = i32(e) - 896;
    if (ee >= 255) { return bitcast<f32>(sign | 0x7f800000u); }
    if (ee <= 0) { return bitcast<f32>(sign); }
    let m = ((v.y & 0xfffffu) << 3u) | (v.x >> 29u);
    let rest = v.x & 0x1fffffffu;
    let up = rest > 0x10000000u || (rest == 0x10000000u && (m & 1u) == 1u);
    return bitcast<f32>((sign | (u32(ee) << 23u) | m) + select(0u, 1u, up));
}
fn f32_to_f64(x: f32) -> vec2<u32> {
    let b = bitcast<u32>(x);
    let sign = b & 0x80000000u;
    let e = (b >> 23u) & 0xffu;
    let m = b & 0x7fffffu;
    if (e == 0u) { return vec2<u32>(0u, sign); }
    if (e == 255u) { return vec2<u32>(0u, sign | 0x7ff00000u | select(0u, 0x80000u, m != 0u)); }
    return vec2<u32>(m << 29u, sign | ((e + 896u) << 20u) | (m >> 3u));
}
"""

F16_BITS = """fn f16_bits(x: f32) -> u32 {
    let b = bitcast<u32>(x);
    let sign = (b >> 16u) & 0x8000u;
    if ((b & 0x7fffffffu) > 0x7f800000u) { return sign | 0x7e00u; }
    if (abs(x) >= 65520.0) { return sign | 0x7c00u; }
    return pack2x16float(vec2<f32>(x, 0.0)) & 0xffffu;
}
"""
_HELPERS = {"f64_to_f32(": _F64, "f32_to_f64(": _F64, "f16_bits(": F16_BITS}


def define(call: str, text: str) -> None:
    """Register the module-scope WGSL `text` that defines `call` (e.g. "erf_("): Shader.finish
    adds it, once, to every shader whose code calls it (expr_wgsl.py's functions and helpers)."""
    if _HELPERS.get(call, text) != text:
        raise ValueError(f"two definitions of WGSL {call!r}")
    _HELPERS[call] = text


def map_dispatch(sh: Shader, y: Value, pre: str, expr: str, helpers: str = "") -> Dispatch:
    """y[i] = expr for every element i of y (any dtype): `pre` (statements) and `expr` (typed
    arith_type(y.dtype)) see `i`, the output element's index. One thread per element, or per
    storage word of a packed output (the word's elements computed in turn by `val(i)`)."""
    n, p = y.size, pack(y.dtype)
    dst = sh.write(y, storage_type(y.dtype))
    if p == 1:
        return elementwise_dispatch(sh, n, f"{pre}\n    {store(dst, y.dtype, 'i', expr)}", helpers)
    t = arith_type(y.dtype)
    if y.dtype == DType.FLOAT16:
        helpers += F16_BITS
    helpers += f"fn val(i: u32) -> {t} {{\n    {pre}\n    return {expr};\n}}\n"
    words = ceil_div(n, p)
    bits = 32 // p
    body = f"""var word = 0u;
    for (var j = 0u; j < {p}u; j = j + 1u) {{
        let e = i * {p}u + j;
        if (e < {u32(n)}) {{ word = word | ({to_bits(y.dtype, "val(e)")} << (j * {bits}u)); }}
    }}
    {dst}[i] = word;"""
    return elementwise_dispatch(sh, words, body, helpers)


def rowwise_dispatch(sh: Shader, rows: int, body: str, helpers: str = "", wg_bytes: int = 0) -> Dispatch:
    """One workgroup per row: `body` sees `row` (u32 < rows) and `lid`."""
    groups = grid(rows)
    pre = f"let row = wid.x + wid.y * {u32(groups[0])};\n    if (row >= {u32(rows)}) {{ return; }}\n    "
    return sh.finish(pre + body, groups, helpers=helpers, workgroup_bytes=wg_bytes)


def ins(node: Node) -> list[Value]:
    """The node's present inputs (an omitted optional input raises)."""
    out = []
    for i, v in enumerate(node.inputs):
        if v is None:
            raise Unsupported(f"input {i} is omitted")
        out.append(v)
    return out


def shape(v: Value | None) -> tuple[int, ...]:
    assert v is not None and v.shape is not None
    return v.shape


def need_f32(*vs: Value | None) -> None:
    for v in vs:
        if v is not None and v.dtype != DType.FLOAT32:
            raise Unsupported(f"tensor '{v.name}' is {v.dtype.value if v.dtype else '?'}; only float32 is supported")


def need_float(*vs: Value | None) -> None:
    """Tensors computed in f32 through load/store (float32, and float64/float16 converted)."""
    for v in vs:
        if v is not None and arith_type(v.dtype) != "f32":
            raise Unsupported(f"tensor '{v.name}' is {v.dtype.value if v.dtype else '?'}; a float type is needed")
