// Time the webgpu backend in Node (no browser) through the npm `webgpu` package (Dawn), e.g.
// on a machine with a real GPU and its Vulkan driver:
//   webdnn zoo resnet50 -o resnet50.onnx && webdnn convert resnet50.onnx -o out --backends webgpu
//   node runtime/tools/bench-webgpu-node.mjs out --warmup 3 --repeat 10
// Without a GPU, point Dawn at Chromium's SwiftShader (a CPU Vulkan; correctness only):
//   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json LD_LIBRARY_PATH=/usr/lib/chromium node ...
// --dump DIR writes every input and the last run's outputs there as raw little-endian files
// (input-NAME.bin, output-NAME.bin), to check them against a reference.
// Inputs are seeded pseudo-random (floats uniform in [-1, 1), integers 0, bools false), shaped as
// the model was converted. Prints one JSON line: adapter, load, first run and per-run times (ms).
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { create } from "webgpu";
import * as WebDNN from "../dist/webdnn.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const model = args.find((a, i) => !a.startsWith("--") && (i === 0 || !args[i - 1].startsWith("--")));
const dump = args.includes("--dump") ? args[args.indexOf("--dump") + 1] : undefined;
if (!model) {
  console.error("usage: node bench-webgpu-node.mjs MODEL_DIR [--warmup N] [--repeat N] [--low-power]");
  process.exit(2);
}
const warmup = opt("--warmup", 3);
const repeat = opt("--repeat", 10);
const powerPreference = args.includes("--low-power") ? "low-power" : "high-performance";

const gpu = create([]);
const dir = resolve(model);
const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
const entry = manifest.backends?.webgpu;
if (!entry) throw new Error(`${dir} was not converted for webgpu (webdnn convert ... --backends webgpu)`);
const desc = JSON.parse(readFileSync(join(dir, entry.descriptor), "utf8"));

let seed = 1;
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 31) - 1;
const ARRAYS = { float32: Float32Array, int32: Int32Array, int64: BigInt64Array, uint8: Uint8Array, int8: Int8Array, bool: Uint8Array };
const inputs = {};
for (const inp of desc.inputs) {
  const t = desc.tensors[inp.tensor];
  const n = t.shape.reduce((a, b) => a * b, 1);
  const data = new ARRAYS[t.dtype](n);
  if (t.dtype === "float32") for (let i = 0; i < n; i++) data[i] = rand();
  inputs[inp.name] = data;
}

const t0 = performance.now();
const runner = await WebDNN.load(dir, { backendOrder: ["webgpu"], backendOptions: { webgpu: { gpu, powerPreference } } })
  .catch((e) => {
    console.error(`${e.message}\n(no adapter? install the GPU's Vulkan driver, or set VK_ICD_FILENAMES: see this script's header)`);
    process.exit(1);
  });
const loadMs = performance.now() - t0;
let s = performance.now();
await runner.run(inputs);
const firstRunMs = performance.now() - s;
for (let i = 0; i < warmup; i++) await runner.run(inputs);
const times = [];
let outs;
for (let i = 0; i < repeat; i++) {
  s = performance.now();
  outs = await runner.run(inputs);
  times.push(performance.now() - s);
}
if (dump) {
  const raw = (a) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  mkdirSync(dump, { recursive: true });
  for (const [name, a] of Object.entries(inputs)) writeFileSync(join(dump, `input-${name}.bin`), raw(a));
  for (const [name, t] of Object.entries(outs ?? {})) writeFileSync(join(dump, `output-${name}.bin`), raw(t.data));
}
const sorted = [...times].sort((a, b) => a - b);
const median = sorted.length ? sorted[Math.floor(sorted.length / 2)] : NaN;
console.log(JSON.stringify({ model: dir, adapter: runner.backendInfo, loadMs, firstRunMs, medianMs: median, times }));
runner.dispose();
process.exit(0);

