// The wasm backend's SizeFamily (src/backends/wasm/family.ts): a model with symbolic dims runs
// every input size on one memory, module, thread pool and copy of the weights. A hand-written
// version-2 wasm model, z = 2 * Relu(transpose(x @ B + bias)), x [n, 512], B [512, 1024] (2 MiB of
// packed weights), runs through real kernels (gemm_f32, transpose_any, binary_f32) with a
// JavaScript kernel (Relu) between two segments, at several sizes with 1 and 2 threads: outputs
// against a float64 reference, the weights in the memory once, sizes reused (a, b, a, b), a
// larger size growing the memory while the earlier sizes stay correct, more live sizes than the
// parameter room made at first (the arena moves), evicted sizes' room reused, the stack bound
// (wasm.stackBytes) over-declared as the converter does for symbolic models, and a size declaring
// more than the first refused; transpose_any at n = 1 with the axis of 1 the converter keeps.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { crc32 } from "node:zlib";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "..", "dist");
for (const f of ["webdnn-kernels-simd128.wasm", "webdnn-kernels-simd128-mt.wasm", "webdnn-wasm-worker.js"]) {
  if (!existsSync(join(dist, f))) throw new Error(`runtime/dist/${f} is missing: build the runtime first (npm run build)`);
}
const tmp = mkdtempSync(join(tmpdir(), "webdnn-wasm-family-test-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));
const outfile = join(tmp, "webdnn.mjs");
await build({ entryPoints: [join(here, "..", "src", "index.ts")], bundle: true, format: "esm", platform: "node", outfile, logLevel: "error" });
const { load, setWasmBaseUrl, DescriptorError } = await import(pathToFileURL(outfile).href);
setWasmBaseUrl(`${pathToFileURL(dist).href}/`);

const K = 512, N = 1024, NR = 8;
const PANELS = N / NR;
const ref = (i) => ({ $dim: i });
const RELU = [["x", 0], ["c", 0], ["max", 0, 1]]; // attrs.expr of Relu (ops/expr.py)

// deterministic weights: B [K][N] and bias [N], packed as gemm_f32 reads them: [panel][K][8], then bias
let seed = 1;
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
const B = Float64Array.from({ length: K * N }, () => Math.fround(rand()));
const BIAS = Float64Array.from({ length: N }, () => Math.fround(rand()));
const packed = new Float32Array(PANELS * K * NR + N);
for (let p = 0; p < PANELS; p++) for (let k = 0; k < K; k++) for (let j = 0; j < NR; j++) packed[(p * K + k) * NR + j] = B[k * N + p * NR + j];
packed.set(BIAS, PANELS * K * NR);
const WEIGHT_BYTES = packed.byteLength;

/** The model directory; `stackBytes` is the descriptor's wasm.stackBytes (an expression may use the table). */
function writeModel(name, stackBytes = 70000) {
  // dims: n, then the arena offsets and sizes (every tensor its own bytes: x 2048n, the others 4096n each)
  const dims = ["n", ["*", 2048, "n"], ["*", 4096, "n"], ["*", 6144, "n"], ["*", 10240, "n"], ["*", 14336, "n"], ["*", 18432, "n"], ["*", 1000, "n"]];
  const t = (tname, shape, offset, byteLength, memory = "arena") => ({ name: tname, dtype: "float32", shape, memory, offset, byteLength });
  const desc = {
    format: "webdnn-descriptor", version: 2, backend: "wasm", model: "family",
    symbols: [{ name: "n", min: 1, max: 64 }], dims,
    inputs: [{ name: "x", tensor: 0 }], outputs: [{ name: "z", tensor: 6 }],
    tensors: [
      t("x", [ref(0), K], 0, ref(1)),
      t("B", [PANELS * K * NR], 0, 4 * PANELS * K * NR, "weights"),
      t("bias", [N], 4 * PANELS * K * NR, 4 * N, "weights"),
      t("y", [ref(0), N], ref(1), ref(2)),
      t("yt", [N, ref(0)], ref(3), ref(2)),
      t("r", [N, ref(0)], ref(4), ref(2)),
      t("z", [N, ref(0)], ref(5), ref(2)),
    ],
    arena: { byteLength: ref(6), alignment: 16, naiveByteLength: ref(6) },
    weights: { byteLength: WEIGHT_BYTES, alignment: 16, files: [{ path: "weights-0.bin", offset: 0, byteLength: WEIGHT_BYTES, crc32: crc32(new Uint8Array(packed.buffer)) }] },
    kernels: [
      { op: "Gemm", name: "Gemm_0", inputs: [0, 1, 2], outputs: [3],
        attrs: { wasm: { fn: "gemm_f32", params: [{ in: 0 }, { in: 1 }, { in: 2 }, { out: 0 }, 0, ref(0), K, N, 0, { f: 0 }, { f: 0 }, 4] } } },
      // the converter's form for a symbolic n: the axis of n kept even where n is 1
      { op: "Transpose", name: "Transpose_0", inputs: [3], outputs: [4],
        attrs: { perm: [1, 0], wasm: { fn: "transpose_any", params: [{ in: 0 }, { out: 0 }, 4, 1, 1, 1, 1, N, ref(0), 0, 0, 0, 0, 1, N] } } },
      { op: "Relu", name: "Relu_0", inputs: [4], outputs: [5], attrs: { expr: RELU } },
      { op: "Add", name: "Add_0", inputs: [5, 5], outputs: [6],
        attrs: { wasm: { fn: "binary_f32", params: [{ in: 0 }, { in: 1 }, { out: 0 }, 0, 1, 1, N, ref(0), 0, 0, ref(0), 1, 0, 0, ref(0), 1, 0, { f: 0 }, { f: 0 }] } } },
    ],
    wasm: { abi: 3, stackBytes }, jsKernels: ["Relu"],
  };
  const manifest = {
    format: "webdnn-model", version: 2, name: "family", symbols: structuredClone(desc.symbols),
    inputs: [{ name: "x", dtype: "float32", shape: ["n", K] }], outputs: [{ name: "z", dtype: "float32", shape: [N, "n"] }],
    backends: { wasm: { descriptor: "wasm/descriptor.json", byteLength: WEIGHT_BYTES } },
  };
  const dir = join(tmp, name);
  mkdirSync(join(dir, "wasm"), { recursive: true });
  writeFileSync(join(dir, "wasm", "descriptor.json"), JSON.stringify(desc));
  writeFileSync(join(dir, "wasm", "weights-0.bin"), new Uint8Array(packed.buffer));
  writeFileSync(join(dir, "manifest.json"), JSON.stringify(manifest));
  return dir;
}

const input = (n) => Float32Array.from({ length: n * K }, (_, i) => Math.fround(Math.sin(i * 0.37 + n)));

/** Runs size n and checks z = 2 * Relu(x @ B + bias)^T against float64. */
async function check(r, n) {
  const x = input(n);
  const { z } = await r.run({ x: { data: x, dims: [n, K] } });
  assert.deepEqual(z.dims, [N, n]);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < N; j++) {
      let s = BIAS[j];
      for (let k = 0; k < K; k++) s += x[i * K + k] * B[k * N + j];
      const want = 2 * Math.max(0, s);
      const got = z.data[j * n + i];
      if (!(Math.abs(got - want) <= 1e-4 * Math.max(1, Math.abs(want)))) assert.fail(`n = ${n}: z[${j}][${i}] = ${got}, want ${want}`);
    }
  }
}

