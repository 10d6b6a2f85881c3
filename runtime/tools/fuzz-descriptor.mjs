// Descriptor and weight fuzzer: loads and runs converted models after seeded random corruptions and
// edits, and classifies every outcome. A corrupted or edited model must give a WebDNNError (or, where
// the edit changes nothing the kernels read, the unmutated outputs); a trap, another exception, a hang
// or different outputs ("garbage") are failures. Used by tests/e2e/test_descriptor_fuzz.py.
//
//   node fuzz-descriptor.mjs spec.json
//   spec: {models: [{model, name, inputs: [{name, dtype, path}]}], backends, cases, seed,
//          timeoutMs?, workers?, verbose?, only?: [case numbers to rerun], dumpDir?: (writes each
//          case's descriptor there), edits?: [{target: "model/backend", descriptor: file}] (run these
//          edited descriptors instead of random cases; the JSON line then lists every result),
//          dist?: another runtime build's webdnn.mjs (default ../dist/webdnn.mjs), threads?: wasm
//          threads (default 1)}
// Prints a summary and, last, one JSON line {cases, counts, byMutation, failures}; exits 1 on failures.
//
// Mutations (each case applies one, to one model on one backend):
//   text-flip    a random bit of descriptor.json flipped       text-digit  one digit replaced
//   text-cut     descriptor.json truncated
//   weight-flip  a bit of a weight file flipped                weight-cut  a weight file truncated
//   weight-grow  bytes appended to a weight file
//   edit         one JSON field (tensors, kernels, wasm params, attrs, I/O, arena, weights) set to a
//                boundary value (-1, 0, 1, 2^31, 2^40, "NaN", a huge or swapped value, another type),
//                deleted, or an array element removed, duplicated or swapped.
//
// Outcomes: rejected (a WebDNNError at load or run), identical (outputs bit-identical to the
// unmutated model's), semantic (different outputs from an edit that makes another valid model:
// see "which edits make another valid model" below), garbage, crash (any other exception, a wasm
// trap), hang (no answer in timeoutMs). A case whose outputs differ is garbage unless every path the
// edit changed is one of those.
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ARRAYS = {
  float32: Float32Array, float64: Float64Array, int64: BigInt64Array, int32: Int32Array, int16: Int16Array,
  int8: Int8Array, uint8: Uint8Array, bool: Uint8Array, float16: Uint16Array,
};

