// Models with control flow decided at run time (an If whose condition depends on the input's data,
// such as a sample-rate switch). The converter cut such a model into stages, each an ordinary
// descriptor planned offline, and wrote a control descriptor whose program runs them
// (src/webdnn/passes/runtime_control.py, docs/descriptor-format.md). This file validates that
// descriptor and runs its program: stages in order, at an If the chosen branch's steps, and ops whose
// output size depends on the data (NonZero) computed here, between stages, on the values read back.
// Values pass between stages by name, each with its dims: a stage after a NonZero is symbolic in the
// count it found and runs at that size (a session per size, as any model with symbolic dims).

import type { Session } from "./backends/backend.js";
import { bindSymbols } from "./bind.js";
import { isDType, allocate, type DType, type TypedArray } from "./dtypes.js";
import { halfToFloat } from "./backends/fallback/kernels/elementwise/common.js";
import { dynamicIOSpecs, symbolList, type DynamicDescriptor } from "./dynamic.js";
import { DescriptorError, InputError } from "./errors.js";
import type { SizeSessions } from "./sessions.js";

export const CONTROL_FORMAT = "webdnn-control";
export const CONTROL_VERSION = 1;

/** One step of a control program. */
export type Step =
  | { run: number; inputs: string[]; outputs: string[] }
  | { if: string; then: Step[]; else: Step[] }
  | { copy: string; to: string }
  | { const: string; dtype: DType; shape: number[]; data: number[] }
  | { nonzero: string; to: string }
  | { topk: string; k: string; axis: number; largest: number; to: string[] }
  | { nms: (string | null)[]; center_point_box: number; to: string }
  | { compress: string; condition: string; axis: number | null; to: string }
  | { unique: string; axis: number | null; sorted: number; to: string[] }
  | { loop: string | null; cond: string | null; init: string[]; inputs: string[]; body: Step[]; outputs: string[];
      scans: { dtype: DType; shape: number[] }[]; to: string[] }
  | { fail: string };

