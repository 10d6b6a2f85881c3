// Symbolic dims (docs/descriptor-format.md, "Symbolic dimensions (version 2)"), on the real loader
// and the real fallback and wasm backends in Node: hand-written version-2 models run at several
// sizes with a session per size (kept in the LRU cache; a counting backend checks what is made and
// disposed), references and $concat strings are written in everywhere, GPU buffers (a fake backend)
// take their dims, and every malformed table, reference, manifest, size and input gives a
// DescriptorError / InputError that says what and where.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "webdnn-dims-test-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));
const outfile = join(tmp, "webdnn.mjs");
await build({
  entryPoints: [join(here, "..", "src", "index.ts")],
  bundle: true, format: "esm", platform: "node", outfile, logLevel: "error",
});
const WebDNN = await import(pathToFileURL(outfile).href);
const { load, setWasmBaseUrl, WebDNNError, InputError, DescriptorError, LoadError, BACKENDS } = WebDNN;

// "spy": the fallback backend, counting what the runtime asks of it
const spy = { checked: [], created: 0, disposed: 0, last: null };
BACKENDS.spy = {
  name: "spy",
  isAvailable: async () => true,
  checkDescriptor: async (d) => { spy.checked.push(d.tensors[0].shape.join("x")); spy.last = d; },
  createSession: async (d, w, o) => {
    const s = await BACKENDS.fallback.createSession(d, w, o);
    const id = ++spy.created;
    return { run: (x) => s.run(x), dispose: () => { spy.disposed++; s.dispose(); }, info: { session: id } };
  },
};
const resetSpy = () => Object.assign(spy, { checked: [], created: 0, disposed: 0, last: null });

const RELU = [["x", 0], ["c", 0], ["max", 0, 1]]; // attrs.expr of Relu (ops/expr.py)
const ref = (i) => ({ $dim: i });

/** y = Relu(x), x and y float32 [2, n]: x at 0, y at cdiv(8*n, 16)*16, both 8*n bytes. */
function reluModel() {
  return {
    desc: {
      format: "webdnn-descriptor", version: 2, backend: "fallback", model: "relu",
      symbols: [{ name: "n", min: 1, max: 512 }],
      dims: ["n", ["*", 8, "n"], ["cdiv", ref(1), 16], ["*", ref(2), 16], ["+", ref(3), ref(1)]],
      inputs: [{ name: "x", tensor: 0 }], outputs: [{ name: "y", tensor: 1 }],
      tensors: [
        { name: "x", dtype: "float32", shape: [2, ref(0)], memory: "arena", offset: 0, byteLength: ref(1) },
        { name: "y", dtype: "float32", shape: [2, ref(0)], memory: "arena", offset: ref(3), byteLength: ref(1) },
      ],
      arena: { byteLength: ref(4), alignment: 16, naiveByteLength: ref(4) },
      weights: { byteLength: 0, alignment: 16, files: [] },
      kernels: [{ op: "Relu", name: "Relu_0", inputs: [0], outputs: [1], attrs: { expr: RELU } }],
    },
    manifest: {
      format: "webdnn-model", version: 2, name: "relu",
      inputs: [{ name: "x", dtype: "float32", shape: [2, "n"] }], outputs: [{ name: "y", dtype: "float32", shape: [2, "n"] }],
    },
  };
}

/** y = Expand(x, shape [3, n]) then Tile by [1, 2]: x [1, n], e [3, n], y [3, 2*n]; the Expand's
 *  shape attribute holds a reference, so the kernel only works once it is written in. */
function expandModel() {
  return {
    desc: {
      format: "webdnn-descriptor", version: 2, backend: "fallback", model: "expand",
      symbols: [{ name: "n", min: 1, max: null }],
      dims: ["n", ["*", 4, "n"], ["*", 12, "n"], ["*", 2, "n"], ["*", 24, "n"], ["cdiv", ref(1), 16], ["*", 16, ref(5)],
        ["+", ref(6), ref(2)], ["cdiv", ref(7), 16], ["*", 16, ref(8)], ["+", ref(9), ref(4)]],
      inputs: [{ name: "x", tensor: 0 }], outputs: [{ name: "y", tensor: 2 }],
      tensors: [
        { name: "x", dtype: "float32", shape: [1, ref(0)], memory: "arena", offset: 0, byteLength: ref(1) },
        { name: "e", dtype: "float32", shape: [3, ref(0)], memory: "arena", offset: ref(6), byteLength: ref(2) },
        { name: "y", dtype: "float32", shape: [3, ref(3)], memory: "arena", offset: ref(9), byteLength: ref(4) },
      ],
      arena: { byteLength: ref(10), alignment: 16, naiveByteLength: ref(10) },
      weights: { byteLength: 0, alignment: 16, files: [] },
      kernels: [
        { op: "Expand", name: "Expand_0", inputs: [0], outputs: [1], attrs: { shape: [3, ref(0)] } },
        { op: "Tile", name: "Tile_0", inputs: [1], outputs: [2], attrs: { repeats: [1, 2] } },
      ],
    },
    manifest: {
      format: "webdnn-model", version: 2, name: "expand",
      inputs: [{ name: "x", dtype: "float32", shape: [1, "n"] }], outputs: [{ name: "y", dtype: "float32", shape: [3, ["*", 2, "n"]] }],
    },
  };
}

