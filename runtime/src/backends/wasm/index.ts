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
//
// That is a fixed-shape model's session (createSession). The sizes of a model with symbolic dims
// share one memory, module instance, thread pool and copy of the weights instead, with one arena
// grown to the largest size seen (createFamily, family.ts, which describes that layout). The
// session itself (parameter blocks, views, the run loop) is session.ts.

import type { Descriptor } from "../../descriptor.js";
import { DescriptorError, LoadError } from "../../errors.js";
import type { Backend } from "../backend.js";
import { checkMemoryPlan } from "../memory.js";
import { createFamily } from "./family.js";
import { compileBlocked, hasRelaxedSimd, hasSimd, kernelModule, moduleFile, type Simd } from "./module.js";
import { checkWasmParams } from "./params.js";
import { hardwareThreads, spawnWorkers, ThreadPool, threadsUnavailable } from "./pool.js";
import { align, DATA_END, instantiateKernels, int8Dot, MAX_PAGES, PAGE, BASE_STACK, paramWordCount, WasmSession, wasmMeta } from "./session.js";

export { setWasmBaseUrl, wasmFileUrl } from "./module.js";
export { WASM_ABI } from "./session.js";

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

function layoutOf(desc: Descriptor, threads: number): Layout {
  const scratch = wasmMeta(desc).stackBytes;
  const paramWords = paramWordCount(desc);
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

/** What the options and this engine choose: SIMD level, thread count (and why fewer). */
interface Choice { opts: WasmOptions; simd: Simd; threads: number; wanted: number; possible: boolean; whyNot: string | null }

async function choose(options: Record<string, unknown> | undefined): Promise<Choice> {
  const opts = readOptions(options);
  const relaxed = hasRelaxedSimd();
  if (opts.simd === "relaxed" && !relaxed) throw new LoadError("backendOptions.wasm.simd is \"relaxed\", but this engine has no relaxed SIMD");
  const simd: Simd = opts.simd ?? (relaxed ? "relaxed" : "simd128");
  const whyNot = threadsUnavailable();
  const possible = whyNot === null;
  const wanted = opts.threads ?? Math.min(MAX_DEFAULT_THREADS, await hardwareThreads());
  return { opts, simd, threads: possible ? wanted : 1, wanted, possible, whyNot };
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
    const { opts, simd, threads, wanted, possible, whyNot } = await choose(options);
    const layout = layoutOf(desc, threads);
    checkMemoryPlan(desc); // every tensor a kernel reads holds its value (../memory.ts)
    checkWasmParams(desc); // the kernels trust their parameter blocks: sizes, strides, stack (params.ts)
    const shared = threads > 1;
    const module = await kernelModule(moduleFile(simd, shared));
    const memory = new WebAssembly.Memory({ initial: layout.pages, maximum: layout.pages, shared } as WebAssembly.MemoryDescriptor);
    const instance = await instantiateKernels(module, memory, layout.stacksBase + layout.stackSize); // thread 0's stack
    const info: Record<string, unknown> = { threads, simd, module: moduleFile(simd, shared), int8Dot: int8Dot(instance), ...(opts.profile ? { profile: true } : {}) };
    if (wanted > 1 && !possible) info.threadsNote = `single-threaded: ${whyNot}`;
    // Workers load their script while this thread copies the weights and parameter blocks.
    const spawned = spawnWorkers(threads - 1);
    let session: WasmSession;
    try {
      new Uint8Array(memory.buffer, layout.weightsBase, weights.byteLength).set(weights);
      session = new WasmSession(desc, instance, memory, layout, info);
    } catch (e) {
      void spawned.then((ws) => ws.forEach((w) => w.terminate()), () => {});
      throw e;
    }
    try {
      if (threads > 1) {
        const { stacksBase, stackSize, ctl } = layout;
        session.usePool(await ThreadPool.start(
          { module, memory, nthreads: threads, ctl, calls: session.calls(), segments: session.segmentRanges() },
          (tid) => stacksBase + (tid + 1) * stackSize,
          spawned,
        ));
      }
    } catch (e) {
      // no worker could start (the page's CSP blocks workers, Trusted Types refuse the script URL,
      // the script is missing): the same memory and module serve one thread, so run on this one
      // and say why in backendInfo rather than fail
      info.threads = 1;
      info.threadsNote = `single-threaded: the worker threads could not start (${e instanceof Error ? e.message : String(e)})`;
    }
    return session;
  },
  // models with symbolic dims: one memory, module, thread pool and copy of the weights for every size (family.ts)
  createFamily: async (first, weights, options) => createFamily(first, weights, await choose(options)),
};
