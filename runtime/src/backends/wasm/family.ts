// The wasm backend's SizeFamily (backend.ts): the sessions of every input size of a model with
// symbolic dims (docs/descriptor-format.md, "Symbolic dimensions") share one kernel module
// instance, one WebAssembly.Memory, one thread pool and one copy of the weights:
//
//   [0, DATA_END)                the module's own stack and data
//   [stacks, +threads*stack)     one stack per thread, sized for the first size's wasm.stackBytes
//                                (the converter declares the bound over every size there)
//   [ctl, +64)                   the threads' control block (sync.ts)
//   [weightsBase, +weights)      the weights, copied in once when the family is made
//   [paramsBase, +paramsCap)     the parameter blocks of every live size, each its own range
//                                (first fit; room for 8 sizes at first, doubled when full)
//   [arenaBase, +arenaCap)       ONE arena shared by every size, as big as the largest seen
//
// Choices, and why:
//  - One shared arena, grown to the largest size seen, rather than one per size: a model's
//    arena at its largest size dominates (MiniLM at 384 tokens: ~60 MB), and the sizes an app
//    runs are usually few but may be many (every sentence length): separate arenas would sum.
//    Sharing it means two sizes must never run at once. They cannot: a run of a wasm session is
//    one synchronous JavaScript task (inputs copied in, every kernel and barrier, outputs copied
//    out) with no await inside, so runs of one family are serialized by the JavaScript thread
//    itself, and nothing of one run is left in the arena for the next.
//  - The memory grows only while a size's session is being made (synchronously, between runs):
//    when the new size's arena is larger, or the parameter blocks need more room (then the
//    arena moves up: it holds nothing between runs). Growing a non-shared memory detaches its
//    ArrayBuffer, and a shared one's views keep their old length, so every growth or move bumps
//    the family's `epoch`; a session built at an older epoch rebuilds its typed-array views,
//    JavaScript kernel closures and parameter words (the arena addresses) at the start of its
//    next run, before anything touches the memory. Parameter blocks never move, so the calls
//    the workers hold stay valid.
//  - The workers learn each new size's calls and segments with a WorkerExtend message (sync.ts),
//    acknowledged before the size's session is returned; a disposed size's parameter block and
//    call/segment indices are freed and reused by later sizes. family.dispose() stops the workers.
//  - A fixed-shape model does not come here: index.ts's createSession is the path it always took.

import type { Descriptor } from "../../descriptor.js";
import { DescriptorError, LoadError } from "../../errors.js";
import type { Session, SizeFamily } from "../backend.js";
import { checkMemoryPlan } from "../memory.js";
import { kernelModule, moduleFile, type Simd } from "./module.js";
import { checkWasmParams, MAX_STACK_BYTES } from "./params.js";
import { spawnWorkers, ThreadPool } from "./pool.js";
import { align, BASE_STACK, DATA_END, instantiateKernels, int8Dot, MAX_PAGES, PAGE, paramWordCount, WasmSession, wasmMeta, type Placement } from "./session.js";

/** Parameter-block room reserved when the family is made, in sizes of the first (sessions.ts keeps 8 by default). */
const PARAM_SLOTS = 8;

/** First-fit allocator of index ranges [at, at + n) over a space that grows at its end. */
export class Ranges {
  private free: [number, number][] = []; // [start, end), sorted, coalesced, all below `end`
  /** One past the highest index in use (or free below it). */
  end = 0;

  alloc(n: number): number {
    if (n === 0) return 0;
    for (let i = 0; i < this.free.length; i++) {
      const r = this.free[i]!;
      if (r[1] - r[0] < n) continue;
      const at = r[0];
      r[0] += n;
      if (r[0] === r[1]) this.free.splice(i, 1);
      return at;
    }
    const at = this.end;
    this.end += n;
    return at;
  }

