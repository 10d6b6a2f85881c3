// Models with control flow decided at run time (an If whose condition depends on the input's data,
// such as a sample-rate switch). The converter cut such a model into stages, each an ordinary
// descriptor planned offline, and wrote a control descriptor whose program runs them
// (src/webdnn/passes/runtime_control.py, docs/descriptor-format.md). This file validates that
// descriptor and runs its program: stages in order, and at an If the chosen branch's steps.
// Values pass between stages by name; nothing else is decided here.

import type { Session } from "./backends/backend.js";
import { isDType, allocate, type DType, type TypedArray } from "./dtypes.js";
import { DescriptorError, InputError } from "./errors.js";

export const CONTROL_FORMAT = "webdnn-control";
export const CONTROL_VERSION = 1;

/** One step of a control program. */
export type Step =
  | { run: number; inputs: string[]; outputs: string[] }
  | { if: string; then: Step[]; else: Step[] }
  | { copy: string; to: string }
  | { const: string; dtype: DType; shape: number[]; data: number[] }
  | { fail: string };

export interface ControlDescriptor {
  format: typeof CONTROL_FORMAT;
  version: number;
  backend: string;
  model: string;
  inputs: { name: string; tensor: number }[];
  outputs: { name: string; tensor: number }[];
  /** The inputs' and outputs' types and shapes (the form of an ordinary descriptor's tensors). */
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
    if (!isObj(t) || !isDType(t.dtype) || !Array.isArray(t.shape) || !t.shape.every(isCount)) fail(`${w} tensors[${i}]`, "needs a dtype and a shape");
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
    if ("fail" in s) {
      if (typeof s.fail !== "string") fail(where, "needs a message");
      return { fail: s.fail };
    }
    fail(where, `is not a known step (${Object.keys(s).join(", ")})`);
  };
  const program = steps(`${w} program`, d.program);
  return { format: CONTROL_FORMAT, version: CONTROL_VERSION, backend, model: typeof d.model === "string" ? d.model : "", inputs, outputs, tensors, stages, program };
}

/** A constant step's data as an array of its dtype (int64 as BigInt, float16 as its bits, as the converter writes them). */
function constArray(dtype: DType, data: readonly number[]): TypedArray {
  const a = allocate(dtype, data.length);
  if (a instanceof BigInt64Array) data.forEach((x, i) => { a[i] = BigInt(Math.trunc(x)); });
  else (a as Exclude<TypedArray, BigInt64Array>).set(data);
  return a;
}

/** Runs a control program on the stages' sessions (one per stage, all of one backend). */
export class ControlSession implements Session {
  constructor(private readonly desc: ControlDescriptor, private readonly stages: readonly Session[]) {}

  /** The backend's choices (as the first stage reports them: every stage is loaded with the same options), and the stage count. */
  get info(): Readonly<Record<string, unknown>> {
    const first = this.stages.find((s) => s.info) ?? null;
    return { ...(first?.info ?? {}), stages: this.stages.length };
  }

  async run(inputs: readonly TypedArray[]): Promise<TypedArray[]> {
    const env = new Map<string, TypedArray>();
    this.desc.inputs.forEach((x, i) => env.set(x.name, inputs[i]!));
    await this.exec(this.desc.program, env);
    return this.desc.outputs.map((o) => this.get(env, o.name));
  }

  private get(env: Map<string, TypedArray>, name: string): TypedArray {
    const v = env.get(name);
    if (!v) throw new DescriptorError(`control descriptor of model '${this.desc.model}': value '${name}' is read before any step writes it; re-convert the model`);
    return v;
  }

  private async exec(steps: readonly Step[], env: Map<string, TypedArray>): Promise<void> {
    for (const s of steps) {
      if ("run" in s) {
        const outs = await this.stages[s.run]!.run(s.inputs.map((n) => this.get(env, n)));
        s.outputs.forEach((n, i) => env.set(n, outs[i]!));
      } else if ("if" in s) {
        const c = this.get(env, s.if);
        if (c.length !== 1) throw new InputError(`an If of model '${this.desc.model}' has a condition of ${c.length} elements, not one`);
        const v = c[0]!;
        await this.exec((typeof v === "bigint" ? v !== 0n : v !== 0) ? s.then : s.else, env);
      } else if ("copy" in s) {
        env.set(s.to, this.get(env, s.copy));
      } else if ("const" in s) {
        env.set(s.const, constArray(s.dtype, s.data));
      } else {
        throw new InputError(s.fail);
      }
    }
  }

  dispose(): void {
    for (const s of this.stages) s.dispose();
  }
}
