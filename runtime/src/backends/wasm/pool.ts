// The calling side of the wasm backend's threads: starts nthreads - 1 workers (Web Workers,
// or worker_threads in Node) on the session's shared memory and runs segments with them.

import { LoadError } from "../../errors.js";
import { WORKER_FILE, wasmFileUrl } from "./module.js";
import { barrier, CTL_WORDS, ERR, GO, MSGS, SEG, YIELD, runSegment, type KernelFn, type WorkerExtend, type WorkerInit } from "./sync.js";
import { isNode } from "../../fetch.js";

/** What a worker posts: ready after its init, {extended} after a WorkerExtend (with error when
 *  it failed), {error} when it could not start. */
export interface WorkerReply { ready?: boolean; error?: string; extended?: number }

export interface AnyWorker {
  post(msg: unknown): void;
  onMessage(h: (msg: WorkerReply) => void): void;
  onError(h: (e: unknown) => void): void;
  terminate(): void;
}

/** Why this page cannot run threads (shared memory that workers can receive), or null when it can.
 * Detected by making a shared WebAssembly.Memory and posting it through a MessageChannel, not by the
 * SharedArrayBuffer global or crossOriginIsolated alone: WebKitGTK is cross-origin isolated and makes
 * shared memories, but cannot send them to a worker (DataCloneError), so there wasm runs single-threaded. */
export function threadsUnavailable(): string | null {
  const g = globalThis as { crossOriginIsolated?: boolean; Worker?: unknown; MessageChannel?: typeof MessageChannel };
  if (!isNode && g.crossOriginIsolated !== true) return "the page is not cross-origin isolated (COOP/COEP), so no shared memory";
  if (typeof Atomics === "undefined") return "this engine has no Atomics";
  let memory: WebAssembly.Memory;
  try {
    memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true } as WebAssembly.MemoryDescriptor);
  } catch {
    return "this engine cannot make a shared WebAssembly.Memory";
  }
  if (isNode) return null;
  if (typeof g.Worker !== "function") return "this page has no Web Workers";
  if (typeof g.MessageChannel !== "function") return null;
  const channel = new g.MessageChannel();
  try {
    channel.port1.postMessage(memory);
    return null;
  } catch {
    return "this engine cannot send a shared WebAssembly.Memory to a worker";
  } finally {
    channel.port1.close();
    channel.port2.close();
  }
}

/** The hardware's thread count (navigator.hardwareConcurrency, or Node's os.availableParallelism). */
export async function hardwareThreads(): Promise<number> {
  if (isNode) {
    const os = await import(/* webpackIgnore: true */ /* @vite-ignore */ "node:os");
    return typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length;
  }
  const n = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  return typeof n === "number" && n > 0 ? n : 1;
}

/** The Trusted Types API, where the browser has it (not in TypeScript's DOM types). */
interface TrustedTypes {
  createPolicy(name: string, rules: { createScriptURL(url: string): string }): { createScriptURL(url: string): unknown };
}

/** Trusted Types policy name under which the worker script URL is created: a page that requires
 *  Trusted Types (require-trusted-types-for 'script') and restricts policy names (trusted-types)
 *  lists it to keep the wasm backend's threads. */
export const TRUSTED_TYPES_POLICY = "webdnn";
let policy: { createScriptURL(url: string): unknown } | null = null;

/** `new Worker(url)`, with the URL made by the 'webdnn' Trusted Types policy where the browser has
 *  Trusted Types (so a page that requires them raises no violation); the policy passes only the
 *  worker script's URL. Where the page does not allow that policy name, a plain URL is tried. */
function newWorker(url: string): Worker {
  const tt = (globalThis as { trustedTypes?: TrustedTypes }).trustedTypes;
  let refused = "";
  if (tt && !policy) {
    try {
      policy = tt.createPolicy(TRUSTED_TYPES_POLICY, {
        createScriptURL: (u: string) => {
          if (u !== wasmFileUrl(WORKER_FILE)) throw new TypeError(`the '${TRUSTED_TYPES_POLICY}' policy only allows ${WORKER_FILE}`);
          return u;
        },
      });
    } catch (e) {
      refused = e instanceof Error ? e.message : String(e);
    }
  }
  try {
    return new Worker((policy ? policy.createScriptURL(url) : url) as string);
  } catch (e) {
    if (refused && e instanceof TypeError) {
      throw new Error(`the page requires Trusted Types for script URLs and does not allow the policy '${TRUSTED_TYPES_POLICY}' ` +
        `(add it to the CSP's trusted-types directive to run threads): ${refused}`);
    }
    throw e;
  }
}