  release(at: number, n: number): void {
    if (n === 0) return;
    let i = 0;
    while (i < this.free.length && this.free[i]![0] < at) i++;
    this.free.splice(i, 0, [at, at + n]);
    // merge with the next, then with the previous
    const cur = this.free[i]!;
    const next = this.free[i + 1];
    if (next && next[0] === cur[1]) {
      cur[1] = next[1];
      this.free.splice(i + 1, 1);
    }
    const prev = this.free[i - 1];
    if (prev && prev[1] === cur[0]) {
      prev[1] = cur[1];
      this.free.splice(i, 1);
    }
    const last = this.free[this.free.length - 1];
    if (last && last[1] === this.end) {
      this.end = last[0];
      this.free.pop();
    }
  }
}

/** What the options and the engine chose (index.ts). */
export interface FamilyChoice { opts: { profile?: boolean }; simd: Simd; threads: number; wanted: number; possible: boolean; whyNot: string | null }

export async function createFamily(first: Descriptor, weights: Uint8Array, choice: FamilyChoice): Promise<SizeFamily> {
  const { opts, simd, threads, wanted, possible, whyNot } = choice;
  const { stackBytes } = wasmMeta(first);
  if (stackBytes > MAX_STACK_BYTES) {
    throw new DescriptorError(`descriptor for backend wasm: wasm.stackBytes ${stackBytes} is more than the ${MAX_STACK_BYTES} bytes of stack a thread may have. Re-convert the model with the matching webdnn version.`);
  }
  if (first.weights.byteLength !== weights.byteLength) {
    throw new DescriptorError(`descriptor for backend wasm: weights.byteLength ${first.weights.byteLength} is not the ${weights.byteLength} bytes of the weight files`);
  }
  const stackSize = align(BASE_STACK + stackBytes, PAGE);
  const ctl = DATA_END + threads * stackSize;
  const weightsBase = align(ctl + 64, 64);
  const paramsBase = align(weightsBase + weights.byteLength, 64);
  const paramsCap = PARAM_SLOTS * paramWordCount(first) + 64;
  const arenaBase = align(paramsBase + 4 * paramsCap, 64);
  const total = arenaBase + first.arena.byteLength;
  const pages = Math.ceil(total / PAGE);
  if (pages > MAX_PAGES) throw new DescriptorError(`the model needs ${total} bytes of wasm memory, more than wasm32's 4 GiB`);
  const shared = threads > 1;
  const module = await kernelModule(moduleFile(simd, shared));
  const memory = growableMemory(pages, shared);
  const instance = await instantiateKernels(module, memory, DATA_END + stackSize); // thread 0's stack
  const info: Record<string, unknown> = { threads, simd, module: moduleFile(simd, shared), int8Dot: int8Dot(instance) };
  if (wanted > 1 && !possible) info.threadsNote = `single-threaded: ${whyNot}`;
  // Workers load their script while this thread copies the weights.
  const spawned = spawnWorkers(threads - 1);
  new Uint8Array(memory.buffer, weightsBase, weights.byteLength).set(weights);
  let pool: ThreadPool | null = null;
  if (threads > 1) {
    try {
      pool = await ThreadPool.start({ module, memory, nthreads: threads, ctl, calls: [], segments: [] }, (tid) => DATA_END + (tid + 1) * stackSize, spawned);
    } catch (e) {
      // as index.ts: without workers the same memory and module serve this thread alone
      info.threads = 1;
      info.threadsNote = `single-threaded: the worker threads could not start (${e instanceof Error ? e.message : String(e)})`;
    }
  }
  return new WasmFamily(instance, memory, pool, info, opts.profile === true, {
    stackBytes, weightsBase, weightsBytes: weights.byteLength, paramsBase, paramsCap, arenaBase, arenaCap: first.arena.byteLength,
  });
}

/** A memory of `pages` that can grow with the largest size seen: its maximum is wasm32's 4 GiB (a
 *  shared memory needs a maximum, and reserves that address space), or less where the engine
 *  cannot reserve that much (then a size beyond it fails to grow with a LoadError). */