for (const threads of [1, 2]) {
  test(`sizes share one memory and copy of the weights, and stay correct as it grows (${threads} thread${threads > 1 ? "s" : ""})`, async () => {
    const r = await load(writeModel(`grow${threads}`), { backendOrder: ["wasm"], backendOptions: { wasm: { threads } } });
    assert.equal(r.backendInfo.threads, undefined); // no session yet
    for (const n of [2, 9, 2, 9]) await check(r, n); // a, b, a, b
    let fam = r.backendInfo.family;
    assert.equal(r.backendInfo.threads, threads);
    assert.equal(r.backendInfo.signatures, 2);
    assert.equal(fam.sessionsMade, 2, "a size seen before reuses its session");
    assert.equal(fam.weightsBytes, WEIGHT_BYTES);
    const before = fam.memoryBytes;
    // a larger size grows the memory (a non-shared one detaches its buffer): earlier sizes rebuild their views
    await check(r, 40);
    fam = r.backendInfo.family;
    assert.ok(fam.memoryBytes > before, `the memory grew: ${before} -> ${fam.memoryBytes}`);
    for (const n of [2, 9, 40, 1, 2]) await check(r, n); // n = 1: transpose_any keeps its axis of 1
    fam = r.backendInfo.family;
    assert.equal(fam.sessionsMade, 4);
    assert.equal(fam.sizes, 4);
    // one copy of the weights for four sizes: separate sessions would hold four
    assert.ok(fam.memoryBytes < 2 * WEIGHT_BYTES, `memory ${fam.memoryBytes} for weights of ${WEIGHT_BYTES}`);
    assert.equal(fam.arenaBytes, 18432 * 40, "one arena, as large as the largest size's");
    r.dispose();
    await assert.rejects(r.run({ x: { data: input(2), dims: [2, K] } }), /disposed/);
  });

  test(`more live sizes than the first parameter room, and evicted sizes' room reused (${threads} thread${threads > 1 ? "s" : ""})`, async () => {
    // 12 sizes kept: the room made for 8 parameter blocks fills up, the arena moves above the new room
    const r = await load(writeModel(`many${threads}`), { backendOrder: ["wasm"], shapeCacheSize: 12, backendOptions: { wasm: { threads } } });
    const sizes = [3, 1, 4, 15, 9, 2, 6, 5, 35, 8, 7, 12];
    for (const n of sizes) await check(r, n);
    const fam = r.backendInfo.family;
    assert.equal(fam.sizes, 12);
    assert.ok(fam.paramBytes > 4 * (8 * 64 + 64), `the parameter room grew: ${fam.paramBytes}`);
    for (const n of [...sizes].reverse()) await check(r, n); // every size rebuilt once on the moved arena
    for (const n of sizes) await check(r, n); // and none wrote over another's parameters
    assert.equal(r.backendInfo.family.sessionsMade, 12);
    r.dispose();

    // 2 sizes kept: the evicted sizes' parameter blocks and worker slots are reused, nothing piles up
    const s = await load(writeModel(`evict${threads}`), { backendOrder: ["wasm"], shapeCacheSize: 2, backendOptions: { wasm: { threads } } });
    for (const n of [2, 3]) await check(s, n);
    const room = s.backendInfo.family.paramBytes;
    for (const n of [4, 5, 6, 7, 2, 8, 3, 9, 10, 11]) await check(s, n);
    const f2 = s.backendInfo.family;
    assert.equal(f2.sizes, 2);
    assert.equal(f2.sessionsMade, 12);
    assert.equal(f2.paramBytes, room);
    s.dispose();
  });
}

