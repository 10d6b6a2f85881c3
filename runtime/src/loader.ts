// load(): fetch the manifest, pick the first available backend of backendOrder,
// download only that backend's descriptor and weights (with progress), verify, run.

import { decodeWeights, storedByteLength } from "./weights.js";
import { BACKENDS, DEFAULT_ORDER } from "./backends/index.js";
import { DEFAULT_CACHE_NAME, ModelCache } from "./cache.js";
import { crc32 } from "./crc32.js";
import { ControlSession, FixedStage, SizedStage, isControlDescriptor, validateControlDescriptor, type Stage } from "./control.js";
import { checkDescriptorMatchesManifest, validateManifest, type Descriptor } from "./descriptor.js";
import { concreteDescriptor, isDynamicDescriptor, validateAnyDescriptor, type DynamicDescriptor } from "./dynamic.js";
import { BackendUnavailableError, byteSize, DescriptorError, LoadError } from "./errors.js";
import { parseJSON, readBytes, resolve } from "./fetch.js";
import { Runner } from "./runner.js";
import { DEFAULT_SHAPE_CACHE_SIZE, SizeSessions } from "./sessions.js";

export interface Progress {
  phase: "manifest" | "descriptor" | "weights" | "compile" | "ready";
  loadedBytes: number;
  totalBytes: number;
  backend?: string;
  /** Of loadedBytes, those read from the model cache (LoadOptions.cache) instead of the network. */
  cachedBytes?: number;
}

export interface LoadOptions {
  /** Backends to try, first available wins. Default: webgpu, wasm, webgl, fallback. */
  backendOrder?: readonly string[];
  onProgress?: (p: Progress) => void;
  /** Custom fetch (e.g. with credentials or caching). */
  fetch?: typeof fetch;
  /** Backend-specific options, by backend name, e.g. { wasm: { threads: 2 } } (see WasmOptions). */
  backendOptions?: Record<string, unknown>;
  /** Opt-in model cache: true (the Cache Storage cache "webdnn-models") or a cache name. The manifest, the
   *  chosen backend's descriptor and its weights are stored there once verified, and later loads of the same
   *  URLs read them from there: only the manifest is asked of the server again (revalidated: no body where the
   *  server sends ETag or Last-Modified), so a model converted again at the same URL replaces the cached one;
   *  offline, the cached model loads. If what the cache holds fails a check (damaged), those entries are
   *  evicted and the model is loaded from the network once more.
   *  Does nothing where the Cache API is missing (Node, insecure origins). clearCache() empties it. */
  cache?: boolean | string;
  /** A model converted with symbolic dims (docs/descriptor-format.md) gets a session per input size
   *  (the symbols' values) on its first run at that size; this many are kept, least recently used
   *  dropped and disposed (default 8). A run at a kept size costs what a fixed-shape run does; each
   *  kept session holds its own memory (arena, wasm instance and workers, GPU buffers). Ignored for
   *  models of fixed shapes. */
  shapeCacheSize?: number;
}

/** A backend of backendOrder that load() passed over, and why (Runner.backendInfo.skipped). */
export interface SkippedBackend { backend: string; reason: string }

export async function load(url: string, options: LoadOptions = {}): Promise<Runner> {
  const size = options.shapeCacheSize;
  if (size !== undefined && !(typeof size === "number" && Number.isSafeInteger(size) && size >= 1)) {
    throw new LoadError(`LoadOptions.shapeCacheSize must be a positive integer (sessions kept for a model with symbolic dims), got ${String(size)}`);
  }
  const cache = options.cache ? await ModelCache.open(options.cache === true ? DEFAULT_CACHE_NAME : options.cache) : null;
  try {
    return await loadFrom(url, options, cache);
  } catch (e) {
    // damaged cached files (a failed check: DescriptorError): drop what came from the cache and load from the
    // network; not when the network failed (offline, the runtime's own files missing): the cache stays good
    if (!cache || cache.hits.size === 0 || !(e instanceof DescriptorError)) throw e;
    await cache.evictHits();
    return loadFrom(url, options, cache);
  }
}

/** One file: from the cache when it holds it, else from the network (stored in the cache by `keep` once checked). */
async function readModelFile(url: string, cache: ModelCache | null, fetchImpl: typeof fetch | undefined,
  onBytes?: (n: number, cached: boolean) => void): Promise<Uint8Array> {
  const hit = cache ? await cache.get(url) : null;
  if (hit) {
    onBytes?.(hit.length, true);
    return hit;
  }
  return readBytes(url, onBytes && ((n) => onBytes(n, false)), fetchImpl);
}

