// The public API's checks, on the real loader and the real fallback backend (a model written
// here: one Relu), in Node: every bad argument to run(), every name an input or output may have,
// edited manifests and descriptors (version types, sizes nothing can allocate, a manifest that
// does not match its descriptor) give a WebDNNError subclass that says what and where.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "webdnn-api-test-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));
const outfile = join(tmp, "webdnn.mjs");
await build({
  entryPoints: [join(here, "..", "src", "index.ts")],
  bundle: true, format: "esm", platform: "node", outfile, logLevel: "error",
});
const WebDNN = await import(pathToFileURL(outfile).href);
const { load, WebDNNError, InputError, DescriptorError, BackendUnavailableError } = WebDNN;

let count = 0;
/** A converted-model directory for the fallback backend: out = Relu(in), float32 [2, 3]. */
function writeModel({ input = "x", output = "y", edit = () => {}, editManifest = () => {} } = {}) {
  const dir = join(tmp, `m${count++}`);
  mkdirSync(join(dir, "fallback"), { recursive: true });
  const desc = {
    format: "webdnn-descriptor", version: 1, backend: "fallback", model: "t",
    inputs: [{ name: input, tensor: 0 }], outputs: [{ name: output, tensor: 1 }],
    tensors: [
      { name: input, dtype: "float32", shape: [2, 3], memory: "arena", offset: 0, byteLength: 24 },
      { name: output, dtype: "float32", shape: [2, 3], memory: "arena", offset: 32, byteLength: 24 },
    ],
    arena: { byteLength: 56, alignment: 16, naiveByteLength: 56 },
    weights: { byteLength: 0, alignment: 16, files: [] },
    // attrs.expr: the expression program the converter writes for a float unary op (ops/expr.py).
    kernels: [{ op: "Relu", name: "Relu_0", inputs: [0], outputs: [1], attrs: { expr: [["x", 0], ["c", 0], ["max", 0, 1]] } }],
  };
  const manifest = {
    format: "webdnn-model", version: 1, name: "t",
    inputs: [{ name: input, dtype: "float32", shape: [2, 3] }], outputs: [{ name: output, dtype: "float32", shape: [2, 3] }],
    backends: { fallback: { descriptor: "fallback/descriptor.json", byteLength: 0 } },
  };
  edit(desc);
  editManifest(manifest);
  writeFileSync(join(dir, "fallback", "descriptor.json"), JSON.stringify(desc));
  writeFileSync(join(dir, "manifest.json"), JSON.stringify(manifest));
  return dir;
}

const X = new Float32Array([-1, 2, -3, 4, -5, 6]);
const RELU = [0, 2, 0, 4, 0, 6];

