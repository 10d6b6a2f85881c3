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
