// Helpers shared by the elementwise and tensor kernels: dtype checks, element access
// across dtypes (int64 is bigint, float16 is raw bits), ONNX Cast conversions.

import type { DType } from "../../../../dtypes.js";
import { DescriptorError } from "../../../../errors.js";
import type { TensorView } from "../registry.js";

/** A writable array of numbers (every typed array but BigInt64Array). */
export type NumArray = { [i: number]: number; readonly length: number };
export type FloatArray = Float32Array | Float64Array;

export function fail(op: string, msg: string): DescriptorError {
  return new DescriptorError(`${op}: ${msg}`);
}

export function need<T>(x: T | null | undefined, op: string, what: string): T {
  if (x === null || x === undefined) throw fail(op, `${what} is missing`);
  return x;
}

export function expectDType(op: string, t: TensorView, allowed: readonly DType[], what = "input"): void {
  if (!allowed.includes(t.dtype)) throw fail(op, `${what} has type ${t.dtype}; supported: ${allowed.join(", ")}`);
}

export const NUMERIC: readonly DType[] = ["float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8"];
export const FLOATS: readonly DType[] = ["float32", "float64", "float16"];

/** float32/float64: the dtypes with tight fast-path loops. */
export function isFastFloat(dt: DType): boolean {
  return dt === "float32" || dt === "float64";
}

/**
 * The elements, typed for moving values around untouched: a copy between two arrays of
 * the same dtype works element by element whatever they hold (numbers, or bigints for
 * int64), and so do comparisons and + * between two elements of one int64 array.
 */
export function elems(t: TensorView): number[] {
  return t.data as unknown as number[];
}

/**
 * A tensor's elements for a kernel that only moves them (a copy, a broadcast, a strided view), with the shape to
 * index them by: int64 as pairs of 32-bit words (shape + [2]), since reading a BigInt64Array element makes a
 * BigInt, which WebKit allocates (its 49k-element Expand of an int64 mask took 5 ms); other dtypes as they are.
 */
export function words(t: TensorView): { shape: number[]; data: number[] } {
  if (t.data instanceof BigInt64Array) return { shape: [...t.shape, 2], data: int64Words(t) as unknown as number[] };
  return { shape: [...t.shape], data: elems(t) };
}

/** An int64 tensor's data as its 32-bit words, little-endian (low, high) per element: a view, no copy. */
export function int64Words(t: TensorView): Int32Array {
  const d = t.data as BigInt64Array;
  return new Int32Array(d.buffer, d.byteOffset, d.length * 2);
}

/** Row-major strides of `shape`. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

export function product(xs: readonly number[], from = 0, to = xs.length): number {
  let p = 1;
  for (let i = from; i < to; i++) p *= xs[i]!;
  return p;
}

/** The zero of a dtype as stored in its array (0n for int64). */
export function zeroOf(dt: DType): number {
  return (dt === "int64" ? 0n : 0) as number;
}

/** A numeric attribute value stored in an array of `dt` (bigint for int64, float16 bits). */
export function storedValue(dt: DType, v: number): number {
  if (dt === "int64") return toBigInt64(v) as unknown as number;
  if (dt === "float16") return floatToHalf(v);
  if (dt === "bool") return v ? 1 : 0;
  return v;
}

// --- float16 ----------------------------------------------------------------------------------

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Round-to-nearest-even float -> float16 bits (via float32, as onnxruntime does). */
export function floatToHalf(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let m = mant >>> shift;
    if (rest > half || (rest === half && m & 1)) m++;
    return sign | m;
  }
  let m = mant >>> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && m & 1)) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 31) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

// --- conversions (ONNX Cast, matching onnxruntime on x86) ---------------------------------------

const I64_MIN = -(2n ** 63n);

/** float -> int64: truncation; NaN, infinities and out-of-range values give INT64_MIN. */
export function toBigInt64(v: number): bigint {
  return Number.isFinite(v) && v >= -(2 ** 63) && v < 2 ** 63 ? BigInt(Math.trunc(v)) : I64_MIN;
}

/** float -> int32 and narrower: truncation, then the store wraps; non-representable gives INT32_MIN. */
export function toInt32Bits(v: number): number {
  return v > -2147483649 && v < 2147483648 ? Math.trunc(v) : -2147483648;
}

/** Element i as a JS number (int64 via Number, float16 decoded, bool 0/1). */
export function numReader(t: TensorView): (i: number) => number {
  const d = t.data;
  if (d instanceof BigInt64Array) return (i) => Number(d[i]!);
  if (t.dtype === "float16") return (i) => halfToFloat((d as Uint16Array)[i]!);
  const n = d as NumArray;
  return (i) => n[i]!;
}

/** Element i as a bigint (integer dtypes; floats truncate). */
export function bigReader(t: TensorView): (i: number) => bigint {
  const d = t.data;
  if (d instanceof BigInt64Array) return (i) => d[i]!;
  const r = numReader(t);
  return (i) => toBigInt64(r(i));
}

/** Store a number into element i: int64 and float16 convert, other arrays convert on store. */
export function numWriter(t: TensorView): (i: number, v: number | boolean) => void {
  const d = t.data;
  if (d instanceof BigInt64Array) return (i, v) => void (d[i] = toBigInt64(Number(v)));
  if (t.dtype === "float16") return (i, v) => void ((d as Uint16Array)[i] = floatToHalf(Number(v)));
  if (t.dtype === "bool") return (i, v) => void ((d as Uint8Array)[i] = v ? 1 : 0);
  const n = d as NumArray;
  return (i, v) => void (n[i] = Number(v));
}

/** Store a bigint or boolean: into int64 directly, into number arrays via Number. */
export function bigWriter(t: TensorView): (i: number, v: bigint | boolean) => void {
  const d = t.data;
  if (d instanceof BigInt64Array) return (i, v) => void (d[i] = BigInt(v));
  const w = numWriter(t);
  return (i, v) => w(i, typeof v === "boolean" ? v : Number(v));
}

/** y = x, element for element (same dtype and size). */
export function copyInto(op: string, x: TensorView, y: TensorView): () => void {
  if (x.dtype !== y.dtype || x.size !== y.size) {
    throw fail(op, `cannot copy ${x.dtype}[${x.size}] into ${y.dtype}[${y.size}]`);
  }
  const src = x.data as Float64Array;
  const dst = y.data as Float64Array;
  return () => dst.set(src);
}