/** Rejects with `cls` (a WebDNNError subclass) whose message matches every pattern. */
async function rejects(promise, cls, ...patterns) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${e?.name}: ${e?.message}`);
    assert.ok(e instanceof WebDNNError);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

test("run() names what is wrong with each bad argument and what to pass", async () => {
  const r = await load(writeModel(), { backendOrder: ["fallback"] });
  const what = /Float32Array/;
  await rejects(r.run(null), InputError, /run\(\) takes an object/, /got null/, /\{ x: Float32Array of 6 elements \(float32, shape \[2, 3\]\) \}/);
  await rejects(r.run(undefined), InputError, /run\(\) takes an object/, /got undefined/);
  await rejects(r.run([X]), InputError, /run\(\) takes an object/, /got an Array/);
  await rejects(r.run("x"), InputError, /run\(\) takes an object/, /got a string/);
  await rejects(r.run(7), InputError, /run\(\) takes an object/, /got a number/);
  await rejects(r.run(X), InputError, /run\(\) takes an object/, /got a Float32Array/, /\{ x: /);
  await rejects(r.run({ x: [-1, 2, -3, 4, -5, 6] }), InputError, /input 'x' is an Array/, /new Float32Array/);
  await rejects(r.run({ x: "abc" }), InputError, /input 'x' is a string/, what);
  await rejects(r.run({ x: 3 }), InputError, /input 'x' is a number/, what);
  await rejects(r.run({ x: null }), InputError, /input 'x' is null/, what);
  await rejects(r.run({ x: {} }), InputError, /input 'x'/, /\{ data, dims \}/);
  await rejects(r.run({ x: { data: [1, 2, 3, 4, 5, 6] } }), InputError, /input 'x': data is an Array/, what);
  await rejects(r.run({ x: { data: "abc", dims: [2, 3] } }), InputError, /input 'x': data is a string/, what);
  await rejects(r.run({ x: { data: X, dims: "2,3" } }), InputError, /input 'x': dims must be an array of non-negative integers/, /got "2,3"/);
  await rejects(r.run({ x: { data: X, dims: [2, -3] } }), InputError, /dims must be an array of non-negative integers/, /\[2,-3\]/);
  await rejects(r.run({ x: { data: X, dims: [2, 1.5] } }), InputError, /dims must be an array of non-negative integers/);
  await rejects(r.run({ x: { data: X, dims: [3, 2] } }), InputError, /input 'x' has dims \[3, 2\], the model expects \[2, 3\]/);
  await rejects(r.run({ x: new Float64Array(6) }), InputError, /must be a Float32Array \(float32\), got Float64Array/);
  await rejects(r.run({ x: new Float32Array(5) }), InputError, /has 5 elements, the model expects 6/);
  await rejects(r.run({ x: X }, "gpu"), InputError, /run\(\)'s options must be an object/);
  await rejects(r.run({ x: X, z: X }), InputError, /unknown input\(s\) z/);
  // inherited properties are not inputs: 'toString' is no input here, and no model input is found on Object.prototype
  await rejects(r.run(Object.create({ x: X })), InputError, /missing input 'x'/);
  // the runner still works after every refusal
  assert.deepEqual(Array.from((await r.run({ x: X })).y.data), RELU);
  assert.deepEqual(Array.from((await r.run({ x: { data: X, dims: [2, 3] } })).y.data), RELU);
  r.dispose();
});

test("inputs and outputs may have any name, __proto__ and constructor included", async () => {
  for (const [input, output] of [["__proto__", "__proto__"], ["constructor", "toString"], ["hasOwnProperty", "valueOf"]]) {
    const r = await load(writeModel({ input, output }), { backendOrder: ["fallback"] });
    const inputs = {};
    Object.defineProperty(inputs, input, { value: X, enumerable: true });
    const out = await r.run(inputs);
    assert.ok(Object.prototype.hasOwnProperty.call(out, output), `output '${output}' is missing`);
    assert.deepEqual(Object.keys(out), [output]);
    assert.deepEqual(Array.from(out[output].data), RELU, `output '${output}'`);
    r.dispose();
  }
  const r = await load(writeModel({ input: "__proto__" }), { backendOrder: ["fallback"] });
  // `{ __proto__: X }` sets the prototype, it makes no input: say how to pass one
  await rejects(r.run({ __proto__: X }), InputError, /missing input '__proto__'/, /own property/);
  r.dispose();
});

test("a format version that is not the number 1 says what it must be", async () => {
  await rejects(load(writeModel({ editManifest: (m) => { m.version = "1"; } })), DescriptorError,
    /manifest .*manifest\.json/, /"version" must be the number 1/, /got "1" \(a JSON string\)/);
  await rejects(load(writeModel({ edit: (d) => { d.version = "1"; } })), DescriptorError,
    /descriptor .*descriptor\.json/, /"version" must be the number 1/, /got "1" \(a JSON string\)/);
  await rejects(load(writeModel({ edit: (d) => { d.version = null; } })), DescriptorError, /got null \(a JSON null\)/);
  await rejects(load(writeModel({ edit: (d) => { d.version = 2; } })), DescriptorError, /has format version 2, this runtime reads version 1/);
});

test("a backend's digest is optional, and a string where present", async () => {
  const digest = (v) => (m) => { m.backends.fallback.digest = v; };
  const r = await load(writeModel({ editManifest: digest("sha256:00ff") }), { backendOrder: ["fallback"] });
  r.dispose();
  await rejects(load(writeModel({ editManifest: digest(12) }), { backendOrder: ["fallback"] }), DescriptorError,
    /backends\.fallback\.digest/, /must be a string/);
});

test("a manifest that does not match its descriptor is refused", async () => {
  const cases = [
    [(m) => { m.inputs[0].name = "image"; }, /manifest lists input 'image'/, /its inputs are \[x\]/],
    [(m) => { m.inputs[0].dtype = "int32"; }, /input 'x'/, /int32 \[2, 3\]/, /float32 \[2, 3\]/],
    [(m) => { m.inputs[0].shape = [1, 6]; }, /input 'x'/, /\[1, 6\]/, /\[2, 3\]/],
    [(m) => { m.outputs[0].shape = [6]; }, /output 'y'/, /\[6\]/],
    [(m) => { m.outputs.push({ name: "z", dtype: "float32", shape: [1] }); }, /output/, /z/],
  ];
  for (const [edit, ...patterns] of cases) {
    await rejects(load(writeModel({ editManifest: edit }), { backendOrder: ["fallback"] }), DescriptorError,
      /descriptor.json/, /re-convert/i, ...patterns);
  }
});

test("sizes nothing can allocate give a clear error naming them, not a RangeError", async () => {
  const arena = 2 ** 40;
  await rejects(load(writeModel({ edit: (d) => { d.arena.byteLength = arena; } }), { backendOrder: ["fallback"] }),
    BackendUnavailableError, /fallback/, new RegExp(`arena of ${arena} bytes`), /1024\.0 GiB/);
  const dir = writeModel({
    edit: (d) => {
      d.weights = { byteLength: arena, alignment: 16, files: [{ path: "weights-0.bin", offset: 0, byteLength: arena, crc32: 0 }] };
    },
  });
  writeFileSync(join(dir, "fallback", "weights-0.bin"), new Uint8Array(4));
  await rejects(load(dir, { backendOrder: ["fallback"] }), BackendUnavailableError, new RegExp(`weights of ${arena} bytes`));
});

test("backendInfo says why each earlier backend was skipped", async () => {
  // webgpu's and webgl's files do not exist: being unavailable in Node, nothing of them is downloaded
  const dir = writeModel({
    editManifest: (m) => {
      m.backends.webgl = { descriptor: "webgl/descriptor.json", byteLength: 0 };
      m.backends.webgpu = { descriptor: "webgpu/descriptor.json", byteLength: 0 };
    },
  });
  const r = await load(dir, { backendOrder: ["webgpu", "webgl", "nosuch", "wasm", "fallback"] });
  assert.equal(r.backend, "fallback");
  const skipped = r.backendInfo.skipped;
  assert.deepEqual(skipped.map((s) => s.backend), ["webgpu", "webgl", "nosuch", "wasm"]);
  assert.match(skipped[0].reason, /no WebGPU here \(Node has no navigator\.gpu: pass backendOptions\.webgpu\.gpu/);
  assert.match(skipped[1].reason, /WebGL2/);
  assert.match(skipped[2].reason, /not in this runtime/);
  assert.match(skipped[3].reason, /not converted for this model/);
  const direct = await load(writeModel(), { backendOrder: ["fallback"] });
  assert.deepEqual(direct.backendInfo.skipped, []);
});

test("environment() says which backends run here and why the others do not", async () => {
  const env = await WebDNN.environment();
  assert.equal(env.backends.fallback, null);
  assert.equal(env.backends.wasm, null);
  assert.match(env.backends.webgpu, /Node has no navigator\.gpu/);
  assert.match(env.backends.webgl, /no WebGL2 here/);
  assert.ok(env.wasm.simd === "simd128" || env.wasm.simd === "relaxed");
  assert.equal(env.wasm.threads, null); // Node: worker_threads on a shared memory
  assert.ok(env.wasm.hardwareThreads >= 1);
});
