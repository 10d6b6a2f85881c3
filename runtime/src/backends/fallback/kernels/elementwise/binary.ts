// Broadcasting binary kernels (arithmetic, comparisons, logic, bitwise ops and BitShift, PRelu), the
// variadic Max/Min/Sum/Mean, and Where.
//
// float32/float64 operands of one dtype run per-op tight loops (one function literal
// per op so V8 keeps each loop monomorphic); every other dtype combination goes
// through a generic path that reads elements as numbers (or bigints for int64).

import type { DType } from "../../../../dtypes.js";
import { attrString } from "../attrs.js";
import { registerKernel, type Attrs, type TensorView } from "../registry.js";
import { broadcastCopy, broadcastPlan } from "./broadcast.js";
import { expectBroadcast, flag } from "../shape.js";
import {
  bigReader, bigWriter, elems, fail, isFastFloat, need, numReader, numWriter, type FloatArray, type NumArray,
} from "./common.js";

/** y[yo + i] = a[ao + i * sa] OP b[bo + i * sb] for i < n. */
type Row = (y: NumArray, yo: number, a: FloatArray, ao: number, sa: number, b: FloatArray, bo: number,
  sb: number, n: number) => void;

interface BinaryOp {
  /** Fast path for float32/float64 (absent: always generic). */
  row?: Row;
  /** Float semantics on numbers (float16, mixed dtypes). */
  num: (a: number, b: number) => number | boolean;
  /** Integer semantics on numbers (int32 and narrower); defaults to `num`. */
  int?: (a: number, b: number) => number | boolean;
  /** int64 semantics. */
  big: (a: bigint, b: bigint) => bigint | boolean;
}

const I64_ZERO = 0n;

/** Integer power by squaring, wrapping to 64 bits; negative exponents as onnxruntime (pow, then cast). */
function powBig(a: bigint, b: bigint): bigint {
  if (b < 0n) return a === 1n ? 1n : a === -1n ? (b % 2n === 0n ? 1n : -1n) : 0n;
  let r = 1n;
  let base = a;
  for (let e = b; e > 0n; e >>= 1n) {
    if (e & 1n) r = BigInt.asIntN(64, r * base);
    base = BigInt.asIntN(64, base * base);
  }
  return r;
}

/** Integer modulo with the divisor's sign (ONNX Mod, fmod=0). */
function modInt(a: number, b: number): number {
  if (b === 0) return 0;
  const r = a % b;
  return r !== 0 && r < 0 !== b < 0 ? r + b : r;
}

function modBig(a: bigint, b: bigint): bigint {
  if (b === 0n) return 0n;
  const r = a % b;
  return r !== 0n && r < 0n !== b < 0n ? r + b : r;
}

