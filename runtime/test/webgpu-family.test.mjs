// The webgpu backend's size family on a real WebGPU (Dawn on SwiftShader, in a child process:
// webgpu_family_node.mjs): a model with symbolic dims runs at several sizes on one device with
// its weights uploaded once; a size seen again reuses its session; a shader whose text does not
// depend on the size is compiled once; GPU buffers pass between sizes and runners on the device;
// an evicted size frees only its own buffers; device loss gives the clear error. Skipped where
// Chromium's SwiftShader or the `webgpu` package is missing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { crc32 } from "node:zlib";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const CHROMIUM_LIB = "/usr/lib/chromium"; // Debian's chromium: SwiftShader's Vulkan ICD and a libvulkan
const ICD = join(CHROMIUM_LIB, "vk_swiftshader_icd.json");
const haveGpu = existsSync(ICD) && existsSync(join(here, "..", "node_modules", "webgpu"));

const W = [0.5, -2, 3, 0.25];
const ref = (i) => ({ $dim: i });

/** The model: x [n, 4] -> y = x * w + 1, s = sum(w) (see webgpu_family_node.mjs). */
function writeModel(dir) {
  const weights = new Uint8Array(Float32Array.from(W).buffer);
  const desc = {
    format: "webdnn-descriptor", version: 2, backend: "webgpu", model: "family",
    symbols: [{ name: "n", min: 1, max: 64 }],
    dims: ["n", ["*", 16, "n"], ["*", 4, "n"], ["*", 256, ["cdiv", ref(1), 256]], ["*", 2, ref(3)], ["+", ref(4), 256],
      ["cdiv", ref(2), 64]],
    inputs: [{ name: "x", tensor: 0 }], outputs: [{ name: "y", tensor: 2 }, { name: "s", tensor: 3 }],
    tensors: [
      { name: "x", dtype: "float32", shape: [ref(0), 4], memory: "arena", offset: 0, byteLength: ref(1) },
      { name: "w", dtype: "float32", shape: [4], memory: "weights", offset: 0, byteLength: 16 },
      { name: "y", dtype: "float32", shape: [ref(0), 4], memory: "arena", offset: ref(3), byteLength: ref(1) },
      { name: "s", dtype: "float32", shape: [1], memory: "arena", offset: ref(4), byteLength: 4 },
    ],
    arena: { byteLength: ref(5), alignment: 256, naiveByteLength: ref(5) },
    weights: { byteLength: 16, alignment: 256, files: [{ path: "weights-0.bin", offset: 0, byteLength: 16, crc32: crc32(weights) }] },
    kernels: [
      { op: "Affine", name: "affine", inputs: [0, 1], outputs: [2], attrs: { shader: 0, workgroups: [ref(6), 1, 1] } },
      { op: "Sum", name: "sum", inputs: [1], outputs: [3], attrs: { shader: 1, workgroups: [1, 1, 1] } },
    ],
    shaders: [
      {
        code: { $concat: [
          "@group(0) @binding(0) var<storage, read_write> x: array<f32>;\n",
          "@group(0) @binding(1) var<storage, read> w: array<f32>;\n",
          "@group(0) @binding(2) var<storage, read_write> y: array<f32>;\n",
          "@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {\n",
          "  let i = g.x;\n  if (i >= ", ref(2), "u) { return; }\n  y[i] = x[i] * w[i % 4u] + 1.0;\n}\n",
        ] },
        workgroupSize: [64, 1, 1], workgroupStorage: 0,
      },
      {
        code: "@group(0) @binding(0) var<storage, read> w: array<f32>;\n" +
          "@group(0) @binding(1) var<storage, read_write> s: array<f32>;\n" +
          "@compute @workgroup_size(1) fn main() { s[0] = w[0] + w[1] + w[2] + w[3]; }\n",
        workgroupSize: [1, 1, 1], workgroupStorage: 0,
      },
    ],
  };
  const manifest = {
    format: "webdnn-model", version: 2, name: "family", symbols: structuredClone(desc.symbols),
    inputs: [{ name: "x", dtype: "float32", shape: ["n", 4] }],
    outputs: [{ name: "y", dtype: "float32", shape: ["n", 4] }, { name: "s", dtype: "float32", shape: [1] }],
    backends: { webgpu: { descriptor: "webgpu/descriptor.json", byteLength: 16 } },
  };
  mkdirSync(join(dir, "webgpu"), { recursive: true });
  writeFileSync(join(dir, "webgpu", "descriptor.json"), JSON.stringify(desc));
  writeFileSync(join(dir, "webgpu", "weights-0.bin"), weights);
  writeFileSync(join(dir, "manifest.json"), JSON.stringify(manifest));
}

