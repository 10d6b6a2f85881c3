/// <reference types="@webgpu/types" />
// The interface every runtime backend implements. Where to add a backend: a folder
// src/backends/<name>/ exporting a Backend, registered in src/backends/index.ts.

import type { Descriptor } from "../descriptor.js";
import type { TypedArray } from "../dtypes.js";

/** An input that already lives in a GPUBuffer (on the session's device). */
export interface GpuBufferInput { gpuBuffer: GPUBuffer }

/** An output left on the GPU: a fresh buffer the caller owns, plus a way to read it back. */
export interface GpuBufferOutput {
  gpuBuffer: GPUBuffer;
  /** Copy the buffer's contents to a fresh typed array (one staging buffer, one map). */
  read(): Promise<TypedArray>;
}

export interface Session {
  /** Inputs in descriptor input order; returns fresh arrays in descriptor output order. */
  run(inputs: readonly TypedArray[]): Promise<TypedArray[]>;
  /** run() and the outputs' dims, for a session whose output sizes depend on the data (a control
   *  program with a NonZero, control.ts); the others' dims are their descriptor's. */
  runWithDims?(inputs: readonly TypedArray[]): Promise<{ outputs: TypedArray[]; dims: number[][] }>;
  /** GPU-resident I/O (only backends that run on a GPUDevice have it): inputs may be GPU
   *  buffers; with `gpuOutputs` every output is returned as a GPU buffer, otherwise as arrays. */
  runGpu?(inputs: readonly (TypedArray | GpuBufferInput)[], gpuOutputs: boolean): Promise<(TypedArray | GpuBufferOutput)[]>;
  /** The GPUDevice the session runs on (GPU-resident I/O must use buffers of this device). */
  readonly gpuDevice?: GPUDevice;
  dispose(): void;
  /** What the backend chose at load (e.g. wasm: {threads, simd}); shown as Runner.backendInfo. */
  readonly info?: Readonly<Record<string, unknown>>;
}

/** What the sessions of every input size of one model share (a model with symbolic dims, see
 *  docs/descriptor-format.md): the device or module, threads, and the weights, placed once. */
export interface SizeFamily {
  /** The session of one size: `descriptor` is that size's concrete descriptor, with the family's
   *  weights. Disposing it frees only what is that size's own (its arena, pipelines, ...). */
  createSession(descriptor: Descriptor): Promise<Session>;
  /** Free what the family holds; called once every session of it was disposed. */
  dispose(): void;
}

export interface Backend {
  readonly name: string;
  /** The LoadOptions.backendOptions key this backend reads (default: its name); variants of one
   *  backend share it (webgpu-fp16 reads backendOptions.webgpu). */
  readonly optionsKey?: string;
  /** Can this backend run here (API present, adapter found, ...)? Must not throw.
   *  `options` is this backend's entry of LoadOptions.backendOptions (e.g. an injected WebGPU `gpu`). */
  isAvailable(options?: Record<string, unknown>): Promise<boolean>;
  /** Why this backend cannot run here, or null when it can (isAvailable is then true): an API
   *  missing, or the page's policies (CSP, Trusted Types, cross-origin isolation) forbidding what it
   *  needs. load() shows the reason in Runner.backendInfo.skipped. Must not throw. Backends
   *  without it are judged by isAvailable. */
  unavailableReason?(options?: Record<string, unknown>): Promise<string | null>;
  /** Check a validated descriptor against what this backend can allocate here, before its weights
   *  are downloaded: throws BackendUnavailableError when this device cannot run it (load() tries
   *  the next backend) or DescriptorError when no device could. Optional. */
  checkDescriptor?(descriptor: Descriptor, options?: Record<string, unknown>): Promise<void>;
  /** Build a session; `weights` holds the concatenated, checksum-verified weight files;
   *  `options` is this backend's entry of LoadOptions.backendOptions. */
  createSession(descriptor: Descriptor, weights: Uint8Array, options?: Record<string, unknown>): Promise<Session>;
  /** For models with symbolic dims: the family the sessions of every size are made from, so the
   *  weights are uploaded (and the device, module, threads set up) once. `first` is the first size's
   *  concrete descriptor. Optional: without it each size's session is createSession(...) alone. */
  createFamily?(first: Descriptor, weights: Uint8Array, options?: Record<string, unknown>): Promise<SizeFamily>;
}
