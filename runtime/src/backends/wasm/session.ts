// One wasm session: a descriptor's kernel calls bound to addresses in a WebAssembly.Memory (see
// index.ts for the layout of a fixed-shape model's memory, family.ts for the memory that the
// sizes of a model with symbolic dims share). `build()` writes the parameter blocks and makes the
// typed-array views and JavaScript kernel closures on the memory's current buffer; a family
// session calls it again when the family's memory grew or its arena moved (family.ts).

import type { Descriptor, KernelSpec, TensorSpec } from "../../descriptor.js";
import { makeView, type TypedArray } from "../../dtypes.js";
import { DescriptorError, LoadError } from "../../errors.js";
import type { Session } from "../backend.js";
import { getKernel, type TensorView } from "../fallback/kernels/index.js";
import { programWords, referencedProgram } from "./expr_words.js";
import type { ThreadPool } from "./pool.js";
import type { KernelFn } from "./sync.js";

export const WASM_ABI = 3;
export const DATA_END = 128 * 1024; // the module's 64 KiB stack and its data lie below
export const BASE_STACK = 64 * 1024; // stack for the kernels' own frames, on top of the declared scratch
export const PAGE = 65536;
export const MAX_PAGES = 65536; // 4 GiB: wasm32's limit

export const align = (n: number, a: number) => Math.ceil(n / a) * a;

export interface ProfileEntry { kernel: string; op: string; fn: string; ms: number; calls: number }

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

/** The 32-bit words of every wasm call's parameter block (programs appended included). */
export function paramWordCount(desc: Descriptor): number {
  let paramWords = 0;
  for (const k of desc.kernels) {
    const spec = k.attrs.wasm as { params?: unknown } | undefined;
    if (spec && Array.isArray(spec.params)) paramWords += spec.params.length + programWordCount(k, spec.params);
  }
  return paramWords;
}

/** The descriptor's kernel ABI and declared per-thread stack scratch (wasm.stackBytes). */
export function wasmMeta(desc: Descriptor): { stackBytes: number } {
  const meta = desc.wasm as { abi?: unknown; stackBytes?: unknown } | undefined;
  if (!meta || meta.abi !== WASM_ABI) {
    throw new DescriptorError(`descriptor for backend wasm has kernel ABI ${JSON.stringify(meta?.abi)}, this runtime's is ${WASM_ABI}; re-convert the model or update the runtime`);
  }
  const scratch = meta.stackBytes ?? 0;
  if (typeof scratch !== "number" || !Number.isInteger(scratch) || scratch < 0) {
    throw new DescriptorError(`descriptor for backend wasm: wasm.stackBytes ${JSON.stringify(meta.stackBytes)} is not a byte count`);
  }
  return { stackBytes: scratch };
}

/** Instantiate the kernel module on `memory`; checks its data fits below DATA_END and sets
 *  thread 0's stack pointer to `stackTop`. */
export async function instantiateKernels(module: WebAssembly.Module, memory: WebAssembly.Memory, stackTop: number): Promise<WebAssembly.Instance> {
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  const heapBase = instance.exports.__heap_base;
  const top = heapBase instanceof WebAssembly.Global ? Number(heapBase.value) : NaN;
  if (!(top <= DATA_END)) throw new LoadError(`the wasm kernel library's data ends at ${top}, past ${DATA_END}; rebuild the runtime`);
  const sp = instance.exports.__stack_pointer;
  if (!(sp instanceof WebAssembly.Global)) throw new LoadError("the wasm kernel library exports no __stack_pointer; rebuild the runtime");
  sp.value = stackTop;
  return instance;
}

/** What the engine gives the quantized convolutions (kernels/wasm/qconv2d_nhwc_x8_simd128.c): the relaxed
 *  dot of bytes (unsigned x signed, exact) or the int16 dot. */
export function int8Dot(instance: WebAssembly.Instance): string {
  const bits = instance.exports.int8_dot_bits;
  if (typeof bits !== "function") return "none";
  return (bits as () => number)() === 8 ? "i8 (relaxed dot, unsigned x signed bytes)" : "i16 (i32x4.dot_i16x8_s)";
}

/** Where a session's memory regions lie (byte addresses). */
export interface Placement {
  arenaBase: number;
  weightsBase: number;
  paramsBase: number; // this session's parameter blocks, paramWords words
  paramWords: number;
}

type Step = { js: () => void; k: number } | { seg: number };

