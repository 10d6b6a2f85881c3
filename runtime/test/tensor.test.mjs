// Fallback tensor kernels (data movement, indexing, reductions) against onnxruntime:
// runs every case of fixtures/tensor/tensor.json (written by tests/ops/make_tensor_fixtures.py: the
// canonical attrs and inputs a converted model would pass, onnxruntime's outputs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const FAMILY = "tensor";
const here = dirname(fileURLToPath(import.meta.url));
const kernelsDir = join(here, "..", "src", "backends", "fallback", "kernels");

// Bundle this family + registry.ts alone (index.ts also pulls in the other families).
const tmp = mkdtempSync(join(tmpdir(), `webdnn-${FAMILY}-test-`));
const outfile = join(tmp, "bundle.mjs");
await build({
  stdin: {
    contents: [
      `import "./${FAMILY}.ts";`,
      'export { getKernel, supportedOps } from "./registry.ts";',
      'export { halfToFloat } from "./elementwise/common.ts";',
    ].join("\n"),
    resolveDir: kernelsDir,
    loader: "ts",
  },
  bundle: true,
  format: "esm",
  platform: "neutral",
  outfile,
  logLevel: "error",
});
const { getKernel, supportedOps, halfToFloat } = await import(pathToFileURL(outfile).href);
rmSync(tmp, { recursive: true, force: true });

const fixtures = JSON.parse(readFileSync(join(here, "fixtures", "tensor", `${FAMILY}.json`), "utf8"));

const ARRAYS = {
  float32: Float32Array, float64: Float64Array, float16: Uint16Array, int64: BigInt64Array, int32: Int32Array,
  int16: Int16Array, int8: Int8Array, uint8: Uint8Array, bool: Uint8Array,
};

function view(t) {
  const data = t.dtype === "int64"
    ? BigInt64Array.from(t.data, (v) => BigInt(v))
    : ARRAYS[t.dtype].from(t.data, (v) => Number(v)); // "NaN"/"Infinity" strings become numbers
  return { dtype: t.dtype, shape: t.shape, size: data.length, data };
}

/** An output view pre-filled with junk, so a kernel that skips an element is caught. */
function junkView(t) {
  const size = t.shape.reduce((p, d) => p * d, 1);
  const data = new ARRAYS[t.dtype](size);
  data.fill(t.dtype === "int64" ? 0x5a5an : t.dtype.startsWith("float") && t.dtype !== "float16" ? NaN : 0x5a);
  return { dtype: t.dtype, shape: t.shape, size, data };
}

function decode(dtype, arr) {
  if (dtype === "float16") return Array.from(arr, halfToFloat);
  return Array.from(arr);
}

function assertTensor(got, want, tol, name) {
  assert.deepEqual(got.shape, want.shape, `${name}: shape`);
  const w = view(want);
  const g = decode(got.dtype, got.data);
  const e = decode(want.dtype, w.data);
  assert.equal(g.length, e.length, `${name}: length`);
  const exact = !got.dtype.startsWith("float");
  for (let i = 0; i < e.length; i++) {
    const a = g[i];
    const b = e[i];
    if (exact) {
      if (a !== b) assert.fail(`${name}: element ${i} is ${a}, onnxruntime says ${b}`);
      continue;
    }
    const t = got.dtype === "float16" ? 1e-3 : tol;
    const ok = Object.is(a, b) || a === b || (Number.isNaN(a) && Number.isNaN(b)) || Math.abs(a - b) <= t + t * Math.abs(b);
    if (!ok) assert.fail(`${name}: element ${i} is ${a}, onnxruntime says ${b} (|err| ${Math.abs(a - b)})`);
  }
}

for (const c of fixtures.cases) {
  test(`${c.op}: ${c.name}`, () => {
    const factory = getKernel(c.op);
    assert.ok(factory, `no fallback kernel registered for ${c.op}`);
    const inputs = c.inputs.map((t) => (t === null ? null : view(t)));
    const outputs = c.outputs.map(junkView);
    const run = factory(inputs, outputs, c.attrs, c.op);
    run();
    c.outputs.forEach((want, k) => assertTensor(outputs[k], want, c.tol, `${c.name} output ${k}`));
    // Runs again on the same views (arena reuse): no state may leak between runs.
    outputs.forEach((o, k) => o.data.set(junkView(c.outputs[k]).data));
    run();
    c.outputs.forEach((want, k) => assertTensor(outputs[k], want, c.tol, `${c.name} output ${k} (second run)`));
  });
}

test("every tensor op has a kernel (the conversion-time ones have none)", () => {
  const ops = [
    "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Concat", "Split", "Slice", "Gather",
    "GatherElements", "GatherND", "ScatterND", "Expand", "Tile", "Pad", "OneHot", "ReduceMean", "ReduceSum",
    "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSum",
    "ReduceLogSumExp", "ArgMax", "ArgMin", "CumSum", "Trilu",
  ];
  const have = new Set(supportedOps());
  assert.deepEqual(ops.filter((op) => !have.has(op)), []);
  for (const op of ["Shape", "Size", "ConstantOfShape", "Range"]) assert.ok(!have.has(op), op);
});

const f32 = (shape, xs) => ({ dtype: "float32", shape, size: xs.length, data: Float32Array.from(xs) });
const i64 = (shape, xs) => ({ dtype: "int64", shape, size: xs.length, data: BigInt64Array.from(xs, BigInt) });

test("Gather reads runtime indices on every run and rejects out-of-range ones", () => {
  const x = f32([3, 2], [1, 2, 3, 4, 5, 6]);
  const idx = i64([2], [2, 0]);
  const y = f32([2, 2], [0, 0, 0, 0]);
  const run = getKernel("Gather")([x, idx], [y], { axis: 0 }, "Gather");
  run();
  assert.deepEqual(Array.from(y.data), [5, 6, 1, 2]);
  idx.data[0] = -2n;
  run();
  assert.deepEqual(Array.from(y.data), [3, 4, 1, 2]);
  idx.data[1] = 3n;
  assert.throws(run, /Gather: index 3 is out of range/);
});

test("Transpose of a 5-D tensor matches a naive permutation", () => {
  const shape = [2, 3, 1, 4, 5];
  const perm = [4, 1, 3, 0, 2];
  const size = shape.reduce((a, b) => a * b, 1);
  const x = f32(shape, Array.from({ length: size }, (_, i) => i));
  const outShape = perm.map((p) => shape[p]);
  const y = f32(outShape, new Array(size).fill(-1));
  getKernel("Transpose")([x], [y], { perm }, "Transpose")();
  const xs = [60, 20, 20, 5, 1];
  const idx = new Array(5).fill(0);
  for (let o = 0; o < size; o++) {
    let rem = o;
    for (let d = 4; d >= 0; d--) {
      idx[d] = rem % outShape[d];
      rem = Math.floor(rem / outShape[d]);
    }
    const src = perm.reduce((acc, p, d) => acc + idx[d] * xs[p], 0);
    assert.equal(y.data[o], src, `element ${o}`);
  }
});

test("Reduce over an empty axis set with noop reduces each element alone", () => {
  const x = f32([2, 2], [-1, 2, -3, 4]);
  const y = f32([2, 2], [0, 0, 0, 0]);
  getKernel("ReduceL2")([x], [y], { axes: [], keepdims: 1, noop_with_empty_axes: 1 }, "ReduceL2")();
  assert.deepEqual(Array.from(y.data), [1, 2, 3, 4]);
});
