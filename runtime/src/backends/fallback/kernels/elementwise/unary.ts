// Unary kernels: the float unary ops and activations run the expression program the
// transpiler writes into `attrs.expr` (their one definition is src/webdnn/ops/unary_ops.py;
// see ../expr.ts); the ops also defined on integer tensors (Relu, Neg, Abs, Sign, Clip) keep
// their integer loops here, as does BitwiseNot (integers only); IsNaN/IsInf and Not.

import { attrFloat } from "../attrs.js";
import { ExprProgram } from "../expr.js";
import { registerExprKernel, registerKernel, type TensorView } from "../registry.js";
import { expectDType, fail, FLOATS, isFastFloat, need, numReader, numWriter, type FloatArray } from "./common.js";
import { expectShape, flag } from "../shape.js";

const INTS = ["int64", "int32", "int16", "int8", "uint8"] as const;

// Integer forms: on numbers (int32 and narrower) and on bigints (int64).
interface IntOp { f: (x: number) => number; big: (x: bigint) => bigint }

const INTEGER: Record<string, (a: Readonly<Record<string, unknown>>) => IntOp> = {
  Relu: () => ({ f: (v) => (v < 0 ? 0 : v), big: (v) => (v > 0n ? v : 0n) }),
  Neg: () => ({ f: (v) => -v, big: (v) => -v }),
  Abs: () => ({ f: Math.abs, big: (v) => (v < 0n ? -v : v) }),
  Sign: () => ({ f: Math.sign, big: (v) => (v > 0n ? 1n : v < 0n ? -1n : 0n) }),
  // int32 two's complement on numbers (the typed-array store wraps uint8: ~37 = -38 -> 218)
  BitwiseNot: () => ({ f: (v) => ~v, big: (v) => ~v }),
  Clip: (a) => {
    const lo = attrFloat(a, "min", -Infinity);
    const hi = attrFloat(a, "max", Infinity);
    const bigLo = Number.isFinite(lo) ? BigInt(Math.ceil(lo)) : null;
    const bigHi = Number.isFinite(hi) ? BigInt(Math.floor(hi)) : null;
    return {
      // min(max(x, lo), hi) as onnxruntime: hi wins when lo > hi
      f: (v) => { const t = v < lo ? lo : v; return t > hi ? hi : t; },
      big: (v) => {
        const t = bigLo !== null && v < bigLo ? bigLo : v;
        return bigHi !== null && t > bigHi ? bigHi : t;
      },
    };
  },
};

registerKernel(Object.keys(INTEGER), (inputs, outputs, attrs, op) => {
  const x = need(inputs[0], op, "input");
  const y = need(outputs[0], op, "output");
  if (FLOATS.includes(x.dtype) && op !== "BitwiseNot") {
    throw fail(op, "a float input needs the expression program (attrs.expr) that the converter writes; reconvert the model");
  }
  expectDType(op, x, INTS);
  if (x.dtype !== y.dtype || x.size !== y.size) throw fail(op, "input and output differ in dtype or size");
  const spec = INTEGER[op]!(attrs);
  const n = x.size;
  if (x.dtype === "int64") {
    const xd = x.data as BigInt64Array;
    const yd = y.data as BigInt64Array;
    return () => {
      for (let i = 0; i < n; i++) yd[i] = spec.big(xd[i]!);
    };
  }
  const r = numReader(x);
  const w = numWriter(y);
  return () => {
    for (let i = 0; i < n; i++) w(i, spec.f(r(i)));
  };
});

/** Any op with attrs.expr: y = f(x) elementwise on float tensors of one shape. */
registerExprKernel((inputs, outputs, attrs, op) => {
  const x = need(inputs[0], op, "input");
  const y = need(outputs[0], op, "output");
  expectDType(op, x, FLOATS);
  if (x.dtype !== y.dtype || x.size !== y.size) throw fail(op, "input and output differ in dtype or size");
  const prog = new ExprProgram(attrs.expr, "attrs.expr");
  const n = x.size;
  if (isFastFloat(x.dtype)) {
    const xd = x.data as FloatArray;
    const yd = y.data as FloatArray;
    return () => prog.apply(xd, 0, yd, 0, n);
  }
  const r = numReader(x);
  const w = numWriter(y);
  return () => prog.applyWith(r, w, n);
});

/** `y` is a bool tensor of x's shape (the loop runs over y and reads x at the same index). */
function boolOf(op: string, x: TensorView, y: TensorView): void {
  if (y.dtype !== "bool") throw fail(op, `output is ${y.dtype}, not bool`);
  expectShape(op, y, x.shape);
}

registerKernel(["IsNaN", "IsInf"], (inputs, outputs, attrs, op) => {
  const x = need(inputs[0], op, "input");
  const out = need(outputs[0], op, "output");
  expectDType(op, x, FLOATS);
  boolOf(op, x, out);
  const y = out.data as Uint8Array;
  const r = numReader(x);
  const neg = flag(op, attrs, "detect_negative", 1);
  const pos = flag(op, attrs, "detect_positive", 1);
  const test = op === "IsNaN"
    ? (v: number) => v !== v
    : (v: number) => (v === Infinity && pos) || (v === -Infinity && neg);
  return () => {
    for (let i = 0; i < y.length; i++) y[i] = test(r(i)) ? 1 : 0;
  };
});

registerKernel("Not", (inputs, outputs, _attrs, op) => {
  const xv = need(inputs[0], op, "input");
  const yv = need(outputs[0], op, "output");
  if (xv.dtype !== "bool") throw fail(op, `input is ${xv.dtype}, not bool`);
  boolOf(op, xv, yv);
  const x = xv.data as Uint8Array;
  const y = yv.data as Uint8Array;
  return () => {
    for (let i = 0; i < y.length; i++) y[i] = x[i] ? 0 : 1;
  };
});
