// The webgpu backend's descriptor additions (written by src/webdnn/backends/webgpu/lower.py)
// and their validation against the descriptor and the adapter's limits. Nothing from the
// descriptor reaches the GPU before this checked it.
//
//   shaders: [{code, workgroupSize: [x, y, z], workgroupStorage: bytes}]
//   kernels[i].attrs = {shader, workgroups: [x, y, z]}; bindings = inputs then outputs,
//   each the tensor's whole byte range (rounded up to 4) in the arena or the weights buffer.

import type { Descriptor } from "../../descriptor.js";
import { BackendUnavailableError, DescriptorError, WebGPUError } from "../../errors.js";

export type BufferKind = "arena" | "weights";

export interface ShaderSpec {
  code: string;
  workgroupSize: [number, number, number];
  workgroupStorage: number;
}

export interface BindingPlan { buffer: BufferKind; offset: number; size: number }

export interface DispatchPlan {
  name: string;
  shader: number;
  workgroups: [number, number, number];
  bindings: BindingPlan[];
}

export interface GpuPlan {
  shaders: ShaderSpec[];
  /** Per shader: the binding kinds its layout needs (null when no kernel uses it). */
  layouts: (BufferKind[] | null)[];
  dispatches: DispatchPlan[];
  arenaBytes: number;   // GPU buffer sizes: byte lengths rounded up to 4, at least 4
  weightBytes: number;
  /** The device limits this model needs (requested when the device is created). */
  needs: Record<string, number>;
}

const isCount = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
const isTriple = (x: unknown, min: number): x is [number, number, number] =>
  Array.isArray(x) && x.length === 3 && x.every((v) => isCount(v) && v >= min);
export const align4 = (n: number): number => Math.max(4, Math.ceil(n / 4) * 4);
/** The bytes an empty tensor's binding covers: one element of the widest array type a shader declares. */
const EMPTY_BINDING = 16;

function fail(what: string): never {
  throw new DescriptorError(`webgpu descriptor: ${what}. Re-convert the model with the matching webdnn version.`);
}

