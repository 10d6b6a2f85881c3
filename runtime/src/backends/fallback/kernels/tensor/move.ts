// Data movement without arithmetic: reshape-like copies, Transpose, Slice, Expand,
// Tile, Concat, Split, Pad, Trilu. Elements are moved untouched, so every dtype works.
//
// Transpose, Slice and Tile are one "strided copy": the output is walked in row-major
// order while the input is read at base + sum(index_d * stride_d), with dims merged
// where the strides chain (a plan computed once in the factory).

import { attrInt, attrInts, attrString, toFloat } from "../attrs.js";
import { registerKernel, type TensorView } from "../registry.js";
import { broadcastCopy, mergeDims, stridedPlan } from "../elementwise/broadcast.js";
import { copyInto, elems, fail, need, product, storedValue, stridesOf, words, zeroOf } from "../elementwise/common.js";
import { axisIn, broadcastShape, expectShape, flag, intsOf } from "../shape.js";

/** y (contiguous, shape `dims`) = x[base + sum(i_d * strides_d)] (int64 moved as word pairs: words()). */
export function stridedCopy(x: TensorView, y: TensorView, dims: readonly number[], strides: readonly number[],
  base: number): () => void {
  if (y.size === 0) return () => {};
  const xw = words(x);
  const yw = words(y);
  if (x.data instanceof BigInt64Array) { // moved as word pairs: one more dim of 2, strides and base in words
    dims = [...dims, 2];
    strides = [...strides.map((s) => s * 2), 1];
    base *= 2;
  }
  const merged = mergeDims(dims, [strides]);
  const plan = stridedPlan(merged.dims, merged.strides, [base]);
  const { inner: n, offsets } = plan;
  const sx = plan.innerStrides[0]!;
  const xd = xw.data;
  const yd = yw.data;
  if (plan.rows === 1 && sx === 1) {
    const src = (xd as unknown as Float64Array).subarray(base, base + n);
    const dst = yd as unknown as Float64Array;
    return () => dst.set(src);
  }
  return plan.runner((yo) => {
    let xo = offsets[0]!;
    for (let i = 0; i < n; i++, xo += sx) yd[yo + i] = xd[xo]!;
  });
}

function unary(
  inputs: readonly (TensorView | null)[], outputs: readonly TensorView[], op: string,
): [TensorView, TensorView] {
  return [need(inputs[0], op, "input"), need(outputs[0], op, "output")];
}

// Usually zero-copy views in the memory plan; a copy when the planner keeps them (e.g. constant input).
registerKernel(["Reshape", "Flatten", "Squeeze", "Unsqueeze"], (inputs, outputs, _attrs, op) =>
  copyInto(op, ...unary(inputs, outputs, op)));

registerKernel("Transpose", (inputs, outputs, attrs, op) => {
  const [x, y] = unary(inputs, outputs, op);
  const xs = stridesOf(x.shape);
  const perm = attrInts(attrs, "perm", x.shape.map((_, i) => x.shape.length - 1 - i));
  if (perm.length !== x.shape.length || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw fail(op, `perm [${perm}] is not a permutation of the input's ${x.shape.length} dims`);
  }
  sameType(op, x, y);
  expectShape(op, y, perm.map((p) => x.shape[p]!));
  return stridedCopy(x, y, perm.map((p) => x.shape[p]!), perm.map((p) => xs[p]!), 0);
});

registerKernel("Slice", (inputs, outputs, attrs, op) => {
  const [x, y] = unary(inputs, outputs, op);
  const rank = x.shape.length;
  const starts = attrInts(attrs, "starts");
  const steps = attrInts(attrs, "steps");
  const axes = attrInts(attrs, "axes");
  if (axes.length !== rank || axes.some((a, i) => a !== i)) throw fail(op, "attrs must be canonical (every axis)");
  // canonical starts (clamped as ONNX does) and the count each axis gives with ends and steps
  const ends = attrInts(attrs, "ends");
  if (starts.length !== rank || ends.length !== rank || steps.length !== rank || steps.includes(0)) {
    throw fail(op, `starts [${starts}], ends [${ends}], steps [${steps}] must have ${rank} entries, steps non-zero`);
  }
  sameType(op, x, y);
  expectShape(op, y, x.shape.map((dim, d) => {
    const [s, e] = clampSlice(dim, starts[d]!, ends[d]!, steps[d]!);
    if (s !== starts[d]) throw fail(op, `starts [${starts}] are not canonical (axis ${d} starts at ${s})`);
    return Math.max(0, Math.ceil((e - s) / steps[d]!));
  }));
  const xs = stridesOf(x.shape);
  const base = starts.reduce((acc, s, d) => acc + s * xs[d]!, 0);
  return stridedCopy(x, y, y.shape, steps.map((st, d) => st * xs[d]!), base);
});