export interface ControlDescriptor {
  format: typeof CONTROL_FORMAT;
  version: number;
  backend: string;
  model: string;
  inputs: { name: string; tensor: number }[];
  outputs: { name: string; tensor: number }[];
  /** The inputs' and outputs' types and shapes (the form of an ordinary descriptor's tensors; an output
   *  sized by the data has dims that are symbol names or expressions, as in the manifest). */
  tensors: { name: string; dtype: DType; shape: number[] }[];
  /** Each stage's descriptor, relative to this one. */
  stages: string[];
  program: Step[];
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
const isCount = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
const isName = (x: unknown): x is string => typeof x === "string" && x.length > 0;

function fail(where: string, what: string): never {
  throw new DescriptorError(`${where}: ${what}. Re-convert the model with the matching webdnn version.`);
}

export function isControlDescriptor(d: unknown): boolean {
  return isObj(d) && d.format === CONTROL_FORMAT;
}

/** Check a control descriptor's structure (each stage's descriptor is checked when it is loaded). */
export function validateControlDescriptor(d: unknown, backend: string, url: string): ControlDescriptor {
  const w = `descriptor ${url}`;
  if (!isObj(d) || d.format !== CONTROL_FORMAT) fail(w, "is not a WebDNN control descriptor");
  if (d.version !== CONTROL_VERSION) fail(w, `has control format version ${JSON.stringify(d.version)}, this runtime reads ${CONTROL_VERSION}`);
  if (d.backend !== backend) fail(w, `is for backend '${String(d.backend)}', expected '${backend}'`);
  if (!Array.isArray(d.tensors)) fail(w, "tensors must be a list");
  const tensors = d.tensors.map((t: unknown, i: number) => {
    // (an output's dims may be expressions of the counts a NonZero finds: shown, not computed, here)
    if (!isObj(t) || !isDType(t.dtype) || !Array.isArray(t.shape) || !t.shape.every((e) => isCount(e) || isName(e) || Array.isArray(e))) {
      fail(`${w} tensors[${i}]`, "needs a dtype and a shape");
    }
    return { name: typeof t.name === "string" ? t.name : "", dtype: t.dtype as DType, shape: t.shape as number[] };
  });
  const io = (key: "inputs" | "outputs") => {
    const xs = d[key];
    if (!Array.isArray(xs)) fail(w, `${key} must be a list`);
    return xs.map((x: unknown, i: number) => {
      if (!isObj(x) || !isName(x.name) || !isCount(x.tensor) || x.tensor >= tensors.length) fail(`${w} ${key}[${i}]`, "needs a name and a tensor");
      return { name: x.name, tensor: x.tensor };
    });
  };
  const inputs = io("inputs"), outputs = io("outputs");
  if (!Array.isArray(d.stages) || !d.stages.every((p) => isName(p) && !p.startsWith("/") && !p.split("/").includes(".."))) {
    fail(w, "stages must be a list of relative paths inside the model directory");
  }
  const stages = d.stages as string[];
  const steps = (where: string, xs: unknown): Step[] => {
    if (!Array.isArray(xs)) fail(where, "must be a list of steps");
    return xs.map((s: unknown, i: number) => step(`${where}[${i}]`, s));
  };
  const step = (where: string, s: unknown): Step => {
    if (!isObj(s)) fail(where, "is not a step");
    if ("run" in s) {
      if (!isCount(s.run) || s.run >= stages.length) fail(where, `runs stage ${JSON.stringify(s.run)}, but there are ${stages.length}`);
      if (!Array.isArray(s.inputs) || !s.inputs.every(isName) || !Array.isArray(s.outputs) || !s.outputs.every(isName)) fail(where, "needs input and output names");
      return { run: s.run, inputs: s.inputs as string[], outputs: s.outputs as string[] };
    }
    if ("if" in s) {
      if (!isName(s.if)) fail(where, "needs the condition's name");
      return { if: s.if, then: steps(`${where}.then`, s.then), else: steps(`${where}.else`, s.else) };
    }
    if ("copy" in s) {
      if (!isName(s.copy) || !isName(s.to)) fail(where, "needs copy and to names");
      return { copy: s.copy, to: s.to };
    }
    if ("const" in s) {
      if (!isName(s.const) || !isDType(s.dtype) || !Array.isArray(s.shape) || !s.shape.every(isCount) || !Array.isArray(s.data)) fail(where, "needs a name, dtype, shape and data");
      const n = (s.shape as number[]).reduce((a, b) => a * b, 1);
      const special: Record<string, number> = { NaN: NaN, Infinity: Infinity, "-Infinity": -Infinity };
      if (s.data.length !== n || !s.data.every((x) => typeof x === "number" || (typeof x === "string" && x in special))) {
        fail(where, `needs ${n} numbers of data (or "NaN", "Infinity", "-Infinity")`);
      }
      const data = (s.data as (number | string)[]).map((x) => (typeof x === "string" ? special[x]! : x));
      return { const: s.const, dtype: s.dtype as DType, shape: s.shape as number[], data };
    }
    if ("nonzero" in s) {
      if (!isName(s.nonzero) || !isName(s.to)) fail(where, "needs nonzero and to names");
      return { nonzero: s.nonzero, to: s.to };
    }
    if ("topk" in s) {
      if (!isName(s.topk) || !isName(s.k) || !isCount(s.axis) || (s.largest !== 0 && s.largest !== 1) ||
        !Array.isArray(s.to) || s.to.length !== 2 || !s.to.every(isName)) {
        fail(where, "needs topk, k, axis, largest (0 or 1) and two output names");
      }
      return { topk: s.topk, k: s.k, axis: s.axis, largest: s.largest, to: s.to as string[] };
    }
    if ("loop" in s) {
      const names = (x: unknown) => Array.isArray(x) && x.every(isName);
      const scans = s.scans;
      if (!(s.loop === null || isName(s.loop)) || !(s.cond === null || isName(s.cond)) || !names(s.init) || !names(s.inputs) ||
        !names(s.outputs) || !names(s.to) || !Array.isArray(scans) ||
        !scans.every((x) => isObj(x) && isDType(x.dtype) && Array.isArray(x.shape) && x.shape.every(isCount))) {
        fail(where, "needs loop and cond (names or null), init, inputs, body, outputs, scans and to");
      }
      const [init, inputs, outputs, to] = [s.init, s.inputs, s.outputs, s.to] as string[][];
      const nc = init!.length;
      if (inputs!.length !== 2 + nc || outputs!.length !== 1 + nc + scans.length || to!.length !== nc + scans.length) {
        fail(where, `has ${nc} carried values, ${scans.length} scans: its inputs, outputs and to do not match`);
      }
      return { loop: s.loop as string | null, cond: s.cond as string | null, init: init!, inputs: inputs!, body: steps(`${where}.body`, s.body),
        outputs: outputs!, scans: scans as { dtype: DType; shape: number[] }[], to: to! };
    }
    if ("unique" in s) {
      if (!isName(s.unique) || !(s.axis === null || isCount(s.axis)) || (s.sorted !== 0 && s.sorted !== 1) ||
        !Array.isArray(s.to) || s.to.length < 1 || s.to.length > 4 || !s.to.every(isName)) {
        fail(where, "needs unique, axis (a number or null), sorted (0 or 1) and one to four output names");
      }
      return { unique: s.unique, axis: s.axis as number | null, sorted: s.sorted, to: s.to as string[] };
    }
    if ("compress" in s) {
      if (!isName(s.compress) || !isName(s.condition) || !(s.axis === null || isCount(s.axis)) || !isName(s.to)) {
        fail(where, "needs compress, condition, axis (a number or null) and to");
      }
      return { compress: s.compress, condition: s.condition, axis: s.axis as number | null, to: s.to };
    }
    if ("nms" in s) {
      if (!Array.isArray(s.nms) || s.nms.length !== 5 || !isName(s.nms[0]) || !isName(s.nms[1]) ||
        !s.nms.every((x) => x === null || isName(x)) || (s.center_point_box !== 0 && s.center_point_box !== 1) || !isName(s.to)) {
        fail(where, "needs nms [boxes, scores, max per class, iou, score threshold] (null where omitted), center_point_box 0 or 1 and to");
      }
      return { nms: s.nms as (string | null)[], center_point_box: s.center_point_box as number, to: s.to };
    }
    if ("fail" in s) {
      if (typeof s.fail !== "string") fail(where, "needs a message");
      return { fail: s.fail };
    }
    fail(where, `is not a known step (${Object.keys(s).join(", ")})`);
  };
  const program = steps(`${w} program`, d.program);
  inputs.forEach((x) => {
    if (!tensors[x.tensor]!.shape.every(isCount)) fail(`${w} inputs`, `input '${x.name}' needs a fixed shape`);
  });
  return { format: CONTROL_FORMAT, version: CONTROL_VERSION, backend, model: typeof d.model === "string" ? d.model : "", inputs, outputs, tensors, stages, program };
}

/** A constant step's data as an array of its dtype (int64 as BigInt, float16 as its bits, as the converter writes them). */
function constArray(dtype: DType, data: readonly number[]): TypedArray {
  const a = allocate(dtype, data.length);
  if (a instanceof BigInt64Array) data.forEach((x, i) => { a[i] = BigInt(Math.trunc(x)); });
  else (a as Exclude<TypedArray, BigInt64Array>).set(data);
  return a;
}

/** A value of the program's environment: its data and its dims. */
export interface Sized { data: TypedArray; dims: number[] }

/** One stage: a session of fixed sizes, or (after a NonZero) the sessions of a symbolic stage, one per size. */
export interface Stage {
  run(inputs: readonly Sized[]): Promise<Sized[]>;
  readonly info?: Readonly<Record<string, unknown>>;
  dispose(): void;
}

/** A stage of fixed sizes: its descriptor's shapes are its values' dims. */
export class FixedStage implements Stage {
  constructor(private readonly session: Session, private readonly outputDims: readonly number[][]) {}
  get info() { return this.session.info; }
  async run(inputs: readonly Sized[]): Promise<Sized[]> {
    const outs = await this.session.run(inputs.map((x) => x.data));
    return outs.map((data, i) => ({ data, dims: [...this.outputDims[i]!] }));
  }
  dispose(): void { this.session.dispose(); }
}

/** A symbolic stage: the symbols from its inputs' dims, then that size's session. */
export class SizedStage implements Stage {
  private readonly specs;
  private readonly symbols;
  constructor(desc: DynamicDescriptor, private readonly sizes: SizeSessions) {
    this.specs = dynamicIOSpecs(desc).inputs;
    this.symbols = symbolList(desc);
  }
  get info() { return this.sizes.last?.info; }
  async run(inputs: readonly Sized[]): Promise<Sized[]> {
    const env = bindSymbols(this.specs, inputs.map((x) => ({ dims: x.dims, length: x.data.length })), this.symbols);
    const lease = await this.sizes.acquire(env);
    try {
      const outs = await lease.session.run(inputs.map((x) => x.data));
      return outs.map((data, i) => ({ data, dims: [...lease.outputShapes[i]!] }));
    } finally {
      lease.release();
    }
  }
  dispose(): void { this.sizes.dispose(); }
}

/** NonZero of `x`: the indices of its non-zero elements, int64 [rank, count], in row-major order. */
export function nonzero(x: Sized): Sized {
  const { data, dims } = x;
  const at: number[] = [];
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (typeof v === "bigint" ? v !== 0n : v !== 0) at.push(i); // NaN is non-zero, as in onnxruntime
  }
  const rank = dims.length, count = at.length;
  const out = new BigInt64Array(rank * count);
  at.forEach((flat, j) => {
    for (let d = rank - 1; d >= 0; d--) {
      out[d * count + j] = BigInt(flat % dims[d]!);
      flat = Math.floor(flat / dims[d]!);
    }
  });
  return { data: out, dims: [rank, count] };
}

