// Helpers shared by the neural-network kernels of the fallback backend.

import { DescriptorError } from "../../../../errors.js";
import type { TensorView } from "../registry.js";

/** The float32 elements of a tensor; the fallback nn kernels compute in float32 only. */
export function f32(t: TensorView | null | undefined, op: string, what: string): Float32Array {
  if (!t) throw new DescriptorError(`${op}: ${what} is missing`);
  if (t.dtype !== "float32") {
    throw new DescriptorError(
      `${op}: ${what} is ${t.dtype}, but the fallback backend computes ${op} in float32 only; ` +
        "convert the model to float32 before converting it",
    );
  }
  return t.data as Float32Array;
}

/** Like f32 for an optional input: null when omitted. */
export function f32opt(t: TensorView | null | undefined, op: string, what: string): Float32Array | null {
  return t ? f32(t, op, what) : null;
}

export function prod(xs: readonly number[], from = 0, to = xs.length): number {
  let p = 1;
  for (let i = from; i < to; i++) p *= xs[i];
  return p;
}

export function fail(op: string, why: string): DescriptorError {
  return new DescriptorError(`${op}: ${why}`);
}

/**
 * Spatial sizes and per-axis attributes padded to 3 dims (D, H, W) so that 1-D, 2-D and 3-D
 * kernels share one loop nest: missing leading axes get size 1, kernel 1, stride 1, pad 0.
 */
export interface Window3 {
  inS: number[];
  outS: number[];
  k: number[];
  s: number[];
  d: number[];
  pb: number[];
  pe: number[];
}

export function window3(
  op: string,
  inSpatial: readonly number[],
  outSpatial: readonly number[],
  kernel: readonly number[],
  strides: readonly number[],
  dilations: readonly number[],
  pads: readonly number[],
): Window3 {
  const nd = inSpatial.length;
  if (nd < 1 || nd > 3) throw fail(op, `${nd}-D windows are not supported (1-D, 2-D and 3-D are)`);
  const lead = 3 - nd;
  const pad3 = (xs: readonly number[], fill: number, off = 0) => [
    ...new Array<number>(lead).fill(fill),
    ...xs.slice(off, off + nd),
  ];
  return {
    inS: pad3(inSpatial, 1),
    outS: pad3(outSpatial, 1),
    k: pad3(kernel, 1),
    s: pad3(strides, 1),
    d: pad3(dilations, 1),
    pb: pad3(pads, 0),
    pe: pad3(pads, 0, nd),
  };
}

/**
 * For each kernel tap t along one axis, the output range [lo[t], hi[t]) whose input index
 * o*s + t*d - pb falls inside [0, size): lets inner loops run without bounds checks.
 */
export function validRanges(size: number, out: number, k: number, s: number, d: number, pb: number) {
  const lo = new Int32Array(k);
  const hi = new Int32Array(k);
  for (let t = 0; t < k; t++) {
    const off = t * d - pb;
    // smallest o with o*s + off >= 0, and smallest o with o*s + off >= size
    let a = off >= 0 ? 0 : Math.ceil(-off / s);
    let b = Math.ceil((size - off) / s);
    a = Math.min(Math.max(a, 0), out);
    b = Math.min(Math.max(b, a), out);
    lo[t] = a;
    hi[t] = b;
  }
  return { lo, hi };
}

/**
 * Scratch memory shared by all nn kernels. Kernels run one at a time and never yield mid-run,
 * so one buffer per slot serves every kernel of every loaded model. A factory reserves the
 * size it needs at load time; its closure fetches the buffer when it runs (a factory that ran
 * later may have replaced it with a bigger one).
 */
export const Scratch = {
  Col: 0, // im2col / col2im tiles
  Pack: 1, // packed or transposed operands
  PingA: 2, // Resize intermediates
  PingB: 3,
} as const;
type ScratchSlot = (typeof Scratch)[keyof typeof Scratch];

const scratchSlots: Float32Array[] = [];

export function reserveScratch(slot: ScratchSlot, length: number): void {
  const cur = scratchSlots[slot];
  if (!cur || cur.length < length) scratchSlots[slot] = new Float32Array(length);
}

export function scratch(slot: ScratchSlot): Float32Array {
  return scratchSlots[slot];
}
