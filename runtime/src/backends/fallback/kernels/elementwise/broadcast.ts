// Multidirectional (numpy) broadcasting as a loop plan, computed once per kernel.
//
// The output is walked in row-major order as rows of `inner` elements. Dims of size 1
// are dropped and adjacent dims merged wherever every operand steps through them
// alike, so same-shape operands, scalars and bias-like broadcasts become one or a few
// long rows with a per-operand inner stride (1, or 0 for a broadcast operand).

import type { TensorView } from "../registry.js";
import { words } from "./common.js";

export interface BroadcastPlan {
  /** Number of rows and elements per row. */
  readonly rows: number;
  readonly inner: number;
  /** Inner-dim stride of each operand. */
  readonly innerStrides: readonly number[];
  /** Walks the rows: calls body(outOffset) with `offsets` holding each operand's row start. */
  forEachRow(body: (outOffset: number) => void): void;
  /** A closure walking the rows with `body` (made once, so a run allocates nothing). */
  runner(body: (outOffset: number) => void): () => void;
  readonly offsets: Int32Array;
}

/** Broadcast strides of `shape` against `out` (0 along broadcast dims), right-aligned. */
function broadcastStrides(shape: readonly number[], out: readonly number[]): number[] {
  const rank = out.length;
  const s = new Array<number>(rank).fill(0);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const o = i + rank - shape.length;
    const d = shape[i]!;
    if (d !== 1) {
      if (d !== out[o]) throw new Error(`shape [${shape.join(",")}] does not broadcast to [${out.join(",")}]`);
      s[o] = acc;
    }
    acc *= d;
  }
  return s;
}

/** Merge dims (dropping size-1 ones) where every operand's strides chain contiguously. */
export function mergeDims(
  out: readonly number[], strides: readonly (readonly number[])[],
): { dims: number[]; strides: number[][] } {
  const dims: number[] = [];
  const merged: number[][] = strides.map(() => []);
  for (let d = 0; d < out.length; d++) {
    const size = out[d]!;
    if (size === 1) continue;
    const last = dims.length - 1;
    if (last >= 0 && strides.every((s, k) => merged[k]![last] === s[d]! * size)) {
      dims[last] = dims[last]! * size;
      strides.forEach((s, k) => (merged[k]![last] = s[d]!));
    } else {
      dims.push(size);
      strides.forEach((s, k) => merged[k]!.push(s[d]!));
    }
  }
  if (dims.length === 0) {
    dims.push(1);
    merged.forEach((m) => m.push(0));
  }
  return { dims, strides: merged };
}

export function broadcastPlan(out: readonly number[], shapes: readonly (readonly number[])[]): BroadcastPlan {
  const { dims, strides } = mergeDims(out, shapes.map((s) => broadcastStrides(s, out)));
  return stridedPlan(dims, strides);
}

/**
 * A plan over `dims` (row-major, the last one inner) with explicit per-operand strides
 * and base offsets; strided views (transposes, slices) use it directly.
 */
export function stridedPlan(dims: readonly number[], strides: readonly (readonly number[])[],
  bases?: readonly number[]): BroadcastPlan {
  const outer = dims.length - 1;
  const inner = dims[outer]!;
  const nOps = strides.length;
  const rows = dims.slice(0, outer).reduce((a, b) => a * b, 1);
  // Flat [dim][operand] stride table and the amount to rewind when a dim wraps.
  const step = new Float64Array(outer * nOps);
  const rewind = new Float64Array(outer * nOps);
  for (let d = 0; d < outer; d++) {
    for (let k = 0; k < nOps; k++) {
      step[d * nOps + k] = strides[k]![d]!;
      rewind[d * nOps + k] = strides[k]![d]! * dims[d]!;
    }
  }
  const counters = new Int32Array(Math.max(outer, 1));
  const offsets = new Int32Array(nOps);
  const start = Int32Array.from(bases ?? new Array<number>(nOps).fill(0));
  const plan: BroadcastPlan = {
    rows,
    inner,
    innerStrides: strides.map((s) => s[outer]!),
    offsets,
    runner: (body) => () => plan.forEachRow(body),
    forEachRow(body) {
      counters.fill(0);
      offsets.set(start);
      for (let r = 0; r < rows; r++) {
        body(r * inner);
        for (let d = outer - 1; d >= 0; d--) {
          const base = d * nOps;
          for (let k = 0; k < nOps; k++) offsets[k] += step[base + k]!;
          if (++counters[d]! < dims[d]!) break;
          counters[d] = 0;
          for (let k = 0; k < nOps; k++) offsets[k] -= rewind[base + k]!;
        }
      }
    },
  };
  return plan;
}

/** y = x broadcast to y's shape (any dtype, x's and y's alike; elements copied untouched, int64 as word pairs). */
export function broadcastCopy(x: TensorView, y: TensorView): () => void {
  const xw = words(x);
  const yw = words(y);
  const plan = broadcastPlan(yw.shape, [xw.shape]);
  const { inner: n, offsets } = plan;
  const sx = plan.innerStrides[0]!;
  const xd = xw.data;
  const yd = yw.data;
  return plan.runner((yo) => {
    let xo = offsets[0]!;
    for (let i = 0; i < n; i++, xo += sx) yd[yo + i] = xd[xo]!;
  });
}
