// The runtime's half of the bad-input matrix (docs/reliability.md, tests/e2e/test_bad_input_matrix.py):
// every way a caller or a damaged model directory can go wrong, each run against the built runtime
// in Node. Usage: node bad-input-matrix.mjs MODEL_DIR SCRATCH_DIR
//   MODEL_DIR: a converted model with input x float32 [2, 8] for the fallback and wasm backends.
//   SCRATCH_DIR: an empty directory for the damaged copies.
// Prints one JSON line: [{case, outcome, error, message}] where outcome is "error" (a WebDNNError
// subclass), "other-error" (anything else thrown: a bug), or "ok" (no error: a bug for every case here).
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as WebDNN from "../dist/webdnn.mjs";

const [model, scratch] = process.argv.slice(2);
const X = () => new Float32Array(16).fill(0.5);
const fb = { backendOrder: ["fallback"] };
let copies = 0;

/** A copy of the model directory with `edit(dir)` applied. */
function damaged(edit) {
  const dir = join(scratch, `copy${copies++}`);
  cpSync(model, dir, { recursive: true });
  edit(dir);
  return dir;
}
const editJSON = (path, f) => {
  const j = JSON.parse(readFileSync(path, "utf8"));
  f(j);
  writeFileSync(path, JSON.stringify(j));
};
const desc = (dir, b = "fallback") => join(dir, b, "descriptor.json");
const flipByte = (path, at) => {
  const b = readFileSync(path);
  b[at % b.length] ^= 0xff;
  writeFileSync(path, b);
};

/** [case, async () => ...]: each must throw a WebDNNError. */
const runner = await WebDNN.load(model, fb);
const disposed = await WebDNN.load(model, fb);
disposed.dispose();
const cases = [
  ["run(null)", () => runner.run(null)],
  ["run('x')", () => runner.run("x")],
  ["run([X])", () => runner.run([X()])],
  ["run(X) (a typed array, not a name → value map)", () => runner.run(X())],
  ["missing input: run({})", () => runner.run({})],
  ["unknown input name", () => runner.run({ x: X(), y: X() })],
  ["wrong dtype: Float64Array for float32", () => runner.run({ x: new Float64Array(16) })],
  ["wrong length: 15 elements for [2, 8]", () => runner.run({ x: new Float32Array(15) })],
  ["wrong dims: {data, dims: [8, 2]} for [2, 8]", () => runner.run({ x: { data: X(), dims: [8, 2] } })],
  ["bad dims: [2, -8]", () => runner.run({ x: { data: X(), dims: [2, -8] } })],
  ["data is a plain Array", () => runner.run({ x: { data: Array.from(X()), dims: [2, 8] } })],
  ["GPU buffer input on the fallback backend", () => runner.run({ x: { gpuBuffer: {} } })],
  ["outputLocation: 'disk'", () => runner.run({ x: X() }, { outputLocation: "disk" })],
  ["run() after dispose()", () => disposed.run({ x: X() })],
  ["load() of a missing directory", () => WebDNN.load(join(scratch, "nothing-here"), fb)],
  ["load() of a directory with a foreign manifest.json (PWA)", () => WebDNN.load(damaged((d) => writeFileSync(join(d, "manifest.json"), '{"name": "My PWA", "start_url": "/"}')), fb)],
  ["manifest.json is not JSON", () => WebDNN.load(damaged((d) => writeFileSync(join(d, "manifest.json"), "{ not json")), fb)],
  ["manifest version \"1\" (a string)", () => WebDNN.load(damaged((d) => editJSON(join(d, "manifest.json"), (m) => { m.version = "1"; })), fb)],
  ["manifest version 2", () => WebDNN.load(damaged((d) => editJSON(join(d, "manifest.json"), (m) => { m.version = 2; })), fb)],
  ["manifest input shape differs from the descriptor's", () => WebDNN.load(damaged((d) => editJSON(join(d, "manifest.json"), (m) => { m.inputs[0].shape = [4, 4]; })), fb)],
  ["descriptor path escapes the model directory", () => WebDNN.load(damaged((d) => editJSON(join(d, "manifest.json"), (m) => { m.backends.fallback.descriptor = "../../etc/passwd"; })), fb)],
  ["descriptor tensor offset outside the arena", () => WebDNN.load(damaged((d) => editJSON(desc(d), (j) => { j.tensors[0].offset = j.arena.byteLength + 64; })), fb)],
  ["descriptor kernel refers to a missing tensor", () => WebDNN.load(damaged((d) => editJSON(desc(d), (j) => { j.kernels[0].inputs[0] = 999; })), fb)],
  ["descriptor arena of 2^40 bytes", () => WebDNN.load(damaged((d) => editJSON(desc(d), (j) => { j.arena.byteLength = 2 ** 40; })), fb)],
  ["descriptor kernel attribute edited (Gemm transB: 7)", () => WebDNN.load(damaged((d) => editJSON(desc(d), (j) => { j.kernels.find((k) => k.op === "Gemm").attrs.transB = 7; })), fb)],
  ["wasm kernel parameter edited (a size doubled)", () => WebDNN.load(damaged((d) => editJSON(desc(d, "wasm"), (j) => {
    const k = j.kernels.find((k) => k.attrs.wasm);
    const i = k.attrs.wasm.params.findIndex((p) => typeof p === "number" && p > 1);
    k.attrs.wasm.params[i] *= 2;
  })), { backendOrder: ["wasm"] })],
  ["weight file with a flipped byte (CRC-32)", () => WebDNN.load(damaged((d) => flipByte(join(d, "fallback", "weights-0.bin"), 5)), fb)],
  ["weight file truncated", () => WebDNN.load(damaged((d) => {
    const p = join(d, "fallback", "weights-0.bin");
    writeFileSync(p, readFileSync(p).subarray(0, 10));
  }), fb)],
  ["backendOrder names no converted backend", () => WebDNN.load(model, { backendOrder: ["webgl"] })],
  ["backendOptions.wasm.threads: 0", () => WebDNN.load(model, { backendOrder: ["wasm"], backendOptions: { wasm: { threads: 0 } } })],
];

const rows = [];
for (const [name, f] of cases) {
  try {
    await f();
    rows.push({ case: name, outcome: "ok", error: "", message: "" });
  } catch (e) {
    const ours = e instanceof WebDNN.WebDNNError;
    rows.push({ case: name, outcome: ours ? "error" : "other-error", error: e?.name ?? typeof e, message: String(e?.message ?? e) });
  }
}
runner.dispose();
console.log(JSON.stringify(rows));
