// TensorFlow.js's own answer for a layers or graph model, the reference of tests/frontend/test_tfjs.py:
//   node tfjs_reference.mjs MODEL_JSON SPEC_JSON
// SPEC_JSON: {"inputs": [{"path", "shape"}], "out": DIR}; each input is raw little-endian float32. Writes
// DIR/output-K.bin (float32) and DIR/outputs.json ([{"shape"}]). TF.js (its CPU backend) comes from
// bench/node_modules, where `make bench-deps` installs it.
import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(resolve(here, "../../bench/package.json"));
const tf = require("@tensorflow/tfjs");

const [modelPath, specPath] = process.argv.slice(2);
const model = JSON.parse(readFileSync(modelPath, "utf8"));
const spec = JSON.parse(readFileSync(specPath, "utf8"));
const base = dirname(modelPath);
const weightSpecs = [];
const parts = [];
for (const group of model.weightsManifest) {
  for (const p of group.paths) parts.push(readFileSync(join(base, p)));
  weightSpecs.push(...group.weights);
}
const all = Buffer.concat(parts);
const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
await tf.setBackend("cpu");
const graph = model.format === "graph-model";
const artifacts = { modelTopology: model.modelTopology, weightSpecs, weightData, format: model.format,
  userDefinedMetadata: model.userDefinedMetadata };
const net = graph ? await tf.loadGraphModel(tf.io.fromMemory(artifacts))
  : await tf.loadLayersModel(tf.io.fromMemory(artifacts));
const xs = spec.inputs.map((x) => {
  const b = readFileSync(x.path);
  return tf.tensor(new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4), x.shape, "float32");
});
// executeAsync: a graph with control flow (If, While) runs only that way
let ys = graph ? await net.executeAsync(xs.length === 1 ? xs[0] : xs) : net.predict(xs.length === 1 ? xs[0] : xs);
ys = Array.isArray(ys) ? ys : [ys];
const shapes = [];
ys.forEach((y, k) => {
  writeFileSync(join(spec.out, `output-${k}.bin`), Buffer.from((y.dataSync()).buffer));
  shapes.push({ shape: y.shape });
});
writeFileSync(join(spec.out, "outputs.json"), JSON.stringify(shapes));