function growableMemory(pages: number, shared: boolean): WebAssembly.Memory {
  for (const maximum of [MAX_PAGES, MAX_PAGES / 2, MAX_PAGES / 4, MAX_PAGES / 16]) {
    if (maximum < pages) break;
    try {
      return new WebAssembly.Memory({ initial: pages, maximum, shared } as WebAssembly.MemoryDescriptor);
    } catch {
      // less address space to reserve: try a smaller maximum
    }
  }
  try {
    return new WebAssembly.Memory({ initial: pages, maximum: pages, shared } as WebAssembly.MemoryDescriptor);
  } catch (e) {
    throw new LoadError(`could not allocate ${pages * PAGE} bytes of wasm memory (${e instanceof Error ? e.message : String(e)})`);
  }
}

interface FamilyLayout {
  stackBytes: number; // the per-thread scratch the stacks were sized for
  weightsBase: number;
  weightsBytes: number;
  paramsBase: number;
  paramsCap: number; // words
  arenaBase: number;
  arenaCap: number; // bytes
}

class WasmFamily implements SizeFamily {
  /** Bumped whenever the memory grows or the arena moves: sessions of an older epoch rebuild. */
  epoch = 0;
  broken = "";
  memory: WebAssembly.Memory | null;
  private readonly params = new Ranges(); // words from paramsBase
  private readonly callSlots = new Ranges(); // the workers' call indices
  private readonly segSlots = new Ranges(); // the workers' segment indices
  private readonly live = new Set<FamilySession>();
  private made = 0;

  constructor(readonly instance: WebAssembly.Instance, memory: WebAssembly.Memory, public pool: ThreadPool | null,
    private readonly baseInfo: Record<string, unknown>, private readonly profile: boolean, readonly layout: FamilyLayout) {
    this.memory = memory;
  }

  async createSession(desc: Descriptor): Promise<Session> {
    if (!this.memory) throw new LoadError("this wasm size family was disposed");
    if (this.broken) throw new LoadError(`the wasm sessions of this model cannot run any more (${this.broken}); load the model again`);
    const L = this.layout;
    const { stackBytes } = wasmMeta(desc);
    if (stackBytes > L.stackBytes) {
      throw new DescriptorError(`descriptor for backend wasm: this size declares wasm.stackBytes ${stackBytes}, more than the ${L.stackBytes} ` +
        "its first size declared (the bound over every size, which the threads' stacks were sized for). Re-convert the model with the matching webdnn version.");
    }
    if (desc.weights.byteLength !== L.weightsBytes) {
      throw new DescriptorError(`descriptor for backend wasm: this size's weights.byteLength ${desc.weights.byteLength} is not the ${L.weightsBytes} of the model's weights`);
    }
    checkMemoryPlan(desc); // as index.ts
    checkWasmParams(desc); // its stack need is at most its declared stackBytes, so at most the stacks'
    // Synchronously from here to the session's construction: no run can interleave.
    const words = paramWordCount(desc);
    const at = this.params.alloc(words);
    let session: FamilySession;
    try {
      this.reserve(desc.arena.byteLength);
      const info: Record<string, unknown> = { ...this.baseInfo, ...(this.profile ? { profile: true } : {}) };
      Object.defineProperty(info, "family", { enumerable: true, get: () => this.stats() });
      session = new FamilySession(this, desc, { arenaBase: L.arenaBase, weightsBase: L.weightsBase, paramsBase: L.paramsBase + 4 * at, paramWords: words }, info);
    } catch (e) {
      this.params.release(at, words);
      throw e;
    }
    session.paramsAt = at;
    this.live.add(session);
    this.made++;
    const pool = this.pool;
    if (pool) {
      const calls = session.calls();
      const segs = session.segmentRanges();
      session.slots(this.callSlots.alloc(calls.length), calls.length, this.segSlots.alloc(segs.length), segs.length);
      try {
        await pool.extend(session.callBase, calls, session.segStart, segs);
      } catch (e) {
        // a worker that did not take the calls cannot run this family's segments any more
        this.fail(e instanceof Error ? e.message : String(e));
        session.dispose();
        throw e;
      }
    }
    return session;
  }