const ARITH: Record<string, BinaryOp> = {
  Add: {
    row: (y, yo, a, ao, sa, b, bo, sb, n) => { for (let i = 0; i < n; i++, ao += sa, bo += sb) y[yo + i] = a[ao]! + b[bo]!; },
    num: (a, b) => a + b,
    big: (a, b) => a + b,
  },
  Sub: {
    row: (y, yo, a, ao, sa, b, bo, sb, n) => { for (let i = 0; i < n; i++, ao += sa, bo += sb) y[yo + i] = a[ao]! - b[bo]!; },
    num: (a, b) => a - b,
    big: (a, b) => a - b,
  },
  Mul: {
    row: (y, yo, a, ao, sa, b, bo, sb, n) => { for (let i = 0; i < n; i++, ao += sa, bo += sb) y[yo + i] = a[ao]! * b[bo]!; },
    num: (a, b) => a * b,
    int: (a, b) => Math.imul(a, b),
    big: (a, b) => a * b,
  },
  Div: {
    row: (y, yo, a, ao, sa, b, bo, sb, n) => { for (let i = 0; i < n; i++, ao += sa, bo += sb) y[yo + i] = a[ao]! / b[bo]!; },
    num: (a, b) => a / b,
    int: (a, b) => (b === 0 ? 0 : Math.trunc(a / b)),
    big: (a, b) => (b === I64_ZERO ? I64_ZERO : a / b),
  },
  Pow: {
    row: (y, yo, a, ao, sa, b, bo, sb, n) => { for (let i = 0; i < n; i++, ao += sa, bo += sb) y[yo + i] = Math.pow(a[ao]!, b[bo]!); },
    num: (a, b) => Math.pow(a, b),
    int: (a, b) => Math.trunc(Math.pow(a, b)),
    big: powBig,
  },
  Max: {
    row: (y, yo, a, ao, sa, b, bo, sb, n) => { for (let i = 0; i < n; i++, ao += sa, bo += sb) y[yo + i] = Math.max(a[ao]!, b[bo]!); },
    num: (a, b) => Math.max(a, b),
    big: (a, b) => (a > b ? a : b),
  },
  Min: {
    row: (y, yo, a, ao, sa, b, bo, sb, n) => { for (let i = 0; i < n; i++, ao += sa, bo += sb) y[yo + i] = Math.min(a[ao]!, b[bo]!); },
    num: (a, b) => Math.min(a, b),
    big: (a, b) => (a < b ? a : b),
  },
  PRelu: {
    row: (y, yo, a, ao, sa, b, bo, sb, n) => {
      for (let i = 0; i < n; i++, ao += sa, bo += sb) { const v = a[ao]!; y[yo + i] = v < 0 ? v * b[bo]! : v; }
    },
    num: (a, b) => (a < 0 ? a * b : a),
    int: (a, b) => (a < 0 ? Math.imul(a, b) : a),
    big: (a, b) => (a < 0n ? a * b : a),
  },
  Equal: {
    row: (y, yo, a, ao, sa, b, bo, sb, n) => { for (let i = 0; i < n; i++, ao += sa, bo += sb) y[yo + i] = a[ao]! === b[bo]! ? 1 : 0; },
    num: (a, b) => a === b,
    big: (a, b) => a === b,
  },
  Less: {
    row: (y, yo, a, ao, sa, b, bo, sb, n) => { for (let i = 0; i < n; i++, ao += sa, bo += sb) y[yo + i] = a[ao]! < b[bo]! ? 1 : 0; },
    num: (a, b) => a < b,
    big: (a, b) => a < b,
  },
  Greater: {
    row: (y, yo, a, ao, sa, b, bo, sb, n) => { for (let i = 0; i < n; i++, ao += sa, bo += sb) y[yo + i] = a[ao]! > b[bo]! ? 1 : 0; },
    num: (a, b) => a > b,
    big: (a, b) => a > b,
  },
  LessOrEqual: {
    row: (y, yo, a, ao, sa, b, bo, sb, n) => { for (let i = 0; i < n; i++, ao += sa, bo += sb) y[yo + i] = a[ao]! <= b[bo]! ? 1 : 0; },
    num: (a, b) => a <= b,
    big: (a, b) => a <= b,
  },
  GreaterOrEqual: {
    row: (y, yo, a, ao, sa, b, bo, sb, n) => { for (let i = 0; i < n; i++, ao += sa, bo += sb) y[yo + i] = a[ao]! >= b[bo]! ? 1 : 0; },
    num: (a, b) => a >= b,
    big: (a, b) => a >= b,
  },
  And: { num: (a, b) => a & b, big: (a, b) => a !== 0n && b !== 0n },
  Or: { num: (a, b) => a | b, big: (a, b) => a !== 0n || b !== 0n },
  Xor: { num: (a, b) => a ^ b, big: (a, b) => (a !== 0n) !== (b !== 0n) },
  // integers only: on numbers JS computes in int32 two's complement, which the typed-array store
  // wraps to the type's width; bigints act as infinite two's complement, so int64 stays in range
  BitwiseAnd: { num: (a, b) => a & b, big: (a, b) => a & b },
  BitwiseOr: { num: (a, b) => a | b, big: (a, b) => a | b },
  BitwiseXor: { num: (a, b) => a ^ b, big: (a, b) => a ^ b },
};