/** y = a + b, all float32 [n]. */
function addModel() {
  return {
    desc: {
      format: "webdnn-descriptor", version: 2, backend: "fallback", model: "add",
      symbols: [{ name: "n", min: 1, max: 100 }],
      dims: ["n", ["*", 4, "n"], ["*", 16, ["cdiv", ref(1), 16]], ["*", 2, ref(2)]],
      inputs: [{ name: "a", tensor: 0 }, { name: "b", tensor: 1 }], outputs: [{ name: "y", tensor: 2 }],
      tensors: [
        { name: "a", dtype: "float32", shape: [ref(0)], memory: "arena", offset: 0, byteLength: ref(1) },
        { name: "b", dtype: "float32", shape: [ref(0)], memory: "arena", offset: ref(2), byteLength: ref(1) },
        { name: "y", dtype: "float32", shape: [ref(0)], memory: "arena", offset: ref(3), byteLength: ref(1) },
      ],
      arena: { byteLength: 4000, alignment: 16, naiveByteLength: 4000 },
      weights: { byteLength: 0, alignment: 16, files: [] },
      kernels: [{ op: "Add", name: "Add_0", inputs: [0, 1], outputs: [2], attrs: {} }],
    },
    manifest: {
      format: "webdnn-model", version: 2, name: "add",
      inputs: [{ name: "a", dtype: "float32", shape: ["n"] }, { name: "b", dtype: "float32", shape: ["n"] }],
      outputs: [{ name: "y", dtype: "float32", shape: ["n"] }],
    },
  };
}

let count = 0;
/** A model directory from `model()` after `edit(desc, manifest)`; backend "fallback" or "spy". */
function writeModel(model, { edit = () => {}, backend = "fallback" } = {}) {
  const { desc, manifest } = model;
  desc.backend = backend;
  manifest.backends = { [backend]: { descriptor: `${backend}/descriptor.json`, byteLength: 0 } };
  if (desc.symbols) manifest.symbols = structuredClone(desc.symbols); // the manifest lists the same symbols
  edit(desc, manifest);
  const dir = join(tmp, `m${count++}`);
  mkdirSync(join(dir, backend), { recursive: true });
  writeFileSync(join(dir, backend, "descriptor.json"), JSON.stringify(desc));
  writeFileSync(join(dir, "manifest.json"), JSON.stringify(manifest));
  return dir;
}