// ---- seeded randomness ------------------------------------------------------------------------
function mulberry32(a) {
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const pick = (rng, xs) => xs[Math.floor(rng() * xs.length)];

// ---- which edits make another valid model -------------------------------------------------------
// An edit the runtime accepts may still change the outputs legitimately: the descriptor then
// describes another valid model. Only these edits may do so; any other accepted edit must leave
// the outputs bit-identical.
//  - a float value (an activation's alpha, an epsilon, a Clip bound, a wasm {f} parameter): every
//    finite float is a valid model;
//  - the fused activation of a wasm kernel's epilogue (its three words: kind, clamp bounds or the
//    program reference), checked against the call's program, so only another valid one passes;
//  - an expression program (attrs.expr, attrs.activation.expr: ops/expr.py's SSA list): every
//    program the runtime accepts computes some elementwise function, a valid model (like a float);
//  - the operand strides of binary_f32 and bmm_f32 (STRIDES_AT);
//  - a kernel's op replaced by another that takes the same operands (ReduceL2 -> ReduceL1);
//  - a kernel input rewired to another tensor of a shape the op accepts that holds data at that
//    point (the validator checks shapes and that the tensor was written and not overwritten since),
//    and a graph output rewired likewise;
//  - attributes that choose among valid behaviours without changing any shape (PLAUSIBLE, given a
//    value of the right kind, or deleted: the ONNX default): modes and flags, Pad's split of a total
//    between begin and end, a perm or axis among equal dims, a window of another size, stride or
//    dilation with the same output size; attributes no kernel reads (added ones).
const FLOAT_KEYS = new Set(["alpha", "beta", "epsilon", "min", "max", "value", "bias", "lambd", "gamma",
  "cubic_coeff_a", "extrapolation_value", "scales", "roi", "values"]);
const isFloat = (v) => typeof v === "number" || v === "NaN" || v === "Infinity" || v === "-Infinity";
const isInt = (v) => Number.isSafeInteger(v);
const sameLength = (v, old) => Array.isArray(v) && Array.isArray(old) && v.length === old.length;
/** Attributes whose every plausible value (this predicate, given the old value) is a valid model. */
const PLAUSIBLE = {
  mode: (v) => typeof v === "string",
  coordinate_transformation_mode: (v) => typeof v === "string",
  nearest_mode: (v) => typeof v === "string",
  approximate: (v) => typeof v === "string",
  direction: (v) => typeof v === "string",
  reduction: (v) => typeof v === "string",
  exclude_outside: (v) => v === 0 || v === 1,
  count_include_pad: (v) => v === 0 || v === 1,
  select_last_index: (v) => v === 0 || v === 1,
  exclusive: (v) => v === 0 || v === 1,
  reverse: (v) => v === 0 || v === 1,
  upper: (v) => v === 0 || v === 1,
  fmod: (v) => v === 0 || v === 1,
  transA: (v) => v === 0 || v === 1,
  transB: (v) => v === 0 || v === 1,
  keepdims: (v) => v === 0 || v === 1,
  coerce_2d: (v) => typeof v === "boolean",
  stash_type: isInt,
  k: isInt,
  axis: isInt,
  axes: (v, old) => sameLength(v, old) && v.every(isInt),
  starts: (v, old) => sameLength(v, old) && v.every(isInt),
  steps: (v, old) => sameLength(v, old) && v.every((x) => isInt(x) && x !== 0),
  pads: (v, old) => sameLength(v, old) && v.every((x) => isInt(x) && x >= 0),
  perm: (v, old) => sameLength(v, old) && [...v].sort((a, b) => a - b).every((x, i) => x === i),
  // a window of another size, stride or dilation that gives the same output shape (the validator
  // checks the shape rule) is another valid pooling or convolution
  kernel_shape: (v, old) => sameLength(v, old) && v.every((x) => isInt(x) && x >= 1),
  strides: (v, old) => sameLength(v, old) && v.every((x) => isInt(x) && x >= 1),
  dilations: (v, old) => sameLength(v, old) && v.every((x) => isInt(x) && x >= 1),
  // null or absent: no activation (the runtime reads both so)
  activation: (v) => v === undefined || v === null || (typeof v === "object" && typeof v.type === "string"),
};
// Strides of binary_f32's operands and bmm_f32's A, B, C, R: the validator lets through only strides
// that tile the tensor (a permuted, reshaped or broadcast view of it); swapping two equal dims' strides
// gives such a view too, a valid model that reads the operand transposed.
const STRIDES_AT = { binary_f32: [8, 16], bmm_f32: [9, 24] };
const ACT_AT = { gemm_f32: 8, conv2d_nhwc_f32: 21, dwconv2d_nhwc_f32: 18, binary_f32: 16, unary_f32: 3,
  conv2d_winograd_nhwc_f32: 14 };

/** Why an accepted edit at `path` of `desc` (giving `edited`) may change the outputs, or null. */
function semanticReason(desc, edited, path) {
  const [top, i, key, ...rest] = path;
  if (top === "outputs" && key === "tensor") return "graph output rewired";
  if (top !== "kernels") return null;
  const k = desc.kernels[i];
  if (key === "inputs") return "kernel input rewired";
  // another op the runtime runs on the same operands (ReduceL2 -> ReduceL1: a digit edit)
  if (key === "op" && path.length === 3) return "op replaced";
  if (k && !(key in k) && path.length === 3) return "unknown kernel field added";
  if (key !== "attrs" || !k) return null;
  if (rest.length === 0) {
    // the whole attrs replaced (the runtime reads a non-object as {}): semantic when each changed
    // attribute is
    let now = get(edited, ["kernels", i, "attrs"]);
    if (now === null || typeof now !== "object" || Array.isArray(now)) now = {};
    const fixed = structuredClone(edited);
    fixed.kernels[i].attrs = now;
    // (an added attribute no kernel reads changes nothing)
    const changed = Object.keys(k.attrs).filter((a) => JSON.stringify(k.attrs[a]) !== JSON.stringify(now[a]));
    const why = changed.map((a) => semanticReason(desc, fixed, ["kernels", i, "attrs", a]));
    return changed.length && why.every((w) => w !== null) ? `attributes ${changed.join(", ")} replaced` : null;
  }
  if (rest[0] === "wasm") {
    if (rest[1] !== "params" || rest.length < 3) return null;
    const j = rest[2];
    const p = k.attrs.wasm.params[j];
    const now = get(edited, ["kernels", i, "attrs", "wasm", "params", j]);
    if (p !== null && typeof p === "object" && "f" in p && now !== null && typeof now === "object" && isFloat(now.f)) {
      return "wasm float parameter";
    }
    const at = ACT_AT[k.attrs.wasm.fn];
    if (at !== undefined && j >= at && j < at + 3) return "wasm fused activation";
    const st = STRIDES_AT[k.attrs.wasm.fn];
    if (st !== undefined && j >= st[0] && j < st[1] && isInt(now)) return "wasm operand strides";
    return null;
  }
  const attr = rest[0];
  if (attr === "expr" || (attr === "activation" && rest[1] === "expr")) return "expression program";
  const now = get(edited, ["kernels", i, "attrs", attr]);
  if (!(attr in k.attrs) && !FLOAT_KEYS.has(attr) && !(attr in PLAUSIBLE) && attr !== "wasm") return "unknown attribute added";
  if (FLOAT_KEYS.has(attr) || (attr === "activation" && rest.length > 1 && rest[1] !== "type")) {
    const v = rest.length > 1 ? get(edited, path) : now;
    const ok = v === undefined || isFloat(v) || (Array.isArray(v) && v.every(isFloat));
    return ok ? "float attribute" : null;
  }
  const plausible = PLAUSIBLE[attr];
  if (!plausible) return null;
  // deleted: the ONNX default, a valid choice too
  return now === undefined || plausible(now, k.attrs[attr]) ? `attribute ${attr}` : null;
}

// ---- JSON paths ---------------------------------------------------------------------------------
function leaves(x, path = [], out = []) {
  if (x !== null && typeof x === "object") {
    out.push(path);
    const keys = Array.isArray(x) ? x.map((_, i) => i) : Object.keys(x);
    for (const k of keys) leaves(x[k], [...path, k], out);
  } else {
    out.push(path);
  }
  return out;
}
const get = (x, path) => path.reduce((o, k) => (o === null || o === undefined ? undefined : o[k]), x);

/** The paths where a and b differ (deepest first-found), for classifying text mutations. */
function diffPaths(a, b, path = [], out = []) {
  if (out.length > 4) return out;
  if (a === b || (Number.isNaN(a) && Number.isNaN(b))) return out;
  const objA = a !== null && typeof a === "object", objB = b !== null && typeof b === "object";
  if (!objA || !objB || Array.isArray(a) !== Array.isArray(b)) {
    out.push(path);
    return out;
  }
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  if (Array.isArray(a) && a.length !== b.length) {
    out.push(path);
    return out;
  }
  for (const k of keys) diffPaths(a[k], b[k], [...path, Array.isArray(a) ? Number(k) : k], out);
  return out;
}

const BOUNDARY = [-1, 0, 1, 2, 3, 4, 7, 8, 9, 16, 63, 64, 65, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 32 + 1, 2 ** 40,
  -(2 ** 31), 2 ** 53, 1.5, -0.5, 1e308, "NaN", "Infinity", "-Infinity", "1", "", null, true, false, [], {}, [1], { in: 0 },
  { out: 0 }, { f: 1 }, { in: 9 }, { out: -1 }, { f: "NaN" }, "float32", "int32", "float16", "int64", "uint8", "bool", "weights",
  "arena"];

/** One field edit of the parsed descriptor; returns the path it changed. */
function editField(rng, desc, paths) {
  // Weighted toward the fields kernels trust: wasm params and attrs first, then tensors.
  const groups = [
    [0.35, (p) => p[0] === "kernels" && p[2] === "attrs" && p[3] === "wasm"],
    [0.3, (p) => p[0] === "kernels" && p[2] === "attrs" && p[3] !== "wasm"],
    [0.1, (p) => p[0] === "kernels" && p[2] !== "attrs"],
    [0.15, (p) => p[0] === "tensors"],
    [0.1, () => true],
  ];
  let r = rng();
  let chosen = paths;
  for (const [w, f] of groups) {
    if (r < w) {
      const sub = paths.filter((p) => p.length > 0 && f(p));
      if (sub.length) chosen = sub;
      break;
    }
    r -= w;
  }
  chosen = chosen.filter((p) => p.length > 0);
  const path = pick(rng, chosen);
  const parent = get(desc, path.slice(0, -1));
  const key = path[path.length - 1];
  const old = parent[key];
  const how = rng();
  if (how < 0.55) {
    parent[key] = structuredClone(pick(rng, BOUNDARY));
  } else if (how < 0.75 && typeof old === "number") {
    parent[key] = pick(rng, [old + 1, old - 1, old * 2, Math.floor(old / 2), -old, old + 16, old + 64, old * 4]);
  } else if (how < 0.85) {
    if (Array.isArray(parent)) parent.splice(key, 1);
    else delete parent[key];
  } else if (how < 0.92 && Array.isArray(parent) && parent.length > 1) {
    // swap with another element of the same array
    let j = Math.floor(rng() * parent.length);
    if (j === key) j = (j + 1) % parent.length;
    [parent[key], parent[j]] = [parent[j], parent[key]];
  } else if (Array.isArray(parent)) {
    parent.splice(key, 0, structuredClone(old)); // duplicate
  } else if (Array.isArray(old) && old.length > 1) {
    old.reverse();
  } else {
    parent[key] = structuredClone(pick(rng, BOUNDARY));
  }
  return path;
}

/** Case `i`: which target and what mutation (deterministic in seed and i). */
function makeCase(seed, i, targets) {
  const rng = mulberry32((seed * 0x9e3779b1) ^ (i * 0x85ebca6b));
  const t = Math.floor(rng() * targets.length);
  const target = targets[t];
  const files = new Map(target.files);
  const r = rng();
  let kind;
  let paths = [];
  let desc = null;
  if (r < 0.08) {
    kind = "text-flip";
    const b = Buffer.from(files.get(target.descPath));
    const pos = Math.floor(rng() * b.length);
    b[pos] ^= 1 << Math.floor(rng() * 8);
    files.set(target.descPath, b);
  } else if (r < 0.16) {
    kind = "text-digit";
    const s = files.get(target.descPath).toString("latin1");
    const digits = [];
    for (let k = 0; k < s.length; k++) if (s.charCodeAt(k) >= 48 && s.charCodeAt(k) <= 57) digits.push(k);
    const pos = pick(rng, digits);
    const b = Buffer.from(files.get(target.descPath));
    b[pos] = 48 + ((b[pos] - 48 + 1 + Math.floor(rng() * 9)) % 10);
    files.set(target.descPath, b);
  } else if (r < 0.2) {
    kind = "text-cut";
    const b = files.get(target.descPath);
    files.set(target.descPath, b.subarray(0, Math.floor(rng() * b.length)));
  } else if (r < 0.26) {
    const w = pick(rng, target.weightPaths);
    const b = Buffer.from(files.get(w));
    const how = rng();
    if (how < 0.6 && b.length) {
      kind = "weight-flip";
      b[Math.floor(rng() * b.length)] ^= 1 << Math.floor(rng() * 8);
      files.set(w, b);
    } else if (how < 0.85) {
      kind = "weight-cut";
      files.set(w, b.subarray(0, Math.floor(rng() * b.length)));
    } else {
      kind = "weight-grow";
      files.set(w, Buffer.concat([b, Buffer.alloc(1 + Math.floor(rng() * 64))]));
    }
  } else {
    kind = "edit";
    desc = structuredClone(target.desc);
    paths = [editField(rng, desc, target.paths)];
    files.set(target.descPath, Buffer.from(JSON.stringify(desc)));
  }
  if (kind === "text-flip" || kind === "text-digit") {
    try {
      desc = JSON.parse(new TextDecoder().decode(files.get(target.descPath)));
      paths = diffPaths(target.desc, desc);
    } catch {
      paths = [];
    }
  }
  let edited = desc;
  if (!edited) {
    try {
      edited = JSON.parse(new TextDecoder().decode(files.get(target.descPath)));
    } catch {
      edited = null;
    }
  }
  const reasons = paths.map((p) => (edited ? semanticReason(target.desc, edited, p) : null));
  const semantic = paths.length > 0 && reasons.every((x) => x !== null) ? reasons[0] : null;
  return { target: t, kind, files, paths, semantic };
}

/** A targeted case: the model's descriptor replaced by spec.edits[i].descriptor (a file). */
function editCase(edit, targets) {
  const t = targets.findIndex((x) => x.name === edit.target);
  if (t < 0) throw new Error(`no target ${edit.target}`);
  const files = new Map(targets[t].files);
  files.set(targets[t].descPath, readFileSync(edit.descriptor));
  return { target: t, kind: "targeted", files, paths: [], semantic: null };
}

// ---- running a model from in-memory files -----------------------------------------------------
function fetchFrom(files) {
  return async (url) => {
    const path = new URL(url).pathname.replace(/^\/+/, "");
    const b = files.get(path);
    if (!b) return new Response("not found", { status: 404, statusText: "Not Found" });
    return new Response(new Uint8Array(b), { status: 200, headers: { "content-length": String(b.length) } });
  };
}

async function runOnce(WebDNN, target, files, threads) {
  const runner = await WebDNN.load("http://fuzz.invalid/", {
    backendOrder: [target.backend], fetch: fetchFrom(files), backendOptions: { wasm: { threads } },
  });
  try {
    const outs = await runner.run(target.feeds);
    return Object.entries(outs).map(([name, t]) => ({
      name, dtype: t.dtype, dims: [...t.dims], bytes: Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength),
    }));
  } finally {
    runner.dispose();
  }
}

