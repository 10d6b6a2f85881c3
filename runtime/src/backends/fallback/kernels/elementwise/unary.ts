// Unary kernels: activations and math functions, Clip, IsNaN/IsInf, Not.
//
// Hot float ops have their own loop literal (`row`); the others share a generic loop
// calling `f`. Integer tensors (Relu, Neg, Abs, Sign, Clip) use `f` on numbers, or
// `big` for int64.

import { attrFloat, attrString } from "../attrs.js";
import { registerKernel, type Attrs, type TensorView } from "../registry.js";
import {
  expectDType, fail, FLOATS, isFastFloat, need, numReader, numWriter, NUMERIC, type FloatArray,
} from "./common.js";
import { erf } from "./erf.js";
import { expectShape, flag } from "../shape.js";

interface UnaryOp {
  f: (x: number) => number;
  row?: (x: FloatArray, y: FloatArray, n: number) => void;
  big?: (x: bigint) => bigint;
}

const SQRT1_2 = Math.SQRT1_2;
const GELU_TANH_C = Math.sqrt(2 / Math.PI);

/** Round half to even (ONNX Round). */
function roundEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

function softplus(v: number): number {
  return v > 0 ? v + Math.log1p(Math.exp(-v)) : Math.log1p(Math.exp(v));
}

function sigmoid(v: number): number {
  return 1 / (1 + Math.exp(-v));
}

const UNARY: Record<string, (a: Attrs) => UnaryOp> = {
  // `v < 0 ? 0 : v`, not `v > 0 ? v : 0`: NaN passes through, as in onnxruntime
  Relu: () => ({
    f: (v) => (v < 0 ? 0 : v),
    row: (x, y, n) => { for (let i = 0; i < n; i++) { const v = x[i]!; y[i] = v < 0 ? 0 : v; } },
    big: (v) => (v > 0n ? v : 0n),
  }),
  LeakyRelu: (a) => {
    const alpha = attrFloat(a, "alpha", 0.01);
    return {
      f: (v) => (v >= 0 ? v : v * alpha),
      row: (x, y, n) => { for (let i = 0; i < n; i++) { const v = x[i]!; y[i] = v >= 0 ? v : v * alpha; } },
    };
  },
  Elu: (a) => {
    const alpha = attrFloat(a, "alpha", 1);
    return { f: (v) => (v >= 0 ? v : alpha * Math.expm1(v)) };
  },
  Selu: (a) => {
    const alpha = attrFloat(a, "alpha");
    const gamma = attrFloat(a, "gamma");
    return { f: (v) => (v > 0 ? gamma * v : gamma * alpha * Math.expm1(v)) };
  },
  Celu: (a) => {
    const alpha = attrFloat(a, "alpha", 1);
    return { f: (v) => Math.max(0, v) + Math.min(0, alpha * Math.expm1(v / alpha)) };
  },
  Sigmoid: () => ({
    f: sigmoid,
    row: (x, y, n) => { for (let i = 0; i < n; i++) y[i] = 1 / (1 + Math.exp(-x[i]!)); },
  }),
  HardSigmoid: (a) => {
    const alpha = attrFloat(a, "alpha", 0.2);
    const beta = attrFloat(a, "beta", 0.5);
    return {
      f: (v) => Math.max(0, Math.min(1, alpha * v + beta)),
      row: (x, y, n) => { for (let i = 0; i < n; i++) y[i] = Math.max(0, Math.min(1, alpha * x[i]! + beta)); },
    };
  },
  HardSwish: () => ({
    f: (v) => v * Math.max(0, Math.min(1, v / 6 + 0.5)),
    row: (x, y, n) => { for (let i = 0; i < n; i++) { const v = x[i]!; y[i] = v * Math.max(0, Math.min(1, v / 6 + 0.5)); } },
  }),
  Softplus: () => ({ f: softplus }),
  Softsign: () => ({ f: (v) => v / (1 + Math.abs(v)) }),
  Tanh: () => ({ f: Math.tanh, row: (x, y, n) => { for (let i = 0; i < n; i++) y[i] = Math.tanh(x[i]!); } }),
  Exp: () => ({ f: Math.exp, row: (x, y, n) => { for (let i = 0; i < n; i++) y[i] = Math.exp(x[i]!); } }),
  Log: () => ({ f: Math.log, row: (x, y, n) => { for (let i = 0; i < n; i++) y[i] = Math.log(x[i]!); } }),
  Sqrt: () => ({ f: Math.sqrt, row: (x, y, n) => { for (let i = 0; i < n; i++) y[i] = Math.sqrt(x[i]!); } }),
  Reciprocal: () => ({ f: (v) => 1 / v, row: (x, y, n) => { for (let i = 0; i < n; i++) y[i] = 1 / x[i]!; } }),
  Neg: () => ({ f: (v) => -v, row: (x, y, n) => { for (let i = 0; i < n; i++) y[i] = -x[i]!; }, big: (v) => -v }),
  Abs: () => ({ f: Math.abs, row: (x, y, n) => { for (let i = 0; i < n; i++) y[i] = Math.abs(x[i]!); }, big: (v) => (v < 0n ? -v : v) }),
  Floor: () => ({ f: Math.floor }),
  Ceil: () => ({ f: Math.ceil }),
  Round: () => ({ f: roundEven }),
  Sign: () => ({ f: Math.sign, big: (v) => (v > 0n ? 1n : v < 0n ? -1n : 0n) }),
  Erf: () => ({ f: erf, row: (x, y, n) => { for (let i = 0; i < n; i++) y[i] = erf(x[i]!); } }),
  Gelu: (a) => (attrString(a, "approximate", "none") === "tanh"
    ? {
      f: (v) => 0.5 * v * (1 + Math.tanh(GELU_TANH_C * (v + 0.044715 * v * v * v))),
      row: (x, y, n) => {
        for (let i = 0; i < n; i++) { const v = x[i]!; y[i] = 0.5 * v * (1 + Math.tanh(GELU_TANH_C * (v + 0.044715 * v * v * v))); }
      },
    }
    : {
      f: (v) => 0.5 * v * (1 + erf(v * SQRT1_2)),
      row: (x, y, n) => { for (let i = 0; i < n; i++) { const v = x[i]!; y[i] = 0.5 * v * (1 + erf(v * SQRT1_2)); } },
    }),
  Mish: () => ({ f: (v) => v * Math.tanh(softplus(v)) }),
  Sin: () => ({ f: Math.sin }),
  Cos: () => ({ f: Math.cos }),
  Tan: () => ({ f: Math.tan }),
  Asin: () => ({ f: Math.asin }),
  Acos: () => ({ f: Math.acos }),
  Atan: () => ({ f: Math.atan }),
  Sinh: () => ({ f: Math.sinh }),
  Cosh: () => ({ f: Math.cosh }),
  Asinh: () => ({ f: Math.asinh }),
  Acosh: () => ({ f: Math.acosh }),
  Atanh: () => ({ f: Math.atanh }),
  ThresholdedRelu: (a) => {
    const alpha = attrFloat(a, "alpha", 1);
    return { f: (v) => (v > alpha ? v : 0) };
  },
  Shrink: (a) => {
    const bias = attrFloat(a, "bias", 0);
    const lambd = attrFloat(a, "lambd", 0.5);
    return { f: (v) => (v < -lambd ? v + bias : v > lambd ? v - bias : 0) };
  },
  Clip: (a) => {
    const lo = attrFloat(a, "min", -Infinity);
    const hi = attrFloat(a, "max", Infinity);
    const bigLo = Number.isFinite(lo) ? BigInt(Math.ceil(lo)) : null;
    const bigHi = Number.isFinite(hi) ? BigInt(Math.floor(hi)) : null;
    return {
      // min(max(x, lo), hi) as onnxruntime: hi wins when lo > hi; NaN passes through.
      f: (v) => { const t = v < lo ? lo : v; return t > hi ? hi : t; },
      row: (x, y, n) => { for (let i = 0; i < n; i++) { const v = x[i]!; const t = v < lo ? lo : v; y[i] = t > hi ? hi : t; } },
      big: (v) => {
        const t = bigLo !== null && v < bigLo ? bigLo : v;
        return bigHi !== null && t > bigHi ? bigHi : t;
      },
    };
  },
};

