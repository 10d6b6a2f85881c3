// The wasm parameter checks (src/backends/wasm/params.ts) on hand-made descriptors, for the rules a
// single edit of a converted model cannot reach (tests/e2e/test_descriptor_fuzz.py covers the rest
// on real descriptors): loop counts over zero-size tensors, 32-bit index overflow in a window, a
// transpose written with the axes of 1 a model with symbolic dims keeps, an over-declared stack.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "webdnn-wasm-params-test-"));
let mod;
try {
  const outfile = join(tmp, "bundle.mjs");
  await build({
    stdin: {
      contents: 'export { checkWasmParams } from "./params.ts";\nexport { DescriptorError } from "../../errors.ts";',
      resolveDir: join(here, "..", "src", "backends", "wasm"), loader: "ts",
    },
    bundle: true, format: "esm", platform: "neutral", outfile, logLevel: "error",
  });
  mod = await import(pathToFileURL(outfile).href);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
const { checkWasmParams, DescriptorError } = mod;

const tensor = (name, shape, offset = 0) => {
  const n = shape.reduce((a, b) => a * b, 1);
  return { name, dtype: "float32", shape, memory: "arena", offset, byteLength: 4 * n };
};
const desc = (tensors, kernel, stackBytes = 0) => ({
  tensors, kernels: [{ op: kernel.op, name: "k", inputs: kernel.inputs, outputs: kernel.outputs, attrs: kernel.attrs }],
  wasm: { abi: 3, stackBytes }, jsKernels: [],
});

test("softmax_f32 over rows of nothing is refused (2^31 empty rows would still be looped over)", () => {
  const ok = desc([tensor("x", [2, 3]), tensor("y", [2, 3], 32)],
    { op: "Softmax", inputs: [0], outputs: [1], attrs: { axis: 1, wasm: { fn: "softmax_f32", params: [{ in: 0 }, { out: 0 }, 2, 3] } } });
  checkWasmParams(ok);
  const empty = desc([tensor("x", [2147483647, 0]), tensor("y", [2147483647, 0])],
    { op: "Softmax", inputs: [0], outputs: [1], attrs: { axis: 1, wasm: { fn: "softmax_f32", params: [{ in: 0 }, { out: 0 }, 2147483647, 0] } } });
  assert.throws(() => checkWasmParams(empty), (e) => e instanceof DescriptorError && /cols must be >= 1/.test(e.message));
});

test("layernorm_f32 over rows of nothing is refused", () => {
  const ln = (rows, cols, shape) => desc([tensor("x", shape), tensor("g", [cols]), tensor("y", shape)],
    { op: "LayerNormalization", inputs: [0, 1], outputs: [2], attrs: { axis: -1, epsilon: 1e-5, wasm: { fn: "layernorm_f32", params: [{ in: 0 }, { in: 1 }, 0, { out: 0 }, rows, cols, { f: 1e-5 }] } } });
  checkWasmParams(ln(2, 3, [2, 3]));
  assert.throws(() => checkWasmParams(ln(2147483647, 0, [2147483647, 0])), /cols must be >= 1/);
});

test("pool2d_nhwc_f32: a window whose coordinates overflow the kernel's 32-bit arithmetic is refused", () => {
  // H = 1, 2^31 - 2 pads above, stride 2^31 - 1: the output rule gives OH = 1 and o*S - P + k*D stays in
  // range; with a second tap row 2^30 below (KH = 2, dilation 2^30) OH is still 1 but k*D - P passes 2^31.
  const pool = (kh, dh) => {
    const attrs = { kernel_shape: [kh, 1], strides: [2147483647, 1], dilations: [dh, 1], pads: [2147483646, 0, 0, 0], ceil_mode: 0 };
    return desc([tensor("x", [1, 1, 1, 4]), tensor("y", [1, 1, 1, 4], 16)], {
      op: "MaxPool", inputs: [0], outputs: [1],
      attrs: { ...attrs, wasm: { fn: "pool2d_nhwc_f32", params: [{ in: 0 }, { out: 0 }, 1, 1, 1, 4, 1, 1, kh, 1, 2147483647, 1, 2147483646, 0, 0, 0, dh, 1, 0] } },
    });
  };
  checkWasmParams(pool(1, 1));
  assert.throws(() => checkWasmParams(pool(2, 2 ** 30)), /coordinates overflow 32 bits/);
});

test("binary_f32 on an empty tensor: accepted as the converter writes it, refused where the kernel would divide by zero or read away", () => {
  // Mul of x[2, 0, 4] by itself: dims collapse to [1, 1, 2, 0], strides [0, 0, 0, 1]
  const mul = (dims, a) => desc([tensor("x", [2, 0, 4]), tensor("y", [2, 0, 4])],
    { op: "Mul", inputs: [0, 0], outputs: [1], attrs: { wasm: { fn: "binary_f32", params: [{ in: 0 }, { in: 1 }, { out: 0 }, 2, ...dims, ...a, ...a, 0, { f: 0 }, { f: 0 }] } } });
  checkWasmParams(mul([1, 1, 2, 0], [0, 0, 0, 1]));
  assert.throws(() => checkWasmParams(mul([1, 1, 4, 0], [0, 0, 0, 1])), /rows of d3 = 0 elements: 4 of them would divide by zero/);
  assert.throws(() => checkWasmParams(mul([1, 1, 2, 0], [0, 0, 1000, 1])), /an empty call's row strides must be 0/);
});

// unary_f32 over 4 floats with the activation words `act` and the call's attributes `attrs`
const unary = (act, attrs) => desc([tensor("x", [4]), tensor("y", [4], 16)],
  { op: "Elu", inputs: [0], outputs: [1], attrs: { ...attrs, wasm: { fn: "unary_f32", params: [{ in: 0 }, { out: 0 }, 4, ...act] } } });
const ELU = [["x", 0], ["c", 0], ["ge", 0, 1], ["exp", 0], ["c", 1], ["sub", 3, 4], ["where", 2, 0, 5]];
const RELU = [["x", 0], ["c", 0], ["max", 0, 1]];
const PROGRAM = [2, { program: "expr" }, { f: 0 }];

test("an expression program is checked before the C interpreter trusts it", () => {
  checkWasmParams(unary(PROGRAM, { expr: ELU }));
  const bad = (prog, pattern) =>
    assert.throws(() => checkWasmParams(unary(PROGRAM, { expr: prog })), (e) => e instanceof DescriptorError && pattern.test(e.message));
  bad([["x", 0], ["neg", 5]], /must index an earlier instruction/);
  bad([["x", 0], ["log", 0]], /the wasm interpreter has no log/);
  bad([["x", 0], ["c", 0], ["lt", 0, 1], ["add", 2, 0]], /comparison may only be the condition of a where/);
  bad([["x", 0], ["where", 0, 0, 0]], /condition of a where must be a comparison/);
  bad([["x", 0], ...Array.from({ length: 64 }, () => ["neg", 0])], /at most 64/);
  assert.throws(() => checkWasmParams(unary(PROGRAM, {})), /attrs.expr is missing/);
  assert.throws(() => checkWasmParams(unary([2, { program: "activation" }, { f: 0 }], { expr: ELU })), /program word must be/);
});

test("a clamp's bounds must compute the call's program", () => {
  checkWasmParams(unary([1, { f: 0 }, { f: "Infinity" }], { expr: RELU }));
  assert.throws(() => checkWasmParams(unary([1, { f: 0 }, { f: 6 }], { expr: RELU })), /the clamp \[0, 6\] gives 6 at 7/);
  assert.throws(() => checkWasmParams(unary([1, { f: 0 }, { f: "Infinity" }], { expr: ELU })), /the clamp/);
  assert.throws(() => checkWasmParams(unary([0, { f: 0 }, { f: 0 }], { expr: RELU })), /activation words are empty/);
});

test("transpose_any's dims and strides are compared as the reads they make: axes of 1 and mergeable axes as the converter may leave them", () => {
  const tr = (xshape, perm, dims, strides) => {
    const yshape = perm.map((p) => xshape[p]);
    return desc([tensor("x", xshape), tensor("y", yshape, 4096)],
      { op: "Transpose", inputs: [0], outputs: [1], attrs: { perm, wasm: { fn: "transpose_any", params: [{ in: 0 }, { out: 0 }, 4, ...dims, ...strides] } } });
  };
  // x [1, n, 4, 3] perm [0, 2, 1, 3] at n = 1 (the converter keeps the axis of n, with its stride)
  checkWasmParams(tr([1, 1, 4, 3], [0, 2, 1, 3], [1, 1, 1, 4, 1, 3], [0, 0, 0, 3, 12, 1]));
  // the canonical form the runtime derives itself
  checkWasmParams(tr([1, 1, 4, 3], [0, 2, 1, 3], [1, 1, 1, 1, 1, 12], [0, 0, 0, 0, 0, 1]));
  // at n = 2 the axes are real: as written
  checkWasmParams(tr([1, 2, 4, 3], [0, 2, 1, 3], [1, 1, 1, 4, 2, 3], [0, 0, 0, 3, 12, 1]));
  // x [n, 1024] perm [1, 0] at n = 1: [1024, 1] with strides [1, 1024] reads x in order
  checkWasmParams(tr([1, 1024], [1, 0], [1, 1, 1, 1, 1024, 1], [0, 0, 0, 0, 1, 1024]));
  // another permutation's reads are still refused, whatever the form
  const bad = /dims .* and strides .* are not those of X's shape \[1, 2, 4, 3\] permuted by \[0, 2, 1, 3\]/;
  assert.throws(() => checkWasmParams(tr([1, 2, 4, 3], [0, 2, 1, 3], [1, 1, 1, 4, 2, 3], [0, 0, 0, 12, 3, 1])), bad);
  assert.throws(() => checkWasmParams(tr([1, 2, 4, 3], [0, 2, 1, 3], [1, 1, 1, 1, 1, 24], [0, 0, 0, 0, 0, 1])), bad);
  // an axis of 1 with any stride, around axes that read x in order: a copy, not this transpose
  assert.throws(() => checkWasmParams(tr([1, 2, 4, 3], [0, 2, 1, 3], [1, 1, 2, 4, 1, 3], [0, 0, 12, 3, 7, 1])), bad);
});

test("wasm.stackBytes may exceed the kernels' need (a symbolic model declares its bound), up to 64 MiB; never less", () => {
  // bmm_f32 with K = 3, NC = 8 needs 4 * 8 * 3 = 96 bytes of stack
  const bmm = (stackBytes) => desc([tensor("a", [2, 3]), tensor("b", [3, 4], 32), tensor("c", [2, 4], 96)], {
    op: "MatMul", inputs: [0, 1], outputs: [2], attrs: { wasm: { fn: "bmm_f32",
      params: [{ in: 0 }, { in: 1 }, { out: 0 }, 0, 1, 1, 2, 4, 3, 0, 0, 3, 1, 0, 0, 4, 1, 0, 0, 4, 0, 0, 0, 0, { f: 1 }, 0, 8] } },
  }, stackBytes);
  checkWasmParams(bmm(96));
  checkWasmParams(bmm(96 + 65536 + 1));
  checkWasmParams(bmm(64 * 1024 * 1024));
  assert.throws(() => checkWasmParams(bmm(95)), /wasm\.stackBytes 95 is not the kernels' per-thread stack need or more \(they need 96 bytes/);
  assert.throws(() => checkWasmParams(bmm(64 * 1024 * 1024 + 1)), /wasm\.stackBytes 67108865 is not the kernels' per-thread stack need or more/);
});
