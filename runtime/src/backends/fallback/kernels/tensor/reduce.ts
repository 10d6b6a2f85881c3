// Reductions (Reduce*), ArgMax/ArgMin, TopK and CumSum.
//
// Reduce*: the output is walked over the kept dims (a strided plan on the input); each
// output element folds the input elements at base + roff[r], where roff lists the
// offsets of every reduced position (precomputed once). Canonical `axes` may be empty
// (noop_with_empty_axes): then each element "reduces" itself, as onnxruntime does.
// Numbers accumulate in double; int64 Sum/Mean/Prod/Max/Min/L1/SumSquare use bigint.

import { attrInt, attrInts } from "../attrs.js";
import { registerKernel, type TensorView } from "../registry.js";
import { mergeDims, stridedPlan } from "../elementwise/broadcast.js";
import {
  elems, expectDType, fail, halfToFloat, need, NUMERIC, numWriter, product, stridesOf, zeroOf,
  type NumArray,
} from "../elementwise/common.js";
import { axisIn, expectShape, flag } from "../shape.js";

type Reducer = (x: NumArray, b: number, r: Int32Array) => number;
type BigReducer = (x: BigInt64Array, b: number, r: Int32Array) => bigint;

function logSumExp(x: NumArray, b: number, r: Int32Array): number {
  let m = -Infinity;
  for (let i = 0; i < r.length; i++) { const v = x[b + r[i]!]!; if (v > m || v !== v) m = v; }
  if (!Number.isFinite(m)) return m;
  let s = 0;
  for (let i = 0; i < r.length; i++) s += Math.exp(x[b + r[i]!]! - m);
  return m + Math.log(s);
}

const NUM: Record<string, Reducer> = {
  ReduceSum: (x, b, r) => { let s = 0; for (let i = 0; i < r.length; i++) s += x[b + r[i]!]!; return s; },
  ReduceMean: (x, b, r) => { let s = 0; for (let i = 0; i < r.length; i++) s += x[b + r[i]!]!; return s / r.length; },
  ReduceProd: (x, b, r) => { let s = 1; for (let i = 0; i < r.length; i++) s *= x[b + r[i]!]!; return s; },
  // NaN propagates (once m is NaN no comparison replaces it).
  ReduceMax: (x, b, r) => {
    let m = -Infinity;
    for (let i = 0; i < r.length; i++) { const v = x[b + r[i]!]!; if (v > m || v !== v) m = v; }
    return m;
  },
  ReduceMin: (x, b, r) => {
    let m = Infinity;
    for (let i = 0; i < r.length; i++) { const v = x[b + r[i]!]!; if (v < m || v !== v) m = v; }
    return m;
  },
  ReduceL1: (x, b, r) => { let s = 0; for (let i = 0; i < r.length; i++) s += Math.abs(x[b + r[i]!]!); return s; },
  ReduceL2: (x, b, r) => { let s = 0; for (let i = 0; i < r.length; i++) { const v = x[b + r[i]!]!; s += v * v; } return Math.sqrt(s); },
  ReduceSumSquare: (x, b, r) => { let s = 0; for (let i = 0; i < r.length; i++) { const v = x[b + r[i]!]!; s += v * v; } return s; },
  ReduceLogSum: (x, b, r) => { let s = 0; for (let i = 0; i < r.length; i++) s += x[b + r[i]!]!; return Math.log(s); },
  ReduceLogSumExp: logSumExp,
};

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

const BIG: Record<string, BigReducer> = {
  ReduceSum: (x, b, r) => { let s = 0n; for (let i = 0; i < r.length; i++) s += x[b + r[i]!]!; return s; },
  ReduceMean: (x, b, r) => {
    let s = 0n;
    for (let i = 0; i < r.length; i++) s += x[b + r[i]!]!;
    return r.length ? s / BigInt(r.length) : 0n;
  },
  ReduceProd: (x, b, r) => { let s = 1n; for (let i = 0; i < r.length; i++) s = BigInt.asIntN(64, s * x[b + r[i]!]!); return s; },
  ReduceMax: (x, b, r) => { let m = I64_MIN; for (let i = 0; i < r.length; i++) { const v = x[b + r[i]!]!; if (v > m) m = v; } return m; },
  ReduceMin: (x, b, r) => { let m = I64_MAX; for (let i = 0; i < r.length; i++) { const v = x[b + r[i]!]!; if (v < m) m = v; } return m; },
  ReduceL1: (x, b, r) => { let s = 0n; for (let i = 0; i < r.length; i++) { const v = x[b + r[i]!]!; s += v < 0n ? -v : v; } return s; },
  ReduceSumSquare: (x, b, r) => { let s = 0n; for (let i = 0; i < r.length; i++) { const v = x[b + r[i]!]!; s += v * v; } return s; },
};