registerKernel("Expand", (inputs, outputs, attrs, op) => {
  const [x, y] = unary(inputs, outputs, op);
  sameType(op, x, y);
  expectShape(op, y, broadcastShape(op, [x.shape, attrs.shape === undefined ? y.shape : attrInts(attrs, "shape")]));
  return broadcastCopy(x, y);
});

// Tile: the output as [r0, x0, r1, x1, ...] is row-major, reading x with stride 0 along each r.
registerKernel("Tile", (inputs, outputs, attrs, op) => {
  const [x, y] = unary(inputs, outputs, op);
  const reps = attrInts(attrs, "repeats");
  intsOf(op, reps, x.shape.length, 0, "repeats");
  sameType(op, x, y);
  expectShape(op, y, x.shape.map((d, i) => d * reps[i]!));
  const xs = stridesOf(x.shape);
  const dims = x.shape.flatMap((d, i) => [reps[i]!, d]);
  const strides = xs.flatMap((s) => [0, s]);
  return stridedCopy(x, y, dims, strides, 0);
});

/** Copy `len`-element blocks between a [outer, *] tensor and its part of a concatenation. */
function blockCopy(src: number[], srcBlock: number, srcOff: number, dst: number[], dstBlock: number,
  dstOff: number, outer: number, len: number): void {
  for (let o = 0; o < outer; o++) {
    const s = o * srcBlock + srcOff;
    const d = o * dstBlock + dstOff;
    for (let i = 0; i < len; i++) dst[d + i] = src[s + i]!;
  }
}

/** ONNX Slice clamping: the effective first index and (exclusive) end along one axis. */
function clampSlice(dim: number, start: number, end: number, step: number): [number, number] {
  const s = start < 0 ? start + dim : start;
  const e = end < 0 ? end + dim : end;
  if (step > 0) return [Math.min(Math.max(s, 0), dim), Math.min(Math.max(e, 0), dim)];
  return [Math.min(Math.max(s, 0), dim - 1), Math.min(Math.max(e, -1), dim - 1)];
}

function sameType(op: string, x: TensorView, y: TensorView): void {
  if (x.dtype !== y.dtype) throw fail(op, `input is ${x.dtype}, output ${y.dtype}`);
}

/** Concat/Split: the parts have the whole's rank and type and its dims but along `axis`, where
 *  they add up to it; returns the axis, non-negative. */
function checkParts(op: string, whole: TensorView, parts: readonly TensorView[], axisAttr: number): number {
  const rank = whole.shape.length;
  const axis = axisIn(op, axisAttr, rank);
  let total = 0;
  for (const p of parts) {
    if (p.dtype !== whole.dtype || p.shape.length !== rank || p.shape.some((d, i) => i !== axis && d !== whole.shape[i])) {
      throw fail(op, `part [${p.shape}] (${p.dtype}) does not fit [${whole.shape}] (${whole.dtype}) along axis ${axis}`);
    }
    total += p.shape[axis]!;
  }
  if (total !== whole.shape[axis]) throw fail(op, `the parts' sizes along axis ${axis} add up to ${total}, not ${whole.shape[axis]}`);
  return axis;
}

/** For Concat/Split: outer count, and per part its length along the axis times the inner size. */
function partsLayout(whole: TensorView, parts: readonly TensorView[], axis: number): { outer: number; lens: number[] } {
  const outer = product(whole.shape, 0, axis);
  const inner = product(whole.shape, axis + 1);
  return { outer, lens: parts.map((p) => p.shape[axis]! * inner) };
}

registerKernel("Concat", (inputs, outputs, attrs, op) => {
  const y = need(outputs[0], op, "output");
  const xs = inputs.map((x, i) => need(x, op, `input ${i}`));
  const axis = checkParts(op, y, xs, attrInt(attrs, "axis"));
  const { outer, lens } = partsLayout(y, xs, axis);
  const total = lens.reduce((a, b) => a + b, 0);
  const yd = elems(y);
  const srcs = xs.map(elems);
  return () => {
    let off = 0;
    for (let k = 0; k < srcs.length; k++) {
      blockCopy(srcs[k]!, lens[k]!, 0, yd, total, off, outer, lens[k]!);
      off += lens[k]!;
    }
  };
});

