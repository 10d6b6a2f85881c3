// Symbolic dimensions (docs/descriptor-format.md, "Symbolic dimensions (version 2)"): the
// expression table of a version-2 descriptor, checked once at load, evaluated exactly for each new
// input signature, and substituted into the descriptor to give that size's version-1 descriptor.
// No recursion follows `{"$dim": i}` references (the table is evaluated in order), so a hostile
// table cannot blow up the stack or the time.

import { DescriptorError } from "./errors.js";

/** `{"$dim": i}`: the value of expression-table entry i. */
export interface DimRef { $dim: number }
/** An expression: an integer, a symbol name, a reference, or [op, operands...]. */
export type DimExpr = number | string | DimRef | [string, ...DimExpr[]];

/** An input dim the caller chooses, with inclusive bounds (max null: unbounded). */
export interface SymbolSpec { name: string; min: number; max: number | null }

/** A validated table; `where` ("descriptor URL") starts its messages. */
export interface DimTable { where: string; symbols: SymbolSpec[]; dims: DimExpr[] }

export const MAX_DEPTH = 64;
/** Deeper JSON than this (in the manifest, or anywhere in a descriptor template) is refused rather
 *  than risk the stack; no converter writes anything close. */
const MAX_JSON_DEPTH = 1000;
const NAME = /^[A-Za-z_][A-Za-z0-9_.]*$/;
const MAX = BigInt(Number.MAX_SAFE_INTEGER);
/** Operand counts: [least, most]. */
const OPS: Record<string, [number, number]> = {
  "+": [2, Infinity], "*": [2, Infinity], "-": [2, 2], "//": [2, 2], cdiv: [2, 2], "%": [2, 2], min: [2, Infinity], max: [2, Infinity],
};

