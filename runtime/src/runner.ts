/// <reference types="@webgpu/types" />
// The public Runner: input validation, output wrapping, disposal. A model with symbolic dims runs
// each input size on that size's session (sessions.ts), the symbols set from the inputs (bind.ts).

import type { GpuBufferInput, GpuBufferOutput, Session } from "./backends/backend.js";
import { bindSymbols } from "./bind.js";
import type { Descriptor, IOSpec } from "./descriptor.js";
import { rangeText, type SymbolSpec } from "./dims.js";
import { dynamicIOSpecs, isDynamicDescriptor, symbolList, type DynamicDescriptor, type DynamicIOSpec } from "./dynamic.js";
import type { SkippedBackend } from "./loader.js";
import type { SizeSessions } from "./sessions.js";
import { arrayTypeName, itemSize, type DType, type TypedArray } from "./dtypes.js";
import { InputError, WebDNNError } from "./errors.js";

export interface Tensor {
  data: TypedArray;
  dims: number[];
  dtype: DType;
}

/** An input already on the GPU (webgpu backend only): a GPUBuffer of the runner's device
 *  (runner.gpuDevice, or the device shared through backendOptions.webgpu.device) with usage
 *  COPY_SRC, holding the tensor's bytes from offset 0 (at least its byte length rounded up to 4).
 *  It is copied into the model's memory on the GPU; the caller keeps owning it. A GpuTensor
 *  returned by run(..., { outputLocation: "gpu-buffer" }) is one. */
export interface GpuBufferValue {
  gpuBuffer: GPUBuffer;
  /** Checked against the model's input shape when given. */
  dims?: readonly number[];
  /** Checked against the model's input dtype when given (a GPUBuffer carries no element type). */
  dtype?: DType;
}

export type InputValue = TypedArray | { data: TypedArray; dims?: readonly number[] } | GpuBufferValue;

/** An output left on the GPU by run(inputs, { outputLocation: "gpu-buffer" }). */
export interface GpuTensor {
  /** A fresh buffer (usage STORAGE | COPY_SRC | COPY_DST, size byteLength rounded up to 4) on the
   *  runner's device, owned by the caller: destroy it (or call dispose()) when done. It lives on
   *  the runner's device, so it dies with it when the runner created that device and is disposed. */
  gpuBuffer: GPUBuffer;
  dims: number[];
  dtype: DType;
  /** Bytes of tensor data at the start of gpuBuffer. */
  byteLength: number;
  /** Copy the data back to the CPU as a fresh typed array. */
  read(): Promise<TypedArray>;
  /** Destroy gpuBuffer. */
  dispose(): void;
}

/** run()'s options. */
export interface RunOptions {
  /** "cpu" (default): outputs are typed arrays. "gpu-buffer": outputs stay on the GPU as
   *  GpuTensors (webgpu backend only), e.g. to feed another runner on the same device. */
  outputLocation?: "cpu" | "gpu-buffer";
}

const CTOR: Record<DType, Function> = {
  float32: Float32Array, float64: Float64Array, float16: Uint16Array, int64: BigInt64Array, int32: Int32Array,
  int16: Int16Array, int8: Int8Array, uint8: Uint8Array, bool: Uint8Array,
};

export class Runner {
  readonly backend: string;
  /** The model's inputs and outputs. A model of fixed shapes has IOSpecs (number shapes); one with
   *  symbolic dims has DynamicIOSpecs: shape entries are numbers, symbol names or, for outputs,
   *  readable expressions ("cdiv(seq, 16)"), with `bounds` of the symbols they use. */
  readonly inputs: readonly IOSpec[] | readonly DynamicIOSpec[];
  readonly outputs: readonly IOSpec[] | readonly DynamicIOSpec[];
  /** The input dims the caller chooses, with their inclusive bounds (max null: unbounded); empty
   *  for a model of fixed shapes. */
  readonly symbols: readonly SymbolSpec[];
  private session: Session | null;
  /** A model with symbolic dims: a session per input size (null for fixed shapes and after dispose). */
  private sizes: SizeSessions | null;