  /** Make room for an arena of `arenaBytes` and the parameter blocks allocated so far. */
  private reserve(arenaBytes: number): void {
    const L = this.layout;
    const memory = this.memory!;
    let paramsCap = L.paramsCap;
    if (this.params.end > paramsCap) paramsCap = Math.max(this.params.end, 2 * paramsCap);
    const arenaBase = align(L.paramsBase + 4 * paramsCap, 64);
    const arenaCap = Math.max(L.arenaCap, arenaBytes);
    const total = arenaBase + arenaCap;
    const pages = Math.ceil(total / PAGE);
    if (pages > MAX_PAGES) throw new DescriptorError(`the model at this size needs ${total} bytes of wasm memory (its sizes share one), more than wasm32's 4 GiB`);
    const have = memory.buffer.byteLength / PAGE;
    if (pages > have) {
      try {
        memory.grow(pages - have);
      } catch (e) {
        throw new LoadError(`could not grow the wasm memory to ${total} bytes for this size (${e instanceof Error ? e.message : String(e)})`);
      }
    }
    if (pages > have || arenaBase !== L.arenaBase) this.epoch++;
    L.paramsCap = paramsCap;
    L.arenaBase = arenaBase;
    L.arenaCap = arenaCap;
  }

  /** backendInfo.family: what the sizes share. */
  private stats(): Record<string, number> {
    const L = this.layout;
    return {
      sizes: this.live.size, // sessions alive now
      sessionsMade: this.made,
      memoryBytes: this.memory ? this.memory.buffer.byteLength : 0,
      weightsBytes: L.weightsBytes, // copied into the memory once
      arenaBytes: L.arenaCap, // the largest size's arena, shared
      paramBytes: 4 * L.paramsCap,
    };
  }

  /** The threads failed (a kernel threw on a worker, a worker died): no session of the family can run. */
  fail(why: string): void {
    if (!this.broken) this.broken = why;
    this.pool?.dispose();
    this.pool = null;
  }

  /** A session is disposed: its parameter block and worker indices are free for later sizes. */
  forget(s: FamilySession): void {
    if (!this.live.delete(s)) return;
    this.params.release(s.paramsAt, s.paramWords);
    this.callSlots.release(s.callBase, s.callCount);
    this.segSlots.release(s.segStart, s.segCount);
  }

  dispose(): void {
    this.pool?.dispose();
    this.pool = null;
    this.live.clear();
    this.memory = null;
  }
}

class FamilySession extends WasmSession {
  private epoch: number;
  paramsAt = 0;
  callBase = 0;
  callCount = 0;
  segCount = 0;
  private disposed = false;

  constructor(private readonly family: WasmFamily, private readonly desc: Descriptor, place: Placement, info: Record<string, unknown>) {
    super(desc, family.instance, family.memory!, place, info);
    this.epoch = family.epoch;
    this.pool = family.pool;
  }

  slots(callBase: number, callCount: number, segBase: number, segCount: number): void {
    this.callBase = callBase;
    this.callCount = callCount;
    this.segBase = segBase;
    this.segCount = segCount;
  }

  /** The workers' index of this size's first segment. */
  get segStart(): number {
    return this.segBase;
  }

  get paramWords(): number {
    return this.place.paramWords;
  }

  override run(inputs: Parameters<WasmSession["run"]>[0]): ReturnType<WasmSession["run"]> {
    const f = this.family;
    if (!this.disposed && f.broken && !this.broken) this.broken = f.broken;
    if (!this.disposed && !this.broken && this.epoch !== f.epoch) {
      // the memory grew or the arena moved since this session was built: new views, kernels and
      // arena addresses before anything touches the memory (the run below is synchronous)
      try {
        this.memory = f.memory;
        this.place = { ...this.place, arenaBase: f.layout.arenaBase };
        this.build(this.desc);
        this.epoch = f.epoch;
      } catch (e) {
        this.broken = e instanceof Error ? e.message : String(e);
        return Promise.reject(e);
      }
    }
    this.pool = f.pool;
    return super.run(inputs);
  }

  protected override poolFailed(why: string): void {
    this.pool = null;
    this.family.fail(why);
  }

  override dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.pool = null; // the family's
    this.family.forget(this);
    this.release();
  }
}