/** TopK of `x` along `axis` with `k` read from the data: the k largest (or smallest) values and their int64
 *  indices, sorted, equal values in index order, NaN the largest (as the backends' TopK kernels). */
export function topk(x: Sized, kValue: Sized, axis: number, largest: boolean, model: string): [Sized, Sized] {
  if (kValue.data.length !== 1) throw new InputError(`a TopK of model '${model}' has a k of ${kValue.data.length} elements, not one`);
  const k = Number(kValue.data[0]!);
  const n = x.dims[axis]!;
  if (!Number.isSafeInteger(k) || k < 0 || k > n) throw new InputError(`a TopK of model '${model}' has k = ${k}; it must be between 0 and the axis' size ${n}`);
  const inner = x.dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = x.dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const values = new (x.data.constructor as new (n: number) => TypedArray)(outer * k * inner);
  const indices = new BigInt64Array(outer * k * inner);
  const half = x.data instanceof Uint16Array; // float16 travels as its bits
  const key = (v: number | bigint) => {
    const f = half ? halfToFloat(v as number) : v;
    return typeof f === "number" && Number.isNaN(f) ? Infinity : f; // NaN the largest
  };
  const order = (a: number | bigint, b: number | bigint) => {
    const [p, q] = [key(a), key(b)];
    return p === q ? 0 : (p > q) === largest ? -1 : 1; // the wanted end first
  };
  const idx = Array.from({ length: n }, (_, j) => j);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const at = (j: number) => x.data[(o * n + j) * inner + i]!;
      const sorted = [...idx].sort((a, b) => order(at(a), at(b)) || a - b);
      for (let j = 0; j < k; j++) {
        const dst = (o * k + j) * inner + i;
        (values as unknown as (number | bigint)[])[dst] = at(sorted[j]!);
        indices[dst] = BigInt(sorted[j]!);
      }
    }
  }
  const dims = x.dims.map((d, a) => (a === axis ? k : d));
  return [{ data: values, dims }, { data: indices, dims: [...dims] }];
}

