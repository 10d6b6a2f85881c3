// The wasm backend: calls into the C kernel library (runtime/kernels/wasm, SIMD128,
// compiled to dist/webdnn-kernels.wasm) over one WebAssembly.Memory sized exactly from
// the descriptor:
//
//   [0, BASE)                     the module's stack and data (checked against __heap_base)
//   [BASE, +arena)                every runtime tensor, laid out by the converter's memory plan
//   [weightsBase, +weights)       the weights, copied in once, in the kernels' packed layouts
//   [paramsBase, +params)         one parameter block per wasm call (addresses resolved here)
//
// A kernel call with attrs.wasm = {fn, params} calls the export `fn(paramsPtr, tid, nthreads)`;
// any other call runs the fallback backend's JavaScript kernel on typed-array views of the
// same memory (descriptor field `jsKernels` lists those ops). Single-threaded for now:
// every kernel already splits its work by (tid, nthreads), so threads can be added
// without changing the descriptor.

import type { Descriptor, KernelSpec, TensorSpec } from "../../descriptor.js";
import { makeView, type TypedArray } from "../../dtypes.js";
import { DescriptorError, LoadError } from "../../errors.js";
import { readBytes } from "../../fetch.js";
import type { Backend, Session } from "../backend.js";
import { getKernel, type TensorView } from "../fallback/kernels/index.js";

export const WASM_ABI = 1;
export const MODULE_FILE = "webdnn-kernels.wasm";
const BASE = 128 * 1024; // start of the arena; the module's 64 KiB stack and its data lie below
const PAGE = 65536;
const MAX_PAGES = 65536; // 4 GiB: wasm32's limit

// i32.const 0; i8x16.splat; i8x16.popcnt: validates only where SIMD128 is supported.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);

// The script-tag (IIFE) build has no import.meta: remember the script's own URL instead.
const scriptSrc: string | undefined =
  typeof document !== "undefined" && document.currentScript !== null && "src" in document.currentScript
    ? (document.currentScript as HTMLScriptElement).src || undefined
    : undefined;

let moduleUrlOverride: string | undefined;

/** Where to fetch webdnn-kernels.wasm from, when it is not next to the runtime script. */
export function setWasmModuleUrl(url: string | undefined): void {
  moduleUrlOverride = url;
  compiled = undefined;
}

/** The kernel module's URL: next to the runtime module (ESM), or the script (IIFE), or the page. */
export function wasmModuleUrl(): string {
  if (moduleUrlOverride) return moduleUrlOverride;
  const meta = (import.meta as { url?: string }).url;
  if (meta) return new URL(MODULE_FILE, meta).toString();
  if (scriptSrc) return new URL(MODULE_FILE, scriptSrc).toString();
  if (typeof location !== "undefined") return new URL(MODULE_FILE, location.href).toString();
  return MODULE_FILE;
}

let compiled: Promise<WebAssembly.Module> | undefined;

function kernelModule(): Promise<WebAssembly.Module> {
  if (!compiled) {
    const url = wasmModuleUrl();
    compiled = (async () => {
      let bytes: Uint8Array;
      try {
        bytes = await readBytes(url);
      } catch (e) {
        throw new LoadError(`the wasm backend could not load its kernels from ${url} (${e instanceof Error ? e.message : String(e)}); serve ${MODULE_FILE} next to the webdnn runtime script`);
      }
      return WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
    })();
    compiled.catch(() => (compiled = undefined));
  }
  return compiled;
}

const align = (n: number, a: number) => Math.ceil(n / a) * a;

type Param = number | { f: number | string } | { in: number } | { out: number };

function toF32(x: unknown, where: string): number {
  if (typeof x === "number") return x;
  if (x === "Infinity") return Infinity;
  if (x === "-Infinity") return -Infinity;
  if (x === "NaN") return NaN;
  throw new DescriptorError(`${where}: float parameter ${JSON.stringify(x)} is not a number`);
}

/** Checks a wasm call record and returns its export name and params. */
function wasmCall(k: KernelSpec, exports: WebAssembly.Exports): { fn: (p: number, tid: number, n: number) => void; params: Param[] } {
  const spec = k.attrs.wasm as { fn?: unknown; params?: unknown };
  const where = `kernel '${k.name}' (${k.op})`;
  if (typeof spec !== "object" || spec === null || typeof spec.fn !== "string" || !Array.isArray(spec.params)) {
    throw new DescriptorError(`${where}: attrs.wasm needs fn and params`);
  }
  const fn = exports[spec.fn];
  if (typeof fn !== "function") {
    throw new DescriptorError(`${where}: the wasm kernel library has no function '${spec.fn}'; update the webdnn runtime`);
  }
  return { fn: fn as (p: number, tid: number, n: number) => void, params: spec.params as Param[] };
}

class WasmSession implements Session {
  private steps: (() => void)[] = [];
  private ins: TypedArray[] = [];
  private outs: TypedArray[] = [];
  private memory: WebAssembly.Memory | null;

