// Fallback elementwise kernels against onnxruntime: runs every case of
// fixtures/tensor/elementwise.json (written by tests/ops/make_tensor_fixtures.py: the
// canonical attrs and inputs a converted model would pass, onnxruntime's outputs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleFamily, runFixtureCases } from "./fixture_runner.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const { getKernel, supportedOps, halfToFloat, floatToHalf, erf } = await bundleFamily("elementwise", [
  'export { halfToFloat, floatToHalf } from "./elementwise/common.ts";', 'export { erf } from "./elementwise/erf.ts";'
]);
const fixtures = JSON.parse(readFileSync(join(here, "fixtures", "tensor", "elementwise.json"), "utf8"));
runFixtureCases(fixtures, getKernel, halfToFloat);

test("every elementwise op has a kernel", () => {
  const ops = [
    "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Sum", "Mean", "PRelu", "Equal", "Less", "Greater",
    "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor",
    "BitwiseNot", "Where", "Not", "Relu", "LeakyRelu", "Elu",
    "Selu", "Celu", "Sigmoid", "HardSigmoid", "HardSwish", "Softplus", "Softsign", "Tanh", "Exp", "Log", "Sqrt",
    "Reciprocal", "Neg", "Abs", "Floor", "Ceil", "Round", "Sign", "Erf", "Gelu", "Mish", "Sin", "Cos", "Tan",
    "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "IsNaN", "IsInf", "ThresholdedRelu",
    "Shrink", "Clip", "Cast", "CastLike", "Identity", "Dropout",
  ];
  // float unary ops have no kernel of their own: they run the expression program the converter
  // writes into attrs.expr (every one of them has such a fixture case above)
  const have = new Set(supportedOps());
  const byExpr = new Set(fixtures.cases.filter((c) => c.attrs.expr !== undefined).map((c) => c.op));
  assert.deepEqual(ops.filter((op) => !have.has(op) && !byExpr.has(op)), []);
});

test("erf is accurate in double precision", () => {
  // Reference values of erf (Abramowitz & Stegun table 7.1 / high-precision).
  const ref = [[0.1, 0.1124629160182849], [0.5, 0.5204998778130465], [1, 0.8427007929497149],
    [1.5, 0.9661051464753108], [2, 0.9953222650189527], [3, 0.9999779095030014], [4, 0.9999999845827421]];
  for (const [x, want] of ref) {
    assert.ok(Math.abs(erf(x) - want) < 1e-9, `erf(${x}) = ${erf(x)}, want ${want}`);
    assert.ok(Math.abs(erf(-x) + want) < 1e-9, `erf(${-x})`);
  }
  assert.ok(Number.isNaN(erf(NaN)));
  assert.equal(erf(Infinity), 1);
});

