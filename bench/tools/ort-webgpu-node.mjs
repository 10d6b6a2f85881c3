// Time ONNX Runtime Web's WebGPU execution provider in Node (no browser), through the npm
// `webgpu` package (Dawn) installed for the runtime, next to runtime/tools/bench-webgpu-node.mjs:
//   node bench/tools/ort-webgpu-node.mjs model.onnx --inputs DIR [--warmup N] [--repeat N] [--dump DIR]
// --inputs DIR reads input-NAME.bin files (raw float32/int64, as bench-webgpu-node.mjs --dump
// writes them), so both runtimes run on the same data; shapes come from the ONNX model's
// declared (static) input shapes, which ORT reports only after the session is made, so they are
// given by --shapes name=1,3,224,224;... . Prints one JSON line: load, first run, median, times.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const { create, globals } = await import(join(here, "../../runtime/node_modules/webgpu/index.js"));
Object.assign(globalThis, globals);
Object.defineProperty(globalThis, "navigator", { value: { gpu: create([]), hardwareConcurrency: 1, userAgent: "node" }, configurable: true });
// Dawn's Node binding refuses typed-array views of a SharedArrayBuffer (ORT's wasm memory is
// one): hand it a copy. This costs ORT a memcpy per upload, as small as ORT's inputs are.
const writeBuffer = globals.GPUQueue.prototype.writeBuffer;
globals.GPUQueue.prototype.writeBuffer = function (buffer, offset, data, dataOffset = 0, size) {
  if (data?.buffer instanceof SharedArrayBuffer) {
    const el = data.BYTES_PER_ELEMENT ?? 1;
    const bytes = new Uint8Array(data.buffer, data.byteOffset + dataOffset * el, (size ?? data.length - dataOffset) * el);
    return writeBuffer.call(this, buffer, offset, bytes.slice());
  }
  return writeBuffer.call(this, buffer, offset, data, dataOffset, size);
};

const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const model = args[0];
if (!model || !opt("--inputs") || !opt("--shapes")) {
  console.error("usage: node ort-webgpu-node.mjs model.onnx --inputs DIR --shapes name=d0,d1;... [--warmup N] [--repeat N] [--dump DIR]");
  process.exit(2);
}
const dist = join(here, "../node_modules/onnxruntime-web/dist/");
const ort = await import(join(dist, "ort.webgpu.min.mjs"));
ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = dist;
const t0 = performance.now();
const session = await ort.InferenceSession.create(new Uint8Array(readFileSync(model)), { executionProviders: ["webgpu"] });
const loadMs = performance.now() - t0;
const shapes = Object.fromEntries(opt("--shapes").split(";").map((kv) => {
  const [k, v] = kv.split("=");
  return [k, v.split(",").map(Number)];
}));
const feeds = {};
for (const name of session.inputNames) {
  const buf = readFileSync(join(opt("--inputs"), `input-${name}.bin`));
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const n = shapes[name].reduce((a, b) => a * b, 1);
  const data = ab.byteLength === 8 * n ? new BigInt64Array(ab) : new Float32Array(ab);
  feeds[name] = new ort.Tensor(data instanceof BigInt64Array ? "int64" : "float32", data, shapes[name]);
}
let s = performance.now();
let outs = await session.run(feeds);
const firstRunMs = performance.now() - s;
for (let i = 0; i < Number(opt("--warmup", 3)); i++) await session.run(feeds);
const times = [];
for (let i = 0; i < Number(opt("--repeat", 10)); i++) {
  s = performance.now();
  outs = await session.run(feeds);
  times.push(performance.now() - s);
}
const dump = opt("--dump");
if (dump) {
  mkdirSync(dump, { recursive: true });
  for (const [name, t] of Object.entries(outs)) writeFileSync(join(dump, `output-${name}.bin`), new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
}
const sorted = [...times].sort((a, b) => a - b);
console.log(JSON.stringify({ model, runtime: "onnxruntime-web webgpu", loadMs, firstRunMs, medianMs: sorted[Math.floor(sorted.length / 2)], times }));
process.exit(0);
