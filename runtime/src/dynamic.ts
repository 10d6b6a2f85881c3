// A version-2 descriptor (symbolic dims, docs/descriptor-format.md) is a template: checked once at
// load (its table, the input-shape rule, and its structure at the smallest size), then turned into
// the version-1 descriptor of each input size the caller runs (concreteDescriptor).

import { checkHeader, DYNAMIC_VERSION, FORMAT_VERSION, validateDescriptor, type Descriptor, type KernelSpec } from "./descriptor.js";
import {
  envText, evaluateDims, exprText, instantiate, isConcat, isDimRef, tableSymbols, tableTexts, validateDimTable, validateSymbols,
  type DimExpr, type DimTable, type SymbolSpec,
} from "./dims.js";
import type { DType } from "./dtypes.js";
import { DescriptorError, InputError } from "./errors.js";

/** A graph input or output of the template: its shape holds integers and `{"$dim": i}`; a value
 *  input (`--value-input`) also lists the symbols its elements set, in order. */
export interface DynamicIO { name: string; tensor: number; dtype: DType; shape: DimExpr[]; values?: string[] }

/** What must hold for a size to be valid (a Reshape to a shape given at run): lhs = rhs, else `what`. */
export interface Requirement { lhs: DimExpr; rhs: DimExpr; what: string }

export interface DynamicDescriptor {
  format: "webdnn-descriptor";
  version: typeof DYNAMIC_VERSION;
  backend: string;
  model: string;
  url: string;
  table: DimTable;
  requires: Requirement[];
  inputs: DynamicIO[];
  outputs: DynamicIO[];
  /** Size-independent: downloaded once for every size. */
  weights: Descriptor["weights"];
  /** The descriptor as parsed, for instantiate(). */
  template: Readonly<Record<string, unknown>>;
}

/** A symbol's inclusive bounds (max null: unbounded). */
export interface SymbolBounds { min: number; max: number | null }

/** An input or output of a model with symbolic dims: `shape` entries are numbers, symbol names or
 *  (outputs) readable expressions such as "cdiv(seq, 16)"; `bounds` has each symbol they use. A
 *  value input's `values` names the symbol each of its elements sets (its data decides sizes). */
export interface DynamicIOSpec {
  name: string; dtype: DType; shape: (number | string)[]; bounds: Record<string, SymbolBounds>; values?: string[];
}

