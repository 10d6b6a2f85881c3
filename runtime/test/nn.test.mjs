// Fallback nn kernels against onnxruntime: runs every case of fixtures/nn/cases.json
// (written by tests/ops/make_nn_fixtures.py: canonical attrs + inputs as a converted model
// would pass them, onnxruntime's output as the expectation).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleFamily } from "./fixture_runner.mjs";

const here = dirname(fileURLToPath(import.meta.url));

// nn.ts + registry.ts alone (index.ts also pulls in the other families).
const { getKernel, makeActivation, DescriptorError } = await bundleFamily("nn", [
  'export { makeActivation } from "./activation.ts";',
  'export { DescriptorError } from "../../../errors.ts";',
]);

const fixtures = JSON.parse(readFileSync(join(here, "fixtures", "nn", "cases.json"), "utf8"));

function view(t, dtype = "float32") {
  const data = dtype === "float64" ? new Float64Array(t.data) : new Float32Array(t.data);
  return { dtype, shape: t.shape, size: data.length, data };
}

function emptyView(shape) {
  const size = shape.reduce((p, d) => p * d, 1);
  return { dtype: "float32", shape, size, data: new Float32Array(size).fill(NaN) };
}

function assertClose(got, want, tol, name) {
  assert.equal(got.length, want.length, `${name}: length`);
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    const ok = err <= tol + tol * Math.abs(want[i]) || (Number.isNaN(want[i]) && Number.isNaN(got[i]));
    if (!ok && !(err <= worstErr)) {
      worst = i;
      worstErr = err;
    }
  }
  if (worst >= 0) {
    assert.fail(`${name}: element ${worst} is ${got[worst]}, onnxruntime says ${want[worst]} (|err| ${worstErr})`);
  }
}

for (const c of fixtures.cases) {
  test(`${c.op}: ${c.name}`, () => {
    const factory = getKernel(c.op, c.attrs);
    assert.ok(factory, `no fallback kernel registered for ${c.op}`);
    const inputs = c.inputs.map((t) => (t === null ? null : view(t)));
    const outputs = c.outputs.map((t) => emptyView(t.shape));
    const run = factory(inputs, outputs, c.attrs, c.op);
    run();
    assertClose(outputs[0].data, c.outputs[0].data, c.tol, c.name);
    // Runs again on the same views (arena reuse): no state may leak between runs.
    outputs[0].data.fill(NaN);
    run();
    assertClose(outputs[0].data, c.outputs[0].data, c.tol, `${c.name} (second run)`);
  });
}

test("kernels loaded together share scratch memory safely", () => {
  // A model loads every kernel before running any: build all, then run all in order.
  const runs = fixtures.cases.map((c) => {
    const outputs = c.outputs.map((t) => emptyView(t.shape));
    const inputs = c.inputs.map((t) => (t === null ? null : view(t)));
    return { c, outputs, run: getKernel(c.op, c.attrs)(inputs, outputs, c.attrs, c.op) };
  });
  for (const { c, outputs, run } of runs) {
    run();
    assertClose(outputs[0].data, c.outputs[0].data, c.tol, c.name);
  }
});

test("every nn op has a kernel", () => {
  const ops = new Set(fixtures.cases.map((c) => c.op));
  for (const op of [
    "Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LpNormalization",
    "Gemm", "MatMul", "BatchNormalization", "InstanceNormalization", "LayerNormalization", "LRN", "Softmax",
    "LogSoftmax", "Hardmax", "Resize", "Upsample", "DepthToSpace", "SpaceToDepth",
  ]) {
    assert.ok(getKernel(op), `missing kernel ${op}`);
    assert.ok(ops.has(op), `no fixture case for ${op}`);
  }
});

test("non-float32 inputs are refused at load time with a clear error", () => {
  const x = view({ shape: [1, 1, 3, 3], data: new Array(9).fill(1) }, "float64");
  const w = view({ shape: [1, 1, 1, 1], data: [1] }, "float64");
  const y = { dtype: "float64", shape: [1, 1, 3, 3], size: 9, data: new Float64Array(9) };
  assert.throws(() => getKernel("Conv")([x, w], [y], {}, "Conv"), (e) => e instanceof DescriptorError && /float32/.test(e.message));
});

test("makeActivation", () => {
  assert.equal(makeActivation(undefined), null);
  const d = new Float32Array([-2, -0.5, 0.5, 7]);
  // the programs the converter writes (webdnn.backends.common.expr_attrs.activation_with_program)
  makeActivation({ type: "Clip", min: "-Infinity", max: 1, expr: [["x", 0], ["c", 1], ["min", 0, 1]] })(d, 1, 4);
  assert.deepEqual([...d], [-2, -0.5, 0.5, 1]);
  makeActivation({ type: "Relu", expr: [["x", 0], ["c", 0], ["max", 0, 1]] })(d, 0, 4);
  assert.deepEqual([...d], [0, 0, 0.5, 1]);
  assert.throws(() => makeActivation({ type: "Swish" }), DescriptorError); // no program: reconvert
  assert.throws(() => makeActivation({ type: "Relu", expr: [["x", 0], ["frob", 0]] }), /unknown primitive "frob"/);
  assert.throws(() => makeActivation({ type: "Relu", expr: [["x", 0], ["max", 0, 3]] }), /earlier instruction/);
});