  constructor(backend: string, desc: Descriptor | DynamicDescriptor, session: Session | SizeSessions, skipped: readonly SkippedBackend[] = []) {
    this.backend = backend;
    if (isDynamicDescriptor(desc)) {
      ({ inputs: this.inputs, outputs: this.outputs } = dynamicIOSpecs(desc));
      this.symbols = symbolList(desc);
      this.session = null;
      this.sizes = session as SizeSessions;
      this.info = {};
    } else {
      const spec = (t: number): Omit<IOSpec, "name"> => ({ dtype: desc.tensors[t]!.dtype, shape: desc.tensors[t]!.shape });
      this.inputs = desc.inputs.map((x) => ({ name: x.name, ...spec(x.tensor) }));
      this.outputs = desc.outputs.map((x) => ({ name: x.name, ...spec(x.tensor) }));
      this.symbols = [];
      this.session = session as Session;
      this.sizes = null;
      // the backend's own object (wasm's profile entries keep counting in it) plus `skipped`
      this.info = this.session.info ?? {};
    }
    this.skipped = skipped.map((s) => ({ ...s }));
  }

  private readonly info: Readonly<Record<string, unknown>>;
  private readonly skipped: SkippedBackend[];

  /** What the backend chose at load, e.g. wasm: { threads: 2, simd: "relaxed" } (and, when
   *  asked for with backendOptions.wasm.profile, the time per kernel so far), and `skipped`:
   *  the backends of backendOrder that load() passed over before this one, each with the reason
   *  ([{ backend, reason }], empty when the first one was taken). A model with symbolic dims shows
   *  the latest run's session's info, and `signatures`: the sessions (one per input size) made so far. */
  get backendInfo(): Readonly<Record<string, unknown>> {
    if (this.sizes) return { ...(this.sizes.last?.info ?? {}), signatures: this.sizes.created, skipped: this.skipped };
    return { ...this.info, skipped: this.skipped };
  }

  /** The GPUDevice the model runs on (webgpu backend; undefined for the others and after
   *  dispose; with symbolic dims, the latest run's). GPU buffers passed to run() must belong to it. */
  get gpuDevice(): GPUDevice | undefined {
    return this.sizes ? this.sizes.last?.gpuDevice : this.session?.gpuDevice;
  }

