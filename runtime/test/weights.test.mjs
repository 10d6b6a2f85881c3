// Weight encodings and load-time transforms (src/weights.ts, src/weight_transforms.ts): decoding each kind from
// hand-made bytes, the Winograd filter transform on filters whose transform is known in closed form, and every
// check of the encoding table (each failure a DescriptorError that says which entry and why).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "webdnn-weights-test-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));
const outfile = join(tmp, "weights.mjs");
await build({ entryPoints: [join(here, "..", "src", "weights.ts")], bundle: true, format: "esm", platform: "node", outfile, logLevel: "error" });
const { checkWeightEncoding, decodeWeights, storedSize } = await import(pathToFileURL(outfile).href);

const f32 = (n, offset) => ({ name: "w", dtype: "float32", shape: [n], memory: "weights", offset, byteLength: 4 * n });

function descOf(tensors, encoding) {
  const byteLength = Math.max(...tensors.map((t) => t.offset + t.byteLength));
  return { tensors, weights: { byteLength, alignment: 16, files: [], encoding: checkWeightEncoding("d", encoding, tensors) } };
}

test("raw, fp16 and int8 decode to the float32 weights", () => {
  const tensors = [f32(3, 0), f32(2, 16), f32(40, 32)];
  const stored = new Uint8Array(12 + 4 + 2 * 2 + (2 * 2 + 40));
  const v = new DataView(stored.buffer);
  [1.5, -2, 0.25].forEach((x, i) => v.setFloat32(4 * i, x, true));
  v.setUint16(12, 0x3c00, true); // 1.0
  v.setUint16(14, 0xc500, true); // -5.0
  // int8: blocks of 32: scales 0.5 (bfloat16 0x3f00) and 2.0 (0x4000), then 40 values
  v.setUint16(16, 0x3f00, true);
  v.setUint16(18, 0x4000, true);
  for (let i = 0; i < 40; i++) v.setInt8(20 + i, i - 20);
  const desc = descOf(tensors, { byteLength: stored.length, tensors: [[0, "raw", 0, 12], [1, "fp16", 12, 4], [2, "int8", 16, 44]] });
  const out = decodeWeights(desc, stored);
  assert.deepEqual([...new Float32Array(out.buffer, 0, 3)], [1.5, -2, 0.25]);
  assert.deepEqual([...new Float32Array(out.buffer, 16, 2)], [1, -5]);
  const q = new Float32Array(out.buffer, 32, 40);
  for (let i = 0; i < 40; i++) assert.equal(q[i], (i - 20) * (i < 32 ? 0.5 : 2));
  assert.equal(storedSize("int8", 160), 2 * 2 + 40);
});

test("int4 decodes two signed nibbles per byte, the even element low, per-block scales", () => {
  // 37 values (an odd count: the last byte's high nibble is padding), blocks of 32: scales 0.5 and 4.0
  const count = 37;
  const stored = new Uint8Array(2 * 2 + Math.ceil(count / 2));
  const v = new DataView(stored.buffer);
  v.setUint16(0, 0x3f00, true);
  v.setUint16(2, 0x4080, true);
  const want = [];
  for (let i = 0; i < count; i++) want.push(((i * 5) % 16) - 8); // every nibble value, -8 through 7
  want.forEach((q, i) => { stored[4 + (i >> 1)] |= (q & 15) << ((i & 1) * 4); });
  const desc = descOf([f32(count, 0)], { byteLength: stored.length, tensors: [[0, "int4", 0, stored.length]] });
  const got = new Float32Array(decodeWeights(desc, stored).buffer, 0, count);
  for (let i = 0; i < count; i++) assert.equal(got[i], want[i] * (i < 32 ? 0.5 : 4), `element ${i}`);
  assert.equal(storedSize("int4", 4 * count), 2 * 2 + 19);
  assert.throws(() => checkWeightEncoding("d", { byteLength: 24, tensors: [[0, "int4", 0, 24]] }, [f32(count, 0)]),
    /stores 24 bytes; int4 of 148 bytes takes 23/);
});

test("Winograd filters are computed at load: U = G g G^T, packed [36][panels][C][8]", () => {
  // M = 1, C = 2: filter 0 is the delta at the center (U[i][j] = G[i][1] G[j][1]), filter 1 all zeros
  const G1 = [0, 1 / 3, 1 / 3, -8 / 15, -2 / 15, 0];
  const src = new Float32Array(18);
  src[4] = 1;
  const stored = new Uint8Array(src.buffer);
  const packedCount = 36 * 8 * 2;
  const desc = descOf([f32(packedCount, 0)], { byteLength: stored.length,
    tensors: [[0, "raw", 0, 72, { transform: "winograd_f4x4_3x3_nr8", params: [1, 2] }]] });
  const u = new Float32Array(decodeWeights(desc, stored).buffer, 0, packedCount);
  for (let i = 0; i < 6; i++) {
    for (let j = 0; j < 6; j++) {
      const xi = i * 6 + j;
      assert.equal(u[(xi * 2 + 0) * 8] + 0, Math.fround(G1[i] * G1[j]) + 0, `xi ${xi}`); // (+ 0: -0 as 0)
      assert.ok(u[(xi * 2 + 1) * 8] === 0); // c = 1 (a zero filter: +0 or -0)
      for (let col = 1; col < 8; col++) assert.ok(u[(xi * 2) * 8 + col] === 0); // columns past M stay zero
    }
  }
});

test("the encoding table is checked entry by entry", () => {
  const tensors = [f32(4, 0), { ...f32(4, 16), dtype: "int32" }];
  const ok = [[0, "fp16", 0, 8], [1, "raw", 8, 16]];
  assert.ok(checkWeightEncoding("d", { byteLength: 24, tensors: ok }, tensors));
  const bad = (table, re, byteLength = 24) => assert.throws(() => checkWeightEncoding("d", { byteLength, tensors: table }, tensors),
    (e) => e.name === "DescriptorError" && re.test(e.message), re.source);
  bad([ok[1], ok[0]], /tensors\[0\]: is tensor 1, expected weight tensor 0/);
  bad([ok[0]], /lists 1 tensors, the descriptor has 2 weight tensors/);
  bad([[0, "fp8", 0, 8], ok[1]], /kind "fp8", not one of raw, fp16, int8/);
  bad([[0, "fp16", 0, 8], [1, "fp16", 8, 8]], /encodes a int32 tensor/);
  bad([[0, "fp16", 0, 8], [1, "raw", 4, 16]], /outside the stored weights or over the tensor before/);
  bad([[0, "int8", 0, 8], ok[1]], /stores 8 bytes; int8 of 16 bytes takes 6/);
  bad([[0, "raw", 0, 16], ok[1]], /outside the stored weights/, 20);
  bad([[0, "raw", 0, 16, { transform: "fft", params: [1] }], ok[1]], /weight transform "fft", which this runtime does not have/);
  bad([[0, "raw", 0, 36, { transform: "winograd_f4x4_3x3_nr8", params: [1, 1] }], ok[1]], /makes 1152 bytes, the tensor has 16/, 100);
});
