// The interface every runtime backend implements. Where to add a backend: a folder
// src/backends/<name>/ exporting a Backend, registered in src/backends/index.ts.

import type { Descriptor } from "../descriptor.js";
import type { TypedArray } from "../dtypes.js";

export interface Session {
  /** Inputs in descriptor input order; returns fresh arrays in descriptor output order. */
  run(inputs: readonly TypedArray[]): Promise<TypedArray[]>;
  dispose(): void;
  /** What the backend chose at load (e.g. wasm: {threads, simd}); shown as Runner.backendInfo. */
  readonly info?: Readonly<Record<string, unknown>>;
}

export interface Backend {
  readonly name: string;
  /** Can this backend run here (API present, adapter found, ...)? Must not throw.
   *  `options` is this backend's entry of LoadOptions.backendOptions (e.g. an injected WebGPU `gpu`). */
  isAvailable(options?: Record<string, unknown>): Promise<boolean>;
  /** Build a session; `weights` holds the concatenated, checksum-verified weight files;
   *  `options` is this backend's entry of LoadOptions.backendOptions. */
  createSession(descriptor: Descriptor, weights: Uint8Array, options?: Record<string, unknown>): Promise<Session>;
}
