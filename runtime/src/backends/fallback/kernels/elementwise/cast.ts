// Cast/CastLike (to the output's dtype, with onnxruntime's x86 conversions), Identity
// and inference-mode Dropout.

import { registerKernel, type TensorView } from "../registry.js";
import {
  copyInto, fail, FLOATS, floatToHalf, int64Words, need, numReader, storedValue, toInt32Bits, type NumArray,
} from "./common.js";

// int64 is read and written as pairs of 32-bit words (little-endian: low, high) rather than through BigInt64Array:
// each BigInt64Array element read or written is a BigInt, which WebKit allocates (an int64 Cast of a 49k-element
// attention mask took ~4 ms there). hi * 2^32 + (lo >>> 0) is one correctly rounded addition of two exact doubles,
// the same double as Number(bigint).
const TWO_32 = 4294967296;
const TWO_63 = 2 ** 63;

function castFromInt64(x: TensorView, y: TensorView): () => void {
  const w = int64Words(x);
  const n = x.size;
  if (y.dtype === "bool") {
    const yd = y.data as Uint8Array;
    return () => {
      for (let i = 0; i < n; i++) yd[i] = (w[2 * i]! | w[2 * i + 1]!) !== 0 ? 1 : 0;
    };
  }
  const yd = y.data as NumArray;
  if (y.dtype === "float16") {
    return () => {
      for (let i = 0; i < n; i++) yd[i] = floatToHalf(w[2 * i + 1]! * TWO_32 + (w[2 * i]! >>> 0));
    };
  }
  if (y.dtype === "float32" || y.dtype === "float64") {
    return () => {
      for (let i = 0; i < n; i++) yd[i] = w[2 * i + 1]! * TWO_32 + (w[2 * i]! >>> 0);
    };
  }
  // Narrower integers keep the low bits (the store wraps the low 32 further).
  return () => {
    for (let i = 0; i < n; i++) yd[i] = w[2 * i]!;
  };
}

/** number -> int64 words, as toBigInt64: truncation; NaN, infinities and out-of-range values give INT64_MIN.
 * For an integral |t| < 2^63 the division by 2^32, the floor, the product and the difference are all exact. */
function castToInt64(n: number, r: (i: number) => number, y: TensorView): () => void {
  const w = int64Words(y);
  return () => {
    for (let i = 0; i < n; i++) {
      const v = r(i);
      if (v >= -TWO_63 && v < TWO_63) {
        const t = Math.trunc(v);
        const hi = Math.floor(t / TWO_32);
        w[2 * i] = t - hi * TWO_32;
        w[2 * i + 1] = hi;
      } else {
        w[2 * i] = 0;
        w[2 * i + 1] = -2147483648;
      }
    }
  };
}

export function castKernel(op: string, x: TensorView, y: TensorView): () => void {
  if (x.size !== y.size) throw fail(op, "input and output sizes differ");
  if (x.dtype === y.dtype) return copyInto(op, x, y);
  if (x.dtype === "int64") return castFromInt64(x, y);
  const n = x.size;
  const r = numReader(x);
  const fromFloat = FLOATS.includes(x.dtype);
  if (y.dtype === "int64") return castToInt64(n, r, y);
  const yd = y.data as NumArray;
  if (y.dtype === "bool") {
    return () => {
      for (let i = 0; i < n; i++) yd[i] = r(i) !== 0 ? 1 : 0; // NaN is true, as in C++
    };
  }
  if (y.dtype === "float16") {
    return () => {
      for (let i = 0; i < n; i++) yd[i] = floatToHalf(r(i));
    };
  }
  if (fromFloat && !FLOATS.includes(y.dtype)) {
    return () => {
      for (let i = 0; i < n; i++) yd[i] = toInt32Bits(r(i));
    };
  }
  if (x.dtype !== "float16") {
    // Number -> number: a typed-array store rounds (floats) or wraps (integers) as C++ does.
    const src = x.data as Float64Array;
    const dst = y.data as Float64Array;
    return () => dst.set(src);
  }
  return () => {
    for (let i = 0; i < n; i++) yd[i] = r(i);
  };
}

// ONNX TensorProto element types -> dtypes
const ONNX_TYPES: Record<number, string> = { 1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64", 9: "bool", 10: "float16", 11: "float64" };

registerKernel(["Cast", "CastLike"], (inputs, outputs, attrs, op) => {
  const y = need(outputs[0], op, "output");
  // the output's type is the cast's target (canonical attrs.to, CastLike's too)
  if (attrs.to !== undefined && ONNX_TYPES[attrs.to as number] !== y.dtype) {
    throw fail(op, `the output is ${y.dtype}, attribute to ${JSON.stringify(attrs.to)} says ${ONNX_TYPES[attrs.to as number] ?? "an unknown type"}`);
  }
  return castKernel(op, need(inputs[0], op, "input"), y);
});

registerKernel("Identity", (inputs, outputs, _attrs, op) =>
  copyInto(op, need(inputs[0], op, "input"), need(outputs[0], op, "output")));

// Inference: output = input; a requested mask is all true (ones of its dtype).
registerKernel("Dropout", (inputs, outputs, _attrs, op) => {
  const copy = copyInto(op, need(inputs[0], op, "input"), need(outputs[0], op, "output"));
  const mask = outputs[1];
  if (!mask) return copy;
  const one = storedValue(mask.dtype, 1);
  const md = mask.data as unknown as { fill(v: unknown): void };
  return () => {
    copy();
    md.fill(one);
  };
});
