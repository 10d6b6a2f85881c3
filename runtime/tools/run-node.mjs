// Run a converted model in Node with the built runtime (used by `webdnn run --node`
// and the tests). Usage: node run-node.mjs spec.json
//   spec: {model, backendOrder, backendOptions, inputs: [{name, path, dtype, dims?}], warmup, repeat, outDir}
// Writes outDir/output<i>.bin and prints one JSON line with timings and output metadata.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as WebDNN from "../dist/webdnn.mjs";

const ARRAYS = {
  float32: Float32Array, float64: Float64Array, int64: BigInt64Array, int32: Int32Array, int16: Int16Array,
  int8: Int8Array, uint8: Uint8Array, bool: Uint8Array, float16: Uint16Array,
};

const spec = JSON.parse(readFileSync(process.argv[2], "utf8"));
const backendOptions = { ...spec.backendOptions };
if ((spec.backendOrder ?? []).some((b) => b.startsWith("webgpu")) && !globalThis.navigator?.gpu) {
  // WebGPU in Node: the `webgpu` npm package (Dawn), a devDependency of runtime/; absent -> webgpu unavailable
  const dawn = await import("webgpu").catch(() => null);
  if (dawn) backendOptions.webgpu = { ...backendOptions.webgpu, gpu: dawn.create([]) };
}
const t0 = performance.now();
const runner = await WebDNN.load(spec.model, { backendOrder: spec.backendOrder, backendOptions });
const loadMs = performance.now() - t0;
const inputs = {};
for (const inp of spec.inputs) {
  const buf = readFileSync(inp.path);
  const copy = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const data = new ARRAYS[inp.dtype](copy);
  inputs[inp.name] = inp.dims ? { data, dims: inp.dims } : data; // dims: the runtime checks them against the model
}
const t1 = performance.now();
let outs = await runner.run(inputs);
const firstRunMs = performance.now() - t1;
for (let i = 0; i < (spec.warmup ?? 0); i++) outs = await runner.run(inputs);
const times = [];
for (let i = 0; i < (spec.repeat ?? 0); i++) {
  const s = performance.now();
  outs = await runner.run(inputs);
  times.push(performance.now() - s);
}
const outputs = Object.entries(outs).map(([name, t], i) => {
  const path = join(spec.outDir, `output${i}.bin`);
  writeFileSync(path, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  return { name, dtype: t.dtype, dims: t.dims, path };
});
console.log(JSON.stringify({ backend: runner.backend, backendInfo: runner.backendInfo, loadMs, firstRunMs, times, outputs }));
runner.dispose();
process.exit(0); // Dawn's device threads may keep the event loop alive
