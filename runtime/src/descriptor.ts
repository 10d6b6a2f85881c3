// The converted-model format (docs/descriptor-format.md) and its validation. Nothing
// from a descriptor is used before validate*() checked it: every offset and size
// is in bounds, every reference points at an existing tensor. A version-2 descriptor (symbolic
// dims) is a template checked in dynamic.ts; each of its sizes is a version-1 descriptor checked here.

import { checkWeightEncoding, storedByteLength, type WeightEncoding } from "./weights.js";
import {
  checkExpr, exprText, rangeText, sameExpr, tableTexts, validateSymbols, type DimExpr, type DimTable, type SymbolSpec,
} from "./dims.js";
import { isDType, itemSize, type DType } from "./dtypes.js";
import { DescriptorError } from "./errors.js";
import type { DynamicDescriptor } from "./dynamic.js";

/** Fixed shapes. */
export const FORMAT_VERSION = 1;
/** Symbolic dims: the descriptor has "symbols" and "dims" (docs/descriptor-format.md). */
export const DYNAMIC_VERSION = 2;

/** A model input or output of fixed shape. */
export interface IOSpec { name: string; dtype: DType; shape: number[] }

/** A manifest's input or output: in a version-2 manifest a dim may be a symbol name or an
 *  expression written out in full ([op, ...] without references). */
export interface ManifestIO { name: string; dtype: DType; shape: DimExpr[] }

export interface Manifest {
  format: "webdnn-model";
  version: number;
  name: string;
  inputs: ManifestIO[];
  outputs: ManifestIO[];
  /** digest: the SHA-256 of the backend's descriptor files (optional; the model cache compares manifests). */
  backends: Record<string, { descriptor: string; byteLength: number; digest?: string }>;
  /** Version 2: the symbols, as every descriptor lists them. */
  symbols?: SymbolSpec[];
}

export interface TensorSpec {
  name: string;
  dtype: DType;
  shape: number[];
  memory: "arena" | "weights";
  offset: number;
  byteLength: number;
}

export interface KernelSpec {
  op: string;
  name: string;
  inputs: number[]; // tensor indices; -1 = omitted optional input
  outputs: number[];
  attrs: Record<string, unknown>;
}

export interface WeightFile { path: string; offset: number; byteLength: number; crc32: number }

export interface Descriptor {
  format: "webdnn-descriptor";
  version: number;
  backend: string;
  model: string;
  inputs: { name: string; tensor: number }[];
  outputs: { name: string; tensor: number }[];
  tensors: TensorSpec[];
  arena: { byteLength: number; alignment: number; naiveByteLength: number };
  /** `encoding` (weights.ts): the files hold encoded weights, decoded at load into byteLength bytes. */
  weights: { byteLength: number; alignment: number; files: WeightFile[]; encoding?: WeightEncoding };
  kernels: KernelSpec[];
  [extra: string]: unknown;
}