test("1 and 2 threads give the same bits at every size, before and after the memory grows", async () => {
  const outs = [];
  for (const threads of [1, 2]) {
    const r = await load(writeModel(`bits${threads}`), { backendOrder: ["wasm"], backendOptions: { wasm: { threads } } });
    const got = [];
    for (const n of [5, 1, 33, 5, 1]) got.push((await r.run({ x: { data: input(n), dims: [n, K] } })).z.data);
    outs.push(got);
    r.dispose();
  }
  outs[0].forEach((z, i) => assert.deepEqual(outs[1][i], z));
});

test("new sizes made at once: the workers learn each, in order (2 threads)", async () => {
  const r = await load(writeModel("concurrent"), { backendOrder: ["wasm"], backendOptions: { wasm: { threads: 2 } } });
  await check(r, 4);
  // not awaited one by one: their sessions are made concurrently, each extend announced while the
  // workers may still be handling the one before
  const sizes = [7, 30, 1, 12, 4, 7, 19];
  await Promise.all(sizes.map((n) => check(r, n)));
  await Promise.all(sizes.map((n) => check(r, n)));
  assert.equal(r.backendInfo.family.sessionsMade, 6);
  r.dispose();
});

test("the stacks are sized for the first size's wasm.stackBytes; a size declaring more is refused", async () => {
  // declared 1000 * n (dims[7]; the kernels here need no scratch): the first size (2) declares 2000
  const r = await load(writeModel("stack", ref(7)), { backendOrder: ["wasm"], backendOptions: { wasm: { threads: 2 } } });
  await check(r, 2);
  await check(r, 1); // declares less: fine
  await assert.rejects(r.run({ x: { data: input(9), dims: [9, K] } }), (e) => {
    assert.ok(e instanceof DescriptorError, `${e.name}: ${e.message}`);
    assert.match(e.message, /declares wasm\.stackBytes 9000, more than the 2000 its first size declared/);
    return true;
  });
  await check(r, 2); // the family still runs its sizes
  r.dispose();
});

test("a declared stack beyond 64 MiB is refused", async () => {
  const r = await load(writeModel("hugestack", 2 ** 27), { backendOrder: ["wasm"], backendOptions: { wasm: { threads: 1 } } });
  await assert.rejects(r.run({ x: { data: input(2), dims: [2, K] } }), (e) => {
    assert.ok(e instanceof DescriptorError, `${e.name}: ${e.message}`);
    assert.match(e.message, /stackBytes 134217728 is more than the 67108864 bytes of stack a thread may have/);
    return true;
  });
  r.dispose();
});