/** Offsets (relative to an output's base) of every reduced input position, row-major. */
function reducedOffsets(shape: readonly number[], strides: readonly number[], axes: readonly number[]): Int32Array {
  const dims = axes.map((a) => shape[a]!);
  const steps = axes.map((a) => strides[a]!);
  const out = new Int32Array(product(dims));
  const cnt = new Array<number>(dims.length).fill(0);
  for (let r = 0, off = 0; r < out.length; r++) {
    out[r] = off;
    for (let d = dims.length - 1; d >= 0; d--) {
      off += steps[d]!;
      if (++cnt[d]! < dims[d]!) break;
      off -= steps[d]! * dims[d]!;
      cnt[d] = 0;
    }
  }
  return out;
}

/** A per-run source for number reducers: the input itself, or a decoded copy (float16, int64). */
function numberSource(x: TensorView): () => NumArray {
  if (x.dtype === "float16") {
    const src = x.data as Uint16Array;
    const buf = new Float32Array(x.size);
    return () => {
      for (let i = 0; i < buf.length; i++) buf[i] = halfToFloat(src[i]!);
      return buf;
    };
  }
  if (x.dtype === "int64") {
    const src = x.data as BigInt64Array;
    const buf = new Float64Array(x.size);
    return () => {
      for (let i = 0; i < buf.length; i++) buf[i] = Number(src[i]!);
      return buf;
    };
  }
  const d = x.data as NumArray;
  return () => d;
}

const INTEGERS = new Set(["int64", "int32", "int16", "int8", "uint8"]);

registerKernel(Object.keys(NUM), (inputs, outputs, attrs, op) => {
  const x = need(inputs[0], op, "input");
  const y = need(outputs[0], op, "output");
  expectDType(op, x, [...NUMERIC, "bool"]);
  const axes = attrInts(attrs, "axes");
  const rank = x.shape.length;
  if (axes.some((a, i) => a < 0 || a >= rank || axes.indexOf(a) !== i)) throw fail(op, `axes [${axes}] must be canonical (distinct, 0..${rank - 1})`);
  // empty canonical axes reduce nothing (noop_with_empty_axes); keepdims keeps reduced dims as 1
  const keep = flag(op, attrs, "keepdims", 1);
  if (y.dtype !== x.dtype) throw fail(op, `input is ${x.dtype}, output ${y.dtype}`);
  expectShape(op, y, axes.length === 0 ? x.shape : x.shape.flatMap((d, i) => (!axes.includes(i) ? [d] : keep ? [1] : [])));
  const xs = stridesOf(x.shape);
  const roff = reducedOffsets(x.shape, xs, axes);
  if (y.size === 0) return () => {};
  const kept = x.shape.map((_, d) => d).filter((d) => !axes.includes(d));
  const merged = mergeDims(kept.map((d) => x.shape[d]!), [kept.map((d) => xs[d]!)]);
  const plan = stridedPlan(merged.dims, merged.strides);
  const { inner: n, offsets } = plan;
  const sx = plan.innerStrides[0]!;
  const big = x.dtype === "int64" ? BIG[op] : undefined;
  if (big) {
    const xd = x.data as BigInt64Array;
    const yd = y.data as BigInt64Array;
    return plan.runner((yo) => {
      for (let j = 0, b = offsets[0]!; j < n; j++, b += sx) yd[yo + j] = big(xd, b, roff);
    });
  }
  const f = NUM[op]!;
  const truncate = op === "ReduceMean" && INTEGERS.has(x.dtype); // integer mean divides as integers
  // bool Max/Min: an empty set's identity (-inf for Max, +inf for Min) is false / true, as is v > 0 for 0 and 1
  const toBool = y.dtype === "bool";
  const source = numberSource(x);
  const w = numWriter(y);
  const direct = y.dtype === "float32" || y.dtype === "float64" ? (y.data as NumArray) : null;
  let xd = source();
  const walk = plan.runner((yo) => {
    for (let j = 0, b = offsets[0]!; j < n; j++, b += sx) {
      const r = f(xd, b, roff);
      const v = truncate ? Math.trunc(r) : toBool ? Number(r > 0) : r;
      if (direct) direct[yo + j] = v;
      else w(yo + j, v);
    }
  });
  return () => {
    xd = source();
    walk();
  };
});

/** x viewed as [outer, dim, inner] around `axis`. */
function aroundAxis(x: TensorView, axis: number): [number, number, number] {
  return [product(x.shape, 0, axis), x.shape[axis]!, product(x.shape, axis + 1)];
}

