// Run many converted models in one Node process (the conformance runner's Node mode).
// Usage: node node_batch.mjs <runtime dist/webdnn.mjs> <spec.json> <first job index>
//   spec: {backendOrder, jobs: [{model, inputs: [{name, path, dtype}], outDir}]}
// For each job from the first index: runs it once, writes outDir/output<i>.bin and prints
// one JSON line {i, ok: true, backend, outputs: [{name, dtype, dims, path}]} or
// {i, ok: false, error}. The driver restarts it after a job that hangs or crashes it.
// WebGPU backends run through the npm `webgpu` package (Dawn, a devDependency of runtime/), as in
// runtime/tools/run-node.mjs; the driver picks the Vulkan driver by environment (node_batch.py).
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const WebDNN = await import(pathToFileURL(process.argv[2]).href);
const spec = JSON.parse(readFileSync(process.argv[3], "utf8"));
const ARRAYS = {
  float32: Float32Array, float64: Float64Array, int64: BigInt64Array, int32: Int32Array, int16: Int16Array,
  int8: Int8Array, uint8: Uint8Array, bool: Uint8Array, float16: Uint16Array,
};

const backendOptions = {};
if (spec.backendOrder.some((b) => b.startsWith("webgpu")) && !globalThis.navigator?.gpu) {
  // resolved from the runtime build (runtime/node_modules), not from this script's folder
  const dawn = await Promise.resolve()
    .then(() => import(pathToFileURL(createRequire(process.argv[2]).resolve("webgpu")).href))
    .catch(() => null); // absent -> webgpu unavailable, each job says so
  if (dawn) backendOptions.webgpu = { gpu: dawn.create([]) };
}

async function runJob(job) {
  const runner = await WebDNN.load(job.model, { backendOrder: spec.backendOrder, backendOptions });
  try {
    const inputs = {};
    for (const inp of job.inputs) {
      const buf = readFileSync(inp.path);
      inputs[inp.name] = new ARRAYS[inp.dtype](buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    }
    const outs = await runner.run(inputs);
    const outputs = Object.entries(outs).map(([name, t], i) => {
      const path = join(job.outDir, `output${i}.bin`);
      writeFileSync(path, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
      return { name, dtype: t.dtype, dims: t.dims, path };
    });
    return { backend: runner.backend, outputs };
  } finally {
    runner.dispose();
  }
}

for (let i = Number(process.argv[4] ?? 0); i < spec.jobs.length; i++) {
  let line;
  try {
    line = { i, ok: true, ...(await runJob(spec.jobs[i])) };
  } catch (e) {
    line = { i, ok: false, error: e && e.stack ? String(e.stack) : String(e) };
  }
  process.stdout.write(JSON.stringify(line) + "\n");
}
process.exit(0); // Dawn's device threads may keep the event loop alive
