// Where does a model's time go on the wasm backend? Runs it in Node with per-kernel timing.
// Usage: node runtime/tools/profile-node.mjs MODEL_DIR [THREADS] [RUNS]
// Prints the kernels grouped by (op, wasm export or "js"), slowest first, with their share of
// the run, then the ten slowest single kernels. Inputs are zeros (timing does not depend on them).
import * as WebDNN from "../dist/webdnn.mjs";

const [dir, threadsArg, runsArg] = process.argv.slice(2);
if (!dir) {
  console.error("usage: node runtime/tools/profile-node.mjs MODEL_DIR [THREADS] [RUNS]");
  process.exit(2);
}
const runs = Number(runsArg ?? 10);
const wasm = { profile: true, ...(threadsArg ? { threads: Number(threadsArg) } : {}) };
const runner = await WebDNN.load(dir, { backendOrder: ["wasm"], backendOptions: { wasm } });
const ARRAYS = { float32: Float32Array, int64: BigInt64Array, int32: Int32Array, bool: Uint8Array, uint8: Uint8Array };
const feeds = {};
for (const i of runner.inputs) feeds[i.name] = new (ARRAYS[i.dtype] ?? Float32Array)(i.shape.reduce((a, b) => a * b, 1));
await runner.run(feeds); // warm-up, then reset the counters
const profile = runner.backendInfo.profile;
for (const e of profile) { e.ms = 0; e.calls = 0; }
const t0 = performance.now();
for (let i = 0; i < runs; i++) await runner.run(feeds);
const wall = (performance.now() - t0) / runs;
const groups = new Map();
for (const e of profile) {
  const key = `${e.op} [${e.fn}]`;
  const g = groups.get(key) ?? { key, ms: 0, kernels: 0 };
  g.ms += e.ms / runs;
  g.kernels++;
  groups.set(key, g);
}
const total = profile.reduce((a, e) => a + e.ms, 0) / runs;
const { threads, simd } = runner.backendInfo;
console.log(`${dir}: ${wall.toFixed(1)} ms per run (${threads} threads, ${simd}); kernels ${total.toFixed(1)} ms`);
for (const g of [...groups.values()].sort((a, b) => b.ms - a.ms)) {
  console.log(`${g.ms.toFixed(2).padStart(9)} ms ${((100 * g.ms) / total).toFixed(1).padStart(5)}%  ${String(g.kernels).padStart(4)}x  ${g.key}`);
}
console.log("slowest kernels:");
for (const e of [...profile].sort((a, b) => b.ms - a.ms).slice(0, 10)) {
  console.log(`${(e.ms / runs).toFixed(2).padStart(9)} ms  ${e.op} [${e.fn}] ${e.kernel}`);
}
runner.dispose();
