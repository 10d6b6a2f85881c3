// load(): fetch the manifest, pick the first available backend of backendOrder,
// download only that backend's descriptor and weights (with progress), verify, run.

import { BACKENDS, DEFAULT_ORDER } from "./backends/index.js";
import { crc32 } from "./crc32.js";
import { validateDescriptor, validateManifest, type Descriptor } from "./descriptor.js";
import { BackendUnavailableError, DescriptorError } from "./errors.js";
import { readBytes, readJSON, resolve } from "./fetch.js";
import { Runner } from "./runner.js";

export interface Progress {
  phase: "manifest" | "descriptor" | "weights" | "compile" | "ready";
  loadedBytes: number;
  totalBytes: number;
  backend?: string;
}

export interface LoadOptions {
  /** Backends to try, first available wins. Default: webgpu, wasm, webgl, fallback. */
  backendOrder?: readonly string[];
  onProgress?: (p: Progress) => void;
  /** Custom fetch (e.g. with credentials or caching). */
  fetch?: typeof fetch;
  /** Backend-specific options, by backend name, e.g. { wasm: { threads: 2 } } (see WasmOptions). */
  backendOptions?: Record<string, unknown>;
}

export async function load(url: string, options: LoadOptions = {}): Promise<Runner> {
  const report = options.onProgress ?? (() => {});
  report({ phase: "manifest", loadedBytes: 0, totalBytes: 0 });
  const manifestUrl = resolve(url, "manifest.json");
  const manifest = validateManifest(await readJSON(manifestUrl, options.fetch), manifestUrl);
  const order = options.backendOrder ?? DEFAULT_ORDER;
  const tried: string[] = [];
  for (const name of order) {
    const backend = BACKENDS[name];
    const entry = manifest.backends[name];
    if (!backend || !entry) {
      tried.push(`${name}: ${!backend ? "not in this runtime" : "not converted for this model"}`);
      continue;
    }
    const backendOptions = options.backendOptions?.[backend.optionsKey ?? name] as Record<string, unknown> | undefined;
    if (!(await backend.isAvailable(backendOptions))) {
      tried.push(`${name}: not available in this environment`);
      continue;
    }
    const total = entry.byteLength;
    const descUrl = resolve(url, entry.descriptor);
    report({ phase: "descriptor", loadedBytes: 0, totalBytes: total, backend: name });
    const desc = validateDescriptor(await readJSON(descUrl, options.fetch), name, descUrl);
    const base = descUrl.slice(0, descUrl.lastIndexOf("/") + 1);
    const weights = await loadWeights(desc, base, options.fetch, (n) => report({ phase: "weights", loadedBytes: n, totalBytes: total, backend: name }));
    report({ phase: "compile", loadedBytes: total, totalBytes: total, backend: name });
    let session;
    try {
      session = await backend.createSession(desc, weights, backendOptions);
    } catch (e) {
      // the backend works here but this device cannot run this model on it (a texture or
      // render-target limit): try the next one; any other failure is the model's and stops
      if (!(e instanceof BackendUnavailableError)) throw e;
      tried.push(`${name}: ${e.message}`);
      continue;
    }
    report({ phase: "ready", loadedBytes: total, totalBytes: total, backend: name });
    return new Runner(name, desc, session);
  }
  throw new BackendUnavailableError(`no backend of [${order.join(", ")}] can run ${url}: ${tried.join("; ")}`);
}

/** Download every weight file into one buffer, verifying sizes and CRC-32s. */
async function loadWeights(desc: Descriptor, base: string, fetchImpl: typeof fetch | undefined, onBytes: (n: number) => void): Promise<Uint8Array> {
  const all = new Uint8Array(desc.weights.byteLength);
  const loaded = new Array<number>(desc.weights.files.length).fill(0);
  const files = desc.weights.files.map((f, i) => ({ f, i }));
  const worker = async () => {
    for (let job = files.shift(); job; job = files.shift()) {
      const { f, i } = job;
      const url = resolve(base, f.path);
      const bytes = await readBytes(url, (n) => { loaded[i] = n; onBytes(loaded.reduce((a, b) => a + b, 0)); }, fetchImpl);
      if (bytes.length !== f.byteLength) throw new DescriptorError(`weight file ${url} has ${bytes.length} bytes, the descriptor says ${f.byteLength}; the file is truncated or stale — re-download or re-convert`);
      const sum = crc32(bytes);
      if (sum !== f.crc32) throw new DescriptorError(`weight file ${url} is corrupted: CRC-32 ${sum}, expected ${f.crc32}; re-download or re-convert the model`);
      all.set(bytes, f.offset);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return all;
}