  /** Run the model. `inputs` maps each input name to a typed array (or {data, dims}), or, on
   *  the webgpu backend, to a GPU buffer ({gpuBuffer, dims?, dtype?}, e.g. another runner's GpuTensor). */
  run(inputs: Readonly<Record<string, InputValue>>, options: RunOptions & { outputLocation: "gpu-buffer" }): Promise<Record<string, GpuTensor>>;
  run(inputs: Readonly<Record<string, InputValue>>, options?: RunOptions & { outputLocation?: "cpu" }): Promise<Record<string, Tensor>>;
  run(inputs: Readonly<Record<string, InputValue>>, options?: RunOptions): Promise<Record<string, Tensor | GpuTensor>>;
  async run(inputs: Readonly<Record<string, InputValue>>, options?: RunOptions | null): Promise<Record<string, Tensor | GpuTensor>> {
    const session = this.session;
    if (!session && !this.sizes) throw disposedError();
    if (options !== undefined && options !== null && (typeof options !== "object" || Array.isArray(options))) {
      throw new InputError(`run()'s options must be an object such as { outputLocation: "cpu" }, got ${describe(options)}`);
    }
    const where = options?.outputLocation ?? "cpu";
    if (where !== "cpu" && where !== "gpu-buffer") {
      throw new InputError(`run(): outputLocation must be "cpu" or "gpu-buffer", got ${JSON.stringify(where)}`);
    }
    if (typeof inputs !== "object" || inputs === null || Array.isArray(inputs) || ArrayBuffer.isView(inputs)) {
      const example = this.inputs.map((s) => `${s.name}: ${expected(s)}`).join(", ");
      throw new InputError(`run() takes an object that maps each input name to its data, here { ${example} }; got ${describe(inputs)}`);
    }
    // own properties only: an input named like an Object.prototype member ('constructor',
    // 'toString') must not be read from the prototype, and '__proto__' must be an own property
    const checked = this.inputs.map((spec: IOSpec | DynamicIOSpec) => checkInput(spec, hasOwn(inputs, spec.name) ? inputs[spec.name] : undefined, inputs));
    const values = checked.map((c) => c.value);
    const names = new Set(this.inputs.map((s) => s.name));
    const extra = Object.keys(inputs).filter((k) => !names.has(k));
    if (extra.length) throw new InputError(`unknown input(s) ${extra.join(", ")}; the model's inputs are ${this.inputs.map((s) => s.name).join(", ")}`);
    if (session) return this.runOn(session, values, where, this.outputs.map((s) => [...s.shape as number[]]));
    if (this.sizes!.gpu === false) this.checkGpu(null, values, where); // before a session is made for nothing
    // symbolic dims: the symbols from the inputs, then this size's session
    const specs = this.inputs as readonly DynamicIOSpec[];
    const env = bindSymbols(specs, checked.map((c, i) => {
      const cpu = ArrayBuffer.isView(c.value) ? c.value : null;
      return { dims: c.dims, length: cpu ? cpu.length : null, ...(specs[i]!.values ? { data: cpu as ArrayLike<number | bigint> | null } : {}) };
    }), this.symbols);
    specs.forEach((spec, i) => {
      const v = values[i]!;
      if (!ArrayBuffer.isView(v)) return;
      const shape = spec.shape.map((e) => (typeof e === "number" ? e : env.get(e)!));
      const want = shape.reduce((a, b) => a * b, 1);
      if (v.length !== want) {
        throw new InputError(`input '${spec.name}' has ${v.length} elements, the model expects ${want} (shape [${shape.join(", ")}], ` +
          `as [${spec.shape.join(", ")}] with ${[...env].map(([k, x]) => `${k}=${x}`).join(", ")})`);
      }
    });
    const lease = await this.sizes!.acquire(env);
    try {
      if (!this.sizes) throw disposedError();
      return await this.runOn(lease.session, values, where, lease.outputShapes);
    } finally {
      lease.release();
    }
  }

  /** Run one session and wrap its outputs (with these dims) as the caller asked. */
  private async runOn(session: Session, values: (TypedArray | GpuBufferInput)[], where: "cpu" | "gpu-buffer",
    outputDims: number[][]): Promise<Record<string, Tensor | GpuTensor>> {
    const gpu = this.checkGpu(session, values, where);
    let outs: (TypedArray | GpuBufferOutput)[];
    if (!gpu && session.runWithDims) { // output sizes that depend on the data: this run's dims
      const r = await session.runWithDims(values as TypedArray[]);
      [outs, outputDims] = [r.outputs, r.dims];
    } else {
      outs = gpu ? await session.runGpu!(values, where === "gpu-buffer") : await session.run(values as TypedArray[]);
    }
    const result: Record<string, Tensor | GpuTensor> = {};
    this.outputs.forEach((spec: IOSpec | DynamicIOSpec, i) => {
      const o = outs[i]!;
      const dims = [...outputDims[i]!];
      let value: Tensor | GpuTensor;
      if (ArrayBuffer.isView(o)) {
        value = { data: o, dims, dtype: spec.dtype };
      } else {
        const g = o as GpuBufferOutput;
        value = {
          gpuBuffer: g.gpuBuffer, dims, dtype: spec.dtype, byteLength: dims.reduce((a, b) => a * b, 1) * itemSize(spec.dtype),
          read: () => g.read(), dispose: () => g.gpuBuffer.destroy(),
        };
      }
      // defined, not assigned: an output named '__proto__' is an own property like any other
      Object.defineProperty(result, spec.name, { value, enumerable: true, writable: true, configurable: true });
    });
    return result;
  }