// Ops defined on integer tensors too; the rest take floats only.
const INTEGER_OK = new Set(["Relu", "Neg", "Abs", "Sign", "Clip"]);

function unaryKernel(op: string, spec: UnaryOp, x: TensorView, y: TensorView): () => void {
  const n = x.size;
  if (isFastFloat(x.dtype) && x.dtype === y.dtype) {
    const xd = x.data as FloatArray;
    const yd = y.data as FloatArray;
    const row = spec.row;
    if (row) return () => row(xd, yd, n);
    const f = spec.f;
    return () => {
      for (let i = 0; i < n; i++) yd[i] = f(xd[i]!);
    };
  }
  if (x.dtype === "int64") {
    const big = spec.big;
    if (!big) throw fail(op, "int64 input is not supported");
    const xd = x.data as BigInt64Array;
    const yd = y.data as BigInt64Array;
    return () => {
      for (let i = 0; i < n; i++) yd[i] = big(xd[i]!);
    };
  }
  const r = numReader(x);
  const w = numWriter(y);
  const f = spec.f;
  return () => {
    for (let i = 0; i < n; i++) w(i, f(r(i)));
  };
}

registerKernel(Object.keys(UNARY), (inputs, outputs, attrs, op) => {
  const x = need(inputs[0], op, "input");
  const y = need(outputs[0], op, "output");
  expectDType(op, x, INTEGER_OK.has(op) ? NUMERIC : FLOATS);
  if (x.dtype !== y.dtype || x.size !== y.size) throw fail(op, "input and output differ in dtype or size");
  return unaryKernel(op, UNARY[op]!(attrs), x, y);
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