function fail(where: string, what: string): never {
  throw new DescriptorError(`${where}: ${what}. Re-convert the model with the matching webdnn version.`);
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
const show = (x: unknown): string => (x === undefined ? "nothing" : JSON.stringify(x));

/** An object with exactly the one key "$dim" (its index is checked where it is used). */
export function isDimRef(x: unknown): x is DimRef {
  return only(x, "$dim");
}

/** `{"$concat": [part, ...]}`: a string (generated shader source) with sizes written in. */
export function isConcat(x: unknown): x is { $concat: unknown } {
  return only(x, "$concat");
}

function only(x: unknown, key: string): boolean {
  if (!isObj(x)) return false;
  const keys = Object.keys(x);
  return keys.length === 1 && keys[0] === key;
}

/** "1 ≤ seq ≤ 512", "seq ≥ 1". */
export function rangeText(s: SymbolSpec): string {
  return s.max === null ? `${s.name} ≥ ${s.min}` : `${s.min} ≤ ${s.name} ≤ ${s.max}`;
}

export function validateSymbols(where: string, x: unknown): SymbolSpec[] {
  if (!Array.isArray(x) || x.length === 0) fail(where, `"symbols" must be a non-empty list, got ${show(x)}`);
  const seen = new Set<string>();
  return x.map((s: unknown, i: number) => {
    const w = `${where} symbols[${i}]`;
    if (!isObj(s) || typeof s.name !== "string" || !NAME.test(s.name)) {
      fail(w, `needs a name matching ${NAME.source}, got ${show(isObj(s) ? s.name : s)}`);
    }
    if (seen.has(s.name)) fail(w, `symbol '${s.name}' is listed twice`);
    seen.add(s.name);
    const { min, max } = s;
    if (typeof min !== "number" || !Number.isSafeInteger(min) || min < 0) fail(w, `min of '${s.name}' must be a non-negative integer, got ${show(min)}`);
    if (max !== null && (typeof max !== "number" || !Number.isSafeInteger(max) || max < min)) {
      fail(w, `max of '${s.name}' must be null (unbounded) or an integer ≥ min (${min}), got ${show(max)}`);
    }
    return { name: s.name, min, max };
  });
}

/** Check the table: known ops with their operand counts, safe integers, known symbols, references
 *  only to earlier entries, nesting at most MAX_DEPTH. */
export function validateDimTable(where: string, symbols: SymbolSpec[], x: unknown): DimTable {
  if (!Array.isArray(x)) fail(where, `"dims" must be a list of expressions, got ${show(x)}`);
  const names = new Set(symbols.map((s) => s.name));
  x.forEach((e: unknown, i: number) => checkExpr(e, `${where} dims[${i}]`, { names, before: i }, 0));
  return { where, symbols, dims: x as DimExpr[] };
}

/** Check one expression. `before`: the table entries it may reference (null: none, as in the
 *  manifest, where expressions are written out in full). `names`: the known symbols (null: any name). */
export function checkExpr(e: unknown, where: string, ctx: { names: ReadonlySet<string> | null; before: number | null }, depth: number): void {
  if (typeof e === "number") {
    if (!Number.isSafeInteger(e)) fail(where, `${e} is not an integer (expressions hold safe integers only)`);
  } else if (typeof e === "string") {
    if (!ctx.names && !NAME.test(e)) fail(where, `${show(e)} is not a symbol name (${NAME.source})`);
    if (ctx.names && !ctx.names.has(e)) fail(where, `unknown symbol '${e}' (the symbols are ${[...ctx.names].join(", ")})`);
  } else if (isDimRef(e)) {
    const i = e.$dim;
    if (ctx.before === null) fail(where, `${show(e)}: references are not allowed here (write the expression out in full)`);
    if (typeof i !== "number" || !Number.isSafeInteger(i) || i < 0 || i >= ctx.before) {
      fail(where, `${show(e)} is not a reference to an earlier entry (an entry may use only the entries before it` +
        `${ctx.before > 0 ? `, here 0..${ctx.before - 1}` : ", and this is the first"})`);
    }
  } else if (Array.isArray(e)) {
    if (depth + 1 > (ctx.before === null ? MAX_JSON_DEPTH : MAX_DEPTH)) fail(where, `expression nested deeper than ${ctx.before === null ? MAX_JSON_DEPTH : MAX_DEPTH}`);
    const op = e[0];
    const arity = typeof op === "string" && Object.prototype.hasOwnProperty.call(OPS, op) ? OPS[op]! : null;
    if (!arity) fail(where, `unknown operator ${show(op)} (known: ${Object.keys(OPS).map((o) => `"${o}"`).join(", ")})`);
    const n = e.length - 1;
    if (n < arity[0] || n > arity[1]) {
      fail(where, `"${op}" takes ${arity[0] === arity[1] ? `exactly ${arity[0]}` : `${arity[0]} or more`} operands, got ${n}`);
    }
    for (let k = 1; k < e.length; k++) checkExpr(e[k], where, ctx, depth + 1);
  } else {
    fail(where, `${show(e)} is not an expression (an integer, a symbol name, {"$dim": i} or [op, ...])`);
  }
}

/** Value of every table entry, in order, exactly: every intermediate value must be a safe
 *  integer and every divisor positive, else the size is refused as overflowing. */
export function evaluateDims(table: DimTable, env: ReadonlyMap<string, number>): number[] {
  const values: bigint[] = [];
  table.dims.forEach((e, i) => {
    const bad = (what: string): never => fail(`${table.where} dims[${i}] = ${exprText(e)}`, `overflows at ${envText(table, env)} (${what})`);
    const ev = (x: DimExpr): bigint => {
      if (typeof x === "number") return BigInt(x);
      if (typeof x === "string") {
        const v = env.get(x);
        if (v === undefined) fail(`${table.where} dims[${i}]`, `symbol '${x}' has no value`);
        return BigInt(v);
      }
      if (!Array.isArray(x)) return values[x.$dim]!;
      const args = x.slice(1).map((a) => ev(a as DimExpr));
      const op = x[0];
      let v: bigint;
      if (op === "+") v = args.reduce((a, b) => a + b);
      else if (op === "*") v = args.reduce((a, b) => a * b);
      else if (op === "-") v = args[0]! - args[1]!;
      else if (op === "min") v = args.reduce((a, b) => (b < a ? b : a));
      else if (op === "max") v = args.reduce((a, b) => (b > a ? b : a));
      else {
        const [a, b] = args as [bigint, bigint];
        if (b <= 0n) bad(`${exprText(x)} divides by ${b}: a divisor must be positive`);
        const q = a / b, r = a % b; // truncated
        v = op === "//" ? (r < 0n ? q - 1n : q) : op === "cdiv" ? (r > 0n ? q + 1n : q) : (r < 0n ? r + b : r);
      }
      if (v > MAX || v < -MAX) bad(`${exprText(x)} = ${v} is beyond ±(2^53 − 1)`);
      return v;
    };
    values.push(ev(e));
  });
  return values.map(Number);
}

/** "n=3, seq=12": the symbols' values, for messages and as the signature's name. */
export function envText(table: DimTable, env: ReadonlyMap<string, number>): string {
  return table.symbols.map((s) => `${s.name}=${env.get(s.name)}`).join(", ");
}

/** A deep copy of a version-2 descriptor with every `{"$dim": i}` replaced by values[i] and every
 *  `{"$concat": [part, ...]}` by its parts joined (values in decimal): the version-1 descriptor of
 *  that size (to be validated as one). */
export function instantiate(template: Readonly<Record<string, unknown>>, values: readonly number[], where: string): Record<string, unknown> {
  const path: (string | number)[] = [];
  const at = () => path.map((p) => (typeof p === "number" ? `[${p}]` : `.${p}`)).join("").slice(1);
  const value = (x: DimRef): number => {
    const i = x.$dim;
    if (typeof i !== "number" || !Number.isSafeInteger(i) || i < 0 || i >= values.length) {
      fail(`${where} ${at()}`, `${show(x)} refers to no entry of "dims" (it has ${values.length})`);
    }
    return values[i]!;
  };
  const copy = (x: unknown): unknown => {
    if (typeof x !== "object" || x === null) return x;
    if (path.length > MAX_JSON_DEPTH) fail(`${where} ${at()}`, `nested deeper than ${MAX_JSON_DEPTH}`);
    if (isDimRef(x)) return value(x);
    if (isConcat(x)) {
      const parts = x.$concat;
      if (!Array.isArray(parts) || !parts.every((p) => typeof p === "string" || isDimRef(p))) {
        fail(`${where} ${at()}`, `"$concat" must list strings and {"$dim": i} references, got ${show(parts).slice(0, 80)}`);
      }
      return parts.map((p: string | DimRef) => (typeof p === "string" ? p : String(value(p)))).join("");
    }
    if (Array.isArray(x)) {
      return x.map((v, i) => {
        path.push(i);
        const c = copy(v);
        path.pop();
        return c;
      });
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) {
      path.push(k);
      put(out, k, copy(v));
      path.pop();
    }
    return out;
  };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(template)) {
    if (k === "symbols" || k === "dims") continue;
    path.push(k);
    put(out, k, copy(v));
    path.pop();
  }
  out.version = 1;
  return out;
}

