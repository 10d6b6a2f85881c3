"""float8, float4, int4/uint4, int2/uint2 and bfloat16 graphs rewritten into the types WebDNN has.

Each tensor of such a type is held in its storage (ir/narrow_types.py): a float as its code
(uint8), an integer as its value (int8/uint8). The ops ONNX allows on these types are then
written in ops every backend has, so no backend needs a kernel for them:
- **decode** (a float code to float32): a Gather from the type's table of 256 (16) values;
- **encode** (float32 to a float code, ONNX's Cast rules: round to nearest even, saturate or
  overflow to inf/NaN by `saturate`): the code of |x| is the number of rounding thresholds
  (midpoints between neighbouring values) that |x| passes, a ReduceSum of comparisons against
  the constant thresholds; then the sign bit, NaN and overflow. It costs one comparison per
  representable value (127 for float8) per element, which is fine where such casts sit in real
  models (quantization scales, the boundary of a float8 graph), not for a large activation;
- an integer target wraps (Cast's rule for integers: discard the high bits), QuantizeLinear
  saturates (a QuantizeLinear to int8/uint8 clipped to the narrow range: the same answer);
- Dequantize/QuantizeLinear of a float type compute (x - zero) * scale and x / scale + zero
  with the scale (and zero) broadcast by a DequantizeLinear of ones, so per-axis and blocked
  layouts come from the op's own rule.
Data-movement ops (Reshape, Transpose, Concat, Gather, Where, ...) move storage unchanged. Any
other op reading such a type is an UnsupportedOperatorError naming the node.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from webdnn.errors import UnsupportedOperatorError, where
from webdnn.ir.narrow_types import NARROW, NarrowType, to_storage

# ops that only move or select elements: their inputs' and outputs' storage is the same
MOVES = frozenset({
    "Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Concat", "Split", "Slice",
    "Gather", "GatherElements", "GatherND", "Expand", "Tile", "Shape", "Size", "Compress", "ReverseSequence",
    "DepthToSpace", "SpaceToDepth", "Where", "Optional", "Constant", "ConstantOfShape",
})
F32 = TensorProto.FLOAT
# Ops on uint16/uint32 held in int32/int64: exact there on the type's values, or (WRAPPED) exact once the result is
# wrapped into the type's range (the low bits: a modulo); BitwiseNot is a Xor with the type's mask.
EXACT_WIDE = frozenset({"Div", "Mod", "Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "Max", "Min",
                        "BitwiseAnd", "BitwiseOr", "BitwiseXor", "ArgMax", "ArgMin", "TopK", "ReduceMax",
                        "ReduceMin", "Abs", "Relu"})
WRAPPED = frozenset({"Add", "Sub", "Mul", "Sum", "BitShift", "ReduceSum", "ReduceProd"})
WIDE_OPS = EXACT_WIDE | WRAPPED | {"BitwiseNot", "Pow"}
FLOATS = frozenset({TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16})


def lower(model: onnx.ModelProto, opset: int) -> tuple[onnx.ModelProto, dict[str, str]]:
    """`model` in storage types (a copy; the model itself when it holds no narrow type), and the model's
    element type of each input/output held in another type ({name: "float8e4m3fn"})."""
    if not _mentions_narrow(model.graph):
        return model, {}
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 (the declared types are used where inference fails)
        inferred = model
    types, ranks = _types(inferred.graph)
    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    interface: dict[str, str] = {}
    for vi in (*g.input, *g.output):  # (an output may declare no type: the inferred one)
        t = NARROW.get(types.get(vi.name, 0))
        if t is not None:
            interface[vi.name] = t.name
            if vi.type.HasField("tensor_type"):
                vi.type.tensor_type.elem_type = t.storage.to_onnx()
    for vi in list(g.value_info):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type in NARROW:
            vi.type.tensor_type.elem_type = NARROW[vi.type.tensor_type.elem_type].storage.to_onnx()
    for init in g.initializer:
        if init.data_type in NARROW:
            init.CopyFrom(_storage_tensor(init))
    rw = _Rewriter(types, ranks, opset)
    nodes: list[onnx.NodeProto] = []
    for i, n in enumerate(g.node):
        nodes += rw.node(n, n.name or f"{n.op_type}_{i}")
    del g.node[:]
    g.node.extend(nodes)
    return out, interface


def _mentions_narrow(g: onnx.GraphProto) -> bool:
    if any(t.data_type in NARROW for t in g.initializer):
        return True
    for vi in (*g.input, *g.output, *g.value_info):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type in NARROW:
            return True
    for n in g.node:
        for a in n.attribute:
            if a.name in ("to", "output_dtype") and a.i in NARROW:
                return True
            if a.type == onnx.AttributeProto.TENSOR and a.t.data_type in NARROW:
                return True
    return False


def _types(g: onnx.GraphProto) -> tuple[dict[str, int], dict[str, int]]:
    types: dict[str, int] = {}
    ranks: dict[str, int] = {}
    for vi in (*g.input, *g.output, *g.value_info):
        if vi.type.HasField("tensor_type"):
            tt = vi.type.tensor_type
            types[vi.name] = tt.elem_type
            if tt.HasField("shape"):
                ranks[vi.name] = len(tt.shape.dim)
    for t in g.initializer:
        types[t.name], ranks[t.name] = t.data_type, len(t.dims)
    return types, ranks


def _storage_tensor(t: onnx.TensorProto) -> onnx.TensorProto:
    return numpy_helper.from_array(to_storage(np.asarray(numpy_helper.to_array(t))), t.name)


class _Rewriter:
    def __init__(self, types: dict[str, int], ranks: dict[str, int], opset: int) -> None:
        self.types, self.ranks, self.opset = types, ranks, opset
        self.count = 0

    def fresh(self, base: str) -> str:
        self.count += 1
        return f"{base}__narrow{self.count}"

    def narrow(self, name: str) -> NarrowType | None:
        return NARROW.get(self.types.get(name, 0)) if name else None

    def node(self, n: onnx.NodeProto, name: str) -> list[onnx.NodeProto]:
        if n.op_type == "Constant" or n.op_type == "ConstantOfShape":
            for a in n.attribute:
                if a.type == onnx.AttributeProto.TENSOR and a.t.data_type in NARROW:
                    a.t.CopyFrom(_storage_tensor(a.t))
            return [n]
        ins = [self.narrow(x) for x in n.input]
        outs = [self.narrow(x) for x in n.output]
        to = next((a.i for a in n.attribute if a.name == "to"), None)
        if n.op_type in ("Cast", "CastLike"):
            dst = self.types.get(n.input[1], 0) if n.op_type == "CastLike" else to
            if dst is None or not dst:
                return [n]
            if not ins[0] and dst not in NARROW:
                return [n]
            attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
            return _Emit(self, name).cast(n.input[0], self.types.get(n.input[0], 0), int(dst), n.output[0],
                                          int(attrs.get("saturate", 1)), _text(attrs.get("round_mode", b"up")))
        if n.op_type == "QuantizeLinear" and outs[0]:
            return _Emit(self, name).quantize(n, outs[0])
        if n.op_type == "DequantizeLinear" and ins[0]:
            return _Emit(self, name).dequantize(n, ins[0])
        held = [t for t in (*ins, *outs) if t is not None]
        if not held or n.op_type in MOVES:
            return [n]
        if all(t.wide for t in held) and n.op_type in WIDE_OPS:
            return _Emit(self, name).wide(n, held[0])
        raise UnsupportedOperatorError(
            f"{where(name, n.op_type, self.opset)}: reads or produces {held[0].name} tensors; WebDNN holds "
            f"{held[0].name} in {held[0].storage.value} and runs Cast, CastLike, QuantizeLinear, DequantizeLinear "
            "and data-movement ops on it, not this op. Cast the tensor to float32 before the op")


def _text(v: object) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


class _Emit:
    """The nodes replacing one node; constants go in as Constant nodes."""

    def __init__(self, rw: _Rewriter, name: str) -> None:
        self.rw, self.name, self.nodes = rw, name, []

    def op(self, op_type: str, inputs: Iterable[str], out: str | None = None, **attrs: object) -> str:
        out = out or self.rw.fresh(self.name)
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=self.rw.fresh(self.name), **attrs))
        return out

    def const(self, a: np.ndarray) -> str:
        return self.op("Constant", [], value=numpy_helper.from_array(np.asarray(a)))

    def unsqueeze_last(self, x: str) -> str:
        if self.rw.opset >= 13:
            return self.op("Unsqueeze", [x, self.const(np.array([-1], np.int64))])
        return self.op("Unsqueeze", [x], axes=[-1])

    def reduce_sum_last(self, x: str) -> str:
        if self.rw.opset >= 13:
            return self.op("ReduceSum", [x, self.const(np.array([-1], np.int64))], keepdims=0)
        return self.op("ReduceSum", [x], axes=[-1], keepdims=0)

    def count(self, a1: str, thresholds: np.ndarray, strict: bool) -> str:
        """How many of `thresholds` the unsqueezed |x| `a1` passes (>, or >= where not strict), float32."""
        cmp = self.op("Greater", [a1, self.const(thresholds.astype(np.float32))]) if strict else \
            self.op("Not", [self.op("Less", [a1, self.const(thresholds.astype(np.float32))])])
        return self.reduce_sum_last(self.op("Cast", [cmp], to=F32))

    # --- the conversions --------------------------------------------------------------------
    def decode(self, code: str, t: NarrowType) -> str:
        if t.onnx == TensorProto.BFLOAT16:
            return self._decode_bf16(code)
        return self.op("Gather", [self.const(t.decode_table()), self.op("Cast", [code], to=TensorProto.INT32)],
                       axis=0)

    def encode(self, v: str, t: NarrowType, saturate: bool, round_mode: str, out: str) -> str:
        """float32 `v` -> `t`'s codes (uint8) in `out`."""
        a = self.op("Abs", [v])
        a1 = self.unsqueeze_last(a)
        f = self.f32
        if t.onnx == TensorProto.BFLOAT16:
            return self._encode_bf16(v, a, a1, out)
        table = t.decode_table().astype(np.float64)
        if t.onnx == TensorProto.FLOAT8E8M0:
            code = self._encode_e8m0(a, a1, saturate, round_mode)
        else:
            half = len(table) // 2
            pos = table[:half]
            m = int(np.argmax(~np.isfinite(pos))) if not np.isfinite(pos).all() else half  # finite codes 0..m-1
            vals = pos[:m]
            mids = (vals[:-1] + vals[1:]) / 2
            up_even = (np.arange(1, m) % 2) == 0  # a tie goes to the even code
            mag = self.op("Add", [self.count(a1, mids[~up_even], True), self.count(a1, mids[up_even], False)])
            fnuz = t.onnx in (TensorProto.FLOAT8E4M3FNUZ, TensorProto.FLOAT8E5M2FNUZ)
            neg = self.op("Less", [v, f(0.0)])
            if fnuz:  # no negative zero
                neg = self.op("And", [neg, self.op("Greater", [mag, f(0.0)])])
            code = self.op("Add", [mag, self.op("Mul", [self.op("Cast", [neg], to=F32), f(float(half))])])
            nan_code = {TensorProto.FLOAT8E4M3FN: 0x7F, TensorProto.FLOAT8E5M2: 0x7F,
                        TensorProto.FLOAT4E2M1: 0x8}.get(t.onnx, 0x80)  # float4 has no NaN: -0, as ml_dtypes
            if not saturate and t.onnx != TensorProto.FLOAT4E2M1:
                # [x] beyond the largest value: the next (virtual) code's threshold, ties to even
                top = (vals[-1] + (vals[-1] + (vals[-1] - vals[-2]))) / 2
                over = self.op("Greater", [a, f(top)]) if m % 2 else self.op("Not", [self.op("Less", [a, f(top)])])
                if t.onnx == TensorProto.FLOAT8E5M2:  # to the infinity of the sign
                    inf = self.op("Add", [f(124.0), self.op("Mul", [self.op("Cast", [neg], to=F32), f(128.0)])])
                    code = self.op("Where", [over, inf, code])
                else:
                    code = self.op("Where", [over, f(float(nan_code)), code])
            code = self.op("Where", [self.op("IsNaN", [v]), f(float(nan_code)), code])
        return self.op("Cast", [code], out, to=TensorProto.UINT8)

    def _decode_bf16(self, bits: str) -> str:
        """int16 bits -> float32: sign, 8 exponent bits e, 7 mantissa bits m; |x| = (m + 128 [e > 0]) * 2^(max(e, 1)
        - 134), exactly (a float32 holds every bfloat16); e = 255 is inf (m = 0) or NaN."""
        u = self.op("Mod", [self.op("Cast", [bits], to=TensorProto.INT32), self.i32(65536)], fmod=0)  # 0..65535
        e = self.op("Mod", [self.op("Div", [u, self.i32(128)]), self.i32(256)], fmod=0)
        m = self.op("Mod", [u, self.i32(128)], fmod=0)
        normal = self.op("Greater", [e, self.i32(0)])
        mant = self.op("Add", [m, self.op("Mul", [self.op("Cast", [normal], to=TensorProto.INT32), self.i32(128)])])
        scale = np.exp2(np.maximum(np.arange(256), 1) - 134.0).astype(np.float32)
        mag = self.op("Mul", [self.op("Cast", [mant], to=F32), self.op("Gather", [self.const(scale), e], axis=0)])
        nan = self.op("And", [self.op("Equal", [e, self.i32(255)]), self.op("Greater", [m, self.i32(0)])])
        mag = self.op("Where", [nan, self.f32(float("nan")), mag])
        sign = self.op("Sub", [self.f32(1.0), self.op("Mul", [self.op("Cast", [self.op("Div", [u, self.i32(32768)])],
                                                                     to=F32), self.f32(2.0)])])
        return self.op("Mul", [mag, sign])  # (a product keeps -0; onnxruntime's Where drops it)

    def _encode_bf16(self, v: str, a: str, a1: str, out: str) -> str:
        """float32 -> bfloat16 bits (int16), round to nearest even: the float32 exponent field E of |x| counted
        against the powers of two, the mantissa as round(|x| / 2^(max(E, 1) - 134)) (a carry moves into the
        exponent, and past the largest value to inf, by itself), then inf, NaN and the sign."""
        f = self.f32
        e = self.count(a1, np.exp2(np.arange(1, 255) - 127.0), False)  # 0 (zero, subnormal) .. 254
        q = np.exp2(np.maximum(np.arange(255), 1) - 134.0).astype(np.float32)
        r = self.op("Round", [self.op("Div", [a, self.op("Gather", [self.const(q), self.op(
            "Cast", [e], to=TensorProto.INT32)], axis=0)])])
        normal = self.op("Cast", [self.op("Greater", [e, f(0.0)])], to=F32)
        code = self.op("Sub", [self.op("Add", [self.op("Mul", [e, f(128.0)]), r]), self.op("Mul", [normal, f(128.0)])])
        code = self.op("Where", [self.op("Not", [self.op("Less", [a, f(float("inf"))])]), f(32640.0), code])  # inf
        neg = self.op("Cast", [self.op("Less", [v, f(0.0)])], to=F32)
        code = self.op("Add", [code, self.op("Mul", [neg, f(32768.0)])])
        code = self.op("Where", [self.op("IsNaN", [v]), f(32704.0), code])  # 0x7FC0
        wrapped = self.op("Where", [self.op("Less", [code, f(32768.0)]), code, self.op("Sub", [code, f(65536.0)])])
        return self.op("Cast", [wrapped], out, to=TensorProto.INT16)

    def _encode_e8m0(self, a: str, a1: str, saturate: bool, round_mode: str) -> str:
        """float32 |x| -> e8m0 code (float32): onnx.numpy_helper.to_float8e8m0's rules (the float32
        exponent, rounded by the mantissa; inf and NaN give NaN whatever `saturate`)."""
        f = self.f32
        p = np.exp2(np.arange(-127, 128, dtype=np.float64))  # 2^(k-127), k = 0..254
        last = 255 if not saturate else 254  # the count reaching 255 is NaN
        if round_mode == "up":  # ceil: code k+1 once |x| > 2^(k-127) (and code 1 once > 0)
            code = self.count(a1, np.concatenate([[0.0], p[1:last]]), True)
        elif round_mode == "down":
            code = self.count(a1, p[1:255], False)
        elif round_mode == "nearest":  # ties above the subnormal range round up
            code = self.op("Add", [self.count(a1, p[:1], True), self.count(a1, 1.5 * p[1:last], False)])
        else:
            raise UnsupportedOperatorError(f"{where(self.name, 'Cast', self.rw.opset)}: round_mode {round_mode!r} "
                                           "is not one of up, down, nearest")
        special = self.op("Not", [self.op("Less", [a, f(float("inf"))])])  # inf or NaN
        return self.op("Where", [special, f(255.0), code])

    def i32(self, x: int) -> str:
        return self.const(np.array(x, np.int32))

    def f32(self, x: float) -> str:
        return self.const(np.array(x, np.float32))

    def to_float32(self, x: str, src: int) -> str:
        t = NARROW.get(src)
        if t is not None and t.is_float:
            return self.decode(x, t)
        return x if src == F32 else self.op("Cast", [x], to=F32)

    def cast(self, x: str, src: int, dst: int, out: str, saturate: int, round_mode: str) -> list[onnx.NodeProto]:
        s, d = NARROW.get(src), NARROW.get(dst)
        if d is None:  # to a type WebDNN has: a float source decoded, an integer one already holds its value
            v = self.to_float32(x, src) if s is not None and s.is_float else x
            self.op("Cast", [v], out, to=dst)
        elif d.is_float:
            self.encode(self.to_float32(x, src), d, bool(saturate), round_mode, out)
        else:
            lo, hi = d.int_range
            from_float = (s is not None and s.is_float) or src in FLOATS
            work, num = (TensorProto.INT64, np.int64) if d.onnx == TensorProto.UINT32 else (TensorProto.INT32, np.int32)

            def k(value: int) -> str:
                return self.const(np.array(value, num))

            v = self.op("Cast", [self.to_float32(x, src) if s is not None and s.is_float else x], to=work)
            if from_float:  # truncated toward zero; out of range (undefined in ONNX): 0, as onnx's reference gives
                inside = self.op("And", [self.op("Not", [self.op("Less", [v, k(lo)])]),
                                         self.op("Not", [self.op("Greater", [v, k(hi)])])])
                w = self.op("Where", [inside, v, k(0)])
            else:  # an integer keeps its low bits (Cast's rule), read as a value of the range
                w = self.op("Mod", [self.op("Sub", [v, k(lo)]) if lo else v, k(hi - lo + 1)], fmod=0)
                if lo:
                    w = self.op("Add", [w, k(lo)])
            self.op("Cast", [w], out, to=d.storage.to_onnx())
        return self.nodes

    def wide(self, n: onnx.NodeProto, t: NarrowType) -> list[onnx.NodeProto]:
        """An op on uint16/uint32 values held in int32/int64 (WIDE_OPS)."""
        lo, hi = t.int_range
        span = np.array(hi - lo + 1, t.storage.numpy)
        if n.op_type == "BitwiseNot":
            self.op("BitwiseXor", [n.input[0], self.const(np.array(hi, t.storage.numpy))], n.output[0])
            return self.nodes
        if n.op_type == "Pow" and self.rw.narrow(n.input[0]) is not None:
            raise UnsupportedOperatorError(f"{where(self.name, n.op_type, self.rw.opset)}: Pow of a {t.name} base "
                                           "(its results wrap); cast the base to float32 first")
        direction = next((helper.get_attribute_value(a) for a in n.attribute if a.name == "direction"), b"")
        if n.op_type not in WRAPPED or (n.op_type == "BitShift" and _text(direction) == "RIGHT"):
            self.nodes.append(n)
            return self.nodes
        q = onnx.NodeProto()
        q.CopyFrom(n)
        q.output[0] = self.rw.fresh(self.name)
        self.nodes.append(q)
        self.op("Mod", [q.output[0], self.const(span)], n.output[0], fmod=0)  # (non-negative: the divisor's sign)
        return self.nodes

    def broadcast(self, n: onnx.NodeProto, like: str, values: str) -> str:
        """`values` (a scale-shaped float32 tensor) broadcast to `like`'s shape as DequantizeLinear
        would broadcast a scale: a DequantizeLinear of ones with `values` as the scale."""
        ones = self.op("Cast", [self.op("Equal", [like, like])], to=TensorProto.INT32)
        keep = {a.name: helper.get_attribute_value(a) for a in n.attribute if a.name in ("axis", "block_size")}
        return self.op("DequantizeLinear", [ones, values], **keep)

    def dequantize(self, n: onnx.NodeProto, t: NarrowType) -> list[onnx.NodeProto]:
        x, scale = n.input[0], n.input[1]
        if not t.is_float:  # the value is held: the op's own rule, with 8-bit x and zero point
            self.nodes.append(n)
            return self.nodes
        out_t = self.rw.types.get(n.output[0], F32)
        v = self.decode(x, t)
        scale32 = self.to_float32(scale, self.rw.types.get(scale, F32))
        if len(n.input) > 2 and n.input[2]:
            v = self.op("Sub", [v, self.broadcast(n, x, self.decode(n.input[2], t))])
        y = self.op("Mul", [v, self.broadcast(n, x, scale32)])
        self.op("Cast", [y], n.output[0], to=out_t) if out_t != F32 else self.op("Identity", [y], n.output[0])
        return self.nodes

    def quantize(self, n: onnx.NodeProto, t: NarrowType) -> list[onnx.NodeProto]:
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        x, scale = n.input[0], n.input[1]
        zero = n.input[2] if len(n.input) > 2 and n.input[2] else None
        if not t.is_float:  # quantized to the 8-bit storage type, then clipped to the narrow range: the same answer
            q = onnx.NodeProto()
            q.CopyFrom(n)
            q.output[0] = self.rw.fresh(self.name)
            for a in q.attribute:
                if a.name == "output_dtype" and a.i in NARROW:
                    a.i = t.storage.to_onnx()
            self.nodes.append(q)
            lo, hi = t.int_range
            dt = t.storage.numpy
            self.op("Clip", [q.output[0], self.const(np.array(lo, dt)), self.const(np.array(hi, dt))], n.output[0])
            return self.nodes
        x32 = self.to_float32(x, self.rw.types.get(x, F32))
        scale32 = self.to_float32(scale, self.rw.types.get(scale, F32))
        v = self.op("Div", [x32, self.broadcast(n, x, scale32)])
        if zero is not None:
            v = self.op("Add", [v, self.broadcast(n, x, self.decode(zero, t))])
        self.encode(v, t, bool(attrs.get("saturate", 1)), "up", n.output[0])
        return self.nodes
