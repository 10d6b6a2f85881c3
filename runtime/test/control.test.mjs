// Control programs (src/control.ts): the host NonZero, TopK, NonMaxSuppression, Unique and Compress steps, and the control
// descriptor's checks of the step and of output dims written as expressions of a count.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "webdnn-control-test-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));
const outfile = join(tmp, "control.mjs");
await build({ entryPoints: [join(here, "..", "src", "control.ts")], bundle: true, format: "esm", platform: "node", outfile, logLevel: "error" });
const { compress, nms, nonzero, topk, unique, validateControlDescriptor } = await import(pathToFileURL(outfile).href);

test("nonzero: int64 [rank, count] in row-major order; NaN counts, -0 does not", () => {
  const r = nonzero({ data: Float32Array.from([0, 1.5, -0, NaN, 0, -2]), dims: [2, 3] });
  assert.deepEqual(r.dims, [2, 3]);
  assert.deepEqual([...r.data], [0n, 1n, 1n, 1n, 0n, 2n]);
  const b = nonzero({ data: BigInt64Array.from([0n, 7n, 0n]), dims: [3] });
  assert.deepEqual([b.dims, [...b.data]], [[1, 1], [1n]]);
  const none = nonzero({ data: new Uint8Array(4), dims: [2, 2] });
  assert.deepEqual([none.dims, none.data.length], [[2, 0], 0]);
  const scalar = nonzero({ data: Int32Array.from([5]), dims: [] });
  assert.deepEqual([scalar.dims, scalar.data.length], [[0, 1], 0]);
});

test("topk: sorted, ties in index order, NaN the largest, any axis; k outside [0, n] an InputError", () => {
  const x = { data: Float32Array.from([1, 3, 3, NaN, 0, 2, 5, -1]), dims: [2, 4] };
  const [v, i] = topk(x, { data: BigInt64Array.from([3n]), dims: [1] }, 1, true, "m");
  assert.deepEqual([v.dims, [...v.data], [...i.data]], [[2, 3], [NaN, 3, 3, 5, 2, 0], [3n, 1n, 2n, 2n, 1n, 0n]]);
  const [s, j] = topk(x, { data: BigInt64Array.from([1n]), dims: [1] }, 0, false, "m");
  assert.deepEqual([s.dims, [...s.data], [...j.data]], [[1, 4], [0, 2, 3, -1], [1n, 1n, 0n, 1n]]);
  const [e] = topk(x, { data: BigInt64Array.from([0n]), dims: [1] }, 1, true, "m");
  assert.deepEqual([e.dims, e.data.length], [[2, 0], 0]);
  assert.throws(() => topk(x, { data: BigInt64Array.from([5n]), dims: [1] }, 1, true, "m"), /k = 5; it must be between 0 and the axis' size 4/);
});

test("nms: score order (ties by index), IoU above the threshold suppresses, per-class limit, both box formats", () => {
  const i64 = (v) => ({ data: BigInt64Array.from([BigInt(v)]), dims: [1] });
  const f32 = (v) => ({ data: Float32Array.from([v]), dims: [1] });
  // corners in either order: box 1 is box 0 flipped and shifted a little (IoU 0.82), box 2 far away
  const boxes = { data: Float32Array.from([0, 0, 1, 1, 1.1, 1, 0.1, 0, 5, 5, 6, 6]), dims: [1, 3, 4] };
  const scores = { data: Float32Array.from([0.9, 0.9, 0.3, 0.1, 0.8, 0.8]), dims: [1, 2, 3] };
  const rows = (r) => { const a = [...r.data].map(Number); return Array.from({ length: r.dims[0] }, (_, k) => a.slice(3 * k, 3 * k + 3)); };
  assert.deepEqual(rows(nms(boxes, scores, i64(3), f32(0.5), null, 0)), [[0, 0, 0], [0, 0, 2], [0, 1, 1], [0, 1, 2]]);
  assert.deepEqual(rows(nms(boxes, scores, i64(3), f32(0.85), f32(0.2), 0)), [[0, 0, 0], [0, 0, 1], [0, 0, 2], [0, 1, 1], [0, 1, 2]]);
  assert.deepEqual(rows(nms(boxes, scores, i64(1), f32(0.5), null, 0)), [[0, 0, 0], [0, 1, 1]]);
  assert.deepEqual(nms(boxes, scores, null, null, null, 0).dims, [0, 3]); // max_output_boxes_per_class 0 when omitted
  const centers = { data: Float32Array.from([0.5, 0.5, 1, 1, 0.6, 0.5, 1, 1, 5.5, 5.5, 1, 1]), dims: [1, 3, 4] };
  assert.deepEqual(rows(nms(centers, scores, i64(3), f32(0.5), null, 1)), [[0, 0, 0], [0, 0, 2], [0, 1, 1], [0, 1, 2]]);
});

test("unique: sorted or in order of first occurrence, elements or slices; compress: along an axis or flattened", () => {
  const x = { data: Float32Array.from([2, 1, 2, 0, 1, 2]), dims: [3, 2] };
  const [y, first, inverse, counts] = unique(x, null, true);
  assert.deepEqual([y.dims, [...y.data], [...first.data], [...inverse.data], [...counts.data]],
    [[3], [0, 1, 2], [3n, 1n, 0n], [2n, 1n, 2n, 0n, 1n, 2n], [1n, 2n, 3n]]);
  assert.deepEqual([...unique(x, null, false)[0].data], [2, 1, 0]);
  const rows = { data: Int32Array.from([1, 2, 0, 5, 1, 2]), dims: [3, 2] };
  const [r, rf, ri, rc] = unique(rows, 0, true);
  assert.deepEqual([r.dims, [...r.data], [...rf.data], [...ri.data], [...rc.data]],
    [[2, 2], [0, 5, 1, 2], [1n, 0n], [1n, 0n, 1n], [1n, 2n]]);
  const c = compress(rows, { data: Uint8Array.from([1, 0]), dims: [2] }, 0); // past the condition's end: false
  assert.deepEqual([c.dims, [...c.data]], [[1, 2], [1, 2]]);
  assert.deepEqual([...compress(rows, { data: Uint8Array.from([0, 1, 1]), dims: [3] }, null).data], [2, 0]);
});

test("a nonzero step needs its names; an output's dims may name a count, an input's may not", () => {
  const desc = (program, shapes = [[3], [1, "x.count"]]) => ({
    format: "webdnn-control", version: 1, backend: "fallback", model: "m",
    inputs: [{ name: "x", tensor: 0 }], outputs: [{ name: "i", tensor: 1 }],
    tensors: shapes.map((shape, k) => ({ name: k ? "i" : "x", dtype: k ? "int64" : "float32", shape })),
    stages: [], program,
  });
  const ok = validateControlDescriptor(desc([{ nonzero: "x", to: "i" }]), "fallback", "d.json");
  assert.deepEqual(ok.program, [{ nonzero: "x", to: "i" }]);
  assert.deepEqual(ok.tensors[1].shape, [1, "x.count"]);
  assert.throws(() => validateControlDescriptor(desc([{ nonzero: "x" }]), "fallback", "d.json"), /needs nonzero and to names/);
  assert.throws(() => validateControlDescriptor(desc([], [["n"], [1]]), "fallback", "d.json"), /input 'x' needs a fixed shape/);
});