async function spawn(): Promise<AnyWorker> {
  const url = wasmFileUrl(WORKER_FILE);
  if (isNode) {
    const { Worker } = await import(/* webpackIgnore: true */ /* @vite-ignore */ "node:worker_threads");
    const w = new Worker(new URL(url));
    w.unref(); // an idle pool must not keep Node alive
    return { post: (m) => w.postMessage(m), onMessage: (h) => w.on("message", h), onError: (h) => w.on("error", h), terminate: () => void w.terminate() };
  }
  // a worker the page's CSP blocks (worker-src) fails with an error event that says nothing:
  // the violation event names the directive
  let blockedBy = "";
  const doc = (globalThis as { document?: EventTarget }).document;
  const onViolation = (e: Event) => {
    const v = e as SecurityPolicyViolationEvent;
    if (v.blockedURI === url) blockedBy = v.effectiveDirective || v.violatedDirective;
  };
  doc?.addEventListener("securitypolicyviolation", onViolation);
  let w: Worker;
  try {
    w = newWorker(url);
  } catch (e) {
    doc?.removeEventListener("securitypolicyviolation", onViolation);
    throw e;
  }
  return {
    post: (m) => w.postMessage(m),
    onMessage: (h) => w.addEventListener("message", (e) => {
      doc?.removeEventListener("securitypolicyviolation", onViolation);
      h(e.data as WorkerReply);
    }),
    onError: (h) => w.addEventListener("error", (e) => {
      e.preventDefault();
      // the violation event may come just after the error event
      setTimeout(() => {
        doc?.removeEventListener("securitypolicyviolation", onViolation);
        h(e.message || (blockedBy
          ? `the page's Content-Security-Policy (${blockedBy}) blocks the worker script ${url}`
          : `could not start ${url}; serve ${WORKER_FILE} next to the webdnn runtime script, or call setWasmBaseUrl()`));
      }, 0);
    }),
    terminate: () => {
      doc?.removeEventListener("securitypolicyviolation", onViolation);
      w.terminate();
    },
  };
}

/** Start `count` workers. Call it early: they load their script while the caller prepares
 *  the session; then hand the promise to ThreadPool.start (or terminate them). When one cannot
 *  be started the others are terminated and the promise rejects. */
export async function spawnWorkers(count: number): Promise<AnyWorker[]> {
  const settled = await Promise.allSettled(Array.from({ length: count }, () => spawn()));
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
  const workers = settled.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  if (failed) {
    for (const w of workers) w.terminate();
    throw failed.reason;
  }
  return workers;
}

export class ThreadPool {
  private readonly ctl: Int32Array;
  private workers: AnyWorker[] = [];
  private lastError = "";
  private messages = 0;
  /** Per WorkerExtend sent and not yet acknowledged by every worker: its waiters. */
  private pending = new Map<number, { left: number; resolve(): void; reject(e: Error): void }>();

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
                if (m.extended !== undefined) pool.acknowledged(m.extended, i, m.error);
                else if (m.ready) resolve();
                else if (m.error) {
                  pool.lastError = m.error;
                  reject(new LoadError(`wasm worker thread ${i + 1} failed: ${m.error}`));
                  pool.failPending(`wasm worker thread ${i + 1} failed: ${m.error}`);
                }
              });
              w.onError((e) => {
                reject(new LoadError(`wasm worker thread ${i + 1} failed: ${String(e)}`));
                pool.failPending(`wasm worker thread ${i + 1} failed: ${String(e)}`);
              });
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

  /** Teach every worker more calls and segments (WorkerExtend: at these indices of their lists;
   *  `segments` relative to callBase); resolves once every worker has them. Only between runs. */
  extend(callBase: number, calls: [string, number][], segBase: number, segments: [number, number][]): Promise<void> {
    if (!this.workers.length) return Promise.reject(new LoadError("the wasm worker threads were stopped"));
    const id = ++this.messages;
    const done = new Promise<void>((resolve, reject) => this.pending.set(id, { left: this.workers.length, resolve, reject }));
    const ctl = this.ctl;
    Atomics.add(ctl, MSGS, 1); // counted first: a worker that sees it stays out of its loop until the message came
    for (const w of this.workers) w.post({ extend: id, callBase, calls, segBase, segments } satisfies WorkerExtend);
    // call every worker out of its loop; the barrier makes sure each read SEG = YIELD
    Atomics.store(ctl, SEG, YIELD);
    Atomics.add(ctl, GO, 1);
    Atomics.notify(ctl, GO);
    barrier(ctl, this.nthreads, false);
    return done;
  }

  private acknowledged(id: number, worker: number, error: string | undefined): void {
    const p = this.pending.get(id);
    if (!p) return;
    if (error) {
      this.pending.delete(id);
      p.reject(new LoadError(`wasm worker thread ${worker + 1} failed: ${error}`));
    } else if (--p.left === 0) {
      this.pending.delete(id);
      p.resolve();
    }
  }

  private failPending(why: string): void {
    for (const p of this.pending.values()) p.reject(new LoadError(why));
    this.pending.clear();
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
    this.failPending("the wasm worker threads were stopped");
  }
}