  constructor(desc: Descriptor, weights: Uint8Array, instance: WebAssembly.Instance, memory: WebAssembly.Memory, layout: Layout) {
    this.memory = memory;
    const buf = memory.buffer;
    new Uint8Array(buf, layout.weightsBase, weights.byteLength).set(weights);
    const addr = (t: TensorSpec) => (t.memory === "arena" ? BASE : layout.weightsBase) + t.offset;
    const views = desc.tensors.map((t): TensorView => {
      const size = t.shape.reduce((a, b) => a * b, 1);
      return { dtype: t.dtype, shape: t.shape, size, data: makeView(t.dtype, buf, addr(t), size) };
    });
    const words = new Int32Array(buf, layout.paramsBase, layout.paramWords);
    const floats = new Float32Array(buf, layout.paramsBase, layout.paramWords);
    let w = 0;
    for (const k of desc.kernels) {
      if (k.attrs.wasm === undefined) {
        const factory = getKernel(k.op);
        if (!factory) throw new DescriptorError(`kernel '${k.name}' uses op ${k.op}, which this runtime lacks; update the webdnn runtime`);
        try {
          this.steps.push(factory(k.inputs.map((i) => (i < 0 ? null : views[i]!)), k.outputs.map((i) => views[i]!), k.attrs, k.op));
        } catch (e) {
          throw new DescriptorError(`kernel '${k.name}' (${k.op}): ${e instanceof Error ? e.message : String(e)}`);
        }
        continue;
      }
      const { fn, params } = wasmCall(k, instance.exports);
      const ptr = layout.paramsBase + 4 * w;
      const where = `kernel '${k.name}' (${k.op}) params`;
      for (const p of params) {
        if (typeof p === "number") {
          if (!Number.isInteger(p) || p < -0x80000000 || p > 0xffffffff) throw new DescriptorError(`${where}: ${p} is not a 32-bit integer`);
          words[w] = p | 0;
        } else if (typeof p === "object" && p !== null && "f" in p) {
          floats[w] = toF32(p.f, where);
        } else if (typeof p === "object" && p !== null && ("in" in p || "out" in p)) {
          const list = "in" in p ? k.inputs : k.outputs;
          const i = "in" in p ? p.in : p.out;
          const t = list[i];
          if (t === undefined || t < 0) throw new DescriptorError(`${where}: ${JSON.stringify(p)} names no tensor of the call`);
          words[w] = addr(desc.tensors[t]!);
        } else {
          throw new DescriptorError(`${where}: cannot read parameter ${JSON.stringify(p)}`);
        }
        w++;
      }
      this.steps.push(() => fn(ptr, 0, 1));
    }
    this.ins = desc.inputs.map((x) => views[x.tensor]!.data);
    this.outs = desc.outputs.map((x) => views[x.tensor]!.data);
  }

  async run(inputs: readonly TypedArray[]): Promise<TypedArray[]> {
    if (!this.memory) throw new DescriptorError("this wasm session was disposed");
    inputs.forEach((x, i) => (this.ins[i] as { set(a: ArrayLike<unknown>): void }).set(x as ArrayLike<unknown>));
    for (const step of this.steps) step();
    return this.outs.map((o) => o.slice() as TypedArray);
  }

  dispose(): void {
    this.steps = [];
    this.ins = [];
    this.outs = [];
    this.memory = null;
  }
}

interface Layout { weightsBase: number; paramsBase: number; paramWords: number; pages: number }

function layoutOf(desc: Descriptor): Layout {
  const meta = desc.wasm as { abi?: unknown } | undefined;
  if (!meta || meta.abi !== WASM_ABI) {
    throw new DescriptorError(`descriptor for backend wasm has kernel ABI ${JSON.stringify(meta?.abi)}, this runtime's is ${WASM_ABI}; re-convert the model or update the runtime`);
  }
  let paramWords = 0;
  for (const k of desc.kernels) {
    const spec = k.attrs.wasm as { params?: unknown } | undefined;
    if (spec && Array.isArray(spec.params)) paramWords += spec.params.length;
  }
  const weightsBase = align(BASE + desc.arena.byteLength, 64);
  const paramsBase = align(weightsBase + desc.weights.byteLength, 64);
  const total = paramsBase + 4 * paramWords;
  const pages = Math.ceil(total / PAGE);
  if (pages > MAX_PAGES) throw new DescriptorError(`the model needs ${total} bytes of wasm memory, more than wasm32's 4 GiB`);
  return { weightsBase, paramsBase, paramWords, pages };
}

export const wasmBackend: Backend = {
  name: "wasm",
  isAvailable: async () => {
    try {
      return typeof WebAssembly === "object" && WebAssembly.validate(SIMD_PROBE);
    } catch {
      return false;
    }
  },
  createSession: async (desc, weights) => {
    const layout = layoutOf(desc);
    const module = await kernelModule();
    const memory = new WebAssembly.Memory({ initial: layout.pages, maximum: layout.pages });
    const instance = await WebAssembly.instantiate(module, { env: { memory } });
    const heapBase = instance.exports.__heap_base;
    const top = heapBase instanceof WebAssembly.Global ? Number(heapBase.value) : NaN;
    if (!(top <= BASE)) throw new LoadError(`the wasm kernel library's data ends at ${top}, past the arena base ${BASE}; rebuild the runtime`);
    return new WasmSession(desc, weights, instance, memory, layout);
  },
};