/** A parsed JSON value, short, for messages. */
function show(x: unknown): string {
  const s = JSON.stringify(x) ?? String(x);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function fail(where: string, what: string): never {
  throw new DescriptorError(`${where}: ${what}. Re-convert the model with the matching webdnn version.`);
}

export function isDynamicDescriptor(d: Descriptor | DynamicDescriptor): d is DynamicDescriptor {
  return d.version === DYNAMIC_VERSION;
}

/** A parsed descriptor of either version. */
export function validateAnyDescriptor(d: unknown, backend: string, url: string): Descriptor | DynamicDescriptor {
  const v2 = typeof d === "object" && d !== null && (d as { version?: unknown }).version === DYNAMIC_VERSION;
  return v2 ? validateDynamicDescriptor(d, backend, url) : validateDescriptor(d, backend, url);
}

export function validateDynamicDescriptor(d: unknown, backend: string, url: string): DynamicDescriptor {
  const w = `descriptor ${url}`;
  const symbolic = typeof d === "object" && d !== null && ("symbols" in d || "dims" in d);
  checkHeader(d, backend, url, symbolic ? DYNAMIC_VERSION : FORMAT_VERSION);
  const table = validateDimTable(w, validateSymbols(w, d.symbols), d.dims);
  if (containsRef(d.weights)) fail(`${w} weights`, "the weight files cannot depend on the input size, but hold a reference");
  const requires = validateRequires(`${w} requires`, table, d.requires);
  const dyn = { url, table, template: d, requires: [] as Requirement[] };
  // the smallest size: the structure (tensors, kernels, inputs, weights) is checked before any
  // weight is downloaded, and every reference found to be in range (the requirements are the
  // caller's to meet, so not here)
  const sample = concreteDescriptor(dyn, new Map(table.symbols.map((s) => [s.name, s.min])));
  const tensors = d.tensors as { shape: DimExpr[] }[];
  const io = (xs: Descriptor["inputs"]): DynamicIO[] =>
    xs.map((x) => ({ name: x.name, tensor: x.tensor, dtype: sample.tensors[x.tensor]!.dtype, shape: tensors[x.tensor]!.shape }));
  const inputs = io(sample.inputs);
  // the caller sets each symbol through some input's dims, or a value input's data
  const set = new Set<string>();
  (d.inputs as unknown[]).forEach((x, i) => {
    const values = (x as { values?: unknown }).values;
    if (values === undefined) return;
    const input = inputs[i]!;
    const iw = `${w} inputs[${i}] ('${input.name}') values`;
    if (input.dtype !== "int32" && input.dtype !== "int64") fail(iw, `a value input must be int32 or int64, not ${input.dtype}`);
    if (!input.shape.every((e) => typeof e === "number")) fail(iw, "a value input must have a fixed shape");
    const count = (input.shape as number[]).reduce((a, b) => a * b, 1);
    if (!Array.isArray(values) || values.length !== count) fail(iw, `must list one symbol per element (${count}), got ${show(values)}`);
    input.values = values.map((e: unknown, k: number) => {
      const target = isDimRef(e) ? table.dims[e.$dim] : undefined;
      if (typeof target !== "string") fail(`${iw}[${k}]`, `must refer to a bare symbol, got ${show(e)}`);
      set.add(target);
      return target;
    });
  });
  for (const x of inputs) {
    x.shape.forEach((e, k) => {
      if (typeof e === "number") return;
      const target = table.dims[(e as { $dim: number }).$dim]!;
      if (typeof target !== "string") {
        fail(`${w} input '${x.name}' shape[${k}]`, `${JSON.stringify(e)} is ${exprText(target)}, but an input's dims must be ` +
          "integers or symbols (the caller sets them)");
      }
      set.add(target);
    });
  }
  const unset = table.symbols.filter((s) => !set.has(s.name)).map((s) => `'${s.name}'`);
  if (unset.length) fail(`${w} symbols`, `${unset.join(", ")} appear${unset.length > 1 ? "" : "s"} in no input's shape, so no input sets ${unset.length > 1 ? "them" : "it"}`);
  return {
    format: "webdnn-descriptor", version: DYNAMIC_VERSION, backend, model: sample.model, url, table,
    requires, inputs, outputs: io(sample.outputs), weights: sample.weights, template: d,
  };
}

/** The `requires` list: [lhs, rhs, message] with integers or references to the table. */
function validateRequires(where: string, table: DimTable, x: unknown): Requirement[] {
  if (x === undefined) return [];
  if (!Array.isArray(x)) fail(where, `must be a list, got ${show(x)}`);
  const term = (e: unknown, w: string): DimExpr => {
    if (typeof e === "number" && Number.isSafeInteger(e)) return e;
    if (isDimRef(e) && Number.isInteger(e.$dim) && e.$dim >= 0 && e.$dim < table.dims.length) return e;
    return fail(w, `must be an integer or a reference into "dims", got ${show(e)}`);
  };
  return x.map((r: unknown, i: number) => {
    if (!Array.isArray(r) || r.length !== 3 || typeof r[2] !== "string") fail(`${where}[${i}]`, `must be [lhs, rhs, message], got ${show(r)}`);
    return { lhs: term(r[0], `${where}[${i}][0]`), rhs: term(r[1], `${where}[${i}][1]`), what: r[2] };
  });
}

/** The version-1 descriptor of one size (each symbol's value in `env`), validated as any other;
 *  an `InputError` when the size breaks one of the model's requirements. */
export function concreteDescriptor(dyn: Pick<DynamicDescriptor, "url" | "table" | "template" | "requires">, env: ReadonlyMap<string, number>): Descriptor {
  const values = evaluateDims(dyn.table, env);
  const at = (e: DimExpr) => (typeof e === "number" ? e : values[(e as { $dim: number }).$dim]!);
  for (const r of dyn.requires) {
    if (at(r.lhs) !== at(r.rhs)) {
      throw new InputError(`${r.what}; at ${envText(dyn.table, env)} that is ${at(r.lhs)} against ${at(r.rhs)}`);
    }
  }
  const backend = String(dyn.template.backend);
  const desc = validateDescriptor(instantiate(dyn.template, values, `descriptor ${dyn.url}`), backend, `${dyn.url} at ${envText(dyn.table, env)}`);
  // A kernel whose outputs are all empty at this size (a symbol of lower bound 0 is 0) has nothing to compute, and
  // its parameters may divide by that size: dropped, as the converter drops such kernels of a fixed-size model.
  const live = desc.kernels.filter((k) => k.outputs.some((t) => t >= 0 && desc.tensors[t]!.byteLength > 0));
  if (live.length === desc.kernels.length) return desc;
  const out = { ...desc, kernels: live };
  DROPPED.set(out, desc.kernels.filter((k) => !live.includes(k)));
  return out;
}

// The kernels concreteDescriptor dropped from a size's descriptor (kept here, not in a descriptor field, so a
// descriptor file cannot claim any): their operands still count as used in the memory-plan check.
const DROPPED = new WeakMap<Descriptor, readonly KernelSpec[]>();

export function droppedKernels(desc: Descriptor): readonly KernelSpec[] {
  return DROPPED.get(desc) ?? [];
}

/** The public shapes: numbers, symbol names, readable expressions; with their symbols' bounds. */
export function dynamicIOSpecs(d: DynamicDescriptor): { inputs: DynamicIOSpec[]; outputs: DynamicIOSpec[] } {
  const { table } = d;
  const texts = tableTexts(table);
  const uses = tableSymbols(table);
  const bounds = new Map(table.symbols.map((s) => [s.name, { min: s.min, max: s.max }]));
  const spec = (x: DynamicIO): DynamicIOSpec => {
    const b: Record<string, SymbolBounds> = {};
    // defined, not assigned: a symbol may be named '__proto__'
    const addBound = (s: string) =>
      Object.defineProperty(b, s, { value: { ...bounds.get(s)! }, enumerable: true, writable: true, configurable: true });
    const shape = x.shape.map((e) => {
      if (typeof e === "number") return e;
      let i = (e as { $dim: number }).$dim;
      for (let t = table.dims[i]; isDimRef(t); t = table.dims[i]) i = t.$dim;
      const root = table.dims[i]!;
      if (typeof root === "number") return root;
      for (const s of uses[i]!) addBound(s);
      return texts[i]!;
    });
    for (const s of x.values ?? []) addBound(s);
    return { name: x.name, dtype: x.dtype, shape, bounds: b, ...(x.values ? { values: [...x.values] } : {}) };
  };
  return { inputs: d.inputs.map(spec), outputs: d.outputs.map(spec) };
}

/** The symbols with their bounds, in table order. */
export function symbolList(d: DynamicDescriptor): SymbolSpec[] {
  return d.table.symbols.map((s) => ({ ...s }));
}

/** Does `x` (parsed JSON) hold a reference ($dim, $concat) anywhere? */
function containsRef(x: unknown): boolean {
  const stack = [x];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v !== "object" || v === null) continue;
    if (isDimRef(v) || isConcat(v)) return true;
    for (const c of Array.isArray(v) ? v : Object.values(v)) stack.push(c);
  }
  return false;
}
