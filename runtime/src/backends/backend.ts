// The interface every runtime backend implements. Where to add a backend: a folder
// src/backends/<name>/ exporting a Backend, registered in src/backends/index.ts.

import type { Descriptor } from "../descriptor.js";
import type { TypedArray } from "../dtypes.js";

export interface Session {
  /** Inputs in descriptor input order; returns fresh arrays in descriptor output order. */
  run(inputs: readonly TypedArray[]): Promise<TypedArray[]>;
  dispose(): void;
}

export interface Backend {
  readonly name: string;
  /** Can this backend run here (API present, adapter found, ...)? Must not throw. */
  isAvailable(): Promise<boolean>;
  /** Build a session; `weights` holds the concatenated, checksum-verified weight files. */
  createSession(descriptor: Descriptor, weights: Uint8Array): Promise<Session>;
}
