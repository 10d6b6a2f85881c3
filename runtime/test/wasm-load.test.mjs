// The wasm backend's loading in Node, with the built kernel modules (runtime/dist): worker threads
// that cannot start leave it single-threaded (and backendInfo says why) instead of failing; a
// kernel file that does not compile is a LoadError; sizes beyond wasm32 are refused before any
// weight is downloaded. The model written here is one Relu (run by the JavaScript kernel on the
// wasm memory). The browser's policies (CSP, Trusted Types, COOP/COEP) are tested in Chromium by
// tests/e2e/test_policies.py.
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "..", "dist");
const KERNELS = ["simd128", "relaxed"].flatMap((s) => [`webdnn-kernels-${s}.wasm`, `webdnn-kernels-${s}-mt.wasm`]);
for (const f of [...KERNELS, "webdnn-wasm-worker.js"]) {
  if (!existsSync(join(dist, f))) throw new Error(`runtime/dist/${f} is missing: build the runtime first (npm run build)`);
}
const tmp = mkdtempSync(join(tmpdir(), "webdnn-wasm-load-test-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));
const outfile = join(tmp, "webdnn.mjs");
await build({ entryPoints: [join(here, "..", "src", "index.ts")], bundle: true, format: "esm", platform: "node", outfile, logLevel: "error" });
const { load, setWasmBaseUrl, LoadError, DescriptorError } = await import(pathToFileURL(outfile).href);

/** A directory of wasm backend files: the built kernels (or `kernel` bytes instead), with or without the worker script. */
function filesDir(name, { worker = true, kernel = null } = {}) {
  const dir = join(tmp, name);
  mkdirSync(dir);
  for (const f of KERNELS) {
    if (kernel) writeFileSync(join(dir, f), kernel);
    else copyFileSync(join(dist, f), join(dir, f));
  }
  if (worker) copyFileSync(join(dist, "webdnn-wasm-worker.js"), join(dir, "webdnn-wasm-worker.js"));
  return `${pathToFileURL(dir).href}/`;
}

let count = 0;
/** A converted-model directory for the wasm backend: y = Relu(x), float32 [2, 3]. */
function writeModel(edit = () => {}) {
  const dir = join(tmp, `m${count++}`);
  mkdirSync(join(dir, "wasm"), { recursive: true });
  const desc = {
    format: "webdnn-descriptor", version: 1, backend: "wasm", model: "t",
    inputs: [{ name: "x", tensor: 0 }], outputs: [{ name: "y", tensor: 1 }],
    tensors: [
      { name: "x", dtype: "float32", shape: [2, 3], memory: "arena", offset: 0, byteLength: 24 },
      { name: "y", dtype: "float32", shape: [2, 3], memory: "arena", offset: 32, byteLength: 24 },
    ],
    arena: { byteLength: 56, alignment: 16, naiveByteLength: 56 },
    weights: { byteLength: 0, alignment: 16, files: [] },
    // attrs.expr: the expression program the converter writes for a float unary op (ops/expr.py).
    kernels: [{ op: "Relu", name: "Relu_0", inputs: [0], outputs: [1], attrs: { expr: [["x", 0], ["c", 0], ["max", 0, 1]] } }],
    wasm: { abi: 3, stackBytes: 0 }, jsKernels: ["Relu"],
  };
  edit(desc);
  const manifest = {
    format: "webdnn-model", version: 1, name: "t",
    inputs: [{ name: "x", dtype: "float32", shape: [2, 3] }], outputs: [{ name: "y", dtype: "float32", shape: [2, 3] }],
    backends: { wasm: { descriptor: "wasm/descriptor.json", byteLength: desc.weights.byteLength } },
  };
  writeFileSync(join(dir, "wasm", "descriptor.json"), JSON.stringify(desc));
  writeFileSync(join(dir, "manifest.json"), JSON.stringify(manifest));
  return dir;
}

const X = new Float32Array([-1, 2, -3, 4, -5, 6]);
const RELU = [0, 2, 0, 4, 0, 6];

test("with the worker script present, threads start", async () => {
  setWasmBaseUrl(filesDir("all"));
  const r = await load(writeModel(), { backendOrder: ["wasm"], backendOptions: { wasm: { threads: 2 } } });
  assert.equal(r.backendInfo.threads, 2);
  assert.equal(r.backendInfo.threadsNote, undefined);
  assert.deepEqual(Array.from((await r.run({ x: X })).y.data), RELU);
  r.dispose();
});

test("workers that cannot start leave the wasm backend single-threaded, and backendInfo says why", async () => {
  setWasmBaseUrl(filesDir("noworker", { worker: false }));
  const r = await load(writeModel(), { backendOrder: ["wasm"], backendOptions: { wasm: { threads: 2 } } });
  assert.equal(r.backend, "wasm");
  assert.equal(r.backendInfo.threads, 1);
  assert.match(r.backendInfo.threadsNote, /single-threaded: the worker threads could not start/);
  assert.match(r.backendInfo.threadsNote, /webdnn-wasm-worker\.js/);
  for (let i = 0; i < 3; i++) assert.deepEqual(Array.from((await r.run({ x: X })).y.data), RELU);
  r.dispose();
});

test("a kernel file that does not compile is a LoadError naming it", async () => {
  setWasmBaseUrl(filesDir("badkernel", { kernel: new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 99, 99, 99]) }));
  await assert.rejects(load(writeModel(), { backendOrder: ["wasm"] }), (e) => {
    assert.ok(e instanceof LoadError, `${e.name}: ${e.message}`);
    assert.match(e.message, /webdnn-kernels-.*\.wasm do not compile/);
    return true;
  });
});

test("a model beyond wasm32's 4 GiB is refused before its weights are downloaded", async () => {
  setWasmBaseUrl(filesDir("big"));
  // the weight file does not exist: reading it would fail with a LoadError
  const dir = writeModel((d) => {
    d.arena.byteLength = 2 ** 40;
    d.weights = { byteLength: 4, alignment: 16, files: [{ path: "weights-0.bin", offset: 0, byteLength: 4, crc32: 0 }] };
  });
  await assert.rejects(load(dir, { backendOrder: ["wasm"] }), (e) => {
    assert.ok(e instanceof DescriptorError, `${e.name}: ${e.message}`);
    assert.match(e.message, /needs \d+ bytes of wasm memory, more than wasm32's 4 GiB/);
    return true;
  });
  setWasmBaseUrl(undefined);
});
