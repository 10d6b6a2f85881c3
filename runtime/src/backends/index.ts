// Every runtime backend, by name. The loader tries them in `backendOrder`.
import type { Backend } from "./backend.js";
import { fallbackBackend } from "./fallback/index.js";
import { wasmBackend } from "./wasm/index.js";
import { webglBackend } from "./webgl/index.js";
import { webgpuBackend, webgpuFp16Backend } from "./webgpu/index.js";

export const BACKENDS: Record<string, Backend> = {
  fallback: fallbackBackend,
  wasm: wasmBackend,
  webgl: webglBackend,
  webgpu: webgpuBackend,
  // opt-in (convert for it, list it first in backendOrder): f16 storage where shader-f16 exists
  "webgpu-fp16": webgpuFp16Backend,
};

export const DEFAULT_ORDER = ["webgpu", "wasm", "webgl", "fallback"];
