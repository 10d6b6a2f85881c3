// The image module (WebDNN.image) against Pillow and numpy: every case of fixtures/image/image.json (written by
// tests/make_image_fixtures.py): Pillow's resize byte for byte (bicubic, bilinear, nearest; down, up, one
// axis), webdnn.zoo.pretrained.imagenet_preprocess and HED's BGR preprocessing bit for bit in float32, the
// inverse tensor -> pixels, softmax and top-k; plus the argument checks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "webdnn-image-test-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));
const outfile = join(tmp, "webdnn.mjs");
await build({ entryPoints: [join(here, "..", "src", "index.ts")], bundle: true, format: "esm", platform: "node", outfile, logLevel: "error" });
const { image, InputError } = await import(pathToFileURL(outfile).href);

const fx = JSON.parse(readFileSync(join(here, "fixtures", "image", "image.json"), "utf8"));
const images = fx.images.map((im) => ({ width: im.width, height: im.height, data: Uint8ClampedArray.from(im.data) }));

function firstDiff(got, want) {
  for (let i = 0; i < want.length; i++) if (!Object.is(got[i], want[i])) return `at ${i}: ${got[i]} != ${want[i]}`;
  return got.length === want.length ? null : `length ${got.length} != ${want.length}`;
}

test("resize is Pillow's Image.resize byte for byte", () => {
  assert.ok(fx.resize.length >= 24);
  for (const c of fx.resize) {
    const r = image.resize(images[c.image], c.width, c.height, c.interpolation);
    assert.equal(r.width, c.width);
    assert.equal(r.height, c.height);
    assert.equal(firstDiff(Array.from(r.data), c.expected), null, `${c.interpolation} image ${c.image} -> ${c.width}x${c.height}`);
  }
});

test("toTensor is the Python preprocessing bit for bit (ImageNet resize/crop/mean/std, HED BGR NHWC/NCHW)", () => {
  for (const c of fx.toTensor) {
    const t = image.toTensor(images[c.image], c.options);
    assert.deepEqual(t.dims, c.dims, JSON.stringify(c.options));
    assert.ok(t.data instanceof Float32Array);
    assert.equal(firstDiff(Array.from(t.data), c.expected), null, JSON.stringify(c.options));
  }
});

test("fromTensor maps a tensor back to RGBA pixels as numpy (round half to even, clip, NaN -> 0)", () => {
  for (const c of fx.fromTensor) {
    const data = Float32Array.from(c.data, (v) => (v === null ? NaN : v));
    const img = image.fromTensor(data, c.dims, c.options);
    assert.equal(img.width, c.width);
    assert.equal(img.height, c.height);
    assert.equal(firstDiff(Array.from(img.data), c.expected), null, JSON.stringify(c.options));
  }
});

test("a tensor round-trips through fromTensor and toTensor", () => {
  const src = images[2];
  const opts = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
  const t = image.toTensor(src, opts);
  const back = image.fromTensor(t.data, t.dims, opts);
  assert.deepEqual(Array.from(back.data), Array.from(src.data));
});

test("softmax and topK agree with numpy (float64 softmax, stable argsort of -p)", () => {
  for (const c of fx.softmax) {
    const p = image.softmax(Float32Array.from(c.logits));
    for (let i = 0; i < p.length; i++) assert.ok(Math.abs(p[i] - c.expected[i]) <= 1e-15 + 1e-12 * c.expected[i], `p[${i}]`);
    const top = image.topK(p, 5, c.logits.map((_, i) => `class ${i}`));
    assert.deepEqual(top.map((e) => e.index), c.top5);
    assert.equal(top[0].label, `class ${c.top5[0]}`);
    assert.equal(top[0].value, p[c.top5[0]]);
  }
  assert.deepEqual(image.topK([NaN, 1, 2], 3).map((e) => e.index), [2, 1, 0]);
  assert.deepEqual(image.topK([1, 2], 5).map((e) => e.index), [1, 0]);
});

test("resizedSize and centerCrop round half to even, as Python's round()", () => {
  assert.deepEqual(image.resizedSize(451, 300, 256), { width: 385, height: 256 }); // chelsea.png
  assert.deepEqual(image.resizedSize(10, 20, 5), { width: 5, height: 10 });
  assert.deepEqual(image.resizedSize(3, 2, 3), { width: 4, height: 3 }); // 4.5 -> 4
  // 7 wide, crop 2: offset round(2.5) = 2 (half up would give 3)
  const img = { width: 7, height: 1, data: Uint8ClampedArray.from({ length: 28 }, (_, i) => i) };
  assert.deepEqual(Array.from(image.centerCrop(img, { width: 2, height: 1 }).data), [8, 9, 10, 11, 12, 13, 14, 15]);
});

test("bad arguments are InputErrors that say what is wrong", () => {
  const img = images[0];
  assert.throws(() => image.toTensor({ width: 2, height: 2, data: new Uint8Array(15) }), (e) => e instanceof InputError && /needs 16 RGBA bytes, got 15/.test(e.message));
  assert.throws(() => image.resize(img, 0, 3), (e) => e instanceof InputError && /positive integers/.test(e.message));
  assert.throws(() => image.resize(img, 3, 3, "lanczos"), (e) => e instanceof InputError && /unknown interpolation lanczos/.test(e.message));
  assert.throws(() => image.toTensor(img, { crop: 100 }), (e) => e instanceof InputError && /cannot crop 100x100 out of an image of 23x17/.test(e.message));
  assert.throws(() => image.toTensor(img, { mean: [1, 2] }), (e) => e instanceof InputError && /mean must be 3 finite numbers/.test(e.message));
  assert.throws(() => image.fromTensor(new Float32Array(8), [1, 2, 2, 2]), (e) => e instanceof InputError && /1 or 3 channels, got 2/.test(e.message));
  assert.throws(() => image.fromTensor(new Float32Array(5), [1, 3, 2, 2]), (e) => e instanceof InputError && /needs 12 values, got 5/.test(e.message));
  assert.throws(() => image.toTensor(new Uint8Array(4)), (e) => e instanceof InputError && /raw RGBA pixels/.test(e.message));
});