/** The manifest. With a cache, the server is asked for it first (the browser revalidates its copy: a 304 and no
 *  body where the server sends validators): a model converted again at this URL has another manifest (its
 *  backends' digests), and then everything cached under the model's directory is dropped before loading. Where
 *  the network fails (offline), the cached manifest is used. */
async function readManifest(url: string, cache: ModelCache | null, fetchImpl: typeof fetch | undefined): Promise<Uint8Array> {
  const cached = cache ? await cache.get(url) : null;
  if (!cache || !cached) return readBytes(url, undefined, fetchImpl);
  let fresh: Uint8Array;
  try {
    fresh = await readBytes(url, undefined, fetchImpl, { cache: "no-cache" });
  } catch {
    return cached;
  }
  if (fresh.length === cached.length && fresh.every((b, i) => b === cached[i])) return cached;
  await cache.evictUnder(url.slice(0, url.lastIndexOf("/") + 1));
  return fresh;
}

async function loadFrom(url: string, options: LoadOptions, cache: ModelCache | null): Promise<Runner> {
  const report = options.onProgress ?? (() => {});
  report({ phase: "manifest", loadedBytes: 0, totalBytes: 0 });
  const manifestUrl = resolve(url, "manifest.json");
  const manifestBytes = await readManifest(manifestUrl, cache, options.fetch);
  const manifest = validateManifest(parseJSON(manifestBytes, manifestUrl), manifestUrl);
  const order = options.backendOrder ?? DEFAULT_ORDER;
  const skipped: SkippedBackend[] = [];
  const skip = (backend: string, reason: string) => skipped.push({ backend, reason });
  for (const name of order) {
    const backend = Object.prototype.hasOwnProperty.call(BACKENDS, name) ? BACKENDS[name] : undefined;
    const entry = Object.prototype.hasOwnProperty.call(manifest.backends, name) ? manifest.backends[name] : undefined;
    if (!backend || !entry) {
      skip(name, !backend ? "not in this runtime" : "not converted for this model");
      continue;
    }
    const backendOptions = options.backendOptions?.[backend.optionsKey ?? name] as Record<string, unknown> | undefined;
    // cheap checks first: nothing of this backend is downloaded when it cannot start here
    const why = backend.unavailableReason
      ? await backend.unavailableReason(backendOptions)
      : (await backend.isAvailable(backendOptions)) ? null : "not available in this environment";
    if (why !== null) {
      skip(name, why);
      continue;
    }
    const total = entry.byteLength;
    const descUrl = resolve(url, entry.descriptor);
    report({ phase: "descriptor", loadedBytes: 0, totalBytes: total, backend: name });
    const descBytes = await readModelFile(descUrl, cache, options.fetch);
    const raw = parseJSON(descBytes, descUrl);
    if (isControlDescriptor(raw)) {
      // control flow decided at run time: one descriptor per stage, each loaded as a model of its own
      const control = validateControlDescriptor(raw, name, descUrl);
      checkDescriptorMatchesManifest(manifest, control as unknown as Descriptor, descUrl);
      const base = descUrl.slice(0, descUrl.lastIndexOf("/") + 1);
      const stages: Stage[] = [];
      let done = descBytes.length;
      try {
        for (const path of control.stages) {
          const stageUrl = resolve(base, path);
          const stageBytes = await readModelFile(stageUrl, cache, options.fetch);
          // a stage after a NonZero is symbolic in the count it finds: checked and weighed at its smallest size
          const stageDesc = validateAnyDescriptor(parseJSON(stageBytes, stageUrl), name, stageUrl);
          const concrete = isDynamicDescriptor(stageDesc) ? smallest(stageDesc) : stageDesc;
          if (backend.checkDescriptor) await backend.checkDescriptor(concrete, backendOptions);
          const before = done + stageBytes.length;
          const { weights, downloaded } = await loadWeights(concrete, stageUrl.slice(0, stageUrl.lastIndexOf("/") + 1), options.fetch,
            cache, (n, cachedBytes) => report({ phase: "weights", loadedBytes: before + n, totalBytes: total, backend: name, cachedBytes }));
          done = before + downloaded;
          if (cache) await cache.put(stageUrl, stageBytes);
          stages.push(isDynamicDescriptor(stageDesc)
            ? new SizedStage(stageDesc, new SizeSessions(stageDesc, backend, weights, backendOptions, options.shapeCacheSize ?? DEFAULT_SHAPE_CACHE_SIZE))
            : new FixedStage(await backend.createSession(stageDesc, weights, backendOptions), stageDesc.outputs.map((o) => stageDesc.tensors[o.tensor]!.shape)));
        }
      } catch (e) {
        for (const s of stages) s.dispose();
        if (!(e instanceof BackendUnavailableError)) throw e;
        skip(name, e.message);
        continue;
      }
      if (cache) await Promise.all([cache.put(manifestUrl, manifestBytes), cache.put(descUrl, descBytes)]);
      report({ phase: "ready", loadedBytes: total, totalBytes: total, backend: name });
      return new Runner(name, control as unknown as Descriptor, new ControlSession(control, stages), skipped);
    }
    const desc = validateAnyDescriptor(raw, name, descUrl);
    checkDescriptorMatchesManifest(manifest, desc, descUrl);
    const base = descUrl.slice(0, descUrl.lastIndexOf("/") + 1);
    let session;
    try {
      // the backend's limits against the descriptor's sizes, before the weights are downloaded (symbolic
      // dims: the smallest size here; each size is checked again before its session is made)
      if (backend.checkDescriptor) await backend.checkDescriptor(isDynamicDescriptor(desc) ? smallest(desc) : desc, backendOptions);
      // (a symbolic descriptor's weights lie where its smallest size's do: the same for every size)
      const { weights } = await loadWeights(isDynamicDescriptor(desc) ? smallest(desc) : desc, base, options.fetch, cache,
        (n, cachedBytes) => report({ phase: "weights", loadedBytes: n, totalBytes: total, backend: name, cachedBytes }));
      // every file of this backend passed its checks: keep them
      if (cache) await Promise.all([cache.put(manifestUrl, manifestBytes), cache.put(descUrl, descBytes)]);
      report({ phase: "compile", loadedBytes: total, totalBytes: total, backend: name });
      // symbolic dims: the sessions are made per input size, on run()
      session = isDynamicDescriptor(desc)
        ? new SizeSessions(desc, backend, weights, backendOptions, options.shapeCacheSize ?? DEFAULT_SHAPE_CACHE_SIZE)
        : await backend.createSession(desc, weights, backendOptions);
    } catch (e) {
      // the backend works here but this device cannot run this model on it (memory, a texture or
      // render-target limit, the page's policies): try the next one; any other failure is the
      // model's and stops
      if (!(e instanceof BackendUnavailableError)) throw e;
      skip(name, e.message);
      continue;
    }
    report({ phase: "ready", loadedBytes: total, totalBytes: total, backend: name });
    return new Runner(name, desc, session, skipped);
  }
  throw new BackendUnavailableError(`no backend of [${order.join(", ")}] can run ${url}: ${skipped.map((s) => `${s.backend}: ${s.reason}`).join("; ")}`);
}