/** NonMaxSuppression (ONNX): per batch and class, the boxes scoring above the threshold (when given) in
 *  descending score order (equal scores: lower index first), each kept unless its IoU with one already kept
 *  exceeds iou_threshold, up to max_output_boxes_per_class (0 when omitted); int64 [count, 3] of
 *  (batch, class, box). Boxes are corners in either order (center_point_box 0) or center and size (1). */
export function nms(boxes: Sized, scores: Sized, maxOut: Sized | null, iou: Sized | null, scoreMin: Sized | null,
  centerPointBox: number): Sized {
  const scalar = (x: Sized | null, dflt: number) => (x && x.data.length > 0 ? Number(x.data[0]!) : dflt);
  const perClass = Math.max(scalar(maxOut, 0), 0);
  const iouMax = scalar(iou, 0);
  const [batches, n] = [boxes.dims[0]!, boxes.dims[1]!];
  const classes = scores.dims[1]!;
  const b = boxes.data as Float32Array, sc = scores.data as Float32Array;
  const corners = (batch: number, i: number): [number, number, number, number] => {
    const o = (batch * n + i) * 4;
    if (centerPointBox === 1) {
      const [cx, cy, w, h] = [b[o]!, b[o + 1]!, b[o + 2]!, b[o + 3]!];
      return [cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2];
    }
    return [Math.min(b[o]!, b[o + 2]!), Math.min(b[o + 1]!, b[o + 3]!), Math.max(b[o]!, b[o + 2]!), Math.max(b[o + 1]!, b[o + 3]!)];
  };
  const suppresses = (p: number[], q: number[]) => {
    const iw = Math.min(p[3]!, q[3]!) - Math.max(p[1]!, q[1]!);
    const ih = Math.min(p[2]!, q[2]!) - Math.max(p[0]!, q[0]!);
    if (iw <= 0 || ih <= 0) return false;
    const inter = iw * ih;
    const a1 = (p[2]! - p[0]!) * (p[3]! - p[1]!), a2 = (q[2]! - q[0]!) * (q[3]! - q[1]!);
    const union = a1 + a2 - inter;
    if (a1 <= 0 || a2 <= 0 || union <= 0) return false;
    return inter / union > iouMax;
  };
  const out: number[] = [];
  for (let batch = 0; batch < batches; batch++) {
    for (let c = 0; c < classes; c++) {
      const score = (i: number) => sc[(batch * classes + c) * n + i]!;
      const cand: number[] = [];
      for (let i = 0; i < n; i++) if (!scoreMin || score(i) > scalar(scoreMin, 0)) cand.push(i);
      cand.sort((i, j) => score(j) - score(i) || i - j);
      const kept: number[][] = [];
      for (const i of cand) {
        if (kept.length >= perClass) break;
        const box = corners(batch, i);
        if (kept.some((k) => suppresses(box, k))) continue;
        kept.push(box);
        out.push(batch, c, i);
      }
    }
  }
  return { data: BigInt64Array.from(out, (v) => BigInt(v)), dims: [out.length / 3, 3] };
}