function fail(where: string, what: string): never {
  throw new DescriptorError(`${where}: ${what}. Re-convert the model with the matching webdnn version.`);
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
const isCount = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;

function checkShape(where: string, s: unknown): number[] {
  if (!Array.isArray(s) || !s.every(isCount)) fail(where, `shape must be a list of non-negative integers, got ${JSON.stringify(s)}`);
  return s as number[];
}

/** A version-2 manifest's shape: non-negative integers, its symbols' names, expressions of them. */
function checkDynamicShape(where: string, s: unknown, names: ReadonlySet<string>): DimExpr[] {
  if (!Array.isArray(s)) fail(where, `shape must be a list of dims (non-negative integers, symbol names or [op, ...] expressions), got ${JSON.stringify(s)}`);
  s.forEach((e: unknown, i: number) => {
    if (typeof e === "number" && !isCount(e)) fail(`${where}[${i}]`, `a dim must be a non-negative integer, got ${e}`);
    checkExpr(e, `${where}[${i}]`, { names, before: null }, 0);
  });
  return s as DimExpr[];
}

/** `symbols`: a version-2 manifest's (undefined: version 1, fixed shapes); for outputs, with the counts
 *  found in the data (`counts`) too. */
function checkIO(where: string, x: unknown, symbols: SymbolSpec[] | undefined): ManifestIO[] {
  const names = symbols && new Set(symbols.map((s) => s.name));
  if (!Array.isArray(x)) fail(where, "must be a list");
  return x.map((io, i) => {
    if (!isObj(io) || typeof io.name !== "string" || !isDType(io.dtype)) fail(`${where}[${i}]`, "needs name and a known dtype");
    const shape = names ? checkDynamicShape(`${where}[${i}].shape`, io.shape, names) : checkShape(`${where}[${i}].shape`, io.shape);
    return { name: io.name, dtype: io.dtype, shape };
  });
}

/** A relative file name inside the model directory: no '..', no absolute path, no scheme. */
function checkRelPath(where: string, p: unknown): string {
  if (typeof p !== "string" || p === "" || p.startsWith("/") || p.includes("..") || p.includes("\\") || /^[a-z]+:/i.test(p)) {
    fail(where, `must be a relative path inside the model directory, got ${JSON.stringify(p)}`);
  }
  return p;
}

/** The JSON type of a parsed value, for messages: "a JSON string", "a JSON null", ... */
function jsonType(x: unknown): string {
  if (x === null) return "a JSON null";
  if (Array.isArray(x)) return "a JSON array";
  if (x === undefined) return "missing";
  return typeof x === "object" ? "a JSON object" : `a JSON ${typeof x}`;
}

/** Versions 1 and 2 are read; `only` narrows that to one (what the fields present allow: `fields`). */
function checkVersion(where: string, v: unknown, only?: number, fields = '"symbols" and "dims"'): asserts v is number {
  if (typeof v !== "number") {
    fail(where, `field "version" must be the number ${FORMAT_VERSION} or ${DYNAMIC_VERSION} (this runtime reads format versions ` +
      `${FORMAT_VERSION} and ${DYNAMIC_VERSION}), got ${v === undefined ? "nothing" : JSON.stringify(v)} (${jsonType(v)})`);
  }
  if (v !== FORMAT_VERSION && v !== DYNAMIC_VERSION) {
    fail(where, `has format version ${v}, this runtime reads version ${FORMAT_VERSION} (fixed shapes) and ${DYNAMIC_VERSION} (symbolic dims)`);
  }
  if (only === FORMAT_VERSION && v !== only) {
    fail(where, `has format version ${v}, this runtime reads version ${FORMAT_VERSION} for a model without symbols ` +
      `(version ${DYNAMIC_VERSION} needs ${fields})`);
  }
  if (only === DYNAMIC_VERSION && v !== only) {
    fail(where, `has format version ${v} but lists ${fields.replace(" and ", " or ")}: a model with symbolic dims has format version ${DYNAMIC_VERSION}`);
  }
}

export function validateManifest(m: unknown, url: string): Manifest {
  const w = `manifest ${url}`;
  if (!isObj(m) || m.format !== "webdnn-model") fail(w, "is not a WebDNN model manifest (format != 'webdnn-model')");
  const symbolic = "symbols" in m;
  checkVersion(w, m.version, symbolic ? DYNAMIC_VERSION : FORMAT_VERSION, '"symbols"');
  const symbols = symbolic ? validateSymbols(w, m.symbols) : undefined;
  const counts = "counts" in m ? validateSymbols(`${w} counts`, m.counts) : undefined;
  if (!isObj(m.backends) || Object.keys(m.backends).length === 0) fail(w, "lists no backends");
  for (const [b, e] of Object.entries(m.backends)) {
    if (!isObj(e) || !isCount(e.byteLength)) fail(`${w} backends.${b}`, "needs descriptor and byteLength");
    checkRelPath(`${w} backends.${b}.descriptor`, e.descriptor);
    if ("digest" in e && typeof e.digest !== "string") fail(`${w} backends.${b}.digest`, "must be a string (the SHA-256 of the backend's descriptor files)");
  }
  return {
    format: "webdnn-model",
    version: m.version,
    name: typeof m.name === "string" ? m.name : "model",
    inputs: checkIO(`${w} inputs`, m.inputs, symbols),
    // outputs sized by the data (after a NonZero) are expressions of the counts it finds as well
    outputs: checkIO(`${w} outputs`, m.outputs, counts ? [...(symbols ?? []), ...counts] : symbols),
    backends: m.backends as Manifest["backends"],
    ...(symbols ? { symbols } : {}),
  };
}

/** Format, version and backend: `version` is the one the fields present allow (2 with "symbols"). */
export function checkHeader(d: unknown, backend: string, url: string, version: number): asserts d is Record<string, unknown> {
  const w = `descriptor ${url}`;
  if (!isObj(d) || d.format !== "webdnn-descriptor") fail(w, "is not a WebDNN descriptor");
  checkVersion(w, d.version, version);
  if (d.backend !== backend) fail(w, `is for backend '${String(d.backend)}', expected '${backend}'`);
}

/** A version-1 descriptor (fixed shapes; also each size of a version-2 one, dynamic.ts). */
export function validateDescriptor(d: unknown, backend: string, url: string): Descriptor {
  const w = `descriptor ${url}`;
  checkHeader(d, backend, url, isObj(d) && ("symbols" in d || "dims" in d) ? DYNAMIC_VERSION : FORMAT_VERSION);
  if (d.version !== FORMAT_VERSION) fail(w, "has symbolic dims: each of its sizes is validated after the sizes are written in");
  const arena = d.arena, weights = d.weights;
  if (!isObj(arena) || !isCount(arena.byteLength) || !isCount(arena.alignment)) fail(w, "arena needs byteLength and alignment");
  if (!isObj(weights) || !isCount(weights.byteLength) || !Array.isArray(weights.files)) fail(w, "weights need byteLength and files");
  let next = 0;
  weights.files.forEach((f: unknown, i: number) => {
    const fw = `${w} weights.files[${i}]`;
    if (!isObj(f) || !isCount(f.offset) || !isCount(f.byteLength) || !isCount(f.crc32)) fail(fw, "needs offset, byteLength, crc32");
    checkRelPath(`${fw}.path`, f.path);
    if (f.offset !== next) fail(fw, `starts at ${f.offset}, expected ${next} (files must tile the weights)`);
    next += f.byteLength;
  });
  const stored = storedByteLength(weights as { byteLength: number; encoding?: unknown });
  if (next !== stored) fail(w, `weight files cover ${next} bytes, the ${"encoding" in weights ? "encoded" : ""} weights are ${stored}`);
  if (!Array.isArray(d.tensors)) fail(w, "tensors must be a list");
  const tensors = d.tensors.map((t: unknown, i: number) => checkTensor(`${w} tensors[${i}]`, t, arena.byteLength as number, weights.byteLength as number));
  const encoding = "encoding" in weights ? checkWeightEncoding(w, weights.encoding, tensors) : undefined;
  const ref = (where: string, x: unknown, optional: boolean): number => {
    if (typeof x !== "number" || !Number.isInteger(x) || x >= tensors.length || x < (optional ? -1 : 0)) {
      fail(where, `refers to tensor ${JSON.stringify(x)}, but there are ${tensors.length}`);
    }
    return x;
  };
  const io = (key: "inputs" | "outputs") => {
    const xs = d[key];
    if (!Array.isArray(xs)) fail(w, `${key} must be a list`);
    return xs.map((x: unknown, i: number) => {
      if (!isObj(x) || typeof x.name !== "string") fail(`${w} ${key}[${i}]`, "needs a name");
      return { name: x.name, tensor: ref(`${w} ${key}[${i}]`, x.tensor, false) };
    });
  };
  const inputs = io("inputs");
  for (const inp of inputs) {
    if (tensors[inp.tensor]!.memory !== "arena") fail(`${w} input ${inp.name}`, "must live in the arena");
  }
  if (!Array.isArray(d.kernels)) fail(w, "kernels must be a list");
  const kernels = d.kernels.map((k: unknown, i: number): KernelSpec => {
    const kw = `${w} kernels[${i}]`;
    if (!isObj(k) || typeof k.op !== "string" || !Array.isArray(k.inputs) || !Array.isArray(k.outputs)) fail(kw, "needs op, inputs, outputs");
    const outputs = k.outputs.map((x: unknown) => ref(`${kw}.outputs`, x, false));
    for (const o of outputs) if (tensors[o]!.memory !== "arena") fail(kw, `writes tensor ${o}, which is not in the arena`);
    return {
      op: k.op,
      name: typeof k.name === "string" ? k.name : k.op,
      inputs: k.inputs.map((x: unknown) => ref(`${kw}.inputs`, x, true)),
      outputs,
      attrs: isObj(k.attrs) ? k.attrs : {},
    };
  });
  return {
    ...(d as Record<string, unknown>),
    format: "webdnn-descriptor",
    version: FORMAT_VERSION,
    backend,
    model: typeof d.model === "string" ? d.model : "model",
    inputs,
    outputs: io("outputs"),
    tensors,
    arena: { byteLength: arena.byteLength as number, alignment: arena.alignment as number, naiveByteLength: Number(arena.naiveByteLength ?? 0) },
    weights: { ...(weights as Descriptor["weights"]), ...(encoding ? { encoding } : {}) },
    kernels,
  };
}

function checkTensor(where: string, t: unknown, arenaBytes: number, weightBytes: number): TensorSpec {
  if (!isObj(t) || !isDType(t.dtype)) fail(where, "needs a known dtype");
  const shape = checkShape(`${where}.shape`, t.shape);
  const n = shape.reduce((a, b) => a * b, 1);
  const size = itemSize(t.dtype);
  if (t.memory !== "arena" && t.memory !== "weights") fail(where, `memory must be 'arena' or 'weights', got ${JSON.stringify(t.memory)}`);
  if (!isCount(t.offset) || !isCount(t.byteLength)) fail(where, "needs offset and byteLength");
  if (t.byteLength !== n * size) fail(where, `byteLength ${t.byteLength} does not match shape [${shape}] of ${t.dtype}`);
  if (t.offset % size !== 0) fail(where, `offset ${t.offset} is not aligned to ${size} bytes`);
  const limit = t.memory === "arena" ? arenaBytes : weightBytes;
  if (t.offset + t.byteLength > limit) fail(where, `bytes ${t.offset}..${t.offset + t.byteLength} lie outside the ${t.memory} (${limit} bytes)`);
  return { name: typeof t.name === "string" ? t.name : "", dtype: t.dtype, shape, memory: t.memory, offset: t.offset, byteLength: t.byteLength };
}

/** The manifest's inputs and outputs must be the descriptor's (names, dtypes, shapes): a mismatch
 *  means the files come from different conversions, and run() would check inputs against one
 *  and feed the other. */
export function checkDescriptorMatchesManifest(m: Manifest, d: Descriptor | DynamicDescriptor, url: string): void {
  const w = `descriptor ${url}`;
  if (m.version !== d.version) {
    fail(w, `has format version ${d.version}, the manifest ${m.version}: the manifest and the descriptor come from different ` +
      "conversions (deploy the converted directory as a whole)");
  }
  // a dynamic descriptor's shapes hold integers and references into its table; the manifest's, the
  // expressions written out in full
  const table: DimTable | null = d.version === DYNAMIC_VERSION ? (d as DynamicDescriptor).table : null;
  if (table) {
    // the same symbols, in any order
    const list = (ss: readonly SymbolSpec[]) => `[${[...ss].sort((a, b) => (a.name < b.name ? -1 : 1)).map(rangeText).join(", ")}]`;
    const [mine, theirs] = [list(table.symbols), list(m.symbols ?? [])];
    if (mine !== theirs) {
      fail(w, `has symbols ${mine}, the manifest ${theirs}: the manifest and the descriptor come from different conversions ` +
        "(deploy the converted directory as a whole)");
    }
  }
  const texts = table ? tableTexts(table) : [];
  const mine = (e: DimExpr) => (typeof e === "object" && !Array.isArray(e) ? texts[e.$dim]! : String(e));
  const show = (x: { dtype: string; shape: readonly DimExpr[] }, text: (e: DimExpr) => string) =>
    `${x.dtype} [${x.shape.map(text).join(", ")}]`;
  // (a control descriptor's outputs sized by the data: the same expressions, written the same way)
  const same = (full: DimExpr, e: DimExpr) => (table ? sameExpr(full, e, table) : JSON.stringify(full) === JSON.stringify(e));
  for (const key of ["inputs", "outputs"] as const) {
    const one = key.slice(0, -1);
    const list: { name: string; dtype: DType; shape: readonly DimExpr[] }[] = table
      ? (d as DynamicDescriptor)[key]
      : (d as Descriptor)[key].map((x) => ({ ...(d as Descriptor).tensors[x.tensor]!, name: x.name }));
    const theirs = new Map(list.map((x) => [x.name, x]));
    for (const io of m[key]) {
      const t = theirs.get(io.name);
      if (!t) {
        fail(w, `the manifest lists ${one} '${io.name}', which this descriptor lacks (its ${key} are [${[...theirs.keys()].join(", ")}]): ` +
          "the manifest and the descriptor come from different conversions (deploy the converted directory as a whole)");
      }
      if (t.dtype !== io.dtype || t.shape.length !== io.shape.length || t.shape.some((n, i) => !same(io.shape[i]!, n))) {
        fail(w, `${one} '${io.name}' is ${show(t, mine)} here, the manifest says ${show(io, exprText)}: the manifest and the descriptor ` +
          "come from different conversions (deploy the converted directory as a whole)");
      }
    }
    if (m[key].length !== list.length) {
      const listed = new Set(m[key].map((x) => x.name));
      const more = list.map((x) => x.name).filter((n) => !listed.has(n));
      fail(w, `has ${list.length} ${key} [${list.map((x) => x.name).join(", ")}], the manifest lists ${m[key].length} ` +
        `[${m[key].map((x) => x.name).join(", ")}]${more.length ? ` (not in the manifest: ${more.join(", ")})` : ""}: ` +
        "the manifest and the descriptor come from different conversions (deploy the converted directory as a whole)");
    }
  }
}
