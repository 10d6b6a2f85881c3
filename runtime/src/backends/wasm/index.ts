// The wasm backend: calls into the C kernel library (runtime/kernels/wasm, SIMD128 or relaxed
// SIMD, see module.ts) over one WebAssembly.Memory sized exactly from the descriptor:
//
//   [0, DATA_END)                 the module's own stack and data (checked against __heap_base)
//   [stacks, +threads*stack)      one stack per thread, as big as the descriptor's wasm.stackBytes needs
//   [ctl, +64)                    the threads' control block (sync.ts)
//   [arena, +arena)               every runtime tensor, laid out by the converter's memory plan
//   [weightsBase, +weights)       the weights, copied in once, in the kernels' packed layouts
//   [paramsBase, +params)         one parameter block per wasm call (addresses resolved here)
//
// A kernel call with attrs.wasm = {fn, params} calls the export `fn(paramsPtr, tid, nthreads)`
// on every thread; any other call runs the fallback backend's JavaScript kernel on typed-array
// views of the same memory, on the calling thread (descriptor field `jsKernels` lists those ops).
// Threads: when the page is cross-origin isolated (or in Node), the memory is shared and
// nthreads - 1 workers run each segment of consecutive wasm calls with this thread (pool.ts).

import type { Descriptor, KernelSpec, TensorSpec } from "../../descriptor.js";
import { makeView, type TypedArray } from "../../dtypes.js";
import { DescriptorError, LoadError } from "../../errors.js";
import type { Backend, Session } from "../backend.js";
import { checkMemoryPlan } from "../memory.js";
import { getKernel, type TensorView } from "../fallback/kernels/index.js";
import { compileBlocked, hasRelaxedSimd, hasSimd, kernelModule, moduleFile, type Simd } from "./module.js";
import { programWords, referencedProgram } from "./expr_words.js";
import { checkWasmParams } from "./params.js";
import { hardwareThreads, spawnWorkers, ThreadPool, threadsPossible, type AnyWorker } from "./pool.js";
import type { KernelFn } from "./sync.js";

export { setWasmBaseUrl, wasmFileUrl } from "./module.js";

export const WASM_ABI = 3;
const DATA_END = 128 * 1024; // the module's 64 KiB stack and its data lie below
const BASE_STACK = 64 * 1024; // stack for the kernels' own frames, on top of the declared scratch
const PAGE = 65536;
const MAX_PAGES = 65536; // 4 GiB: wasm32's limit
const MAX_DEFAULT_THREADS = 8;

/** Options of `backendOptions.wasm`. */
export interface WasmOptions {
  /** Threads to run kernels on (default: the hardware's, at most 8); 1 = no workers. Needs a
   *  cross-origin isolated page (COOP/COEP) in browsers; elsewhere it runs single-threaded. */
  threads?: number;
  /** Force a SIMD level (default: relaxed SIMD where the engine supports it). */
  simd?: Simd;
  /** Time every kernel call (thread 0's view, barrier included) into backendInfo.profile:
   *  [{kernel, op, fn, ms, calls}], cumulative over runs. Costs a clock read per call. */
  profile?: boolean;
}

interface ProfileEntry { kernel: string; op: string; fn: string; ms: number; calls: number }

const align = (n: number, a: number) => Math.ceil(n / a) * a;

type Param = number | { f: number | string } | { in: number } | { out: number } | { program: string };

function toF32(x: unknown, where: string): number {
  if (typeof x === "number") return x;
  if (x === "Infinity") return Infinity;
  if (x === "-Infinity") return -Infinity;
  if (x === "NaN") return NaN;
  throw new DescriptorError(`${where}: float parameter ${JSON.stringify(x)} is not a number`);
}

/** Checks a wasm call record and returns its export name and params. */
function wasmCall(k: KernelSpec, exports: WebAssembly.Exports): { fn: KernelFn; name: string; params: Param[] } {
  const spec = k.attrs.wasm as { fn?: unknown; params?: unknown };
  const where = `kernel '${k.name}' (${k.op})`;
  if (typeof spec !== "object" || spec === null || typeof spec.fn !== "string" || !Array.isArray(spec.params)) {
    throw new DescriptorError(`${where}: attrs.wasm needs fn and params`);
  }
  const fn = exports[spec.fn];
  if (typeof fn !== "function") {
    throw new DescriptorError(`${where}: the wasm kernel library has no function '${spec.fn}'; update the webdnn runtime`);
  }
  return { fn: fn as KernelFn, name: spec.fn, params: spec.params as Param[] };
}