/** Compress (ONNX): the slices of `x` along `axis` (of `x` flattened when null) where `condition` is
 *  non-zero; positions past the condition's end count as false. */
export function compress(x: Sized, condition: Sized, axis: number | null): Sized {
  const dims = axis === null ? [x.data.length] : x.dims;
  const a = axis ?? 0;
  const n = dims[a]!;
  const inner = dims.slice(a + 1).reduce((p, q) => p * q, 1);
  const outer = dims.slice(0, a).reduce((p, q) => p * q, 1);
  const keep: number[] = [];
  for (let j = 0; j < Math.min(n, condition.data.length); j++) {
    const c = condition.data[j]!;
    if (typeof c === "bigint" ? c !== 0n : c !== 0) keep.push(j);
  }
  const out = new (x.data.constructor as new (n: number) => TypedArray)(outer * keep.length * inner);
  const src = x.data as unknown as ArrayLike<number | bigint>, dst = out as unknown as (number | bigint)[];
  for (let o = 0; o < outer; o++) {
    keep.forEach((j, t) => {
      for (let i = 0; i < inner; i++) dst[(o * keep.length + t) * inner + i] = src[(o * n + j) * inner + i]!;
    });
  }
  return { data: out, dims: dims.map((d, k) => (k === a ? keep.length : d)) };
}