/** Why outputs `b` differ from the unmutated `a` (matched by name), or null. */
function sameOutputs(a, b) {
  if (a.length !== b.length) return `outputs [${b.map((o) => o.name)}] instead of [${a.map((o) => o.name)}]`;
  for (const x of a) {
    const y = b.find((o) => o.name === x.name);
    if (!y) return `output ${x.name} missing (got [${b.map((o) => o.name)}])`;
    if (x.dtype !== y.dtype) return `output ${x.name}: ${y.dtype} instead of ${x.dtype}`;
    if (x.dims.join() !== y.dims.join()) return `output ${x.name}: dims [${y.dims}] instead of [${x.dims}]`;
    if (!x.bytes.equals(y.bytes)) return `output ${x.name}: different values`;
  }
  return null;
}

function loadTargets(spec) {
  const targets = [];
  for (const m of spec.models) {
    const manifest = JSON.parse(readFileSync(join(m.model, "manifest.json"), "utf8"));
    const feeds = {};
    for (const inp of m.inputs) {
      const buf = readFileSync(inp.path);
      feeds[inp.name] = new ARRAYS[inp.dtype](buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    }
    for (const backend of spec.backends) {
      const entry = manifest.backends[backend];
      if (!entry) continue;
      const files = new Map([["manifest.json", readFileSync(join(m.model, "manifest.json"))]]);
      const descText = readFileSync(join(m.model, entry.descriptor));
      files.set(entry.descriptor, descText);
      const desc = JSON.parse(descText.toString("utf8"));
      const dir = entry.descriptor.slice(0, entry.descriptor.lastIndexOf("/") + 1);
      const weightPaths = desc.weights.files.map((f) => dir + f.path);
      for (const w of weightPaths) files.set(w, readFileSync(join(m.model, w)));
      targets.push({ name: `${m.name}/${backend}`, backend, files: [...files], descPath: entry.descriptor, desc,
        paths: leaves(desc), weightPaths, feeds });
    }
  }
  return targets;
}

// ---- worker: run cases [from, to) and report each -------------------------------------------------
async function workerMain() {
  const { spec, ids, dist } = workerData;
  const WebDNN = await import(dist);
  const targets = loadTargets(spec).map((t) => ({ ...t, files: new Map(t.files) }));
  const baseline = [];
  const threads = spec.threads ?? 1;
  for (const t of targets) baseline.push(await runOnce(WebDNN, t, t.files, threads));
  for (const i of ids) {
    parentPort.postMessage({ start: i });
    const c = spec.edits ? editCase(spec.edits[i], targets) : makeCase(spec.seed, i, targets);
    const t = targets[c.target];
    if (spec.dumpDir) writeFileSync(join(spec.dumpDir, `case-${i}.json`), c.files.get(t.descPath));
    const base = { i, target: t.name, kind: c.kind, paths: c.paths.map((p) => p.join(".")) };
    let outcome, detail = "";
    try {
      const outs = await runOnce(WebDNN, t, c.files, threads);
      const diff = sameOutputs(baseline[c.target], outs);
      if (diff === null) outcome = "identical";
      else if (c.semantic) [outcome, detail] = ["semantic", c.semantic];
      else [outcome, detail] = ["garbage", diff];
    } catch (e) {
      if (e instanceof WebDNN.WebDNNError) [outcome, detail] = ["rejected", e.message];
      else [outcome, detail] = ["crash", `${e?.constructor?.name ?? typeof e}: ${e?.message ?? String(e)}`];
    }
    parentPort.postMessage({ done: { ...base, outcome, detail: detail.slice(0, 400) } });
  }
}

// ---- main: spread the cases over workers, time each case out -------------------------------------
async function main() {
  const spec = JSON.parse(readFileSync(process.argv[2], "utf8"));
  spec.seed ??= 1;
  spec.cases ??= 1000;
  const timeoutMs = spec.timeoutMs ?? 5000;
  const nWorkers = Math.max(1, Math.min(spec.workers ?? 2, spec.only?.length ?? spec.cases));
  const dist = spec.dist ? pathToFileURL(spec.dist).href : new URL("../dist/webdnn.mjs", import.meta.url).href;
  const results = [];
  const self = fileURLToPath(import.meta.url);
  const targets = loadTargets(spec).map((t) => ({ ...t, files: new Map(t.files) }));
  const describe = (i) => {
    if (spec.edits) return { target: spec.edits[i].target, kind: "targeted", paths: [] };
    const c = makeCase(spec.seed, i, targets);
    return { target: targets[c.target].name, kind: c.kind, paths: c.paths.map((p) => p.join(".")) };
  };
  if (spec.edits) spec.cases = spec.edits.length;
  const all = spec.only ?? Array.from({ length: spec.cases }, (_, i) => i);
  const startWorker = (ids) => new Promise((resolve) => {
    if (ids.length === 0) return resolve();
    const w = new Worker(self, { workerData: { spec, ids, dist } });
    let current = -1;
    let since = performance.now();
    let finished = false;
    const timer = setInterval(() => {
      if (current >= 0 && performance.now() - since > timeoutMs) {
        clearInterval(timer);
        finished = true;
        const c = current;
        results.push({ i: c, ...describe(c), outcome: "hang", detail: `no answer in ${timeoutMs} ms` });
        void w.terminate().then(() => resolve(startWorker(ids.slice(ids.indexOf(c) + 1))));
      }
    }, 50);
    w.on("message", (m) => {
      if ("start" in m) {
        current = m.start;
        since = performance.now();
      } else {
        results.push(m.done);
        current = -1;
      }
    });
    w.on("error", (e) => {
      if (finished) return;
      clearInterval(timer);
      finished = true;
      const c = current >= 0 ? current : ids[0];
      results.push({ i: c, ...describe(c), outcome: "crash", detail: `worker died: ${e.message}` });
      resolve(startWorker(ids.slice(ids.indexOf(c) + 1)));
    });
    w.on("exit", () => {
      if (finished) return;
      clearInterval(timer);
      finished = true;
      resolve();
    });
  });
  const t0 = performance.now();
  // worker k takes cases k, k + nWorkers, ... (the models' costs spread evenly)
  await Promise.all(Array.from({ length: nWorkers }, (_, k) => startWorker(all.filter((_, j) => j % nWorkers === k))));
  results.sort((a, b) => a.i - b.i);
  const counts = {};
  const byMutation = {};
  for (const r of results) {
    counts[r.outcome] = (counts[r.outcome] ?? 0) + 1;
    byMutation[r.kind] ??= {};
    byMutation[r.kind][r.outcome] = (byMutation[r.kind][r.outcome] ?? 0) + 1;
  }
  const failures = results.filter((r) => ["garbage", "crash", "hang"].includes(r.outcome));
  const semantic = {};
  for (const r of results.filter((x) => x.outcome === "semantic")) semantic[r.detail] = (semantic[r.detail] ?? 0) + 1;
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(`fuzzed ${results.length} cases in ${secs} s (seed ${spec.seed}): ${JSON.stringify(counts)}`);
  console.log(`by mutation: ${JSON.stringify(byMutation)}`);
  console.log(`semantic edits: ${JSON.stringify(semantic)}`);
  for (const f of failures.slice(0, spec.verbose ? 1000 : 20)) console.log(`FAIL ${JSON.stringify(f)}`);
  if (spec.verbose) for (const r of results.filter((x) => x.outcome === "semantic")) console.log(`SEMANTIC ${JSON.stringify(r)}`);
  const listed = spec.edits ? { results } : {};
  console.log(JSON.stringify({ cases: results.length, counts, byMutation, semantic, failures: failures.slice(0, 200), ...listed }));
  process.exitCode = failures.length ? 1 : 0;
}

if (isMainThread) await main();
else await workerMain();