registerKernel("Split", (inputs, outputs, attrs, op) => {
  const x = need(inputs[0], op, "input");
  const axis = checkParts(op, x, outputs, attrInt(attrs, "axis"));
  if (attrs.split !== undefined) {
    const split = attrInts(attrs, "split");
    if (split.length !== outputs.length || outputs.some((o, i) => o.shape[axis] !== split[i])) {
      throw fail(op, `split [${split}] does not match the outputs' sizes [${outputs.map((o) => o.shape[axis])}] along axis ${axis}`);
    }
  }
  const { outer, lens } = partsLayout(x, outputs, axis);
  const total = lens.reduce((a, b) => a + b, 0);
  const xd = elems(x);
  const dsts = outputs.map(elems);
  return () => {
    let off = 0;
    for (let k = 0; k < dsts.length; k++) {
      blockCopy(xd, total, off, dsts[k]!, lens[k]!, 0, outer, lens[k]!);
      off += lens[k]!;
    }
  };
});

/** Source index along one axis of Pad for output index i, or -1 for the constant. */
function padSource(mode: string, i: number, begin: number, dim: number): number {
  const s = i - begin;
  if (s >= 0 && s < dim) return s;
  if (mode === "constant") return -1;
  if (mode === "edge") return s < 0 ? 0 : dim - 1;
  if (mode === "wrap") return ((s % dim) + dim) % dim;
  // reflect (edge not repeated): period 2 * (dim - 1)
  if (dim === 1) return 0;
  const p = 2 * (dim - 1);
  const m = ((s % p) + p) % p;
  return m < dim ? m : p - m;
}

registerKernel("Pad", (inputs, outputs, attrs, op) => {
  const [x, y] = unary(inputs, outputs, op);
  const rank = x.shape.length;
  const pads = attrInts(attrs, "pads");
  const mode = attrString(attrs, "mode", "constant");
  if (pads.length !== 2 * rank) throw fail(op, `pads [${pads}] must have ${2 * rank} entries`);
  if (!["constant", "reflect", "edge", "wrap"].includes(mode)) throw fail(op, `mode '${mode}' is not supported`);
  sameType(op, x, y);
  expectShape(op, y, x.shape.map((d, a) => d + pads[a]! + pads[a + rank]!));
  if (mode !== "constant" && x.shape.some((d, a) => d === 0 && y.shape[a]! > 0)) throw fail(op, `mode '${mode}' cannot pad an empty axis`);
  const value = storedValue(y.dtype, toFloat(attrs.value ?? 0, "value"));
  if (y.size === 0) return () => {};
  // Per axis: output index -> input index (or -1), scaled by the input stride.
  const xs = stridesOf(x.shape);
  const maps = y.shape.map((d, a) => Int32Array.from({ length: d }, (_, i) => {
    const s = padSource(mode, i, pads[a]!, x.shape[a]!);
    return s < 0 ? -1 : s * xs[a]!;
  }));
  const inner = rank === 0 ? 1 : y.shape[rank - 1]!;
  const last = rank === 0 ? Int32Array.of(0) : maps[rank - 1]!;
  const rows = y.size / inner;
  const counters = new Int32Array(Math.max(rank - 1, 1));
  const xd = elems(x);
  const yd = elems(y);
  return () => {
    counters.fill(0);
    for (let r = 0; r < rows; r++) {
      let base = 0;
      for (let a = 0; a < rank - 1 && base >= 0; a++) {
        const m = maps[a]![counters[a]!]!;
        base = m < 0 ? -1 : base + m;
      }
      const yo = r * inner;
      if (base < 0) {
        for (let i = 0; i < inner; i++) yd[yo + i] = value;
      } else {
        for (let i = 0; i < inner; i++) {
          const m = last[i]!;
          yd[yo + i] = m < 0 ? value : xd[base + m]!;
        }
      }
      for (let a = rank - 2; a >= 0; a--) {
        if (++counters[a]! < y.shape[a]!) break;
        counters[a] = 0;
      }
    }
  };
});

registerKernel("Trilu", (inputs, outputs, attrs, op) => {
  const [x, y] = unary(inputs, outputs, op);
  const upper = flag(op, attrs, "upper", 1);
  const k = attrInt(attrs, "k", 0);
  const rank = x.shape.length;
  if (rank < 2) throw fail(op, `input [${x.shape}] must have at least 2 dims`);
  sameType(op, x, y);
  expectShape(op, y, x.shape);
  const n = x.shape[rank - 2]!;
  const m = x.shape[rank - 1]!;
  const batches = product(x.shape, 0, rank - 2);
  const zero = zeroOf(x.dtype);
  const xd = elems(x);
  const yd = elems(y);
  return () => {
    for (let b = 0, o = 0; b < batches; b++) {
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < m; j++, o++) {
          const keep = upper ? j - i >= k : j - i <= k;
          yd[o] = keep ? xd[o]! : zero;
        }
      }
    }
  };
});