/** Unique (ONNX): the unique elements of `x` (flattened when `axis` is null) or its unique slices along
 *  `axis`, ascending when `sorted` (slices compared element by element; float16 by value) else in order of
 *  first occurrence; with each one's first index, every element's (slice's) position in them, and counts. */
export function unique(x: Sized, axis: number | null, sorted: boolean): [Sized, Sized, Sized, Sized] {
  const dims = axis === null ? [x.data.length] : x.dims;
  const a = axis ?? 0;
  const n = dims[a]!;
  const inner = dims.slice(a + 1).reduce((p, q) => p * q, 1);
  const outer = dims.slice(0, a).reduce((p, q) => p * q, 1);
  const half = x.data instanceof Uint16Array;
  const at = (j: number, o: number, i: number) => {
    const v = x.data[(o * n + j) * inner + i]!;
    return half ? halfToFloat(v as number) : v;
  };
  const compare = (p: number, q: number) => {
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const [u, v] = [at(p, o, i), at(q, o, i)];
        if (u < v) return -1;
        if (u > v) return 1;
      }
    }
    return 0;
  };
  const firsts: number[] = []; // the first slice of each distinct value, in order of occurrence
  const inverse = new BigInt64Array(n);
  const counts: number[] = [];
  for (let j = 0; j < n; j++) {
    const k = firsts.findIndex((f) => compare(f, j) === 0);
    if (k >= 0) { counts[k]!++; inverse[j] = BigInt(k); continue; }
    inverse[j] = BigInt(firsts.length);
    firsts.push(j);
    counts.push(1);
  }
  let order = firsts.map((_, k) => k);
  if (sorted) {
    order = order.sort((p, q) => compare(firsts[p]!, firsts[q]!));
    const rank = new Array<number>(order.length);
    order.forEach((k, r) => { rank[k] = r; });
    inverse.forEach((k, j) => { inverse[j] = BigInt(rank[Number(k)]!); });
  }
  const count = order.length;
  const y = new (x.data.constructor as new (n: number) => TypedArray)(outer * count * inner);
  const src = x.data as unknown as ArrayLike<number | bigint>, dst = y as unknown as (number | bigint)[];
  order.forEach((k, r) => {
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) dst[(o * count + r) * inner + i] = src[(o * n + firsts[k]!) * inner + i]!;
    }
  });
  const big = (xs: number[]) => ({ data: BigInt64Array.from(xs, (v) => BigInt(v)), dims: [xs.length] });
  return [{ data: y, dims: dims.map((d, k) => (k === a ? count : d)) }, big(order.map((k) => firsts[k]!)),
    { data: inverse, dims: [n] }, big(order.map((k) => counts[k]!))];
}

/** Runs a control program on the stages (all of one backend). */
export class ControlSession implements Session {
  constructor(private readonly desc: ControlDescriptor, private readonly stages: readonly Stage[]) {}

  /** The backend's choices (as the first stage reports them: every stage is loaded with the same options), and the stage count. */
  get info(): Readonly<Record<string, unknown>> {
    const first = this.stages.find((s) => s.info) ?? null;
    return { ...(first?.info ?? {}), stages: this.stages.length };
  }

  async run(inputs: readonly TypedArray[]): Promise<TypedArray[]> {
    return (await this.runWithDims(inputs)).outputs;
  }

  async runWithDims(inputs: readonly TypedArray[]): Promise<{ outputs: TypedArray[]; dims: number[][] }> {
    const env = new Map<string, Sized>();
    this.desc.inputs.forEach((x, i) => env.set(x.name, { data: inputs[i]!, dims: [...this.desc.tensors[x.tensor]!.shape] }));
    await this.exec(this.desc.program, env);
    const outs = this.desc.outputs.map((o) => this.get(env, o.name));
    return { outputs: outs.map((o) => o.data), dims: outs.map((o) => o.dims) };
  }

  private get(env: Map<string, Sized>, name: string): Sized {
    const v = env.get(name);
    if (!v) throw new DescriptorError(`control descriptor of model '${this.desc.model}': value '${name}' is read before any step writes it; re-convert the model`);
    return v;
  }

