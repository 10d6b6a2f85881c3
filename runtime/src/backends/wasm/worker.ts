// The wasm backend's worker thread (dist/webdnn-wasm-worker.js): a Web Worker in the browser,
// a worker_threads Worker in Node. It instantiates the kernel module on the session's shared
// memory with its own stack, reports ready, then runs segments when told to through the
// control block (see sync.ts) until the session is disposed.

import { CTL_WORDS, GO, SEG, runSegment, waitChange, type KernelFn, type WorkerInit } from "./sync.js";

interface Port {
  postMessage(msg: unknown): void;
  onMessage(handler: (msg: WorkerInit) => void): void;
}

async function port(): Promise<Port> {
  const g = globalThis as unknown as { WorkerGlobalScope?: unknown; postMessage?: (m: unknown) => void; addEventListener?: (t: string, h: (e: MessageEvent) => void) => void };
  if (g.WorkerGlobalScope !== undefined && g.addEventListener && g.postMessage) {
    const post = g.postMessage.bind(globalThis);
    const listen = g.addEventListener.bind(globalThis);
    return { postMessage: post, onMessage: (h) => listen("message", (e: MessageEvent) => h(e.data as WorkerInit)) };
  }
  const { parentPort } = await import("node:worker_threads");
  if (!parentPort) throw new Error("webdnn-wasm-worker.js must run as a worker");
  return { postMessage: (m) => parentPort.postMessage(m), onMessage: (h) => parentPort.on("message", h) };
}

async function serve(init: WorkerInit, p: Port): Promise<void> {
  const instance = await WebAssembly.instantiate(init.module, { env: { memory: init.memory } });
  const sp = instance.exports.__stack_pointer;
  if (!(sp instanceof WebAssembly.Global)) throw new Error("the kernel module exports no __stack_pointer; rebuild the runtime");
  sp.value = init.stackTop;
  const fns = init.calls.map(([name]) => instance.exports[name] as KernelFn);
  const ptrs = init.calls.map(([, ptr]) => ptr);
  const ctl = new Int32Array(init.memory.buffer, init.ctl, CTL_WORDS);
  let seen = Atomics.load(ctl, GO); // read before reporting ready: the caller may start at once
  p.postMessage({ ready: true });
  for (;;) {
    waitChange(ctl, GO, seen, true);
    seen = Atomics.load(ctl, GO);
    const s = Atomics.load(ctl, SEG);
    if (s < 0) return;
    runSegment(ctl, fns, ptrs, init.segments[s]!, init.tid, init.nthreads, true);
  }
}

void port().then((p) =>
  p.onMessage((init) => {
    serve(init, p).catch((e: unknown) => p.postMessage({ error: e instanceof Error ? e.message : String(e) }));
  }),
);