const MOD: BinaryOp = {
  num: (a, b) => modInt(a, b),
  big: modBig,
};
const FMOD: BinaryOp = {
  row: (y, yo, a, ao, sa, b, bo, sb, n) => { for (let i = 0; i < n; i++, ao += sa, bo += sb) y[yo + i] = a[ao]! % b[bo]!; },
  num: (a, b) => a % b,
  int: (a, b) => (b === 0 ? 0 : a % b),
  big: (a, b) => (b === 0n ? 0n : a % b),
};

/** Bits of the integer types BitShift takes. */
const INT_BITS: Partial<Record<DType, number>> = { int64: 64, int32: 32, int16: 16, int8: 8, uint8: 8 };

/** BitShift on a type of `bits` bits, as ONNX (opset 28) defines it: a right shift is arithmetic
 *  (unsigned values are non-negative, so it is also the logical one), a left shift discards what
 *  passes the type's width (the typed-array store wraps numbers; int64 wraps here), and a count
 *  that is negative or the width or more leaves only the sign fill: -1 for a right shift of a
 *  negative x, 0 otherwise (JS would take the count modulo 32). */
function shiftOp(left: boolean, bits: number): BinaryOp {
  const w = BigInt(bits);
  return left
    ? {
      num: (a, b) => (b < 0 || b >= bits ? 0 : a << b),
      big: (a, b) => (b < 0n || b >= w ? 0n : BigInt.asIntN(64, a << b)),
    }
    : {
      num: (a, b) => (b < 0 || b >= bits ? (a < 0 ? -1 : 0) : a >> b),
      big: (a, b) => (b < 0n || b >= w ? (a < 0n ? -1n : 0n) : a >> b),
    };
}

function binaryOp(op: string, attrs: Attrs, dtype: DType): BinaryOp {
  if (op === "Mod") return flag(op, attrs, "fmod", 0) ? FMOD : MOD;
  if (op === "BitShift") return shiftOp(attrString(attrs, "direction") === "LEFT", INT_BITS[dtype]!);
  const spec = ARITH[op];
  if (!spec) throw fail(op, "no such binary op");
  return spec;
}

const INT_NUMBER: readonly DType[] = ["int32", "int16", "int8", "uint8", "bool"];

/** The closure computing y = a OP b with broadcasting. `a` may be `y` itself (same shape). */
export function binaryKernel(op: string, spec: BinaryOp, a: TensorView, b: TensorView, y: TensorView): () => void {
  const plan = broadcastPlan(y.shape, [a.shape, b.shape]);
  const { inner: n, offsets, innerStrides } = plan;
  const sa = innerStrides[0]!;
  const sb = innerStrides[1]!;
  const row = spec.row;
  if (row && isFastFloat(a.dtype) && a.dtype === b.dtype && (y.dtype === a.dtype || y.dtype === "bool")) {
    const ad = a.data as FloatArray;
    const bd = b.data as FloatArray;
    const yd = y.data as NumArray;
    return plan.runner((yo) => row(yd, yo, ad, offsets[0]!, sa, bd, offsets[1]!, sb, n));
  }
  if (a.dtype === "int64" && (b.dtype === "int64" || op !== "Pow")) {
    const ra = bigReader(a);
    const rb = bigReader(b);
    const w = bigWriter(y);
    const f = spec.big;
    return plan.runner((yo) => {
      let ao = offsets[0]!;
      let bo = offsets[1]!;
      for (let i = 0; i < n; i++, ao += sa, bo += sb) w(yo + i, f(ra(ao), rb(bo)));
    });
  }
  // Integer semantics when the computation is integral (a mixed int/float Pow computes in float).
  const integral = INT_NUMBER.includes(a.dtype) && (INT_NUMBER.includes(b.dtype) || b.dtype === "int64");
  const f = integral ? (spec.int ?? spec.num) : spec.num;
  const ra = numReader(a);
  const rb = numReader(b);
  const w = numWriter(y);
  return plan.runner((yo) => {
    let ao = offsets[0]!;
    let bo = offsets[1]!;
    for (let i = 0; i < n; i++, ao += sa, bo += sb) w(yo + i, f(ra(ao), rb(bo)));
  });
}

