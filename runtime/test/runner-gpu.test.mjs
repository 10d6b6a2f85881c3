// Runner's side of GPU-resident inputs/outputs, without a GPU: what it checks before a backend
// sees the inputs, how it refuses GPU buffers on backends that cannot take them, and how it
// wraps GPU outputs. The webgpu backend itself is tested on a (software) GPU by
// tests/backends/webgpu/test_webgpu_lifecycle.py (Node and Chromium).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "webdnn-runner-test-"));
let mod;
try {
  const outfile = join(tmp, "runner.mjs");
  await build({
    stdin: {
      contents: 'export { Runner } from "./runner.ts";\nexport { InputError } from "./errors.ts";',
      resolveDir: join(here, "..", "src"),
      loader: "ts",
    },
    bundle: true, format: "esm", platform: "neutral", outfile, logLevel: "error",
  });
  mod = await import(pathToFileURL(outfile).href);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
const { Runner, InputError } = mod;

// x: float32[2, 3] -> y: bool[3]
const desc = {
  inputs: [{ name: "x", tensor: 0 }],
  outputs: [{ name: "y", tensor: 1 }],
  tensors: [{ dtype: "float32", shape: [2, 3] }, { dtype: "bool", shape: [3] }],
};

/** A session that records what it was given; `gpu` adds runGpu as the webgpu backend has it. */
function fakeSession(gpu) {
  const calls = [];
  const s = {
    calls,
    run: async (inputs) => { calls.push({ kind: "run", inputs }); return [new Uint8Array([1, 0, 1])]; },
    dispose: () => {},
  };
  if (gpu) {
    s.gpuDevice = { label: "fake device" };
    s.runGpu = async (inputs, gpuOutputs) => {
      calls.push({ kind: "runGpu", inputs, gpuOutputs });
      if (!gpuOutputs) return [new Uint8Array([0, 1, 0])];
      const buffer = { size: 4, destroyed: false, destroy() { this.destroyed = true; } };
      return [{ gpuBuffer: buffer, read: async () => new Uint8Array([1, 1, 0]) }];
    };
  }
  return s;
}

const x = new Float32Array(6);
const gpuBuffer = { size: 24, usage: 0x84 };

test("a backend without runGpu refuses GPU inputs and GPU outputs, naming the backend", async () => {
  const s = fakeSession(false);
  const r = new Runner("wasm", desc, s);
  assert.equal(r.gpuDevice, undefined);
  await assert.rejects(r.run({ x: { gpuBuffer } }), (e) => e instanceof InputError &&
    /input 'x' is a GPU buffer, but this runner uses the wasm backend/.test(e.message) && /only the webgpu backend/.test(e.message));
  await assert.rejects(r.run({ x }, { outputLocation: "gpu-buffer" }), (e) => e instanceof InputError &&
    /outputLocation "gpu-buffer".*wasm backend/.test(e.message));
  assert.equal(s.calls.length, 0);
  const out = await r.run({ x });
  assert.deepEqual(Array.from(out.y.data), [1, 0, 1]);
});

test("GPU inputs are checked for dims and dtype, then handed over as buffers", async () => {
  const s = fakeSession(true);
  const r = new Runner("webgpu", desc, s);
  assert.equal(r.gpuDevice.label, "fake device");
  await assert.rejects(r.run({ x: { gpuBuffer, dims: [6] } }), /input 'x' has dims \[6\], the model expects \[2, 3\]/);
  await assert.rejects(r.run({ x: { gpuBuffer, dtype: "int32" } }), /GPU buffer of int32, the model expects float32/);
  await assert.rejects(r.run({ x: { gpuBuffer: null } }), /gpuBuffer must be a GPUBuffer/);
  await assert.rejects(r.run({ x }, { outputLocation: "gpu" }), /outputLocation must be "cpu" or "gpu-buffer"/);
  assert.equal(s.calls.length, 0);
  const out = await r.run({ x: { gpuBuffer, dims: [2, 3], dtype: "float32" } });
  assert.deepEqual(s.calls[0], { kind: "runGpu", inputs: [{ gpuBuffer }], gpuOutputs: false });
  assert.deepEqual(Array.from(out.y.data), [0, 1, 0]);
  // typed arrays only and CPU outputs: the plain path
  await r.run({ x });
  assert.equal(s.calls[1].kind, "run");
});

test("GPU outputs come back as GpuTensors the caller can read and free", async () => {
  const s = fakeSession(true);
  const r = new Runner("webgpu", desc, s);
  const { y } = await r.run({ x }, { outputLocation: "gpu-buffer" });
  assert.deepEqual(s.calls[0].inputs, [x]);
  assert.equal(s.calls[0].gpuOutputs, true);
  assert.deepEqual(y.dims, [3]);
  assert.equal(y.dtype, "bool");
  assert.equal(y.byteLength, 3); // one byte per bool; the buffer is rounded up to 4
  assert.deepEqual(Array.from(await y.read()), [1, 1, 0]);
  y.dispose();
  assert.equal(y.gpuBuffer.destroyed, true);
  // a GpuTensor is a valid GPU input (dims and dtype are checked against the input's)
  await assert.rejects(r.run({ x: y }), /input 'x' has dims \[3\], the model expects \[2, 3\]/);
  r.dispose();
  assert.equal(r.gpuDevice, undefined);
});
