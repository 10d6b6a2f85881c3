// What this browser (or Node) offers WebDNN, and why each backend that cannot run here cannot:
// the same checks load() makes before it picks a backend, gathered in one call for an app's
// diagnostics page and for the project's browser support matrix (docs/browser-support.md).

import { BACKENDS } from "./backends/index.js";
import { hasRelaxedSimd, hasSimd } from "./backends/wasm/module.js";
import { hardwareThreads, threadsUnavailable } from "./backends/wasm/pool.js";

export interface Environment {
  /** Each backend: null where it can run here, else why not. */
  backends: Record<string, string | null>;
  wasm: {
    /** The SIMD level the kernels would use: "relaxed", "simd128", or null (none: no wasm backend). */
    simd: "relaxed" | "simd128" | null;
    /** null where Web Worker threads on a shared memory work here, else why not. */
    threads: string | null;
    hardwareThreads: number;
  };
  crossOriginIsolated: boolean;
  /** Where load({ cache }) can keep models: Cache Storage. */
  cacheStorage: boolean;
  offscreenCanvas: boolean;
  userAgent: string;
}

export async function environment(): Promise<Environment> {
  const g = globalThis as { crossOriginIsolated?: boolean; caches?: unknown; OffscreenCanvas?: unknown; navigator?: { userAgent?: string } };
  const backends: Record<string, string | null> = {};
  for (const [name, b] of Object.entries(BACKENDS)) {
    try {
      backends[name] = b.unavailableReason ? await b.unavailableReason() : (await b.isAvailable()) ? null : "unavailable";
    } catch (e) {
      backends[name] = `its check failed: ${e instanceof Error ? e.message : String(e)}`;
    }
  }
  const simd = typeof WebAssembly !== "object" || !hasSimd() ? null : hasRelaxedSimd() ? "relaxed" : "simd128";
  return {
    backends,
    wasm: { simd, threads: threadsUnavailable(), hardwareThreads: await hardwareThreads() },
    crossOriginIsolated: g.crossOriginIsolated === true,
    cacheStorage: typeof g.caches === "object" && g.caches !== null,
    offscreenCanvas: typeof g.OffscreenCanvas === "function",
    userAgent: g.navigator?.userAgent ?? "",
  };
}