const f32 = (v) => Math.fround(v);
/** y of x(n, k) (webgpu_family_node.mjs), applied `times` times. */
function expected(n, k = 0, times = 1) {
  let v = Array.from({ length: 4 * n }, (_, i) => ((i * 7 + k) % 11) - 5);
  for (let t = 0; t < times; t++) v = v.map((e, i) => f32(f32(e * f32(W[i % 4])) + 1));
  return v;
}
const SUM = [f32(W[0] + W[1] + W[2] + W[3])];

test("webgpu: the sizes of a model share one device, the weights and size-independent pipelines", { skip: !haveGpu && "needs Chromium's SwiftShader ICD and runtime/node_modules/webgpu" }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), "webdnn-webgpu-family-"));
  try {
    const bundle = join(tmp, "webdnn.mjs");
    await build({
      entryPoints: [join(here, "..", "src", "index.ts")],
      bundle: true, format: "esm", platform: "node", outfile: bundle, logLevel: "error",
    });
    const model = join(tmp, "model");
    writeModel(model);
    const ld = process.env.LD_LIBRARY_PATH;
    const out = execFileSync(process.execPath, [join(here, "webgpu_family_node.mjs"), bundle, model], {
      cwd: here, encoding: "utf8", timeout: 240_000,
      env: { ...process.env, VK_ICD_FILENAMES: ICD, LD_LIBRARY_PATH: ld ? `${ld}:${CHROMIUM_LIB}` : CHROMIUM_LIB },
    });
    const r = JSON.parse(out.trim().split("\n").pop());

    // own device: right outputs at each size, a, b, a, b
    const own = r.own;
    assert.deepEqual(own.a, { y: expected(3), yDims: [3, 4], s: SUM });
    assert.deepEqual(own.b, { y: expected(17, 1), yDims: [17, 4], s: SUM });
    assert.deepEqual(own.a2.y, expected(3, 2));
    assert.deepEqual(own.b2.y, expected(17, 3));
    // one device, one weights buffer uploaded once; two sessions (a and b made once each);
    // pipelines: the size-dependent shader once per size, the other once for both
    assert.equal(own.devicesRequested, 1);
    assert.equal(own.made["webdnn weights"], 1);
    assert.equal(own.made["webdnn arena"], 2);
    assert.equal(own.info.signatures, 2);
    assert.equal(own.info.weightUploads, 1);
    assert.equal(own.info.pipelinesCompiled, 3);
    assert.equal(own.info.familyPipelines, 3);
    assert.equal(own.info.sharedPipelines, 1); // size b took the sum shader from size a
    assert.equal(own.info.familySizes, 2);
    assert.deepEqual(own.live, ["webdnn arena", "webdnn arena", "webdnn readback", "webdnn readback", "webdnn weights"]);
    // GPU outputs of each size fed back in, on the one device
    assert.equal(own.sameDevice, true);
    assert.deepEqual(own.chain3, expected(3, 0, 2));
    assert.deepEqual(own.chain17, expected(17, 1, 2));
    // device loss: the clear error for a size seen before and a new one; dispose still works
    for (const e of [own.lostSeen, own.lostNew]) {
      assert.equal(e?.name, "WebGPUError", JSON.stringify(e));
      assert.match(e.message, /device was lost/);
      assert.match(e.message, /load the model again/);
    }
    assert.equal(own.disposeAfterLoss, null);

    // supplied device, two runners, a cache of one size
    const sh = r.shared;
    assert.deepEqual(sh.a.y, expected(3));
    assert.deepEqual(sh.b.y, expected(17, 1));
    // R1's size a was evicted by b: its arena and readback buffer are gone, the weights are not
    assert.deepEqual(sh.liveA, ["webdnn arena", "webdnn readback", "webdnn weights"]);
    assert.deepEqual(sh.liveB, ["webdnn arena", "webdnn readback", "webdnn weights"]);
    assert.equal(sh.infoB.weightUploads, 1);
    assert.equal(sh.infoB.familySizes, 1);
    // the sum pipeline outlived size a (unused pipelines stay cached), so b compiled only its own
    assert.equal(sh.infoB.familyPipelines, 3);
    assert.equal(sh.infoB.pipelinesCompiled, 3);
    assert.equal(sh.infoB.sharedPipelines, 1);
    assert.equal(sh.infoB.deviceSupplied, true);
    // a GPU output of R1 (size 5) into R2, which makes its size 5 from it
    assert.equal(sh.sameDevice, true);
    assert.deepEqual(sh.chain, expected(5, 0, 2));
    assert.deepEqual(sh.chainDims, [5, 4]);
    // dispose() frees every buffer of both runners; the supplied device lives on
    assert.deepEqual(sh.liveAfterDispose, []);
    assert.equal(sh.made["webdnn weights"], 2); // one per runner (each loads the model once)
    assert.equal(sh.deviceError, null);
    assert.equal(sh.deviceAlive, true);

    assert.equal(r.ownedDestroyed, "destroyed");
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