/** A symbolic descriptor at its symbols' smallest values: what load() checks against the backend's limits
 *  before anything else is downloaded (each size is checked again before its session is made; the model's
 *  requirements on the sizes are the caller's to meet, so not checked here). */
const smallest = (d: DynamicDescriptor) => concreteDescriptor({ ...d, requires: [] }, new Map(d.table.symbols.map((s) => [s.name, s.min])));

/** Download every weight file into one buffer, verifying sizes and CRC-32s. */
async function loadWeights(desc: Pick<Descriptor, "weights" | "tensors">, base: string, fetchImpl: typeof fetch | undefined,
  cache: ModelCache | null, onBytes: (n: number, cachedBytes: number) => void): Promise<{ weights: Uint8Array; downloaded: number }> {
  const stored = storedByteLength(desc.weights);
  let all: Uint8Array;
  try {
    all = new Uint8Array(stored);
  } catch (e) {
    throw new BackendUnavailableError(`cannot allocate the model's weights of ${byteSize(stored)} on this ` +
      `device (${e instanceof Error ? e.message : String(e)}); use a device with more memory or a smaller model`);
  }
  const loaded = new Array<number>(desc.weights.files.length).fill(0);
  const cached = new Array<number>(desc.weights.files.length).fill(0);
  const total = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const files = desc.weights.files.map((f, i) => ({ f, i }));
  const worker = async () => {
    for (let job = files.shift(); job; job = files.shift()) {
      const { f, i } = job;
      const url = resolve(base, f.path);
      const bytes = await readModelFile(url, cache, fetchImpl, (n, fromCache) => {
        loaded[i] = n;
        if (fromCache) cached[i] = n;
        onBytes(total(loaded), total(cached));
      });
      if (bytes.length !== f.byteLength) throw new DescriptorError(`weight file ${url} has ${bytes.length} bytes, the descriptor says ${f.byteLength}; the file is truncated or stale — re-download or re-convert`);
      const sum = crc32(bytes);
      if (sum !== f.crc32) throw new DescriptorError(`weight file ${url} is corrupted: CRC-32 ${sum}, expected ${f.crc32}; re-download or re-convert the model`);
      all.set(bytes, f.offset);
      if (cache) await cache.put(url, bytes);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return { weights: decodeWeights(desc, all), downloaded: all.length }; // fp16 / int8 stored: float32 from here on
}
