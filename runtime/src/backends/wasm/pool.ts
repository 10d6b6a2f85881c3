// The calling side of the wasm backend's threads: starts nthreads - 1 workers (Web Workers,
// or worker_threads in Node) on the session's shared memory and runs segments with them.

import { LoadError } from "../../errors.js";
import { WORKER_FILE, wasmFileUrl } from "./module.js";
import { CTL_WORDS, ERR, GO, SEG, runSegment, type KernelFn, type WorkerInit } from "./sync.js";

const isNode = typeof process !== "undefined" && typeof process.versions?.node === "string" && typeof window === "undefined";

export interface AnyWorker {
  post(msg: unknown): void;
  onMessage(h: (msg: { ready?: boolean; error?: string }) => void): void;
  onError(h: (e: unknown) => void): void;
  terminate(): void;
}

/** Can this page run threads (shared memory, workers)? */
export function threadsPossible(): boolean {
  if (typeof SharedArrayBuffer === "undefined" || typeof Atomics === "undefined") return false;
  if (isNode) return true;
  const g = globalThis as { crossOriginIsolated?: boolean; Worker?: unknown };
  return g.crossOriginIsolated === true && typeof g.Worker === "function";
}

/** The hardware's thread count (navigator.hardwareConcurrency, or Node's os.availableParallelism). */
export async function hardwareThreads(): Promise<number> {
  if (isNode) {
    const os = await import("node:os");
    return typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length;
  }
  const n = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  return typeof n === "number" && n > 0 ? n : 1;
}

async function spawn(): Promise<AnyWorker> {
  const url = wasmFileUrl(WORKER_FILE);
  if (isNode) {
    const { Worker } = await import("node:worker_threads");
    const w = new Worker(new URL(url));
    w.unref(); // an idle pool must not keep Node alive
    return { post: (m) => w.postMessage(m), onMessage: (h) => w.on("message", h), onError: (h) => w.on("error", h), terminate: () => void w.terminate() };
  }
  const w = new Worker(url);
  return {
    post: (m) => w.postMessage(m),
    onMessage: (h) => w.addEventListener("message", (e) => h(e.data as { ready?: boolean; error?: string })),
    onError: (h) => w.addEventListener("error", (e) => { e.preventDefault(); h(e.message || `could not start ${url}`); }),
    terminate: () => w.terminate(),
  };
}

/** Start `count` workers. Call it early: they load their script while the caller prepares
 *  the session; then hand the promise to ThreadPool.start (or terminate them). */
export function spawnWorkers(count: number): Promise<AnyWorker[]> {
  return Promise.all(Array.from({ length: count }, () => spawn()));
}

export class ThreadPool {
  private readonly ctl: Int32Array;
  private workers: AnyWorker[] = [];
  private lastError = "";

  private constructor(
    memory: WebAssembly.Memory,
    ctlAddr: number,
    readonly nthreads: number,
  ) {
    this.ctl = new Int32Array(memory.buffer, ctlAddr, CTL_WORDS);
  }

  /** Start nthreads - 1 workers; resolves when every one has instantiated the module. */
  static async start(init: Omit<WorkerInit, "tid" | "stackTop">, stackTop: (tid: number) => number, spawned: Promise<AnyWorker[]>): Promise<ThreadPool> {
    const pool = new ThreadPool(init.memory, init.ctl, init.nthreads);
    pool.ctl.fill(0);
    try {
      pool.workers = await spawned;
      await Promise.all(
        pool.workers.map(
          (w, i) =>
            new Promise<void>((resolve, reject) => {
              w.onMessage((m) => {
                if (m.ready) resolve();
                else if (m.error) {
                  pool.lastError = m.error;
                  reject(new LoadError(`wasm worker thread ${i + 1} failed: ${m.error}`));
                }
              });
              w.onError((e) => reject(new LoadError(`wasm worker thread ${i + 1} failed: ${String(e)}; serve ${WORKER_FILE} next to the webdnn runtime script`)));
              w.post({ ...init, tid: i + 1, stackTop: stackTop(i + 1) } satisfies WorkerInit);
            }),
        ),
      );
    } catch (e) {
      pool.dispose();
      throw e;
    }
    return pool;
  }

  /** Run one segment on every thread, this one being thread 0; returns when all are done. */
  run(fns: KernelFn[], ptrs: number[], seg: [number, number], s: number, ms?: Float64Array): void {
    const ctl = this.ctl;
    Atomics.store(ctl, SEG, s);
    Atomics.add(ctl, GO, 1);
    Atomics.notify(ctl, GO);
    runSegment(ctl, fns, ptrs, seg, 0, this.nthreads, false, ms);
    if (Atomics.load(ctl, ERR)) {
      Atomics.store(ctl, ERR, 0);
      throw new Error(`a wasm kernel failed on a worker thread${this.lastError ? `: ${this.lastError}` : ""}`);
    }
  }

  dispose(): void {
    if (!this.workers.length) return;
    Atomics.store(this.ctl, SEG, -1);
    Atomics.add(this.ctl, GO, 1);
    Atomics.notify(this.ctl, GO);
    for (const w of this.workers) w.terminate();
    this.workers = [];
  }
}
