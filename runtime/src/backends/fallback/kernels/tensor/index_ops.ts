// Indexing kernels: Gather, GatherElements, GatherND, ScatterND, ScatterElements, OneHot. Index tensors
// are read on every run (they may be computed at run time); negative indices count
// from the end, out-of-range ones throw.

import { attrFloats, attrInt, attrString } from "../attrs.js";
import { registerKernel, type TensorView } from "../registry.js";
import { stridedPlan, mergeDims } from "../elementwise/broadcast.js";
import { copyInto, elems, fail, need, numReader, product, storedValue, stridesOf } from "../elementwise/common.js";
import { axisIn, expectShape } from "../shape.js";
import { InputError } from "../../../../errors.js";

/** Reads index i of an int32/int64 (or, for OneHot, any numeric) tensor as a number. */
function indexReader(op: string, t: TensorView): (i: number) => number {
  if (t.dtype === "int64") {
    const d = t.data as BigInt64Array;
    return (i) => Number(d[i]!);
  }
  if (t.dtype === "int32") {
    const d = t.data as Int32Array;
    return (i) => d[i]!;
  }
  if (op !== "OneHot") throw fail(op, `indices must be int32 or int64, got ${t.dtype}`);
  const r = numReader(t);
  return (i) => Math.trunc(r(i));
}

function sameType(op: string, x: TensorView, y: TensorView): void {
  if (x.dtype !== y.dtype) throw fail(op, `data is ${x.dtype}, the result ${y.dtype}`);
}

function normIndex(op: string, v: number, dim: number): number {
  const j = v < 0 ? v + dim : v;
  if (!(j >= 0 && j < dim)) throw new InputError(`${op}: index ${v} is out of range for a dim of ${dim}`);
  return j;
}

registerKernel("Gather", (inputs, outputs, attrs, op) => {
  const x = need(inputs[0], op, "data");
  const ind = need(inputs[1], op, "indices");
  const y = need(outputs[0], op, "output");
  const axis = axisIn(op, attrInt(attrs, "axis", 0), x.shape.length);
  sameType(op, x, y);
  expectShape(op, y, [...x.shape.slice(0, axis), ...ind.shape, ...x.shape.slice(axis + 1)]);
  const outer = product(x.shape, 0, axis);
  const dim = x.shape[axis]!;
  const inner = product(x.shape, axis + 1);
  const n = ind.size;
  const idx = indexReader(op, ind);
  const xd = elems(x);
  const yd = elems(y);
  return () => {
    let yo = 0;
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < n; j++) {
        const xo = (o * dim + normIndex(op, idx(j), dim)) * inner;
        for (let i = 0; i < inner; i++) yd[yo++] = xd[xo + i]!;
      }
    }
  };
});

registerKernel("GatherElements", (inputs, outputs, attrs, op) => {
  const x = need(inputs[0], op, "data");
  const ind = need(inputs[1], op, "indices");
  const y = need(outputs[0], op, "output");
  const axis = axisIn(op, attrInt(attrs, "axis", 0), x.shape.length);
  sameType(op, x, y);
  expectShape(op, y, ind.shape);
  if (ind.shape.length !== x.shape.length || ind.shape.some((d, i) => i !== axis && d > x.shape[i]!)) {
    throw fail(op, `indices [${ind.shape}] do not fit data [${x.shape}] outside axis ${axis}`);
  }
  if (y.size === 0) return () => {};
  // Walk the indices' shape reading x with the axis stride zeroed; the index adds it back.
  const xs = stridesOf(x.shape);
  const axisStride = xs[axis]!;
  const dim = x.shape[axis]!;
  const merged = mergeDims(ind.shape, [xs.map((s, d) => (d === axis ? 0 : s))]);
  const plan = stridedPlan(merged.dims, merged.strides);
  const { inner: n, offsets } = plan;
  const sx = plan.innerStrides[0]!;
  const idx = indexReader(op, ind);
  const xd = elems(x);
  const yd = elems(y);
  return plan.runner((yo) => {
    let xo = offsets[0]!;
    for (let i = 0; i < n; i++, xo += sx) yd[yo + i] = xd[xo + normIndex(op, idx(yo + i), dim) * axisStride]!;
  });
});

/** Shared by GatherND/ScatterND: the element offset in `x` of index tuple t (batch b). */
function ndOffsets(op: string, x: TensorView, ind: TensorView, batchDims: number) {
  const k = ind.shape[ind.shape.length - 1]!;
  if (ind.shape.length < 1 || batchDims < 0 || batchDims >= Math.min(x.shape.length, ind.shape.length) || !(k >= 1 && batchDims + k <= x.shape.length)
    || ind.shape.slice(0, batchDims).some((d, i) => d !== x.shape[i])) {
    throw fail(op, `indices [${ind.shape}] (batch_dims ${batchDims}) do not index data [${x.shape}]`);
  }
  const batch = product(x.shape, 0, batchDims);
  const tuples = product(ind.shape, 0, ind.shape.length - 1); // over all batches
  const perBatch = batch ? tuples / batch : 0;
  const xs = stridesOf(x.shape);
  const slice = product(x.shape, batchDims + k);
  const batchStride = product(x.shape, batchDims);
  const idx = indexReader(op, ind);
  const offset = (t: number): number => {
    let off = Math.floor(t / perBatch) * batchStride;
    for (let j = 0; j < k; j++) {
      const d = batchDims + j;
      off += normIndex(op, idx(t * k + j), x.shape[d]!) * xs[d]!;
    }
    return off;
  };
  return { tuples, slice, offset };
}

