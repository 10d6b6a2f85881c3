// Every runtime backend, by name. The loader tries them in `backendOrder`.
import type { Backend } from "./backend.js";
import { fallbackBackend } from "./fallback/index.js";
import { wasmBackend } from "./wasm/index.js";
import { webglBackend } from "./webgl/index.js";
import { webgpuBackend } from "./webgpu/index.js";

export const BACKENDS: Record<string, Backend> = {
  fallback: fallbackBackend,
  wasm: wasmBackend,
  webgl: webglBackend,
  webgpu: webgpuBackend,
};

export const DEFAULT_ORDER = ["webgpu", "wasm", "webgl", "fallback"];