const COMPARE = new Set(["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"]);
const LOGIC = new Set(["And", "Or", "Xor"]);
const BITWISE = new Set(["BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitShift"]);

const BINARY_OPS = [
  "Add", "Sub", "Mul", "Div", "Pow", "Mod", "PRelu",
  "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", ...BITWISE,
];

registerKernel(BINARY_OPS, (inputs, outputs, attrs, op) => {
  const a = need(inputs[0], op, "input A");
  const b = need(inputs[1], op, "input B");
  const y = need(outputs[0], op, "output");
  expectBroadcast(op, [a, b], y);
  // ONNX's types: one T for both operands (Pow: any exponent type); comparisons give bool, And/Or/Xor take bool
  const out = COMPARE.has(op) || LOGIC.has(op) ? "bool" : a.dtype;
  if ((op !== "Pow" && a.dtype !== b.dtype) || y.dtype !== out || (LOGIC.has(op) && a.dtype !== "bool")
    || (BITWISE.has(op) && INT_BITS[a.dtype] === undefined)) {
    throw fail(op, `operand types ${a.dtype}, ${b.dtype} -> ${y.dtype} do not fit`);
  }
  return binaryKernel(op, binaryOp(op, attrs, a.dtype), a, b, y);
});

// Variadic ops fold pairwise into the output: y = x0 OP x1, then y = y OP xk.
registerKernel(["Max", "Min", "Sum", "Mean"], (inputs, outputs, _attrs, op) => {
  const y = need(outputs[0], op, "output");
  const xs = inputs.map((x, i) => need(x, op, `input ${i}`));
  if (xs.length === 0) throw fail(op, "needs at least one input");
  if (xs.some((x) => x.dtype !== y.dtype)) throw fail(op, `input types ${xs.map((x) => x.dtype)} are not the output's ${y.dtype}`);
  expectBroadcast(op, xs, y);
  const spec = ARITH[op === "Sum" || op === "Mean" ? "Add" : op]!;
  const steps: (() => void)[] = [];
  if (xs.length === 1) {
    steps.push(broadcastCopy(xs[0]!, y));
  } else {
    steps.push(binaryKernel(op, spec, xs[0]!, xs[1]!, y));
    for (let k = 2; k < xs.length; k++) steps.push(binaryKernel(op, spec, y, xs[k]!, y));
  }
  if (op === "Mean" && xs.length > 1) steps.push(divideBy(y, xs.length));
  return () => {
    for (const s of steps) s();
  };
});

function divideBy(y: TensorView, k: number): () => void {
  const r = numReader(y);
  const w = numWriter(y);
  if (isFastFloat(y.dtype)) {
    const d = y.data as FloatArray;
    return () => {
      for (let i = 0; i < d.length; i++) d[i] = d[i]! / k;
    };
  }
  return () => {
    for (let i = 0; i < y.size; i++) w(i, r(i) / k);
  };
}

registerKernel("Where", (inputs, outputs, _attrs, op) => {
  const c = need(inputs[0], op, "condition");
  const x = need(inputs[1], op, "X");
  const z = need(inputs[2], op, "Y");
  const y = need(outputs[0], op, "output");
  if (x.dtype !== y.dtype || z.dtype !== y.dtype) throw fail(op, "X, Y and the output must share a dtype");
  if (c.dtype !== "bool") throw fail(op, `condition is ${c.dtype}, not bool`);
  expectBroadcast(op, [c, x, z], y);
  const plan = broadcastPlan(y.shape, [c.shape, x.shape, z.shape]);
  const { inner: n, offsets } = plan;
  const [sc, sx, sz] = plan.innerStrides as [number, number, number];
  const cd = c.data as Uint8Array;
  const xd = elems(x);
  const zd = elems(z);
  const yd = elems(y);
  return plan.runner((yo) => {
    let co = offsets[0]!;
    let xo = offsets[1]!;
    let zo = offsets[2]!;
    for (let i = 0; i < n; i++, co += sc, xo += sx, zo += sz) yd[yo + i] = cd[co] ? xd[xo]! : zd[zo]!;
  });
});