export class WasmSession implements Session {
  private steps: Step[] = [];
  protected fns: KernelFn[] = [];
  protected ptrs: number[] = [];
  protected names: string[] = []; // export name per wasm call, for the workers
  protected segments: [number, number][] = [];
  private ins: TypedArray[] = [];
  private outs: TypedArray[] = [];
  protected memory: WebAssembly.Memory | null;
  protected pool: ThreadPool | null = null;
  /** The workers' index of this session's first segment (family sessions share the workers). */
  protected segBase = 0;
  protected broken = "";
  readonly info: Record<string, unknown>;
  private wasmMs: Float64Array | undefined; // profiling: ms per wasm call
  private profile: ProfileEntry[] = []; // profiling: one entry per kernel of the descriptor
  private wasmEntry: number[] = []; // profiling: wasm call -> profile entry

  constructor(desc: Descriptor, private readonly instance: WebAssembly.Instance, memory: WebAssembly.Memory, protected place: Placement, info: Record<string, unknown>) {
    this.memory = memory;
    this.info = info;
    this.build(desc);
    if (info.profile === true) {
      this.wasmMs = new Float64Array(this.fns.length);
      info.profile = this.profile;
    }
  }

  /** (Re)write the parameter blocks and make the views and JavaScript kernels on the memory's
   *  current buffer, at `this.place`. The calls, their parameter block addresses and segments
   *  come out the same every time (the workers keep them). */
  protected build(desc: Descriptor): void {
    const layout = this.place;
    const buf = this.memory!.buffer;
    const first = this.profile.length === 0;
    this.steps = [];
    this.fns = [];
    this.ptrs = [];
    this.names = [];
    this.segments = [];
    this.wasmEntry = [];
    const addr = (t: TensorSpec) => (t.memory === "arena" ? layout.arenaBase : layout.weightsBase) + t.offset;
    const views = desc.tensors.map((t): TensorView => {
      const size = t.shape.reduce((a, b) => a * b, 1);
      return { dtype: t.dtype, shape: t.shape, size, data: makeView(t.dtype, buf, addr(t), size) };
    });
    const words = new Int32Array(buf, layout.paramsBase, layout.paramWords);
    const floats = new Float32Array(buf, layout.paramsBase, layout.paramWords);
    let w = 0;
    desc.kernels.forEach((k, entry) => {
      if (first) this.profile.push({ kernel: k.name, op: k.op, fn: k.attrs.wasm ? String((k.attrs.wasm as { fn?: unknown }).fn) : "js", ms: 0, calls: 0 });
      if (k.attrs.wasm === undefined) {
        const factory = getKernel(k.op, k.attrs);
        if (!factory) throw new DescriptorError(`kernel '${k.name}' uses op ${k.op}, which this runtime lacks; update the webdnn runtime`);
        try {
          this.steps.push({ js: factory(k.inputs.map((i) => (i < 0 ? null : views[i]!)), k.outputs.map((i) => views[i]!), k.attrs, k.op), k: entry });
        } catch (e) {
          throw new DescriptorError(`kernel '${k.name}' (${k.op}): ${e instanceof Error ? e.message : String(e)}`);
        }
        return;
      }
      const { fn, name, params } = wasmCall(k, this.instance.exports);
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
    });
    this.ins = desc.inputs.map((x) => views[x.tensor]!.data);
    this.outs = desc.outputs.map((x) => views[x.tensor]!.data);
  }

  /** Run wasm segments on these threads (null: on this one alone). */
  usePool(pool: ThreadPool | null): void {
    this.pool = pool;
  }

  /** The wasm calls as the workers take them: [export, parameter block address]. */
  calls(): [string, number][] {
    return this.names.map((n, i) => [n, this.ptrs[i]!]);
  }

  /** The segments: [first call, end) each, in this session's call indices. */
  segmentRanges(): [number, number][] {
    return this.segments;
  }

  // Synchronous from start to end (no await): the sizes of a family share one arena (family.ts),
  // and a run that yielded halfway could let another size's run overwrite it.
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
        this.pool.run(this.fns, this.ptrs, seg, this.segBase + step.seg, ms);
      } catch (e) {
        // The threads may be stuck mid-segment: this session cannot be trusted any more.
        this.broken = e instanceof Error ? e.message : String(e);
        this.poolFailed(this.broken);
        throw e;
      }
    }
    if (ms) {
      ms.forEach((t, i) => this.count(this.wasmEntry[i]!, t));
      ms.fill(0);
    }
    return this.outs.map((o) => o.slice() as TypedArray);
  }

  /** The thread pool failed mid-segment. */
  protected poolFailed(_why: string): void {
    this.pool?.dispose();
    this.pool = null;
  }

  private count(entry: number, ms: number): void {
    const e = this.profile[entry]!;
    e.ms += ms;
    e.calls++;
  }

  dispose(): void {
    this.pool?.dispose();
    this.pool = null;
    this.release();
  }

  /** Drop the views and kernels (the memory stays with whoever owns it). */
  protected release(): void {
    this.steps = [];
    this.fns = [];
    this.names = [];
    this.ins = [];
    this.outs = [];
    this.memory = null;
  }
}