registerKernel(["ArgMax", "ArgMin"], (inputs, outputs, attrs, op) => {
  const x = need(inputs[0], op, "input");
  const y = need(outputs[0], op, "output").data as BigInt64Array;
  expectDType(op, x, ["float32", "float64", "int64", "int32", "int16", "int8", "uint8"]);
  const axis = axisIn(op, attrInt(attrs, "axis"), x.shape.length);
  const keep = flag(op, attrs, "keepdims", 1);
  if (outputs[0]!.dtype !== "int64") throw fail(op, `output is ${outputs[0]!.dtype}, not int64`);
  expectShape(op, outputs[0]!, x.shape.flatMap((d, i) => (i !== axis ? [d] : keep ? [1] : [])));
  if (x.shape[axis] === 0) throw fail(op, `cannot take the ${op} of an empty axis`);
  const [outer, dim, inner] = aroundAxis(x, axis);
  const last = flag(op, attrs, "select_last_index", 0);
  const max = op === "ArgMax";
  const xd = elems(x);
  // Strictly better wins; with select_last_index, ties go to the later index too.
  const better = max
    ? (last ? (v: number, b: number) => v >= b : (v: number, b: number) => v > b)
    : (last ? (v: number, b: number) => v <= b : (v: number, b: number) => v < b);
  return () => {
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const base = o * dim * inner + i;
        let best = xd[base]!;
        let at = 0;
        for (let a = 1; a < dim; a++) {
          const v = xd[base + a * inner]!;
          if (better(v, best)) {
            best = v;
            at = a;
          }
        }
        y[o * inner + i] = BigInt(at);
      }
    }
  };
});

// TopK: each row's positions sorted by value (largest or smallest first; equal values keep
// index order, as the spec asks; NaN above every number, as the GPU kernels and torch.topk), the first k written out. Always sorted (free when sorted=0).
registerKernel("TopK", (inputs, outputs, attrs, op) => {
  const x = need(inputs[0], op, "input");
  const v = need(outputs[0], op, "Values");
  const ix = need(outputs[1], op, "Indices");
  expectDType(op, x, ["float32", "float64", "int64", "int32", "int16", "int8", "uint8"]);
  const axis = axisIn(op, attrInt(attrs, "axis"), x.shape.length);
  const k = attrInt(attrs, "k");
  const largest = flag(op, attrs, "largest", 1);
  if (v.dtype !== x.dtype) throw fail(op, `Values is ${v.dtype}, input ${x.dtype}`);
  if (ix.dtype !== "int64") throw fail(op, `Indices is ${ix.dtype}, not int64`);
  if (k < 0 || k > x.shape[axis]!) throw fail(op, `k = ${k} is outside [0, ${x.shape[axis]}]`);
  const want = x.shape.map((d, i) => (i === axis ? k : d));
  expectShape(op, v, want, "Values");
  expectShape(op, ix, want, "Indices");
  const [outer, dim, inner] = aroundAxis(x, axis);
  const order = new Int32Array(dim);
  return () => {
    const xd = elems(x);
    const vd = elems(v);
    const id = ix.data as BigInt64Array;
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const base = o * dim * inner + i;
        for (let a = 0; a < dim; a++) order[a] = a;
        order.sort((a, b) => {
          const p = xd[base + a * inner]!;
          const q = xd[base + b * inner]!;
          if (p !== p || q !== q) return p !== p && q !== q ? a - b : (p !== p) === largest ? -1 : 1; // NaN: the largest
          return p === q ? a - b : (largest ? p < q : p > q) ? 1 : -1;
        });
        const out = o * k * inner + i;
        for (let j = 0; j < k; j++) {
          const a = order[j]!;
          vd[out + j * inner] = xd[base + a * inner]!;
          id[out + j * inner] = BigInt(a);
        }
      }
    }
  };
});

for (const cum of ["CumSum", "CumProd"] as const) registerKernel(cum, (inputs, outputs, attrs, op) => {
  const x = need(inputs[0], op, "input");
  const y = need(outputs[0], op, "output");
  expectDType(op, x, ["float32", "float64", "int64", "int32", "int16", "int8", "uint8"]);
  const [outer, dim, inner] = aroundAxis(x, axisIn(op, attrInt(attrs, "axis"), x.shape.length));
  if (x.dtype !== y.dtype) throw fail(op, `input is ${x.dtype}, output ${y.dtype}`);
  expectShape(op, y, x.shape);
  const exclusive = flag(op, attrs, "exclusive", 0);
  const reverse = flag(op, attrs, "reverse", 0);
  const product = cum === "CumProd";
  // (int64 runs on BigInt, typed as number as elems() gives it; typed-array stores wrap like onnxruntime's)
  const start = product ? ((x.dtype === "int64" ? 1n : 1) as number) : zeroOf(x.dtype);
  const xd = elems(x);
  const yd = elems(y);
  const step = reverse ? -inner : inner;
  const combine = product ? (a: number, v: number) => a * v : (a: number, v: number) => a + v;
  return () => {
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        let p = o * dim * inner + i + (reverse ? (dim - 1) * inner : 0);
        let acc = start;
        for (let a = 0; a < dim; a++, p += step) {
          const v = xd[p]!;
          if (exclusive) {
            yd[p] = acc;
            acc = combine(acc, v);
          } else {
            acc = combine(acc, v);
            yd[p] = acc;
          }
        }
      }
    }
  };
});