interface Layout {
  threads: number;
  stackSize: number;
  stacksBase: number;
  ctl: number;
  arenaBase: number;
  weightsBase: number;
  paramsBase: number;
  paramWords: number;
  pages: number;
}

type Step = { js: () => void; k: number } | { seg: number };

class WasmSession implements Session {
  private steps: Step[] = [];
  private fns: KernelFn[] = [];
  private ptrs: number[] = [];
  private names: string[] = []; // export name per wasm call, for the workers
  private segments: [number, number][] = [];
  private ins: TypedArray[] = [];
  private outs: TypedArray[] = [];
  private memory: WebAssembly.Memory | null;
  private pool: ThreadPool | null = null;
  private broken = "";
  readonly info: Record<string, unknown>;
  private wasmMs: Float64Array | undefined; // profiling: ms per wasm call
  private profile: ProfileEntry[] = []; // profiling: one entry per kernel of the descriptor
  private wasmEntry: number[] = []; // profiling: wasm call -> profile entry

  constructor(desc: Descriptor, weights: Uint8Array, instance: WebAssembly.Instance, memory: WebAssembly.Memory, private readonly layout: Layout, info: Record<string, unknown>) {
    this.memory = memory;
    this.info = info;
    const buf = memory.buffer;
    new Uint8Array(buf, layout.weightsBase, weights.byteLength).set(weights);
    const addr = (t: TensorSpec) => (t.memory === "arena" ? layout.arenaBase : layout.weightsBase) + t.offset;
    const views = desc.tensors.map((t): TensorView => {
      const size = t.shape.reduce((a, b) => a * b, 1);
      return { dtype: t.dtype, shape: t.shape, size, data: makeView(t.dtype, buf, addr(t), size) };
    });
    const words = new Int32Array(buf, layout.paramsBase, layout.paramWords);
    const floats = new Float32Array(buf, layout.paramsBase, layout.paramWords);
    let w = 0;
    for (const k of desc.kernels) {
      const entry = this.profile.length;
      this.profile.push({ kernel: k.name, op: k.op, fn: k.attrs.wasm ? String((k.attrs.wasm as { fn?: unknown }).fn) : "js", ms: 0, calls: 0 });
      if (k.attrs.wasm === undefined) {
        const factory = getKernel(k.op, k.attrs);
        if (!factory) throw new DescriptorError(`kernel '${k.name}' uses op ${k.op}, which this runtime lacks; update the webdnn runtime`);
        try {
          this.steps.push({ js: factory(k.inputs.map((i) => (i < 0 ? null : views[i]!)), k.outputs.map((i) => views[i]!), k.attrs, k.op), k: entry });
        } catch (e) {
          throw new DescriptorError(`kernel '${k.name}' (${k.op}): ${e instanceof Error ? e.message : String(e)}`);
        }
        continue;
      }
      const { fn, name, params } = wasmCall(k, instance.exports);
      const ptr = layout.paramsBase + 4 * w;
      const where = `kernel '${k.name}' (${k.op}) params`;
      const appended: Int32Array[] = [];
      for (const p of params) {
        if (typeof p === "number") {
          if (!Number.isInteger(p) || p < -0x80000000 || p > 0xffffffff) throw new DescriptorError(`${where}: ${p} is not a 32-bit integer`);
          words[w] = p | 0;
        } else if (typeof p === "object" && p !== null && "f" in p) {
          floats[w] = toF32(p.f, where);
        } else if (typeof p === "object" && p !== null && "program" in p) {
          // an expression program (expr_words.ts), appended after the call's parameters
          const prog = programWords(referencedProgram(k.attrs, p.program), `${where}: program`);
          words[w] = params.length + appended.reduce((n, a) => n + a.length, 0);
          appended.push(prog);
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
      for (const prog of appended) {
        words.set(prog, w);
        w += prog.length;
      }
      // Consecutive wasm calls form one segment, run by all threads without returning here.
      const last = this.steps[this.steps.length - 1];
      if (last && "seg" in last && this.segments[last.seg]![1] === this.fns.length) this.segments[last.seg]![1]++;
      else {
        this.segments.push([this.fns.length, this.fns.length + 1]);
        this.steps.push({ seg: this.segments.length - 1 });
      }
      this.fns.push(fn);
      this.ptrs.push(ptr);
      this.names.push(name);
      this.wasmEntry.push(entry);
    }
    if (info.profile === true) {
      this.wasmMs = new Float64Array(this.fns.length);
      info.profile = this.profile;
    }
    this.ins = desc.inputs.map((x) => views[x.tensor]!.data);
    this.outs = desc.outputs.map((x) => views[x.tensor]!.data);
  }

  /** Start the worker threads (when layout.threads > 1). */
  async startThreads(module: WebAssembly.Module, spawned: Promise<AnyWorker[]>): Promise<void> {
    const { threads, stacksBase, stackSize, ctl } = this.layout;
    if (threads <= 1) return;
    this.pool = await ThreadPool.start(
      { module, memory: this.memory!, nthreads: threads, ctl, calls: this.names.map((n, i) => [n, this.ptrs[i]!]), segments: this.segments },
      (tid) => stacksBase + (tid + 1) * stackSize,
      spawned,
    );
  }

  async run(inputs: readonly TypedArray[]): Promise<TypedArray[]> {
    if (!this.memory) throw new DescriptorError("this wasm session was disposed");
    if (this.broken) throw new LoadError(`this wasm session cannot run any more (${this.broken}); load the model again`);
    inputs.forEach((x, i) => (this.ins[i] as { set(a: ArrayLike<unknown>): void }).set(x as ArrayLike<unknown>));
    const ms = this.wasmMs;
    for (const step of this.steps) {
      if ("js" in step) {
        const t = ms ? performance.now() : 0;
        step.js();
        if (ms) this.count(step.k, performance.now() - t);
        continue;
      }
      const seg = this.segments[step.seg]!;
      if (!this.pool) {
        for (let i = seg[0]; i < seg[1]; i++) {
          const t = ms ? performance.now() : 0;
          this.fns[i]!(this.ptrs[i]!, 0, 1);
          if (ms) ms[i]! += performance.now() - t;
        }
        continue;
      }
      try {
        this.pool.run(this.fns, this.ptrs, seg, step.seg, ms);
      } catch (e) {
        // The threads may be stuck mid-segment: this session cannot be trusted any more.
        this.broken = e instanceof Error ? e.message : String(e);
        this.pool.dispose();
        this.pool = null;
        throw e;
      }
    }
    if (ms) {
      ms.forEach((t, i) => this.count(this.wasmEntry[i]!, t));
      ms.fill(0);
    }
    return this.outs.map((o) => o.slice() as TypedArray);
  }

  private count(entry: number, ms: number): void {
    const e = this.profile[entry]!;
    e.ms += ms;
    e.calls++;
  }

  dispose(): void {
    this.pool?.dispose();
    this.pool = null;
    this.steps = [];
    this.fns = [];
    this.names = [];
    this.ins = [];
    this.outs = [];
    this.memory = null;
  }
}

/** Words of the programs a call's {program: ref} parameters append (1 + 4 per instruction). */
function programWordCount(k: KernelSpec, params: unknown[]): number {
  let n = 0;
  for (const p of params) {
    if (typeof p !== "object" || p === null || !("program" in p)) continue;
    const prog = referencedProgram(k.attrs, (p as { program: unknown }).program);
    n += 1 + 4 * (Array.isArray(prog) ? prog.length : 0);
  }
  return n;
}

function layoutOf(desc: Descriptor, threads: number): Layout {
  const meta = desc.wasm as { abi?: unknown; stackBytes?: unknown } | undefined;
  if (!meta || meta.abi !== WASM_ABI) {
    throw new DescriptorError(`descriptor for backend wasm has kernel ABI ${JSON.stringify(meta?.abi)}, this runtime's is ${WASM_ABI}; re-convert the model or update the runtime`);
  }
  const scratch = meta.stackBytes ?? 0;
  if (typeof scratch !== "number" || !Number.isInteger(scratch) || scratch < 0) {
    throw new DescriptorError(`descriptor for backend wasm: wasm.stackBytes ${JSON.stringify(meta.stackBytes)} is not a byte count`);
  }
  let paramWords = 0;
  for (const k of desc.kernels) {
    const spec = k.attrs.wasm as { params?: unknown } | undefined;
    if (spec && Array.isArray(spec.params)) paramWords += spec.params.length + programWordCount(k, spec.params);
  }
  const stackSize = align(BASE_STACK + scratch, PAGE);
  const stacksBase = DATA_END;
  const ctl = stacksBase + threads * stackSize;
  const arenaBase = ctl + 64;
  const weightsBase = align(arenaBase + desc.arena.byteLength, 64);
  const paramsBase = align(weightsBase + desc.weights.byteLength, 64);
  const total = paramsBase + 4 * paramWords;
  const pages = Math.ceil(total / PAGE);
  if (pages > MAX_PAGES) throw new DescriptorError(`the model needs ${total} bytes of wasm memory, more than wasm32's 4 GiB`);
  return { threads, stackSize, stacksBase, ctl, arenaBase, weightsBase, paramsBase, paramWords, pages };
}

function readOptions(options: Record<string, unknown> | undefined): WasmOptions {
  const o = (options ?? {}) as WasmOptions;
  if (o.threads !== undefined && !(Number.isInteger(o.threads) && o.threads >= 1)) {
    throw new LoadError(`backendOptions.wasm.threads must be a positive integer, got ${JSON.stringify(o.threads)}`);
  }
  if (o.simd !== undefined && o.simd !== "relaxed" && o.simd !== "simd128") {
    throw new LoadError(`backendOptions.wasm.simd must be "relaxed" or "simd128", got ${JSON.stringify(o.simd)}`);
  }
  return o;
}

/** Why the wasm backend cannot run here (null: it can): no WebAssembly or SIMD128, or a
 *  Content-Security-Policy without 'wasm-unsafe-eval' (WebAssembly.validate passes, compiling fails). */
function unavailableReason(): Promise<string | null> {
  if (typeof WebAssembly !== "object") return Promise.resolve("this engine has no WebAssembly");
  if (!hasSimd()) return Promise.resolve("this engine's WebAssembly lacks SIMD128, which the wasm backend's kernels need");
  return Promise.resolve(compileBlocked());
}

export const wasmBackend: Backend = {
  name: "wasm",
  unavailableReason,
  isAvailable: async () => (await unavailableReason()) === null,
  // the kernel ABI and the memory size (wasm32: 4 GiB at most), before the weights are downloaded
  checkDescriptor: async (desc) => void layoutOf(desc, 1),
  createSession: async (desc, weights, options) => {
    const opts = readOptions(options);
    const relaxed = hasRelaxedSimd();
    if (opts.simd === "relaxed" && !relaxed) throw new LoadError("backendOptions.wasm.simd is \"relaxed\", but this engine has no relaxed SIMD");
    const simd: Simd = opts.simd ?? (relaxed ? "relaxed" : "simd128");
    const possible = threadsPossible();
    const wanted = opts.threads ?? Math.min(MAX_DEFAULT_THREADS, await hardwareThreads());
    const threads = possible ? wanted : 1;
    const layout = layoutOf(desc, threads);
    checkMemoryPlan(desc); // every tensor a kernel reads holds its value (../memory.ts)
    checkWasmParams(desc); // the kernels trust their parameter blocks: sizes, strides, stack (params.ts)
    const shared = threads > 1;
    const module = await kernelModule(moduleFile(simd, shared));
    const memory = new WebAssembly.Memory({ initial: layout.pages, maximum: layout.pages, shared } as WebAssembly.MemoryDescriptor);
    const instance = await WebAssembly.instantiate(module, { env: { memory } });
    const heapBase = instance.exports.__heap_base;
    const top = heapBase instanceof WebAssembly.Global ? Number(heapBase.value) : NaN;
    if (!(top <= DATA_END)) throw new LoadError(`the wasm kernel library's data ends at ${top}, past ${DATA_END}; rebuild the runtime`);
    const sp = instance.exports.__stack_pointer;
    if (!(sp instanceof WebAssembly.Global)) throw new LoadError("the wasm kernel library exports no __stack_pointer; rebuild the runtime");
    sp.value = layout.stacksBase + layout.stackSize; // thread 0's stack
    const info: Record<string, unknown> = { threads, simd, module: moduleFile(simd, shared), ...(opts.profile ? { profile: true } : {}) };
    if (wanted > 1 && !possible) info.threadsNote = "single-threaded: the page is not cross-origin isolated (COOP/COEP), so no shared memory";
    // Workers load their script while this thread copies the weights and parameter blocks.
    const spawned = spawnWorkers(threads - 1);
    let session: WasmSession;
    try {
      session = new WasmSession(desc, weights, instance, memory, layout, info);
    } catch (e) {
      void spawned.then((ws) => ws.forEach((w) => w.terminate()), () => {});
      throw e;
    }
    try {
      await session.startThreads(module, spawned);
    } catch (e) {
      // no worker could start (the page's CSP blocks workers, Trusted Types refuse the script URL,
      // the script is missing): the same memory and module serve one thread, so run on this one
      // and say why in backendInfo rather than fail
      info.threads = 1;
      info.threadsNote = `single-threaded: the worker threads could not start (${e instanceof Error ? e.message : String(e)})`;
    }
    return session;
  },
};
