// The wasm backend's worker thread (dist/webdnn-wasm-worker.js): a Web Worker in the browser,
// a worker_threads Worker in Node. It instantiates the kernel module on the session's shared
// memory with its own stack, reports ready, then runs segments when told to through the
// control block (see sync.ts) until the session is disposed. A pool shared by the sizes of a
// model with symbolic dims (family.ts) sends each new size's calls and segments as a
// WorkerExtend message, announced by SEG = YIELD (sync.ts).

import { barrier, CTL_WORDS, GO, MSGS, SEG, YIELD, runSegment, waitChange, type KernelFn, type WorkerExtend, type WorkerInit } from "./sync.js";

type Message = WorkerInit | WorkerExtend;

interface Port {
  postMessage(msg: unknown): void;
  onMessage(handler: (msg: Message) => void): void;
}

async function port(): Promise<Port> {
  const g = globalThis as unknown as { WorkerGlobalScope?: unknown; postMessage?: (m: unknown) => void; addEventListener?: (t: string, h: (e: MessageEvent) => void) => void };
  if (g.WorkerGlobalScope !== undefined && g.addEventListener && g.postMessage) {
    const post = g.postMessage.bind(globalThis);
    const listen = g.addEventListener.bind(globalThis);
    return { postMessage: post, onMessage: (h) => listen("message", (e: MessageEvent) => h(e.data as Message)) };
  }
  const { parentPort } = await import(/* webpackIgnore: true */ /* @vite-ignore */ "node:worker_threads");
  if (!parentPort) throw new Error("webdnn-wasm-worker.js must run as a worker");
  return { postMessage: (m) => parentPort.postMessage(m), onMessage: (h) => parentPort.on("message", h) };
}

interface State {
  init: WorkerInit;
  instance: WebAssembly.Instance;
  fns: KernelFn[];
  ptrs: number[];
  segments: [number, number][];
  ctl: Int32Array;
  seen: number; // GO as last acted on
  handled: number; // WorkerExtend messages handled
}

let state: State | null = null;

async function start(init: WorkerInit, p: Port): Promise<void> {
  const instance = await WebAssembly.instantiate(init.module, { env: { memory: init.memory } });
  const sp = instance.exports.__stack_pointer;
  if (!(sp instanceof WebAssembly.Global)) throw new Error("the kernel module exports no __stack_pointer; rebuild the runtime");
  sp.value = init.stackTop;
  const fns = init.calls.map(([name]) => instance.exports[name] as KernelFn);
  const ptrs = init.calls.map(([, ptr]) => ptr);
  const ctl = new Int32Array(init.memory.buffer, init.ctl, CTL_WORDS);
  // GO is read before reporting ready: the caller may start at once
  state = { init, instance, fns, ptrs, segments: init.segments, ctl, seen: Atomics.load(ctl, GO), handled: 0 };
  p.postMessage({ ready: true });
  serve(state);
}

function extend(st: State, m: WorkerExtend): void {
  for (let i = 0; i < m.calls.length; i++) {
    const [name, ptr] = m.calls[i]!;
    const fn = st.instance.exports[name];
    if (typeof fn !== "function") throw new Error(`the kernel module has no function '${name}'`);
    st.fns[m.callBase + i] = fn as KernelFn;
    st.ptrs[m.callBase + i] = ptr;
  }
  m.segments.forEach(([a, b], i) => (st.segments[m.segBase + i] = [m.callBase + a, m.callBase + b]));
}

/** Run segments until told to exit, or to handle messages (then return to the event loop). */
function serve(st: State): void {
  const { ctl, init } = st;
  if (st.handled < Atomics.load(ctl, MSGS)) return; // a message is on its way
  for (;;) {
    waitChange(ctl, GO, st.seen, true);
    st.seen = Atomics.load(ctl, GO);
    const s = Atomics.load(ctl, SEG);
    if (s === -1) return;
    if (s === YIELD) {
      barrier(ctl, init.nthreads, true);
      if (st.handled < Atomics.load(ctl, MSGS)) return;
      continue;
    }
    runSegment(ctl, st.fns, st.ptrs, st.segments[s]!, init.tid, init.nthreads, true);
  }
}

void port().then((p) =>
  p.onMessage((m) => {
    if ("extend" in m) {
      const st = state;
      try {
        if (!st) throw new Error("an extend message before the init message");
        st.handled++;
        extend(st, m);
        p.postMessage({ extended: m.extend });
      } catch (e) {
        p.postMessage({ error: e instanceof Error ? e.message : String(e), extended: m.extend });
      }
      if (st) serve(st);
      return;
    }
    start(m, p).catch((e: unknown) => p.postMessage({ error: e instanceof Error ? e.message : String(e) }));
  }),
);
