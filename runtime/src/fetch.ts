// Reading model files over HTTP(S) (browser and Node) or from the file system (Node),
// with byte-level progress.

import { DescriptorError, LoadError } from "./errors.js";

export type ByteProgress = (loadedBytes: number) => void;

/** Running in Node (not a browser or a bundler's browser build). */
export const isNode = typeof process !== "undefined" && typeof process.versions?.node === "string" && typeof window === "undefined";

function isHttp(url: string): boolean {
  return /^https?:\/\//i.test(url) || (!isNode && !/^file:/i.test(url));
}

/** `rel` resolved against a directory URL or path (which may lack a trailing slash). */
export function resolve(base: string, rel: string): string {
  const dir = base.endsWith("/") ? base : `${base}/`;
  if (/^[a-z]+:\/\//i.test(dir)) return new URL(rel, dir).toString();
  if (typeof location !== "undefined" && !isNode) return new URL(rel, new URL(dir, location.href)).toString();
  return dir + rel;
}

/** `init`: request options (e.g. `cache: "no-cache"` to have the browser revalidate its HTTP-cached copy). */
export async function readBytes(url: string, onBytes?: ByteProgress, fetchImpl?: typeof fetch, init?: RequestInit): Promise<Uint8Array> {
  if (!isHttp(url)) return readFile(url, onBytes);
  let res: Response;
  try {
    res = await (fetchImpl ?? fetch)(url, init);
  } catch (e) {
    throw new LoadError(`could not fetch ${url}: ${String(e)}`);
  }
  if (!res.ok) throw new LoadError(`could not fetch ${url}: HTTP ${res.status} ${res.statusText}`);
  const total = Number(res.headers.get("content-length") ?? "0");
  if (!res.body) return new Uint8Array(await res.arrayBuffer());
  const reader = res.body.getReader();
  let buf = new Uint8Array(total > 0 ? total : 1 << 16);
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (n + value.length > buf.length) {
      const bigger = new Uint8Array(Math.max(buf.length * 2, n + value.length));
      bigger.set(buf.subarray(0, n));
      buf = bigger;
    }
    buf.set(value, n);
    n += value.length;
    onBytes?.(n);
  }
  return n === buf.length ? buf : buf.slice(0, n);
}

async function readFile(path: string, onBytes?: ByteProgress): Promise<Uint8Array> {
  const fs = await import(/* webpackIgnore: true */ /* @vite-ignore */ "node:fs/promises");
  const p = path.startsWith("file:") ? new URL(path) : path;
  try {
    const data = await fs.readFile(p);
    onBytes?.(data.length);
    return new Uint8Array(data.buffer, data.byteOffset, data.length);
  } catch (e) {
    throw new LoadError(`could not read ${path}: ${String(e)}`);
  }
}

export async function readJSON(url: string, fetchImpl?: typeof fetch): Promise<unknown> {
  return parseJSON(await readBytes(url, undefined, fetchImpl), url);
}

export function parseJSON(bytes: Uint8Array, url: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    // a model file that is not what it should be (like a failed check): DescriptorError
    throw new DescriptorError(`${url} is not valid JSON: ${String(e)}`);
  }
}
