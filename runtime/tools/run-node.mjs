// Run a converted model in Node with the built runtime (used by `webdnn run --node`
// and the tests). Usage: node run-node.mjs spec.json
//   spec: {model, backendOrder, backendOptions, inputs: [{name, path, dtype, dims?}], warmup, repeat, outDir}
// Writes outDir/output<i>.bin and prints one JSON line with timings and output metadata.
// A model with symbolic dims may be run at several sizes in one load: `sets: [inputs, ...]` instead
// of `inputs` (each set's outputs in outDir/set<k>/, its timings in `sets` of the result), and
// `alternate: N` then runs the sets in turn N more times (a, b, a, b, ...), timing each run.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
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
function readInputs(refs) {
  const inputs = {};
  for (const inp of refs) {
    const buf = readFileSync(inp.path);
    const copy = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
    const data = new ARRAYS[inp.dtype](copy);
    inputs[inp.name] = inp.dims ? { data, dims: inp.dims } : data; // dims: the runtime checks them against the model
  }
  return inputs;
}

async function timed(inputs, dir) {
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
  mkdirSync(dir, { recursive: true });
  const outputs = Object.entries(outs).map(([name, t], i) => {
    const path = join(dir, `output${i}.bin`);
    writeFileSync(path, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    return { name, dtype: t.dtype, dims: t.dims, path };
  });
  return { firstRunMs, times, outputs };
}

if (spec.sets) {
  const all = spec.sets.map(readInputs);
  const sets = [];
  for (const [k, inputs] of all.entries()) sets.push(await timed(inputs, join(spec.outDir, `set${k}`)));
  for (let r = 0; r < (spec.alternate ?? 0); r++) {
    for (const [k, inputs] of all.entries()) {
      const s = performance.now();
      await runner.run(inputs);
      (sets[k].alternateTimes ??= []).push(performance.now() - s);
    }
  }
  console.log(JSON.stringify({ backend: runner.backend, backendInfo: runner.backendInfo, loadMs, sets }));
} else {
  const { firstRunMs, times, outputs } = await timed(readInputs(spec.inputs), spec.outDir);
  console.log(JSON.stringify({ backend: runner.backend, backendInfo: runner.backendInfo, loadMs, firstRunMs, times, outputs }));
}
runner.dispose();
process.exit(0); // Dawn's device threads may keep the event loop alive