/** Check the descriptor's webgpu fields; compute every binding range and the limits the model needs. */
export function planDescriptor(desc: Descriptor): GpuPlan {
  const raw = desc.shaders;
  if (!Array.isArray(raw)) fail("field 'shaders' is missing or not a list");
  const shaders = raw.map((s: unknown, i: number): ShaderSpec => {
    const o = s as Partial<ShaderSpec> | null;
    if (typeof o !== "object" || o === null || typeof o.code !== "string") fail(`shaders[${i}] needs code`);
    if (!isTriple(o.workgroupSize, 1)) fail(`shaders[${i}].workgroupSize must be three positive integers`);
    if (!isCount(o.workgroupStorage)) fail(`shaders[${i}].workgroupStorage must be a byte count`);
    return { code: o.code, workgroupSize: o.workgroupSize, workgroupStorage: o.workgroupStorage };
  });
  // (grown below where an empty tensor's binding, e.g. after a NonZero that found nothing, passes its end)
  let arenaBytes = align4(desc.arena.byteLength);
  const weightBytes = align4(desc.weights.byteLength);
  if (desc.arena.alignment % 256 !== 0) fail(`arena alignment ${desc.arena.alignment} is not a multiple of 256`);
  const layouts: (BufferKind[] | null)[] = shaders.map(() => null);
  const needs: Record<string, number> = {
    maxStorageBuffersPerShaderStage: 0, maxStorageBufferBindingSize: 4, maxBufferSize: Math.max(arenaBytes, weightBytes),
    maxComputeWorkgroupsPerDimension: 1, maxComputeInvocationsPerWorkgroup: 1, maxComputeWorkgroupStorageSize: 0,
    maxComputeWorkgroupSizeX: 1, maxComputeWorkgroupSizeY: 1, maxComputeWorkgroupSizeZ: 1,
  };
  const need = (k: string, v: number) => { needs[k] = Math.max(needs[k] ?? 0, v); };
  // a kernel whose outputs are all empty (a size found in the data was 0) has nothing to compute: not
  // dispatched, and its shader (which may divide by that size) not compiled, as the converter drops such
  // kernels of a model of fixed sizes
  const live = desc.kernels.map((k, i) => ({ k, i })).filter(({ k }) => k.outputs.some((t) => desc.tensors[t]!.byteLength > 0));
  const dispatches = live.map(({ k, i }): DispatchPlan => {
    const where = `kernels[${i}] ('${k.name}')`;
    const a = k.attrs as { shader?: unknown; workgroups?: unknown };
    if (!isCount(a.shader) || a.shader >= shaders.length) fail(`${where} refers to shader ${JSON.stringify(a.shader)}, there are ${shaders.length}`);
    if (!isTriple(a.workgroups, 0)) fail(`${where}.workgroups must be three non-negative integers`);
    const bindings = [...k.inputs, ...k.outputs].map((t): BindingPlan => {
      if (t < 0) fail(`${where} has an omitted input (every binding needs a tensor)`);
      const spec = desc.tensors[t]!;
      // an empty tensor is still bound, and a shader's array needs one element (vec4<f32> at most) of it
      const size = spec.byteLength === 0 ? EMPTY_BINDING : align4(spec.byteLength);
      if (spec.byteLength === 0 && spec.memory === "arena") arenaBytes = Math.max(arenaBytes, spec.offset + size);
      const limit = spec.memory === "arena" ? arenaBytes : weightBytes;
      if (spec.offset % 256 !== 0) fail(`${where}: tensor '${spec.name}' starts at ${spec.offset}, not a multiple of 256`);
      if (spec.offset + size > limit) fail(`${where}: tensor '${spec.name}' (${spec.offset}..${spec.offset + size}) lies outside the ${spec.memory} buffer`);
      need("maxStorageBufferBindingSize", size);
      return { buffer: spec.memory, offset: spec.offset, size };
    });
    const kinds = bindings.map((b) => b.buffer);
    const prev = layouts[a.shader];
    if (prev && (prev.length !== kinds.length || prev.some((x, j) => x !== kinds[j]))) {
      fail(`${where} binds [${kinds}] but shader ${a.shader} is also used with [${prev}]`);
    }
    layouts[a.shader] = kinds;
    const s = shaders[a.shader]!;
    need("maxStorageBuffersPerShaderStage", bindings.length);
    need("maxComputeWorkgroupsPerDimension", Math.max(...a.workgroups));
    need("maxComputeInvocationsPerWorkgroup", s.workgroupSize[0] * s.workgroupSize[1] * s.workgroupSize[2]);
    need("maxComputeWorkgroupStorageSize", s.workgroupStorage);
    need("maxComputeWorkgroupSizeX", s.workgroupSize[0]);
    need("maxComputeWorkgroupSizeY", s.workgroupSize[1]);
    need("maxComputeWorkgroupSizeZ", s.workgroupSize[2]);
    return { name: k.name, shader: a.shader, workgroups: a.workgroups, bindings };
  });
  need("maxBufferSize", arenaBytes);
  return { shaders, layouts, dispatches, arenaBytes, weightBytes, needs };
}

const mib = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`;

/** What a limit is needed for, in words, for the error that says a model does not fit. */
function needFor(k: string, v: number, plan: GpuPlan): string {
  if (k === "maxBufferSize") {
    return `one GPU buffer of ${v} bytes (${mib(v)}; the model's arena is ${plan.arenaBytes} bytes, its weights ${plan.weightBytes} bytes)`;
  }
  if (k === "maxStorageBufferBindingSize") return `a tensor of ${v} bytes (${mib(v)}) bound to one shader`;
  return `${k} = ${v}`;
}

/** The device limits to request, or a WebGPUError naming the first limit that is too small, the
 *  sizes that need it and what to do. `supplied`: `have` are the limits of a device the caller
 *  passed in backendOptions.webgpu.device (which can be re-created with higher limits), not an
 *  adapter's (which are the hardware's). */
export function requiredLimits(plan: GpuPlan, have: GPUSupportedLimits, supplied: boolean): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(plan.needs)) {
    const limit = (have as unknown as Record<string, number | undefined>)[k];
    if (limit === undefined) continue;
    if (v > limit && supplied) {
      throw new WebGPUError(`WebGPU: this model needs ${needFor(k, v, plan)}, but the GPUDevice given in ` +
        `backendOptions.webgpu.device has ${k} = ${limit}; request that device with requiredLimits: { ${k}: ${v} } ` +
        "(if its adapter allows it), or let WebDNN create the device");
    }
    if (v > limit) {
      // beyond this GPU: load() goes on to the next backend of backendOrder
      throw new BackendUnavailableError(`WebGPU: this model needs ${needFor(k, v, plan)}, but this GPU's ${k} is ` +
        `${limit} (${mib(limit)}): the model does not fit this adapter's limits; use another backend (backendOrder) ` +
        "or convert the model with smaller input shapes");
    }
    out[k] = v;
  }
  return out;
}
