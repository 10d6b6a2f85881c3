// Synchronization of the wasm backend's threads, through a small control block in the
// shared wasm memory (Int32 words); no postMessage while running.
//
// A run is a sequence of segments (maximal runs of consecutive wasm calls; JavaScript kernels
// in between run on the calling thread alone). To run segment s, the calling thread (tid 0)
// writes SEG = s and bumps GO; every worker, waiting for GO to change, wakes and runs the
// segment's calls with its own tid. After each call all threads meet at a barrier, so the
// next call sees complete inputs and, after the last one, the caller sees complete outputs.
//
// The sizes of a model with symbolic dims share one pool (family.ts), which learns each new size's
// calls and segments while running: the caller counts the message in MSGS, posts it (a
// WorkerExtend), then writes SEG = YIELD and bumps GO; every thread meets at the barrier (so no
// worker can read a later SEG in place of YIELD) and a worker with messages it has not handled
// leaves its loop for its event loop, handles them in order (acknowledging each), and comes back.
// A segment started meanwhile waits for it at its first barrier; the caller awaits the
// acknowledgement before the new size's first run.

export const CTL_WORDS = 16; // bytes reserved: 64
export const GO = 0; // bumped by the caller to start a segment
export const SEG = 1; // the segment to run; -1 tells the workers to exit
export const COUNT = 2; // barrier: threads arrived
export const GEN = 3; // barrier: generation, bumped when all have arrived
export const ERR = 4; // set to 1 by a worker whose kernel call threw
export const MSGS = 5; // messages (WorkerExtend) posted to every worker so far
/** SEG value: meet at the barrier, then handle the messages counted in MSGS. */
export const YIELD = -2;

/** Busy-wait iterations before a worker sleeps in Atomics.wait (a few hundred microseconds):
 *  long enough to cover the gap of a JavaScript kernel between two segments. */
const SPIN = 1 << 16;
/** The calling thread may not sleep (browsers forbid Atomics.wait on the main thread): it spins,
 *  and gives up when a barrier takes this long, which means a worker died. */
const MAIN_TIMEOUT_MS = 120_000;

/** Wait until ctl[i] differs from `old`. Workers sleep after spinning; the caller only spins. */
export function waitChange(ctl: Int32Array, i: number, old: number, canSleep: boolean): void {
  let spins = 0;
  let start = 0;
  while (Atomics.load(ctl, i) === old) {
    if (++spins < SPIN) continue;
    if (canSleep) {
      Atomics.wait(ctl, i, old);
      continue;
    }
    if ((spins & 0xfffff) === 0) {
      const now = Date.now();
      if (start === 0) start = now;
      else if (now - start > MAIN_TIMEOUT_MS) throw new Error(`a wasm worker thread stopped responding (waited ${MAIN_TIMEOUT_MS / 1000} s)`);
    }
  }
}

/** All `n` threads meet here; the last to arrive releases the others. */
export function barrier(ctl: Int32Array, n: number, canSleep: boolean): void {
  const gen = Atomics.load(ctl, GEN);
  if (Atomics.add(ctl, COUNT, 1) === n - 1) {
    Atomics.store(ctl, COUNT, 0);
    Atomics.add(ctl, GEN, 1);
    Atomics.notify(ctl, GEN);
    return;
  }
  waitChange(ctl, GEN, gen, canSleep);
}

export type KernelFn = (params: number, tid: number, nthreads: number) => void;

/** What a worker needs to join a session (sent once, at session creation). */
export interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  tid: number;
  nthreads: number;
  stackTop: number;
  ctl: number; // byte address of the control block
  calls: [string, number][]; // [export, parameter block address] per wasm call
  segments: [number, number][]; // [first call, end) per segment
}

/** A message to every worker of a pool: more calls and segments, written at these indices of its
 *  lists (replacing those of a disposed size). `extend` numbers the message, echoed in the reply
 *  {extended}. */
export interface WorkerExtend {
  extend: number;
  callBase: number;
  calls: [string, number][];
  segBase: number;
  segments: [number, number][]; // [first call, end), relative to callBase
}

/** Run segment `s` as thread `tid`: every call, then the barrier that ends it. With `ms`
 *  (profiling, thread 0), adds each call's time, barrier included, to ms[call]. */
export function runSegment(ctl: Int32Array, fns: KernelFn[], ptrs: number[], seg: [number, number], tid: number, n: number, canSleep: boolean, ms?: Float64Array): void {
  let t = ms ? performance.now() : 0;
  for (let i = seg[0]; i < seg[1]; i++) {
    if (tid === 0) {
      fns[i]!(ptrs[i]!, tid, n);
    } else {
      try {
        fns[i]!(ptrs[i]!, tid, n);
      } catch {
        Atomics.store(ctl, ERR, 1);
      }
    }
    barrier(ctl, n, canSleep);
    if (ms) {
      const now = performance.now();
      ms[i]! += now - t;
      t = now;
    }
  }
}
