// Fallback tensor kernels (data movement, indexing, reductions) against onnxruntime:
// runs every case of fixtures/tensor/tensor.json (written by tests/ops/make_tensor_fixtures.py: the
// canonical attrs and inputs a converted model would pass, onnxruntime's outputs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleFamily, runFixtureCases } from "./fixture_runner.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const { getKernel, supportedOps, halfToFloat } = await bundleFamily("tensor", [
  'export { halfToFloat } from "./elementwise/common.ts";'
]);
const fixtures = JSON.parse(readFileSync(join(here, "fixtures", "tensor", "tensor.json"), "utf8"));
runFixtureCases(fixtures, getKernel, halfToFloat);

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

test("int64 moves (Expand, Tile, Transpose, Slice) copy every bit, views at an offset included", () => {
  const vals = [-1n, 2n ** 62n + 3n, -(2n ** 63n), 2n ** 53n + 1n, 7n, -0x7ff0000000000001n];
  const backing = new BigInt64Array(vals.length + 3);
  backing.set(vals, 3);
  const x = { dtype: "int64", shape: [2, 3], size: 6, data: backing.subarray(3) };
  const out = (shape) => ({ dtype: "int64", shape, size: shape.reduce((a, b) => a * b, 1),
    data: new BigInt64Array(shape.reduce((a, b) => a * b, 1)) });
  const expand = out([2, 2, 3]);
  getKernel("Expand")([x], [expand], { shape: [2, 2, 3] }, "Expand")();
  assert.deepEqual(Array.from(expand.data), [...vals, ...vals]);
  const col = { dtype: "int64", shape: [2, 1], size: 2, data: BigInt64Array.from([-1n, -(2n ** 63n)]) };
  const wide = out([2, 4]);
  getKernel("Expand")([col], [wide], { shape: [2, 4] }, "Expand")();
  assert.deepEqual(Array.from(wide.data), [-1n, -1n, -1n, -1n, -(2n ** 63n), -(2n ** 63n), -(2n ** 63n), -(2n ** 63n)]);
  const tile = out([2, 6]);
  getKernel("Tile")([x], [tile], { repeats: [1, 2] }, "Tile")();
  assert.deepEqual(Array.from(tile.data), [...vals.slice(0, 3), ...vals.slice(0, 3), ...vals.slice(3), ...vals.slice(3)]);
  const t = out([3, 2]);
  getKernel("Transpose")([x], [t], { perm: [1, 0] }, "Transpose")();
  assert.deepEqual(Array.from(t.data), [vals[0], vals[3], vals[1], vals[4], vals[2], vals[5]]);
  const s = out([2, 2]);
  getKernel("Slice")([x], [s], { starts: [0, 1], ends: [2, 3], axes: [0, 1], steps: [1, 1] }, "Slice")();
  assert.deepEqual(Array.from(s.data), [vals[1], vals[2], vals[4], vals[5]]);
  const row = out([1, 3]);
  getKernel("Slice")([x], [row], { starts: [1, 0], ends: [2, 3], axes: [0, 1], steps: [1, 1] }, "Slice")();
  assert.deepEqual(Array.from(row.data), vals.slice(3));
});
