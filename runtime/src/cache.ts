// The opt-in model cache of load() (LoadOptions.cache): a model's manifest, descriptor and weight files, each
// stored in the Cache Storage API once it has passed load()'s checks (JSON and descriptor validation, weight
// sizes and CRC-32s), and read from there, without the network, on later loads.

export const DEFAULT_CACHE_NAME = "webdnn-models";

/** Cache Storage, where this environment has it (secure browser contexts); null elsewhere (Node, http:// pages
 *  other than localhost), where LoadOptions.cache does nothing. */
function cacheStorage(): CacheStorage | null {
  return typeof caches !== "undefined" && caches !== null ? caches : null;
}

export class ModelCache {
  /** URLs this load read from the cache (evicted when what they held fails a check). */
  readonly hits = new Set<string>();

  private constructor(private readonly cache: Cache) {}

  static async open(name: string): Promise<ModelCache | null> {
    const storage = cacheStorage();
    if (!storage) return null;
    try {
      return new ModelCache(await storage.open(name));
    } catch {
      return null; // e.g. storage disabled by the browser's privacy settings: load from the network
    }
  }

  /** The cached bytes of `url`, or null. */
  async get(url: string): Promise<Uint8Array | null> {
    if (!/^https?:/i.test(url)) return null;
    try {
      const res = await this.cache.match(url);
      if (!res) return null;
      const bytes = new Uint8Array(await res.arrayBuffer());
      this.hits.add(url);
      return bytes;
    } catch {
      return null;
    }
  }

  /** Store verified bytes of `url`; a full quota or other storage failure only means no caching. */
  async put(url: string, bytes: Uint8Array): Promise<void> {
    if (!/^https?:/i.test(url) || this.hits.has(url)) return;
    try {
      const body = new Uint8Array(bytes); // a copy: the caller's buffer may be a view of a larger one
      await this.cache.put(url, new Response(body, { headers: { "Content-Type": "application/octet-stream", "Content-Length": String(body.length) } }));
    } catch {
      // not cached
    }
  }

  /** Remove every file cached under `prefix` (a model's directory URL): the model was converted again. */
  async evictUnder(prefix: string): Promise<void> {
    try {
      const stale = (await this.cache.keys()).map((r) => r.url).filter((u) => u.startsWith(prefix));
      await Promise.all(stale.map((u) => this.cache.delete(u).catch(() => false)));
      for (const u of stale) this.hits.delete(u);
    } catch {
      // storage failure: the checks of load() still catch a stale file
    }
  }

  /** Remove every file this load read from the cache. */
  async evictHits(): Promise<void> {
    await Promise.all([...this.hits].map((u) => this.cache.delete(u).catch(() => false)));
    this.hits.clear();
  }
}

/** Delete a model cache of load()'s `cache` option (default name "webdnn-models"): every model in it is
 *  downloaded again on its next load. Resolves to whether there was such a cache. */
export async function clearCache(name: string = DEFAULT_CACHE_NAME): Promise<boolean> {
  const storage = cacheStorage();
  return storage ? storage.delete(name) : false;
}

/** A model's side file (labels, a vocabulary, about.json) that must follow the model when it is converted again,
 *  as load()'s cache does: asked of the network first, revalidated (the browser asks the server whether its copy
 *  is current: a 304 and no body where the server sends ETag or Last-Modified), and kept in the Cache API cache
 *  `cacheName`; where the network fails (offline), the cached copy. A failed HTTP status is returned as is. */
export async function fetchCached(url: string | URL, cacheName: string = DEFAULT_CACHE_NAME): Promise<Response> {
  const href = new URL(url, globalThis.location?.href).href;
  const storage = cacheStorage();
  const cache = storage ? await storage.open(cacheName).catch(() => null) : null;
  try {
    const res = await fetch(href, { cache: "no-cache" });
    if (res.ok && cache) await cache.put(href, res.clone()).catch(() => {});
    return res;
  } catch (e) {
    const hit = cache ? await cache.match(href).catch(() => undefined) : undefined;
    if (hit) return hit;
    throw e;
  }
}