/** A key of parsed JSON, '__proto__' included, as an own property. */
function put(o: Record<string, unknown>, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

// ---- text, for messages and Runner.inputs/outputs -----------------------------------------------

/** Precedence of a rendered expression: 1 sum, 2 product, 3 atom. */
interface Text { s: string; level: number }

function render(e: DimExpr, ref: (i: number) => Text): Text {
  if (typeof e === "number") return { s: String(e), level: e < 0 ? 2 : 3 };
  if (typeof e === "string") return { s: e, level: 3 };
  if (!Array.isArray(e)) return ref(e.$dim);
  const op = e[0];
  const args = e.slice(1).map((a) => render(a as DimExpr, ref));
  const wrap = (t: Text, level: number) => (t.level < level ? `(${t.s})` : t.s);
  if (op === "+") {
    const s = args.map((t, k) => (k === 0 ? t.s : t.s.startsWith("-") && t.level >= 2 ? ` - ${t.s.slice(1)}` : ` + ${t.s}`)).join("");
    return { s, level: 1 };
  }
  if (op === "-") return { s: `${args[0]!.s} - ${wrap(args[1]!, 2)}`, level: 1 };
  if (op === "*") {
    const s = args.map((t) => wrap(t, 2)).join("*");
    return { s: s.startsWith("-1*") ? `-${s.slice(3)}` : s, level: 2 };
  }
  if (op === "//" || op === "%") return { s: `(${wrap(args[0]!, 2)} ${op} ${wrap(args[1]!, 3)})`, level: 3 };
  return { s: `${op}(${args.map((t) => t.s).join(", ")})`, level: 3 };
}

/** Readable form of an expression written out in full: "384*seq + 1", "cdiv(seq, 16)". */
export function exprText(e: DimExpr): string {
  return render(e, (i) => ({ s: `dims[${i}]`, level: 3 })).s;
}

/** Readable form of every table entry, its references written out (an entry longer than
 *  `limit` characters is shown as "dims[i]" instead, so texts stay small). */
export function tableTexts(table: DimTable, limit = 160): string[] {
  const texts: Text[] = [];
  for (const [i, e] of table.dims.entries()) {
    const t = render(e, (j) => texts[j]!);
    texts.push(t.s.length > limit ? { s: `dims[${i}]`, level: 3 } : t);
  }
  return texts.map((t) => t.s);
}

/** The symbols each table entry depends on. */
export function tableSymbols(table: DimTable): Set<string>[] {
  const out: Set<string>[] = [];
  const walk = (e: DimExpr, into: Set<string>): void => {
    if (typeof e === "string") into.add(e);
    else if (Array.isArray(e)) for (let k = 1; k < e.length; k++) walk(e[k] as DimExpr, into);
    else if (typeof e === "object") for (const s of out[e.$dim]!) into.add(s);
  };
  for (const e of table.dims) {
    const s = new Set<string>();
    walk(e, s);
    out.push(s);
  }
  return out;
}

/** Does `full` (an expression written out in full, as the manifest holds it) equal `e` with every
 *  reference of `table` written out? Compared in step with `full`, so the work is bounded by its size. */
export function sameExpr(full: unknown, e: DimExpr, table: DimTable): boolean {
  while (isDimRef(e)) e = table.dims[e.$dim]!; // earlier entries only: this ends
  if (typeof e !== "object") return full === e;
  if (!Array.isArray(full) || full.length !== e.length || full[0] !== e[0]) return false;
  for (let k = 1; k < e.length; k++) if (!sameExpr(full[k], e[k] as DimExpr, table)) return false;
  return true;
}
