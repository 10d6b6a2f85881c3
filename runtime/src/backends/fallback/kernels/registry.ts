// Kernel registry of the fallback (plain JavaScript) backend.
//
// A kernel factory runs once at load time for one kernel call of the descriptor: it
// receives views of its input/output tensors (typed arrays into the arena or the
// weights) and the node's canonical attributes, precomputes what it can (strides,
// loop bounds) and returns the closure that runs the op. Family files register their
// kernels with `registerKernel` at module top level; ./index.ts imports every family.

import type { DType, TypedArray } from "../../../dtypes.js";
import { checkArity } from "./shape.js";

export interface TensorView {
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Number of elements (product of shape). */
  readonly size: number;
  /** The elements; int64 is a BigInt64Array, bool a Uint8Array, float16 a Uint16Array. */
  readonly data: TypedArray;
}

export type Attrs = Readonly<Record<string, unknown>>;

export type KernelFactory = (
  inputs: readonly (TensorView | null)[],
  outputs: readonly TensorView[],
  attrs: Attrs,
  op: string,
) => () => void;

const registry = new Map<string, KernelFactory>();
// The kernel of every call whose attrs carry an expression program (`expr`, ../kernels/expr.ts):
// the float unary ops, whatever their name (their definition lives in the transpiler).
let exprKernel: KernelFactory | undefined;

export function registerExprKernel(factory: KernelFactory): void {
  if (exprKernel) throw new Error("fallback expression kernel registered twice");
  exprKernel = factory;
}

export function registerKernel(ops: string | readonly string[], factory: KernelFactory): void {
  for (const op of typeof ops === "string" ? [ops] : ops) {
    if (registry.has(op)) throw new Error(`fallback kernel for ${op} registered twice`);
    registry.set(op, factory);
  }
}

/** The factory of `op` (the expression kernel when `attrs.expr` is given), checking the
 *  number of inputs first (shape.ts). */
export function getKernel(op: string, attrs?: Attrs): KernelFactory | undefined {
  const factory = attrs !== undefined && attrs.expr !== undefined ? exprKernel : registry.get(op);
  if (!factory) return undefined;
  return (inputs, outputs, attrs, o) => {
    checkArity(o, inputs);
    return factory(inputs, outputs, attrs, o);
  };
}

export function supportedOps(): string[] {
  return [...registry.keys()].sort();
}
