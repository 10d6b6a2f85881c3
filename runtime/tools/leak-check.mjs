// Memory check of the runtime in Node: many runs of one loaded model, then load/run/dispose
// cycles, with the process's memory read (after a full GC) at each checkpoint. Used by
// tests/e2e/test_memory.py. Run with `node --expose-gc`.
//   node --expose-gc leak-check.mjs MODEL_DIR BACKEND [--runs 1000] [--cycles 20] [--threads N]
// Prints one JSON line: the memory figures at each checkpoint (bytes) and whether every run's
// outputs were bit-identical to the first run's.
import * as WebDNN from "../dist/webdnn.mjs";

const [model, backend, ...rest] = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = rest.indexOf(`--${name}`);
  return i >= 0 ? Number(rest[i + 1]) : dflt;
};
const runs = opt("runs", 1000), cycles = opt("cycles", 20), threads = opt("threads", 0);
if (!model || !backend || typeof globalThis.gc !== "function") {
  console.error("usage: node --expose-gc leak-check.mjs MODEL_DIR BACKEND [--runs N] [--cycles N] [--threads N]");
  process.exit(2);
}

const backendOptions = {};
if (threads) backendOptions.wasm = { threads };
if (backend.startsWith("webgpu")) {
  const dawn = await import("webgpu");
  backendOptions.webgpu = { gpu: dawn.create([]) };
}
const options = { backendOrder: [backend], backendOptions };

const ARRAYS = { float32: Float32Array, int64: BigInt64Array, int32: Int32Array, uint8: Uint8Array, bool: Uint8Array };
/** Seeded inputs shaped as the model says. */
function inputsFor(runner) {
  let s = 12345;
  const next = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const inputs = {};
  for (const spec of runner.inputs) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const Ctor = ARRAYS[spec.dtype];
    if (!Ctor) throw new Error(`leak-check: no input generator for dtype ${spec.dtype}`);
    const a = new Ctor(n);
    for (let i = 0; i < n; i++) a[i] = spec.dtype === "int64" ? BigInt(i % 7) : spec.dtype === "float32" ? next() : i % 2;
    inputs[spec.name] = { data: a, dims: spec.shape };
  }
  return inputs;
}

const sameBits = (a, b) => {
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength), y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  return x.length === y.length && x.every((v, i) => v === y[i]);
};

async function settle() {
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 20));
    globalThis.gc();
  }
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
}

const base = await settle();
let runner = await WebDNN.load(model, options);
const inputs = inputsFor(runner);
const first = await runner.run(inputs);
for (let i = 0; i < 20; i++) await runner.run(inputs); // warm-up: caches, JIT, pools
const warm = await settle();
let identical = true;
for (let i = 0; i < runs; i++) {
  const out = await runner.run(inputs);
  if (i % 50 === 0 || i === runs - 1) {
    for (const [name, t] of Object.entries(out)) identical &&= sameBits(t.data, first[name].data);
  }
}
const afterRuns = await settle();
const info = runner.backendInfo;
runner.dispose();
const afterDispose = await settle();
for (let c = 0; c < cycles; c++) {
  runner = await WebDNN.load(model, options);
  const out = await runner.run(inputs);
  for (const [name, t] of Object.entries(out)) identical &&= sameBits(t.data, first[name].data);
  runner.dispose();
}
const afterCycles = await settle();
console.log(JSON.stringify({ backend, runs, cycles, backendInfo: info, identical, base, warm, afterRuns, afterDispose, afterCycles }));
process.exit(0); // Dawn's device threads may keep the event loop alive