  /** Whether the run uses GPU buffers; refused when the session (null: this backend's) has none. */
  private checkGpu(session: Session | null, values: (TypedArray | GpuBufferInput)[], where: "cpu" | "gpu-buffer"): boolean {
    const gpuIn = this.inputs.filter((_, i) => !ArrayBuffer.isView(values[i])).map((s) => `'${s.name}'`);
    const gpu = where === "gpu-buffer" || gpuIn.length > 0;
    if (gpu && !session?.runGpu) {
      const what = gpuIn.length ? `input ${gpuIn.join(", ")} is a GPU buffer` : `outputLocation "gpu-buffer" was asked for`;
      throw new InputError(`${what}, but this runner uses the ${this.backend} backend, which cannot take or give GPU buffers: ` +
        `only the webgpu backend can (load with backendOrder: ["webgpu"]); otherwise pass typed arrays and read outputs as typed arrays`);
    }
    return gpu;
  }

  dispose(): void {
    this.session?.dispose();
    this.session = null;
    this.sizes?.dispose();
    this.sizes = null;
  }
}

const disposedError = () => new WebDNNError("this runner was disposed; load the model again");

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/** What a value is, for messages: "null", "an Array", "a string", "a Float32Array", "an object". */
function describe(x: unknown): string {
  if (x === null || x === undefined) return String(x);
  if (Array.isArray(x)) return "an Array";
  if (typeof x !== "object") return `a ${typeof x}`;
  let name: unknown;
  try {
    name = (x as { constructor?: { name?: unknown } }).constructor?.name;
  } catch {
    name = undefined;
  }
  if (typeof name === "string" && name !== "" && name !== "Object") return `${/^[AEIOU]/.test(name) ? "an" : "a"} ${name}`;
  return "an object";
}

/** A spec's element count, or null when its shape has symbolic dims. */
function fixedCount(spec: IOSpec | DynamicIOSpec): number | null {
  return spec.shape.every((e) => typeof e === "number") ? (spec.shape as number[]).reduce((a, b) => a * b, 1) : null;
}

/** What to pass for an input, for messages: "Float32Array of 6 elements (float32, shape [2, 3])",
 *  "Float32Array (float32, shape [2, n], 1 ≤ n ≤ 512)". */
function expected(spec: IOSpec | DynamicIOSpec): string {
  const n = fixedCount(spec);
  const shape = `shape [${spec.shape.join(", ")}]`;
  if (n !== null) return `${arrayTypeName(spec.dtype)} of ${n} elements (${spec.dtype}, ${shape})`;
  const ranges = Object.entries((spec as DynamicIOSpec).bounds).map(([name, b]) => rangeText({ name, ...b }));
  return `${arrayTypeName(spec.dtype)} (${spec.dtype}, ${[shape, ...ranges].join(", ")})`;
}

const isDims = (d: unknown): d is readonly number[] =>
  Array.isArray(d) && d.every((x) => typeof x === "number" && Number.isSafeInteger(x) && x >= 0);

function show(x: unknown): string {
  try {
    return JSON.stringify(x) ?? String(x);
  } catch {
    return String(x);
  }
}

/** `dims` given with an input: an array of non-negative integers equal to the model's shape (its
 *  fixed dims; the symbolic ones are checked when the symbols are set, bind.ts). */
function checkDims(spec: IOSpec | DynamicIOSpec, dims: unknown): void {
  if (dims === undefined) return;
  if (!isDims(dims)) {
    throw new InputError(`input '${spec.name}': dims must be an array of non-negative integers (the model expects ` +
      `[${spec.shape.join(", ")}]), got ${show(dims)} (${describe(dims)})`);
  }
  if (dims.length !== spec.shape.length || dims.some((d, i) => typeof spec.shape[i] === "number" && d !== spec.shape[i])) {
    throw new InputError(`input '${spec.name}' has dims [${dims.join(", ")}], the model expects [${spec.shape.join(", ")}]`);
  }
}