test("float16 conversions round to nearest even", () => {
  for (const [f, bits] of [[1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [65520, 0x7c00], [2 ** -24, 1],
    [2 ** -25, 0], [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [Infinity, 0x7c00]]) {
    assert.equal(floatToHalf(f), bits, `floatToHalf(${f})`);
  }
  assert.ok(Number.isNaN(halfToFloat(floatToHalf(NaN))));
  assert.equal(halfToFloat(0x3555), 0.333251953125);
});

test("float16 add and relu go through the generic path", () => {
  const h = (xs) => Uint16Array.from(xs, floatToHalf);
  const a = { dtype: "float16", shape: [3], size: 3, data: h([1, -2, 0.5]) };
  const b = { dtype: "float16", shape: [1], size: 1, data: h([0.25]) };
  const y = { dtype: "float16", shape: [3], size: 3, data: new Uint16Array(3) };
  getKernel("Add")([a, b], [y], {}, "Add")();
  assert.deepEqual(Array.from(y.data, halfToFloat), [1.25, -1.75, 0.75]);
  const relu = { expr: [["x", 0], ["c", 0], ["max", 0, 1]] };
  getKernel("Relu", relu)([a], [y], relu, "Relu")();
  assert.deepEqual(Array.from(y.data, halfToFloat), [1, 0, 0.5]);
});

test("int64 Relu and Pow use bigint math", () => {
  const v = (xs) => ({ dtype: "int64", shape: [xs.length], size: xs.length, data: BigInt64Array.from(xs) });
  const y = v([0n, 0n, 0n]);
  getKernel("Relu")([v([-5n, 0n, 2n ** 60n])], [y], {}, "Relu")();
  assert.deepEqual(Array.from(y.data), [0n, 0n, 2n ** 60n]);
  getKernel("Pow")([v([3n, 2n, -1n]), v([39n, -1n, 3n])], [y], {}, "Pow")();
  assert.deepEqual(Array.from(y.data), [3n ** 39n, 0n, -1n]);
});

test("bad attributes fail at load with the op named", () => {
  const x = { dtype: "float32", shape: [2], size: 2, data: new Float32Array(2) };
  const sig = { expr: [["x", 0], ["sigmoid", 0]] };
  assert.throws(() => getKernel("Sigmoid", sig)([{ ...x, dtype: "int32", data: new Int32Array(2) }], [x], sig, "Sigmoid"),
    /Sigmoid: input has type int32/);
});

test("int64 Cast through 32-bit words matches BigInt conversions, views at an offset included", () => {
  const big = [0n, 1n, -1n, 7n, -(2n ** 31n), 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, -(2n ** 32n) - 5n, 2n ** 53n + 1n,
    2n ** 62n + 3n, 2n ** 63n - 1n, -(2n ** 63n), 123456789012345n];
  const backing = new BigInt64Array(big.length + 3);
  backing.set(big, 3);
  const x = { dtype: "int64", shape: [big.length], size: big.length, data: backing.subarray(3) };
  const cast = (to, Arr) => {
    const y = { dtype: to, shape: [big.length], size: big.length, data: new Arr(big.length) };
    getKernel("Cast")([x], [y], {}, "Cast")();
    return Array.from(y.data);
  };
  assert.deepEqual(cast("float64", Float64Array), big.map(Number));
  assert.deepEqual(cast("float32", Float32Array), big.map((v) => Math.fround(Number(v))));
  assert.deepEqual(cast("int32", Int32Array), big.map((v) => Number(BigInt.asIntN(32, v))));
  assert.deepEqual(cast("int8", Int8Array), big.map((v) => Number(BigInt.asIntN(8, v))));
  assert.deepEqual(cast("bool", Uint8Array), big.map((v) => (v !== 0n ? 1 : 0)));
  assert.deepEqual(cast("float16", Uint16Array), big.map((v) => floatToHalf(Number(v))));

  // to int64: truncation toward zero; NaN, infinities and values out of range give INT64_MIN (onnxruntime on x86)
  const nums = [0, -0, 1.9, -1.9, 2 ** 31, -(2 ** 31) - 0.5, 2 ** 32 + 7, -(2 ** 40) - 3, 2 ** 53, 2 ** 63 - 1024,
    -(2 ** 63), 2 ** 63, -(2 ** 64), NaN, Infinity, -Infinity];
  const want = nums.map((v) => (Number.isFinite(v) && v >= -(2 ** 63) && v < 2 ** 63 ? BigInt(Math.trunc(v)) : -(2n ** 63n)));
  const out = new BigInt64Array(nums.length + 1);
  const y = { dtype: "int64", shape: [nums.length], size: nums.length, data: out.subarray(1) };
  getKernel("Cast")([{ dtype: "float64", shape: [nums.length], size: nums.length, data: Float64Array.from(nums) }], [y], {},
    "Cast")();
  assert.deepEqual(Array.from(y.data), want);
  assert.equal(out[0], 0n);
  const i32 = Int32Array.from([0, -1, 2147483647, -2147483648]);
  const y2 = { dtype: "int64", shape: [4], size: 4, data: new BigInt64Array(4) };
  getKernel("Cast")([{ dtype: "int32", shape: [4], size: 4, data: i32 }], [y2], {}, "Cast")();
  assert.deepEqual(Array.from(y2.data), Array.from(i32, BigInt));
});
