// Fused activations: a pass may set attrs.activation = {type, ...params, expr} on Conv,
// ConvTranspose, Gemm and MatMul; their kernels apply it in place to finished output ranges.
// `expr` is the activation's expression program (./expr.ts), written by the converter from
// the op's one definition, so any activation the converter fuses runs here.

import { DescriptorError } from "../../../errors.js";
import { ExprProgram } from "./expr.js";

/** Applies the activation in place to d[start, end). */
export type Activation = (d: Float32Array, start: number, end: number) => void;

/** The activation described by `spec` (attrs.activation), or null when there is none. */
export function makeActivation(spec: unknown): Activation | null {
  if (spec === undefined || spec === null) return null;
  if (typeof spec !== "object" || typeof (spec as { type?: unknown }).type !== "string") {
    throw new DescriptorError(`fused activation must be an object with a 'type', got ${JSON.stringify(spec)}`);
  }
  const s = spec as Record<string, unknown>;
  if (s.expr === undefined) {
    throw new DescriptorError(`fused activation '${String(s.type)}' has no expression program (expr); reconvert the model with this webdnn version`);
  }
  const prog = new ExprProgram(s.expr, `activation ${String(s.type)}: expr`);
  return (d, a, b) => prog.apply(d, a, d, a, b - a);
}