const isGpuValue = (v: object): v is GpuBufferValue => "gpuBuffer" in v;

/** One input checked for its kind, dtype, dims and (fixed shapes) length; `dims` as stated. */
interface Checked { value: TypedArray | GpuBufferInput; dims?: readonly number[] }

function checkInput(spec: IOSpec | DynamicIOSpec, value: unknown, inputs: object): Checked {
  const want = fixedCount(spec);
  const shape = `[${spec.shape.join(", ")}]`;
  const pass = `pass a ${expected(spec)}, or { data, dims }`;
  if (value === undefined) {
    const inherited = spec.name in inputs
      ? `; '${spec.name}' is found only on the object's prototype: set it as an own property ` +
        `(Object.defineProperty(inputs, ${JSON.stringify(spec.name)}, { value, enumerable: true }))` +
        (spec.name === "__proto__" ? ", since { __proto__: x } sets the object's prototype instead of an input" : "")
      : "";
    throw new InputError(`missing input '${spec.name}' (${spec.dtype}, shape ${shape})${inherited}`);
  }
  if (value === null || typeof value !== "object") throw new InputError(`input '${spec.name}' is ${describe(value)}; ${pass}`);
  if (Array.isArray(value)) {
    throw new InputError(`input '${spec.name}' is an Array; pass a typed array: new ${CTOR[spec.dtype].name}(array) ` +
      `${want === null ? "" : `with ${want} elements `}(${spec.dtype}, shape ${shape})`);
  }
  if (isGpuValue(value)) {
    // the buffer's size, usage and device are checked by the backend, which knows its layout
    checkDims(spec, value.dims);
    if (want === null && value.dims === undefined) {
      throw new InputError(`input '${spec.name}' is a GPU buffer without dims, but the model's input shape ${shape} has ` +
        "symbolic dims, which a GPU buffer cannot tell: pass { gpuBuffer, dims }");
    }
    if (value.dtype !== undefined && value.dtype !== spec.dtype) {
      throw new InputError(`input '${spec.name}' is a GPU buffer of ${String(value.dtype)}, the model expects ${spec.dtype}`);
    }
    if (value.gpuBuffer === null || typeof value.gpuBuffer !== "object") {
      throw new InputError(`input '${spec.name}': gpuBuffer must be a GPUBuffer, got ${String(value.gpuBuffer)}`);
    }
    return { value: { gpuBuffer: value.gpuBuffer }, dims: value.dims };
  }
  let data: unknown = value;
  let dims: readonly number[] | undefined;
  if (!ArrayBuffer.isView(value)) {
    // { data, dims? }: a bare typed array can be checked only for its length and type
    if (!("data" in value)) {
      throw new InputError(`input '${spec.name}' is ${describe(value)} without data; ${pass}, or (webgpu) { gpuBuffer }`);
    }
    data = (value as { data: unknown }).data;
    if (!ArrayBuffer.isView(data)) throw new InputError(`input '${spec.name}': data is ${describe(data)}; pass a ${expected(spec)}`);
    dims = (value as { dims?: readonly number[] }).dims;
    checkDims(spec, dims);
  }
  let arr = data as TypedArray;
  if (!(data instanceof CTOR[spec.dtype])) {
    // Convenience: int32 data for an int64 input (token ids) is widened.
    if (spec.dtype === "int64" && data instanceof Int32Array) arr = BigInt64Array.from(data, (x) => BigInt(x));
    else throw new InputError(`input '${spec.name}' must be a ${arrayTypeName(spec.dtype)} (${spec.dtype}), got ${(data as object).constructor?.name ?? typeof data}`);
  }
  // symbolic dims: the length is checked once the symbols are set
  if (want !== null && arr.length !== want) throw new InputError(`input '${spec.name}' has ${arr.length} elements, the model expects ${want} (shape ${shape})`);
  return { value: arr, dims };
}