/** Rejects with `cls` (a WebDNNError subclass) whose message matches every pattern. */
async function rejects(promise, cls, ...patterns) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${e?.name}: ${e?.message}`);
    assert.ok(e instanceof WebDNNError);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

const ramp = (n, from = -3) => Float32Array.from({ length: n }, (_, i) => from + i);
const relu = (a) => Array.from(a, (v) => Math.max(v, 0));
const fb = { backendOrder: ["fallback"] };
const spyOnly = (o = {}) => ({ backendOrder: ["spy"], ...o });

test("a model with symbolic dims runs at each size, with that size's output dims", async () => {
  const r = await load(writeModel(reluModel()), fb);
  assert.deepEqual(r.symbols, [{ name: "n", min: 1, max: 512 }]);
  assert.deepEqual(r.inputs, [{ name: "x", dtype: "float32", shape: [2, "n"], bounds: { n: { min: 1, max: 512 } } }]);
  assert.deepEqual(r.outputs, [{ name: "y", dtype: "float32", shape: [2, "n"], bounds: { n: { min: 1, max: 512 } } }]);
  assert.equal(r.backendInfo.signatures, 0);
  for (const n of [3, 1, 5, 512]) {
    const x = ramp(2 * n);
    const { y } = await r.run({ x }); // a bare array: n from its length
    assert.deepEqual(y.dims, [2, n]);
    assert.deepEqual(Array.from(y.data), relu(x));
    const again = await r.run({ x: { data: x, dims: [2, n] } });
    assert.deepEqual(again.y.dims, [2, n]);
    assert.deepEqual(Array.from(again.y.data), relu(x));
  }
  assert.equal(r.backendInfo.signatures, 4);
  assert.deepEqual(r.backendInfo.skipped, []);
  r.dispose();
  await rejects(r.run({ x: ramp(2) }), WebDNNError, /disposed/);
});

test("sizes seen before reuse their session; the least recently used beyond shapeCacheSize is disposed", async () => {
  resetSpy();
  const r = await load(writeModel(reluModel(), { backend: "spy" }), spyOnly());
  assert.deepEqual(spy.checked, ["2x1"]); // the backend's limits, at the smallest size, at load
  assert.equal(spy.created, 0);
  for (const n of [3, 5, 3, 5, 3]) assert.deepEqual((await r.run({ x: ramp(2 * n) })).y.dims, [2, n]);
  assert.equal(spy.created, 2);
  assert.equal(r.backendInfo.signatures, 2);
  assert.equal(r.backendInfo.session, 1); // the latest run's session's info
  assert.deepEqual(spy.checked, ["2x1", "2x3", "2x5"]); // and on each new size before its session
  r.dispose();
  assert.equal(spy.disposed, 2);

  resetSpy();
  const small = await load(writeModel(reluModel(), { backend: "spy" }), spyOnly({ shapeCacheSize: 2 }));
  for (const n of [1, 2, 3]) await small.run({ x: ramp(2 * n) });
  assert.deepEqual([spy.created, spy.disposed], [3, 1]); // n=1 dropped
  await small.run({ x: ramp(6) }); // n=3: kept
  await small.run({ x: ramp(4) }); // n=2: kept
  assert.deepEqual([spy.created, spy.disposed], [3, 1]);
  await small.run({ x: ramp(2) }); // n=1 again: made again, n=3 dropped
  assert.deepEqual([spy.created, spy.disposed], [4, 2]);
  small.dispose();
  assert.equal(spy.disposed, 4);

  // concurrent runs at three sizes with room for one: each finishes on its own session, and a
  // dropped session is disposed only once its run is over
  resetSpy();
  const one = await load(writeModel(reluModel(), { backend: "spy" }), spyOnly({ shapeCacheSize: 1 }));
  const outs = await Promise.all([2, 4, 6].map((n) => one.run({ x: ramp(2 * n) })));
  outs.forEach((o, i) => assert.deepEqual(Array.from(o.y.data), relu(ramp(4 * (i + 1)))));
  assert.deepEqual([spy.created, spy.disposed], [3, 2]);
  one.dispose();
  assert.equal(spy.disposed, 3);

  await rejects(load(writeModel(reluModel()), { ...fb, shapeCacheSize: 0 }), LoadError, /shapeCacheSize must be a positive integer/, /got 0/);
  await rejects(load(writeModel(reluModel()), { ...fb, shapeCacheSize: 1.5 }), LoadError, /shapeCacheSize/);
});

test("references are written in anywhere: kernel attributes, chained table entries; outputs show expressions", async () => {
  const r = await load(writeModel(expandModel()), fb);
  assert.deepEqual(r.outputs, [{ name: "y", dtype: "float32", shape: [3, "2*n"], bounds: { n: { min: 1, max: null } } }]);
  for (const n of [1, 4, 7]) {
    const x = ramp(n);
    const { y } = await r.run({ x });
    assert.deepEqual(y.dims, [3, 2 * n]);
    const row = [...x, ...x];
    assert.deepEqual(Array.from(y.data), [...row, ...row, ...row]);
  }
  r.dispose();
});

test("strings with sizes in them ($concat) are written out", async () => {
  resetSpy();
  const model = reluModel();
  model.desc.kernels[0].attrs.note = { $concat: ["x[2][", ref(0), "] at ", ref(3), ""] };
  model.desc.shaders = [{ $concat: ["const N = ", ref(1), "u;"] }, "plain", { $concat: [] }];
  const r = await load(writeModel(model, { backend: "spy" }), spyOnly());
  await r.run({ x: ramp(6) });
  assert.equal(spy.last.kernels[0].attrs.note, "x[2][3] at 32");
  assert.deepEqual(spy.last.shaders, ["const N = 24u;", "plain", ""]);
  assert.equal(spy.last.symbols, undefined);
  assert.equal(spy.last.version, 1);
  r.dispose();
  const bad = [
    [(d) => { d.kernels[0].attrs.note = { $concat: "n" }; }, /kernels\[0\]\.attrs\.note: "\$concat" must list strings and \{"\$dim": i\} references, got "n"/],
    [(d) => { d.shaders = [{ $concat: ["a", 1] }]; }, /shaders\[0\]: "\$concat" must list strings/],
    [(d) => { d.shaders = [{ $concat: ["a", ref(7)] }]; }, /shaders\[0\]: \{"\$dim":7\} refers to no entry/],
    [(d) => { d.weights.files = [{ path: { $concat: ["w", ref(0)] }, offset: 0, byteLength: 0, crc32: 0 }]; }, /weights: the weight files cannot depend/],
  ];
  for (const [edit, ...patterns] of bad) await rejects(load(writeModel(reluModel(), { edit }), fb), DescriptorError, ...patterns);
});

test("GPU buffers in and out of a model with symbolic dims: dims in, this size's dims out", async () => {
  const calls = [];
  BACKENDS.fakegpu = {
    name: "fakegpu",
    isAvailable: async () => true,
    createSession: async () => ({
      run: async () => { throw new Error("not used"); },
      runGpu: async (inputs, gpuOutputs) => {
        calls.push({ inputs, gpuOutputs });
        return [{ gpuBuffer: { destroy() {} }, read: async () => new Float32Array(0) }];
      },
      dispose() {},
    }),
  };
  const r = await load(writeModel(reluModel(), { backend: "fakegpu" }), { backendOrder: ["fakegpu"] });
  await rejects(r.run({ x: { gpuBuffer: {} } }), InputError, /GPU buffer without dims/);
  const { y } = await r.run({ x: { gpuBuffer: { tag: 1 }, dims: [2, 5] } }, { outputLocation: "gpu-buffer" });
  assert.deepEqual([y.dims, y.byteLength, y.dtype], [[2, 5], 40, "float32"]);
  assert.deepEqual(calls.map((c) => [c.inputs[0].gpuBuffer.tag, c.gpuOutputs]), [[1, true]]);
  await rejects(r.run({ x: { gpuBuffer: {}, dims: [2, 513] } }), InputError, /is 513; the model allows 1 ≤ n ≤ 512/);
  r.dispose();
  delete BACKENDS.fakegpu;
});

test("two inputs of one symbol must agree on its value", async () => {
  const r = await load(writeModel(addModel()), fb);
  const { y } = await r.run({ a: ramp(3), b: ramp(3, 10) });
  assert.deepEqual(Array.from(y.data), [7, 9, 11]);
  await rejects(r.run({ a: ramp(3), b: ramp(4) }), InputError, /input 'b' dim 0 \('n'\) is 4, but input 'a' dim 0 makes n = 3/, /one value/);
  await rejects(r.run({ a: { data: ramp(2), dims: [2] }, b: ramp(3) }), InputError, /input 'b' dim 0 \('n'\) is 3, but input 'a' dim 0 makes n = 2/);
  // an expression where only a number or a reference may stand is refused at load
  const inline = (d) => { d.tensors[2].offset = ["*", 2, ref(2)]; };
  await rejects(load(writeModel(addModel(), { edit: inline }), fb), DescriptorError, /tensors\[2\]/, /needs offset and byteLength/);
  r.dispose();
});

test("inputs outside the bounds, of the wrong length or dims, or without the dims a size needs are refused", async () => {
  const r = await load(writeModel(reluModel()), fb);
  await rejects(r.run({ x: ramp(1200) }), InputError, /input 'x' dim 1 \('n'\) is 600; the model allows 1 ≤ n ≤ 512/);
  await rejects(r.run({ x: { data: ramp(0), dims: [2, 0] } }), InputError, /input 'x' dim 1 \('n'\) is 0; the model allows 1 ≤ n ≤ 512/);
  await rejects(r.run({ x: ramp(7) }), InputError, /input 'x' has 7 elements, which is not a multiple of 2/, /'n' in its shape \[2, n\]/, /\{ data, dims \}/);
  await rejects(r.run({ x: { data: ramp(6), dims: [3, 2] } }), InputError, /input 'x' has dims \[3, 2\], the model expects \[2, n\]/);
  await rejects(r.run({ x: { data: ramp(6), dims: [2, 4] } }), InputError, /input 'x' has 6 elements, the model expects 8 \(shape \[2, 4\]/, /n=4/);
  await rejects(r.run({ x: { data: ramp(6), dims: [2, 3, 1] } }), InputError, /has dims \[2, 3, 1\], the model expects \[2, n\]/);
  await rejects(r.run({ x: new Float64Array(6) }), InputError, /must be a Float32Array/);
  await rejects(r.run({ x: [1, 2] }), InputError, /is an Array; pass a typed array: new Float32Array\(array\) \(float32, shape \[2, n\]\)/);
  await rejects(r.run({ x: "abc" }), InputError, /pass a Float32Array \(float32, shape \[2, n\], 1 ≤ n ≤ 512\), or \{ data, dims \}/);
  await rejects(r.run({ x: { gpuBuffer: {} } }), InputError, /GPU buffer without dims/, /\{ gpuBuffer, dims \}/);
  await rejects(r.run({ x: ramp(6), z: ramp(1) }), InputError, /unknown input\(s\) z/);
  assert.equal(r.backendInfo.signatures, 0); // nothing was made for a refused input
  // whether the backend takes GPU buffers is known once it made a session
  await rejects(r.run({ x: { gpuBuffer: {}, dims: [2, 3] } }), InputError, /cannot take or give GPU buffers/);
  await rejects(r.run({ x: { gpuBuffer: {}, dims: [2, 4] } }, { outputLocation: "gpu-buffer" }), InputError, /cannot take or give GPU buffers/);
  await rejects(r.run({ x: ramp(8) }, { outputLocation: "gpu-buffer" }), InputError, /outputLocation "gpu-buffer" was asked for/);
  assert.equal(r.backendInfo.signatures, 1);
  r.dispose();

  // unbounded: the range says so
  const u = await load(writeModel(expandModel()), fb);
  await rejects(u.run({ x: { data: ramp(0), dims: [1, 0] } }), InputError, /input 'x' dim 1 \('n'\) is 0; the model allows n ≥ 1/);
  u.dispose();

  // two symbolic dims: a bare array cannot tell them apart
  const two = reluModel();
  two.desc.symbols = [{ name: "m", min: 1, max: 8 }, { name: "n", min: 1, max: 8 }];
  two.desc.dims = ["n", ["*", 4, "m", "n"], ["cdiv", ref(1), 16], ["*", ref(2), 16], ["+", ref(3), ref(1)], "m"];
  for (const t of two.desc.tensors) t.shape = [ref(5), ref(0)];
  two.manifest.inputs[0].shape = two.manifest.outputs[0].shape = ["m", "n"];
  const r2 = await load(writeModel(two), fb);
  assert.deepEqual(r2.inputs[0].shape, ["m", "n"]);
  await rejects(r2.run({ x: ramp(6) }), InputError, /input 'x' has shape \[m, n\], with 2 symbolic dims/, /cannot set 'm', 'n'; pass \{ data, dims \}/);
  const { y } = await r2.run({ x: { data: ramp(6), dims: [3, 2] } });
  assert.deepEqual(y.dims, [3, 2]);
  assert.deepEqual(Array.from(y.data), relu(ramp(6)));
  r2.dispose();
});

test("sizes that overflow, or that the descriptor does not fit, are refused when first run", async () => {
  const big = reluModel();
  big.desc.dims.push(["*", "n", 9007199254740991]);
  const r = await load(writeModel(big), fb);
  assert.equal((await r.run({ x: ramp(2) })).y.dims[1], 1);
  await rejects(r.run({ x: ramp(4) }), DescriptorError, /descriptor .*descriptor\.json dims\[5\] = n\*9007199254740991: overflows at n=2/, /= 18014398509481982 is beyond/);
  r.dispose();

  // at the smallest size already: refused at load, a division by zero included
  const zero = reluModel();
  zero.desc.dims.push(["//", 8, ["-", "n", 1]]);
  await rejects(load(writeModel(zero), fb), DescriptorError, /dims\[5\] = \(8 \/\/ \(n - 1\)\): overflows at n=1/, /divides by 0/, /must be positive/);
  const mod = reluModel();
  mod.desc.dims.push(["%", ["-", "n", 5], 3], ["//", ["-", "n", 5], 3], ["cdiv", ["-", 5, "n"], 3]);
  const rm = await load(writeModel(mod), fb); // floor modulo and divisions of negative values are fine
  assert.deepEqual((await rm.run({ x: ramp(2) })).y.dims, [2, 1]);
  rm.dispose();

  // an arena too small from n=2 on: each size's descriptor is validated as a version-1 one
  const tight = reluModel();
  tight.desc.dims.push(["+", ref(3), 8]);
  tight.desc.arena.byteLength = ref(5);
  const t = await load(writeModel(tight), fb);
  assert.deepEqual((await t.run({ x: ramp(2) })).y.dims, [2, 1]);
  await rejects(t.run({ x: ramp(6) }), DescriptorError, /descriptor .*descriptor\.json at n=3 tensors\[1\]: bytes 32\.\.56 lie outside the arena \(40 bytes\)/);
  assert.deepEqual((await t.run({ x: ramp(2) })).y.dims, [2, 1]); // the runner still works
  t.dispose();
});

test("a malformed expression table is refused at load, naming the entry", async () => {
  const deep = (d) => { let e = "n"; for (let i = 0; i < d; i++) e = ["+", e, 0]; return e; };
  const cases = [
    [(d) => { d.dims.push(["^", "n", 2]); }, /dims\[5\]: unknown operator "\^"/],
    [(d) => { d.dims.push([]); }, /dims\[5\]: unknown operator nothing/],
    [(d) => { d.dims.push(["-", "n", 1, 2]); }, /dims\[5\]: "-" takes exactly 2 operands, got 3/],
    [(d) => { d.dims.push(["+", "n"]); }, /dims\[5\]: "\+" takes 2 or more operands, got 1/],
    [(d) => { d.dims.push(["min", "n"]); }, /"min" takes 2 or more operands, got 1/],
    [(d) => { d.dims.push(["cdiv", "n", 2, 3]); }, /"cdiv" takes exactly 2 operands/],
    [(d) => { d.dims.splice(1, 0, ["+", ref(1), 1]); }, /dims\[1\]: \{"\$dim":1\} is not a reference to an earlier entry/, /here 0\.\.0/],
    [(d) => { d.dims.push(["+", ref(9), 1]); }, /dims\[5\]: \{"\$dim":9\} is not a reference to an earlier entry/],
    [(d) => { d.dims.push(ref(-1)); }, /dims\[5\]: \{"\$dim":-1\}/],
    [(d) => { d.dims.push(ref("0")); }, /dims\[5\]: \{"\$dim":"0"\}/],
    [(d) => { d.dims.push(deep(65)); }, /dims\[5\]: expression nested deeper than 64/],
    [(d) => { d.dims.push(["*", "n", 1.5]); }, /dims\[5\]: 1\.5 is not an integer/],
    [(d) => { d.dims.push(2 ** 53); }, /dims\[5\]: 9007199254740992 is not an integer/],
    [(d) => { d.dims.push(["+", "sq", 1]); }, /dims\[5\]: unknown symbol 'sq'/],
    [(d) => { d.dims.push(null); }, /dims\[5\]: null is not an expression/],
    [(d) => { d.dims.push({ $dim: 0, x: 1 }); }, /dims\[5\]: \{"\$dim":0,"x":1\} is not an expression/],
    [(d) => { d.dims = "n"; }, /"dims" must be a list of expressions/],
    [(d) => { delete d.dims; }, /"dims" must be a list/],
    [(d) => { d.symbols = []; }, /"symbols" must be a non-empty list/],
    [(d) => { d.symbols[0].name = "1x"; }, /symbols\[0\]: needs a name matching/, /"1x"/],
    [(d) => { d.symbols.push({ name: "n", min: 1, max: 2 }); }, /symbols\[1\]: symbol 'n' is listed twice/],
    [(d) => { d.symbols[0].min = -1; }, /min of 'n' must be a non-negative integer, got -1/],
    [(d) => { d.symbols[0].max = 0; }, /max of 'n' must be null \(unbounded\) or an integer ≥ min \(1\), got 0/],
    [(d) => { delete d.symbols[0].max; }, /max of 'n' must be null/, /got nothing/],
    [(d) => { d.symbols.push({ name: "m", min: 1, max: null }); }, /symbols: 'm' appears in no input's shape, so no input sets it/],
    [(d) => { d.dims.push(["+", "n", 0]); d.tensors[0].shape[1] = ref(5); },
      /input 'x' shape\[1\]: \{"\$dim":5\} is n \+ 0, but an input's dims must be integers or symbols/],
    [(d) => { d.tensors[1].offset = ref(99); }, /tensors\[1\]\.offset: \{"\$dim":99\} refers to no entry of "dims" \(it has 5\)/],
    [(d) => { d.kernels[0].attrs.deep = { a: [ref(5)] }; }, /kernels\[0\]\.attrs\.deep\.a\[0\]: \{"\$dim":5\} refers to no entry/],
    [(d) => { d.tensors[1].shape[1] = "n"; }, /tensors\[1\]\.shape: shape must be a list of non-negative integers/],
    [(d) => { d.weights.byteLength = ref(0); }, /weights: the weight files cannot depend on the input size/],
  ];
  for (const [edit, ...patterns] of cases) {
    await rejects(load(writeModel(reluModel(), { edit }), fb), DescriptorError, /descriptor .*descriptor\.json/, /re-convert/i, ...patterns);
  }
  // 64 deep, and an unused entry, are fine; so are references as whole entries
  const ok = await load(writeModel(reluModel(), { edit: (d) => { d.dims.push(deep(64), ref(4)); } }), fb);
  assert.deepEqual((await ok.run({ x: ramp(4) })).y.dims, [2, 2]);
  ok.dispose();
});

test("format versions: 2 only with symbols, 1 only without; the manifest's the descriptor's", async () => {
  await rejects(load(writeModel(reluModel(), { edit: (d) => { d.version = 1; } }), fb), DescriptorError,
    /has format version 1 but lists "symbols" or "dims": a model with symbolic dims has format version 2/);
  await rejects(load(writeModel(reluModel(), { edit: (d) => { delete d.symbols; delete d.dims; } }), fb), DescriptorError,
    /has format version 2, this runtime reads version 1 for a model without symbols/);
  await rejects(load(writeModel(reluModel(), { edit: (d) => { d.version = 3; } }), fb), DescriptorError,
    /has format version 3, this runtime reads version 1 \(fixed shapes\) and 2 \(symbolic dims\)/);
  await rejects(load(writeModel(reluModel(), { edit: (d) => { d.version = "2"; } }), fb), DescriptorError,
    /"version" must be the number 1 or 2/, /got "2" \(a JSON string\)/);
  await rejects(load(writeModel(reluModel(), { edit: (d, m) => { m.version = 1; } }), fb), DescriptorError,
    /manifest .*: has format version 1 but lists "symbols": a model with symbolic dims has format version 2/);
  await rejects(load(writeModel(reluModel(), { edit: (d, m) => { m.version = 1; delete m.symbols; } }), fb), DescriptorError,
    /manifest .*: shape must be a list of non-negative integers/);
  const fixedManifest = (d, m) => { m.version = 1; delete m.symbols; m.inputs[0].shape = m.outputs[0].shape = [2, 1]; };
  await rejects(load(writeModel(reluModel(), { edit: fixedManifest }), fb),
    DescriptorError, /descriptor .* has format version 2, the manifest 1/, /different conversions/);
});

test("the manifest's shapes are the descriptor's, with its references written out", async () => {
  const cases = [
    [(d, m) => { m.symbols.push({ name: "m", min: 1, max: 4 }); m.inputs[0].shape = [2, "m"]; },
      /has symbols \[1 ≤ n ≤ 512\], the manifest \[1 ≤ m ≤ 4, 1 ≤ n ≤ 512\]/],
    [(d, m) => { m.symbols[0].max = 256; }, /has symbols \[1 ≤ n ≤ 512\], the manifest \[1 ≤ n ≤ 256\]/],
    [(d, m) => { m.inputs[0].shape = [2, 3]; }, /input 'x' is float32 \[2, n\] here, the manifest says float32 \[2, 3\]/],
    [(d, m) => { m.outputs[0].shape = [2, ["*", 1, "n"]]; }, /output 'y' is float32 \[2, n\] here, the manifest says float32 \[2, 1\*n\]/],
    [(d, m) => { m.outputs[0].shape = [2, "n", 1]; }, /output 'y'/],
  ];
  for (const [edit, ...patterns] of cases) {
    await rejects(load(writeModel(reluModel(), { edit }), fb), DescriptorError, /different conversions/, ...patterns);
  }
  const expand = [
    [(d, m) => { m.outputs[0].shape = [3, ["*", "n", 2]]; }, /output 'y' is float32 \[3, 2\*n\] here, the manifest says float32 \[3, n\*2\]/],
    [(d, m) => { m.outputs[0].shape = [3, ["*", 2, "n", 1]]; }, /output 'y' is float32 \[3, 2\*n\]/],
  ];
  for (const [edit, ...patterns] of expand) {
    await rejects(load(writeModel(expandModel(), { edit }), fb), DescriptorError, /different conversions/, ...patterns);
  }
  // malformed manifest shapes
  const bad = [
    [(d, m) => { m.inputs[0].shape = [2, { $dim: 0 }]; }, /inputs\[0\]\.shape\[1\]: \{"\$dim":0\}: references are not allowed here/],
    [(d, m) => { m.inputs[0].shape = [2, ["^", "n", 2]]; }, /inputs\[0\]\.shape\[1\]: unknown operator "\^"/],
    [(d, m) => { m.inputs[0].shape = [2, "m"]; }, /inputs\[0\]\.shape\[1\]: unknown symbol 'm' \(the symbols are n\)/],
    [(d, m) => { delete m.symbols; }, /manifest .*: has format version 2, this runtime reads version 1 for a model without symbols \(version 2 needs "symbols"\)/],
    [(d, m) => { m.symbols = [{ name: "n", min: 2, max: 1 }]; }, /manifest .* symbols\[0\]: max of 'n' must be null/],
    [(d, m) => { m.inputs[0].shape = [-2, "n"]; }, /inputs\[0\]\.shape\[0\]: a dim must be a non-negative integer, got -2/],
    [(d, m) => { m.inputs[0].shape = "n"; }, /shape must be a list of dims/],
  ];
  for (const [edit, ...patterns] of bad) {
    await rejects(load(writeModel(reluModel(), { edit }), fb), DescriptorError, /manifest .*manifest\.json/, ...patterns);
  }
});

test("the wasm backend runs each size in its own instance, its own top-level fields written in too", async () => {
  const dist = join(here, "..", "dist");
  if (!existsSync(join(dist, "webdnn-kernels-simd128.wasm"))) throw new Error("runtime/dist is missing: build the runtime first (npm run build)");
  setWasmBaseUrl(`${pathToFileURL(dist).href}/`);
  const dir = writeModel(reluModel(), {
    backend: "wasm",
    edit: (d) => {
      d.dims.push(["*", 0, "n"]); // a reference in a backend's own field (the Relu runs as a JavaScript kernel: no stack)
      Object.assign(d, { wasm: { abi: 3, stackBytes: ref(5) }, jsKernels: ["Relu"] });
    },
  });
  const r = await load(dir, { backendOrder: ["wasm"], backendOptions: { wasm: { threads: 2 } } });
  for (const n of [2, 9, 2, 9]) {
    const x = ramp(2 * n);
    const { y } = await r.run({ x: { data: x, dims: [2, n] } });
    assert.deepEqual(y.dims, [2, n]);
    assert.deepEqual(Array.from(y.data), relu(x));
  }
  assert.equal(r.backendInfo.signatures, 2);
  assert.equal(r.backendInfo.threads, 2);
  r.dispose();
});

test("a model of fixed shapes has no symbols and no signatures", async () => {
  const m = reluModel();
  const desc = { ...m.desc, version: 1 };
  delete desc.symbols;
  delete desc.dims;
  desc.tensors = [
    { name: "x", dtype: "float32", shape: [2, 3], memory: "arena", offset: 0, byteLength: 24 },
    { name: "y", dtype: "float32", shape: [2, 3], memory: "arena", offset: 32, byteLength: 24 },
  ];
  desc.arena = { byteLength: 56, alignment: 16, naiveByteLength: 56 };
  const manifest = { ...m.manifest, version: 1 };
  manifest.inputs = [{ name: "x", dtype: "float32", shape: [2, 3] }];
  manifest.outputs = [{ name: "y", dtype: "float32", shape: [2, 3] }];
  const r = await load(writeModel({ desc, manifest }), fb);
  assert.deepEqual(r.symbols, []);
  assert.deepEqual(r.inputs, [{ name: "x", dtype: "float32", shape: [2, 3] }]);
  assert.equal("signatures" in r.backendInfo, false);
  assert.deepEqual((await r.run({ x: ramp(6) })).y.dims, [2, 3]);
  r.dispose();
});

/** y = Expand(x, [3, n]) where n is the value of input k (a value input, int64 [1]); n must be even. */
function valueModel() {
  return {
    desc: {
      format: "webdnn-descriptor", version: 2, backend: "fallback", model: "values",
      symbols: [{ name: "n", min: 1, max: null }],
      dims: ["n", ["*", 12, "n"], ["%", "n", 2], ["+", 32, ref(1)]],
      requires: [[ref(2), 0, "node 'Expand_0' (Expand): n must be even"]],
      inputs: [{ name: "x", tensor: 0 }, { name: "k", tensor: 1, values: [ref(0)] }], outputs: [{ name: "y", tensor: 2 }],
      tensors: [
        { name: "x", dtype: "float32", shape: [1, 1], memory: "arena", offset: 0, byteLength: 4 },
        { name: "k", dtype: "int64", shape: [1], memory: "arena", offset: 16, byteLength: 8 },
        { name: "y", dtype: "float32", shape: [3, ref(0)], memory: "arena", offset: 32, byteLength: ref(1) },
      ],
      arena: { byteLength: ref(3), alignment: 16, naiveByteLength: ref(3) },
      weights: { byteLength: 0, alignment: 16, files: [] },
      kernels: [{ op: "Expand", name: "Expand_0", inputs: [0], outputs: [2], attrs: { shape: [3, ref(0)] } }],
    },
    manifest: {
      format: "webdnn-model", version: 2, name: "values",
      inputs: [{ name: "x", dtype: "float32", shape: [1, 1] }, { name: "k", dtype: "int64", shape: [1], values: ["n"] }],
      outputs: [{ name: "y", dtype: "float32", shape: [3, "n"] }],
    },
  };
}

test("a value input's data sets its symbols; the model's requirements on them are checked per size", async () => {
  const r = await load(writeModel(valueModel()), fb);
  assert.deepEqual(r.inputs[1].values, ["n"]);
  for (const n of [4, 2, 4]) {
    const y = (await r.run({ x: Float32Array.of(7), k: BigInt64Array.of(BigInt(n)) })).y;
    assert.deepEqual(y.dims, [3, n]);
    assert.deepEqual(Array.from(y.data), new Array(3 * n).fill(7));
  }
  await rejects(r.run({ x: Float32Array.of(7), k: BigInt64Array.of(3n) }), InputError, /n must be even; at n=3 that is 1 against 0/);
  await rejects(r.run({ x: Float32Array.of(7), k: BigInt64Array.of(0n) }), InputError, /input 'k' element 0 \(sets 'n'\) is 0; the model allows n ≥ 1/);
  r.dispose?.();
});

test("a malformed value input or requirement is a DescriptorError naming it", async () => {
  const bad = [
    [(d) => { d.inputs[1].values = [ref(0), ref(0)]; }, /inputs\[1\] \('k'\) values/, /one symbol per element \(1\)/],
    [(d) => { d.inputs[1].values = [ref(1)]; }, /inputs\[1\] \('k'\) values\[0\]/, /must refer to a bare symbol/],
    [(d) => { d.inputs[0].values = [ref(0)]; }, /inputs\[0\] \('x'\) values/, /must be int32 or int64/],
    [(d) => { d.requires = [[ref(2), 0]]; }, /requires\[0\]/, /\[lhs, rhs, message\]/],
    [(d) => { d.requires = [[ref(9), 0, "x"]]; }, /requires\[0\]\[0\]/, /an integer or a reference into "dims"/],
    [(d) => { delete d.inputs[1].values; }, /'n' appears in no input's shape/],
  ];
  for (const [edit, ...patterns] of bad) await rejects(load(writeModel(valueModel(), { edit }), fb), DescriptorError, ...patterns);
});
