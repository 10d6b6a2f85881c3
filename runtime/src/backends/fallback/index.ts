// The fallback backend: plain-JavaScript kernels over one ArrayBuffer arena laid out
// by the transpiler's memory plan. Runs anywhere JavaScript runs, under a strict CSP.

import type { Descriptor, TensorSpec } from "../../descriptor.js";
import { makeView, type TypedArray } from "../../dtypes.js";
import { BackendUnavailableError, byteSize, DescriptorError } from "../../errors.js";
import type { Backend, Session } from "../backend.js";
import { checkMemoryPlan } from "../memory.js";
import { getKernel, type TensorView } from "./kernels/index.js";

class FallbackSession implements Session {
  private steps: (() => void)[] = [];
  private ins: TensorView[];
  private outs: TensorView[];

  constructor(desc: Descriptor, weights: Uint8Array) {
    checkMemoryPlan(desc); // the kernels trust the plan: every tensor they read holds its value (memory.ts)
    let arena: ArrayBuffer;
    try {
      arena = new ArrayBuffer(desc.arena.byteLength);
    } catch (e) {
      // the engine's or the device's memory limit: load() tries the next backend
      throw new BackendUnavailableError(`cannot allocate the model's arena of ${byteSize(desc.arena.byteLength)} ` +
        `on this device (${e instanceof Error ? e.message : String(e)}); use a device with more memory or a smaller model`);
    }
    // Weights may sit at any offset of a larger buffer: copy once if not aligned.
    const w = weights.byteOffset % 8 === 0 ? weights : weights.slice();
    const views = desc.tensors.map((t: TensorSpec): TensorView => {
      const size = t.shape.reduce((a, b) => a * b, 1);
      const data = t.memory === "arena"
        ? makeView(t.dtype, arena, t.offset, size)
        : makeView(t.dtype, w.buffer, w.byteOffset + t.offset, size);
      return { dtype: t.dtype, shape: t.shape, size, data };
    });
    for (const k of desc.kernels) {
      const factory = getKernel(k.op, k.attrs);
      if (!factory) {
        throw new DescriptorError(`kernel '${k.name}' uses op ${k.op}, which this runtime's fallback backend lacks; update the webdnn runtime`);
      }
      try {
        this.steps.push(factory(k.inputs.map((i) => (i < 0 ? null : views[i]!)), k.outputs.map((i) => views[i]!), k.attrs, k.op));
      } catch (e) {
        throw new DescriptorError(`kernel '${k.name}' (${k.op}): ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    this.ins = desc.inputs.map((x) => views[x.tensor]!);
    this.outs = desc.outputs.map((x) => views[x.tensor]!);
  }

  async run(inputs: readonly TypedArray[]): Promise<TypedArray[]> {
    inputs.forEach((x, i) => (this.ins[i]!.data as { set(a: ArrayLike<unknown>): void }).set(x as ArrayLike<unknown>));
    for (const step of this.steps) step();
    return this.outs.map((o) => o.data.slice() as TypedArray);
  }

  dispose(): void {
    this.steps = [];
    this.ins = [];
    this.outs = [];
  }
}

export const fallbackBackend: Backend = {
  name: "fallback",
  isAvailable: async () => true,
  createSession: async (desc, weights) => new FallbackSession(desc, weights),
};
