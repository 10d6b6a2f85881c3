// Every runtime backend, by name. The loader tries them in `backendOrder`.
import type { Backend } from "./backend.js";
import { fallbackBackend } from "./fallback/index.js";
import { wasmBackend } from "./wasm/index.js";
import { webglBackend } from "./webgl/index.js";

export const BACKENDS: Record<string, Backend> = {
  fallback: fallbackBackend,
  wasm: wasmBackend,
  webgl: webglBackend,
};

export const DEFAULT_ORDER = ["webgpu", "wasm", "webgl", "fallback"];
