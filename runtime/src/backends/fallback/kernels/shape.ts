// Load-time checks of a kernel's attributes against its tensors' shapes.
//
// A kernel factory trusts its attributes (pads, strides, axes, perm, ...) for its index
// arithmetic; the views it gets are exactly as long as their shapes say, so a wrong attribute
// would read past a view (undefined -> NaN) or leave part of the output unwritten: garbage,
// not an error. Each factory therefore recomputes its output shape from its input shapes and
// attributes with the op's shape rule (as the converter did) and compares it with the declared
// output shape, and checks every attribute it indexes with; a mismatch is a DescriptorError
// naming the op, the attribute and both shapes. These run once per kernel at load time.

import { DescriptorError } from "../../../errors.js";
import type { TensorView } from "./registry.js";

export function bad(op: string, why: string): DescriptorError {
  return new DescriptorError(`${op}: ${why}`);
}

const show = (s: readonly number[]) => `[${s.join(", ")}]`;

/** The declared shape of `t` must be `want`. */
export function expectShape(op: string, t: TensorView, want: readonly number[], what = "output"): void {
  if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
    throw bad(op, `${what} has shape ${show(t.shape)}, but its inputs and attributes give ${show(want)}`);
  }
}

/** An axis attribute in [-rank, rank) (or [0, rank) when `canonical`), returned non-negative. */
export function axisIn(op: string, axis: number, rank: number, what = "axis", canonical = false): number {
  if (!Number.isInteger(axis) || axis >= rank || axis < (canonical ? 0 : -rank)) {
    throw bad(op, `${what} ${axis} is outside the input's ${rank} dims`);
  }
  return axis < 0 ? axis + rank : axis;
}

/** `xs` must have `n` entries, each an integer >= `min`. */
export function intsOf(op: string, xs: readonly number[], n: number, min: number, what: string): void {
  if (xs.length !== n || xs.some((v) => !Number.isSafeInteger(v) || v < min)) {
    throw bad(op, `${what} ${show(xs)} must be ${n} integers >= ${min}`);
  }
}

/** Output size of a sliding window (Conv, pools), as the converter computes it (onnxruntime's rule:
 *  floor, or for pools with ceil_mode, ceil where the last window must start inside the input or the
 *  begin padding). */
export function windowOut(size: number, k: number, s: number, d: number, pb: number, pe: number, ceil: boolean): number {
  const span = size + pb + pe - (k - 1) * d - 1;
  if (!ceil) return Math.floor(span / s) + 1;
  let out = Math.ceil(span / s) + 1;
  if ((out - 1) * s >= size + pb) out -= 1;
  return out;
}

/**
 * Checks a window op's attributes (kernel, strides, dilations, pads of `nd` spatial dims) and
 * returns the spatial output sizes they give for `spatial`. Sizes below 1 are errors (the
 * converter refuses them too).
 */
export function windowShape(op: string, spatial: readonly number[], kernel: readonly number[], strides: readonly number[],
  dilations: readonly number[], pads: readonly number[], ceil = false): number[] {
  const nd = spatial.length;
  intsOf(op, kernel, nd, 1, "kernel_shape");
  intsOf(op, strides, nd, 1, "strides");
  intsOf(op, dilations, nd, 1, "dilations");
  intsOf(op, pads, 2 * nd, 0, "pads");
  const out = spatial.map((n, i) => windowOut(n, kernel[i]!, strides[i]!, dilations[i]!, pads[i]!, pads[i + nd]!, ceil));
  if (out.some((o) => o < 1)) throw bad(op, `the window leaves no output (input ${show(spatial)}, kernel ${show(kernel)}, pads ${show(pads)})`);
  return out;
}

/** A 0/1 flag attribute (keepdims, exclusive, ceil_mode, ...): any other value is an error, not "true". */
export function flag(op: string, attrs: Readonly<Record<string, unknown>>, key: string, dflt: 0 | 1): boolean {
  const v = attrs[key] ?? dflt;
  if (v !== 0 && v !== 1) throw bad(op, `attribute ${key} must be 0 or 1, got ${JSON.stringify(v)}`);
  return v === 1;
}

/** Multidirectional (numpy) broadcast of `shapes`, or an error naming them. */
export function broadcastShape(op: string, shapes: readonly (readonly number[])[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const o = i + rank - s.length;
      const d = s[i]!;
      if (d === out[o]) continue;
      if (out[o] === 1) out[o] = d;
      else if (d !== 1) throw bad(op, `input shapes ${shapes.map(show).join(" and ")} do not broadcast`);
    }
  }
  return out;
}

/** Every input's shape must broadcast to exactly the output's shape. */
export function expectBroadcast(op: string, inputs: readonly TensorView[], out: TensorView): void {
  expectShape(op, out, broadcastShape(op, inputs.map((x) => x.shape)));
}

/** The most inputs a kernel reads, for ops that read several by position: an extra input (say, a
 *  duplicated one) would shift the operands. Ops that read one input ignore any more. */
const MAX_INPUTS: Record<string, number> = {
  Where: 3, Conv: 3, ConvTranspose: 3, Gemm: 3, MatMul: 2, BatchNormalization: 5, InstanceNormalization: 3,
  LayerNormalization: 3, Gather: 2, GatherElements: 2, GatherND: 2, ScatterND: 3,
};
for (const op of ["Add", "Sub", "Mul", "Div", "Pow", "Mod", "BitShift", "PRelu", "Equal", "Less", "Greater",
  "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "BitwiseAnd", "BitwiseOr", "BitwiseXor"]) MAX_INPUTS[op] = 2;

export function checkArity(op: string, inputs: readonly unknown[]): void {
  const most = MAX_INPUTS[op];
  if (most !== undefined && inputs.length > most) throw bad(op, `has ${inputs.length} inputs, it takes at most ${most}`);
}