registerKernel("GatherND", (inputs, outputs, attrs, op) => {
  const x = need(inputs[0], op, "data");
  const ind = need(inputs[1], op, "indices");
  const y = need(outputs[0], op, "output");
  const batchDims = attrInt(attrs, "batch_dims", 0);
  const { tuples, slice, offset } = ndOffsets(op, x, ind, batchDims);
  sameType(op, x, y);
  expectShape(op, y, [...ind.shape.slice(0, -1), ...x.shape.slice(batchDims + ind.shape[ind.shape.length - 1]!)]);
  const xd = elems(x);
  const yd = elems(y);
  return () => {
    for (let t = 0, yo = 0; t < tuples; t++) {
      const xo = offset(t);
      for (let i = 0; i < slice; i++) yd[yo++] = xd[xo + i]!;
    }
  };
});

type Combine = (old: number, upd: number) => number;
const SCATTER: Record<string, Combine> = {
  none: (_o, u) => u,
  add: (o, u) => o + u,
  mul: (o, u) => o * u,
  max: (o, u) => (u > o ? u : o),
  min: (o, u) => (u < o ? u : o),
};

/** The operands of ScatterND / ScatterElements, the reduction and the data -> output copy. */
function scatterOperands(inputs: readonly (TensorView | null)[], outputs: readonly (TensorView | null)[],
  attrs: Readonly<Record<string, unknown>>, op: string) {
  const x = need(inputs[0], op, "data");
  const ind = need(inputs[1], op, "indices");
  const upd = need(inputs[2], op, "updates");
  const y = need(outputs[0], op, "output");
  const reduction = attrString(attrs, "reduction", "none");
  const combine = SCATTER[reduction];
  if (!combine) throw fail(op, `reduction '${reduction}' is not supported`);
  if (reduction !== "none" && (y.dtype === "float16" || y.dtype === "bool")) {
    throw fail(op, `reduction '${reduction}' on ${y.dtype} is not supported`);
  }
  const copy = copyInto(op, x, y);
  return { x, ind, upd, y, combine, copy };
}

registerKernel("ScatterND", (inputs, outputs, attrs, op) => {
  const { x, ind, upd, y, combine, copy } = scatterOperands(inputs, outputs, attrs, op);
  const { tuples, slice, offset } = ndOffsets(op, y, ind, 0);
  sameType(op, x, upd);
  expectShape(op, y, x.shape);
  expectShape(op, upd, [...ind.shape.slice(0, -1), ...x.shape.slice(ind.shape[ind.shape.length - 1]!)], "updates");
  const ud = elems(upd);
  const yd = elems(y);
  return () => {
    copy();
    for (let t = 0, uo = 0; t < tuples; t++) {
      const yo = offset(t);
      for (let i = 0; i < slice; i++, uo++) yd[yo + i] = combine(yd[yo + i]!, ud[uo]!);
    }
  };
});

// ScatterElements: each update goes to its own coordinates with the index along `axis`, in order.
// (Scatter, the opset 9-10 name, is renamed to ScatterElements by the converter; both names are registered so the
// runtime has a kernel for every op the converter claims.)
registerKernel(["ScatterElements", "Scatter"], (inputs, outputs, attrs, op) => {
  const { x, ind, upd, y, combine, copy } = scatterOperands(inputs, outputs, attrs, op);
  const axis = axisIn(op, attrInt(attrs, "axis"), x.shape.length);
  sameType(op, x, upd);
  expectShape(op, y, x.shape);
  expectShape(op, upd, ind.shape, "updates");
  if (ind.shape.length !== x.shape.length || ind.shape.some((d, i) => d > x.shape[i]!)) {
    throw fail(op, `indices [${ind.shape}] do not fit data [${x.shape}]`);
  }
  const idx = indexReader(op, ind);
  const ys = stridesOf(y.shape);
  const is = stridesOf(ind.shape);
  const n = product(ind.shape);
  const ud = elems(upd);
  const yd = elems(y);
  return () => {
    copy();
    for (let j = 0; j < n; j++) {
      let off = 0;
      for (let d = 0; d < is.length; d++) {
        const c = Math.floor(j / is[d]!) % ind.shape[d]!;
        off += (d === axis ? normIndex(op, idx(j), y.shape[d]!) : c) * ys[d]!;
      }
      yd[off] = combine(yd[off]!, ud[j]!);
    }
  };
});

registerKernel("OneHot", (inputs, outputs, attrs, op) => {
  const ind = need(inputs[0], op, "indices");
  const y = need(outputs[0], op, "output");
  const depth = attrInt(attrs, "depth");
  const axis = axisIn(op, attrInt(attrs, "axis"), ind.shape.length + 1);
  if (depth < 0) throw fail(op, `depth ${depth} must be >= 0`);
  expectShape(op, y, [...ind.shape.slice(0, axis), depth, ...ind.shape.slice(axis)]);
  const values = attrFloats(attrs, "values");
  if (values.length !== 2) throw fail(op, `values [${values}] must be [off, on]`);
  const [off, on] = values.map((v) => storedValue(y.dtype, v)) as [number, number];
  const outer = product(ind.shape, 0, axis);
  const inner = product(ind.shape, axis);
  const idx = indexReader(op, ind);
  const yd = elems(y);
  return () => {
    (yd as unknown as { fill(v: unknown): void }).fill(off);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        let v = idx(o * inner + i);
        if (v < 0) v += depth;
        if (v >= 0 && v < depth) yd[(o * depth + v) * inner + i] = on;
      }
    }
  };
});
