// Fused activations: a pass may set attrs.activation = {type, ...params} on Conv,
// ConvTranspose, Gemm and MatMul; their kernels apply it in place to finished output ranges.

import { DescriptorError } from "../../../errors.js";
import { toFloat } from "./attrs.js";

/** Applies the activation in place to d[start, end). */
export type Activation = (d: Float32Array, start: number, end: number) => void;

function param(spec: Record<string, unknown>, key: string, dflt: number): number {
  const v = spec[key];
  return v === undefined ? dflt : toFloat(v, `activation.${key}`);
}

/** The activation described by `spec` (attrs.activation), or null when there is none. */
export function makeActivation(spec: unknown): Activation | null {
  if (spec === undefined || spec === null) return null;
  if (typeof spec !== "object" || typeof (spec as { type?: unknown }).type !== "string") {
    throw new DescriptorError(`fused activation must be an object with a 'type', got ${JSON.stringify(spec)}`);
  }
  const s = spec as Record<string, unknown>;
  switch (s.type as string) {
    case "Relu":
      return (d, a, b) => {
        for (let i = a; i < b; i++) if (d[i] < 0) d[i] = 0;
      };
    case "Clip": {
      const lo = param(s, "min", -Infinity);
      const hi = param(s, "max", Infinity);
      return (d, a, b) => {
        for (let i = a; i < b; i++) {
          const x = d[i];
          d[i] = x < lo ? lo : x > hi ? hi : x;
        }
      };
    }
    case "LeakyRelu": {
      const alpha = param(s, "alpha", 0.01);
      return (d, a, b) => {
        for (let i = a; i < b; i++) if (d[i] < 0) d[i] *= alpha;
      };
    }
    case "Sigmoid":
      return (d, a, b) => {
        for (let i = a; i < b; i++) d[i] = 1 / (1 + Math.exp(-d[i]));
      };
    case "HardSigmoid": {
      const alpha = param(s, "alpha", 0.2);
      const beta = param(s, "beta", 0.5);
      return (d, a, b) => {
        for (let i = a; i < b; i++) d[i] = Math.max(0, Math.min(1, alpha * d[i] + beta));
      };
    }
    case "HardSwish":
      return (d, a, b) => {
        for (let i = a; i < b; i++) {
          const x = d[i];
          d[i] = x * Math.max(0, Math.min(1, x / 6 + 0.5));
        }
      };
    case "Tanh":
      return (d, a, b) => {
        for (let i = a; i < b; i++) d[i] = Math.tanh(d[i]);
      };
    default:
      throw new DescriptorError(
        `unknown fused activation '${String(s.type)}' (known: Relu, Clip, LeakyRelu, Sigmoid, HardSigmoid, HardSwish, Tanh)`,
      );
  }
}
