// Which kernel module to run, where to fetch it, and compiling it once per page.
//
// runtime/kernels/wasm/build.sh links four variants of the same C kernels:
// SIMD128 or SIMD128 + relaxed SIMD, each importing either a plain or a shared memory
// (threads). Feature detection picks one; only that file is downloaded.

import { BackendUnavailableError, LoadError } from "../../errors.js";
import { readBytes } from "../../fetch.js";

export type Simd = "relaxed" | "simd128";

// i32.const 0; i8x16.splat; i8x16.popcnt: validates only where SIMD128 is supported.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);
// v128.const 0 (x3); f32x4.relaxed_madd: validates only where relaxed SIMD is supported.
const RELAXED_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 61, 1, 59, 0,
  253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 253, 133, 2, 11]);

function validates(bytes: Uint8Array): boolean {
  try {
    return typeof WebAssembly === "object" && WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>);
  } catch {
    return false;
  }
}

export const hasSimd = (): boolean => validates(SIMD_PROBE);
export const hasRelaxedSimd = (): boolean => validates(RELAXED_PROBE);

/** Why this page may not compile WebAssembly (null: it may): WebAssembly.validate() ignores the
 *  Content-Security-Policy, compiling does not. Compiles the 8-byte empty module. */
export function compileBlocked(): string | null {
  try {
    new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
    return null;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    return /Content.Security|unsafe-eval|CSP/i.test(msg)
      ? `the page's Content-Security-Policy forbids compiling WebAssembly: add 'wasm-unsafe-eval' to its script-src to use the wasm backend (${msg})`
      : `WebAssembly cannot compile here (${msg})`;
  }
}

/** The kernel file for a SIMD level, with or without a shared memory. */
export const moduleFile = (simd: Simd, shared: boolean): string => `webdnn-kernels-${simd}${shared ? "-mt" : ""}.wasm`;
export const WORKER_FILE = "webdnn-wasm-worker.js";

// The script-tag (IIFE) build has no import.meta: remember the script's own URL instead.
const scriptSrc: string | undefined =
  typeof document !== "undefined" && document.currentScript !== null && "src" in document.currentScript
    ? (document.currentScript as HTMLScriptElement).src || undefined
    : undefined;

let baseOverride: string | undefined;

/** Where to fetch the wasm backend's files (kernel modules, worker script) from, when they are
 *  not next to the runtime script: a directory URL. `undefined` restores the default. */
export function setWasmBaseUrl(url: string | undefined): void {
  baseOverride = url === undefined ? undefined : url.endsWith("/") ? url : `${url}/`;
  compiled.clear();
}

// Each file as a literal `new URL("./file", import.meta.url)`: the form bundlers (Vite, webpack 5, Parcel)
// recognize, so an app's build emits the kernels and the worker with its bundle and rewrites these URLs.
// Called only when import.meta.url exists (not in the script-tag build).
const BUNDLED: Record<string, () => URL> = {
  "webdnn-kernels-simd128.wasm": () => new URL("./webdnn-kernels-simd128.wasm", import.meta.url),
  "webdnn-kernels-simd128-mt.wasm": () => new URL("./webdnn-kernels-simd128-mt.wasm", import.meta.url),
  "webdnn-kernels-relaxed.wasm": () => new URL("./webdnn-kernels-relaxed.wasm", import.meta.url),
  "webdnn-kernels-relaxed-mt.wasm": () => new URL("./webdnn-kernels-relaxed-mt.wasm", import.meta.url),
  "webdnn-wasm-worker.js": () => new URL("./webdnn-wasm-worker.js", import.meta.url),
};

/** URL of one of the wasm backend's files: next to the runtime module (ESM), the script (IIFE), or the page. */
export function wasmFileUrl(file: string): string {
  if (baseOverride) return new URL(file, new URL(baseOverride, typeof location !== "undefined" ? location.href : undefined)).toString();
  const meta = (import.meta as { url?: string }).url;
  if (meta) return (BUNDLED[file]?.() ?? new URL(file, meta)).toString();
  if (scriptSrc) return new URL(file, scriptSrc).toString();
  if (typeof location !== "undefined") return new URL(file, location.href).toString();
  return file;
}

const compiled = new Map<string, Promise<WebAssembly.Module>>();

/** Fetch and compile a kernel module, once per URL. */
export function kernelModule(file: string): Promise<WebAssembly.Module> {
  const url = wasmFileUrl(file);
  let p = compiled.get(url);
  if (!p) {
    p = (async () => {
      let bytes: Uint8Array;
      try {
        bytes = await readBytes(url);
      } catch (e) {
        throw new LoadError(`the wasm backend could not load its kernels from ${url} (${e instanceof Error ? e.message : String(e)}); serve ${file} next to the webdnn runtime script, or call setWasmBaseUrl()`);
      }
      try {
        return await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
      } catch (e) {
        // the page's policy (then the wasm backend is unavailable and load() goes on), or a bad file
        const blocked = compileBlocked();
        if (blocked) throw new BackendUnavailableError(blocked);
        throw new LoadError(`the wasm backend's kernels at ${url} do not compile (${e instanceof Error ? e.message : String(e)}); ` +
          `the file is damaged or from another webdnn version: serve the ${file} that came with this runtime`);
      }
    })();
    compiled.set(url, p);
    p.catch(() => compiled.delete(url));
  }
  return p;
}
