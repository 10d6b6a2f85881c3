// The symbols' values of one run of a model with symbolic dims, from its inputs' dims: each symbol
// gets one value from every input that uses it, inside its bounds. A bare typed array gives its
// length only, which sets a shape with one symbolic dim; the others need { data, dims }. A value
// input's elements set the symbols its `values` name (its data decides sizes: a Reshape's shape).

import { rangeText, type SymbolSpec } from "./dims.js";
import type { DynamicIOSpec } from "./dynamic.js";
import { InputError } from "./errors.js";

/** What run() was given for one input: its dims when stated, else (a bare typed array) its length;
 *  for a value input, its elements (null: not CPU data). */
export interface Given { dims?: readonly number[]; length: number | null; data?: ArrayLike<number | bigint> | null }

/** An input's shape as text: "[2, n]". */
const shapeText = (spec: DynamicIOSpec) => `[${spec.shape.join(", ")}]`;

/** Input shapes hold integers and symbol names only (dynamic.ts checks the descriptor for it). */
export function bindSymbols(specs: readonly DynamicIOSpec[], given: readonly Given[], symbols: readonly SymbolSpec[]): Map<string, number> {
  const byName = new Map(symbols.map((s) => [s.name, s]));
  const env = new Map<string, number>();
  const source = new Map<string, string>();
  /** Set symbol `name` to `value`, read from `from` ("input 'x' dim 1", `here` in messages),
   *  inside its bounds and equal to any value it already has. */
  const set = (name: string, value: number, from: string, here: string, shown: string = String(value)) => {
    const s = byName.get(name)!;
    if (!Number.isSafeInteger(value) || value < s.min || (s.max !== null && value > s.max)) {
      throw new InputError(`${here} is ${shown}; the model allows ${rangeText(s)}`);
    }
    const had = env.get(name);
    if (had === undefined) {
      env.set(name, value);
      source.set(name, from);
    } else if (had !== value) {
      throw new InputError(`${here} is ${value}, but ${source.get(name)} makes ${name} = ${had}: a symbol has one value in a run`);
    }
  };
  const bind = (spec: DynamicIOSpec, k: number, value: number) => {
    const name = spec.shape[k] as string, from = `input '${spec.name}' dim ${k}`;
    set(name, value, from, `${from} ('${name}')`);
  };
  // value inputs: each element sets its symbol
  specs.forEach((spec, i) => {
    if (!spec.values) return;
    const data = given[i]!.data;
    if (!data) throw new InputError(`input '${spec.name}' gives sizes (${spec.values.join(", ")}): pass it as a typed array on the CPU`);
    if (data.length !== spec.values.length) {
      throw new InputError(`input '${spec.name}' has ${data.length} elements; it gives sizes ${spec.values.join(", ")}, one per element`);
    }
    spec.values.forEach((name, k) => {
      const from = `input '${spec.name}' element ${k}`;
      set(name, Number(data[k]!), from, `${from} (sets '${name}')`, String(data[k]!));
    });
  });
  const symbolic = (spec: DynamicIOSpec) => spec.shape.flatMap((e, k) => (typeof e === "string" ? [k] : []));
  // stated dims first, then lengths with one unknown, then check the rest are set
  specs.forEach((spec, i) => {
    const dims = given[i]!.dims;
    if (dims) for (const k of symbolic(spec)) bind(spec, k, dims[k]!);
  });
  specs.forEach((spec, i) => {
    const { dims, length } = given[i]!;
    const ks = symbolic(spec);
    if (dims || length === null || ks.length !== 1) return;
    const fixed = spec.shape.reduce<number>((a, e) => (typeof e === "number" ? a * e : a), 1);
    const name = spec.shape[ks[0]!] as string;
    if (fixed === 0 || length % fixed !== 0) {
      throw new InputError(`input '${spec.name}' has ${length} elements, which ${fixed === 0 ? "cannot set" : `is not a multiple of ${fixed} (its fixed dims), so cannot set`} ` +
        `'${name}' in its shape ${shapeText(spec)}; pass { data, dims }`);
    }
    bind(spec, ks[0]!, length / fixed);
  });
  specs.forEach((spec, i) => {
    const { dims, length } = given[i]!;
    const ks = symbolic(spec);
    if (dims || length === null || ks.length < 2) return;
    const unset = [...new Set(ks.map((k) => spec.shape[k] as string))].filter((s) => !env.has(s));
    if (unset.length) {
      throw new InputError(`input '${spec.name}' has shape ${shapeText(spec)}, with ${ks.length} symbolic dims: its length alone cannot ` +
        `set ${unset.map((s) => `'${s}'`).join(", ")}; pass { data, dims } (e.g. { data, dims: [${spec.shape.map((e) => (typeof e === "number" ? e : "…")).join(", ")}] })`);
    }
  });
  const missing = symbols.filter((s) => !env.has(s.name)).map((s) => s.name);
  if (missing.length) throw new InputError(`no input sets ${missing.join(", ")}; pass the inputs as { data, dims }`);
  return env;
}