  private async exec(steps: readonly Step[], env: Map<string, Sized>): Promise<void> {
    for (const s of steps) {
      if ("run" in s) {
        const outs = await this.stages[s.run]!.run(s.inputs.map((n) => this.get(env, n)));
        s.outputs.forEach((n, i) => env.set(n, outs[i]!));
      } else if ("if" in s) {
        const c = this.get(env, s.if).data;
        if (c.length !== 1) throw new InputError(`an If of model '${this.desc.model}' has a condition of ${c.length} elements, not one`);
        const v = c[0]!;
        await this.exec((typeof v === "bigint" ? v !== 0n : v !== 0) ? s.then : s.else, env);
      } else if ("copy" in s) {
        env.set(s.to, this.get(env, s.copy));
      } else if ("const" in s) {
        env.set(s.const, { data: constArray(s.dtype, s.data), dims: [...s.shape] });
      } else if ("nonzero" in s) {
        env.set(s.to, nonzero(this.get(env, s.nonzero)));
      } else if ("loop" in s) {
        await this.loop(s, env);
      } else if ("unique" in s) {
        const outs = unique(this.get(env, s.unique), s.axis, s.sorted === 1);
        s.to.forEach((name, i) => env.set(name, outs[i]!));
      } else if ("compress" in s) {
        env.set(s.to, compress(this.get(env, s.compress), this.get(env, s.condition), s.axis));
      } else if ("nms" in s) {
        const [bx, sc, m, iou, st] = s.nms.map((n) => (n === null ? null : this.get(env, n)));
        env.set(s.to, nms(bx!, sc!, m ?? null, iou ?? null, st ?? null, s.center_point_box));
      } else if ("topk" in s) {
        const [v, i] = topk(this.get(env, s.topk), this.get(env, s.k), s.axis, s.largest === 1, this.desc.model);
        env.set(s.to[0]!, v);
        env.set(s.to[1]!, i);
      } else {
        throw new InputError(s.fail);
      }
    }
  }

  /** A Loop decided at run time: the body's steps while the iteration is under the trip count and the
   *  condition holds; the carried values passed on, the scan values stacked along a new first axis. */
  private async loop(s: Extract<Step, { loop: string | null }>, env: Map<string, Sized>): Promise<void> {
    const truthy = (x: Sized) => { const v = x.data[0]; return typeof v === "bigint" ? v !== 0n : v !== 0; };
    const trips = s.loop === null ? Infinity : Number(this.get(env, s.loop).data[0] ?? 0);
    let cond = s.cond === null ? true : truthy(this.get(env, s.cond));
    const nc = s.init.length;
    let carried = s.init.map((n) => this.get(env, n));
    const scans: Sized[][] = s.scans.map(() => []);
    for (let i = 0; i < trips && cond; i++) {
      env.set(s.inputs[0]!, { data: BigInt64Array.of(BigInt(i)), dims: [] });
      env.set(s.inputs[1]!, { data: Uint8Array.of(1), dims: [] });
      carried.forEach((v, k) => env.set(s.inputs[2 + k]!, v));
      await this.exec(s.body, env);
      cond = truthy(this.get(env, s.outputs[0]!));
      carried = s.outputs.slice(1, 1 + nc).map((n) => this.get(env, n));
      scans.forEach((list, k) => list.push(this.get(env, s.outputs[1 + nc + k]!)));
    }
    carried.forEach((v, k) => env.set(s.to[k]!, v));
    scans.forEach((list, k) => {
      const { dtype, shape } = s.scans[k]!;
      const per = shape.reduce((a, b) => a * b, 1);
      const out = allocate(dtype, list.length * per);
      list.forEach((x, j) => (out as unknown as { set(a: ArrayLike<number | bigint>, o: number): void }).set(x.data as ArrayLike<number | bigint>, j * per));
      env.set(s.to[nc + k]!, { data: out, dims: [list.length, ...shape] });
    });
  }

  dispose(): void {
    for (const s of this.stages) s.dispose();
  }
}
