// The fallback kernels check their attributes against their tensors' shapes at load time
// (kernels/shape.ts): an attribute that does not fit (an edited descriptor) is a DescriptorError
// naming the op and the mismatch, not an out-of-bounds read (NaN), an unwritten output, a hang or a
// TypeError at run time. Each case builds a kernel that fits (it must load and run) and the same
// kernel with one thing changed (it must be refused).
import { test } from "node:test";
import assert from "node:assert/strict";
import { bundleFamily } from "./fixture_runner.mjs";

const { getKernel, DescriptorError, InputError, WebDNNError } = await bundleFamily("index", [
  'export { DescriptorError, InputError, WebDNNError } from "../../../errors.ts";',
]);

const ARRAYS = { float32: Float32Array, int64: BigInt64Array, int32: Int32Array, bool: Uint8Array };

/** A zero-filled view: `spec` is a shape (float32) or [shape, dtype]. */
function view(spec) {
  const [shape, dtype] = Array.isArray(spec[0]) ? spec : [spec, "float32"];
  const size = shape.reduce((a, b) => a * b, 1);
  return { dtype, shape, size, data: new ARRAYS[dtype](size) };
}

function make(op, ins, outs, attrs) {
  const factory = getKernel(op);
  assert.ok(factory, `no kernel for ${op}`);
  return factory(ins.map((x) => (x === null ? null : view(x))), outs.map(view), attrs, op);
}

// [op, inputs, outputs, attrs that fit, {what changes: inputs/outputs/attrs}, expected message]
const f = (...shape) => shape;
const i64 = (...shape) => [shape, "int64"];
const CASES = [
  ["Conv", [f(1, 2, 5, 5), f(3, 2, 3, 3), f(3)], [f(1, 3, 5, 5)], { kernel_shape: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1 },
    { attrs: { strides: [2, 2] } }, /Conv: output has shape \[1, 3, 5, 5\], but its inputs and attributes give \[1, 3, 3, 3\]/],
  ["Conv", [f(1, 2, 5, 5), f(3, 2, 3, 3), f(3)], [f(1, 3, 5, 5)], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] },
    { attrs: { kernel_shape: [3, 2] } }, /kernel_shape \[3,2\] is not the weight's \[3,3\]/],
  ["Conv", [f(1, 2, 5, 5), f(3, 2, 3, 3), f(3)], [f(1, 3, 5, 5)], { pads: [1, 1, 1, 1] },
    { attrs: { group: 2 } }, /input channels 2, weight \[3,2,3,3\] and group 2 do not fit together/],
  ["Conv", [f(1, 2, 5, 5), f(3, 2, 3, 3), f(3)], [f(1, 3, 5, 5)], { pads: [1, 1, 1, 1] },
    { inputs: [f(1, 2, 5, 5), f(3, 2, 3, 3), f(4)] }, /bias B has shape \[4\], but its inputs and attributes give \[3\]/],
  ["Conv", [f(1, 2, 5, 5), f(3, 2, 3, 3)], [f(1, 3, 5, 5)], { pads: [1, 1, 1, 1] },
    { attrs: { pads: [1, 1, 1] } }, /pads \[1, 1, 1\] must be 4 integers >= 0/],
  ["ConvTranspose", [f(1, 2, 3, 3), f(2, 3, 2, 2)], [f(1, 3, 6, 6)], { strides: [2, 2], pads: [0, 0, 0, 0] },
    { attrs: { pads: [1, 0, 0, 0] } }, /output has shape \[1, 3, 6, 6\], but its inputs and attributes give \[1, 3, 5, 6\]/],
  ["MaxPool", [f(1, 1, 5, 5)], [f(1, 1, 2, 2)], { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 0 },
    { attrs: { ceil_mode: 1 } }, /output has shape \[1, 1, 2, 2\], but its inputs and attributes give \[1, 1, 3, 3\]/],
  ["MaxPool", [f(1, 1, 5, 5)], [f(1, 1, 2, 2)], { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 0 },
    { attrs: { ceil_mode: 2 } }, /attribute ceil_mode must be 0 or 1, got 2/],
  ["AveragePool", [f(1, 1, 5, 5)], [f(1, 1, 2, 2)], { kernel_shape: [2, 2], strides: [2, 2] },
    { attrs: { strides: [0, 2] } }, /strides \[0, 2\] must be 2 integers >= 1/],
  ["GlobalAveragePool", [f(1, 2, 3, 3)], [f(1, 2, 1, 1)], {}, { outputs: [f(2, 1, 1, 1)] }, /output has shape \[2, 1, 1, 1\]/],
  ["LpNormalization", [f(2, 3)], [f(2, 3)], { axis: 1, p: 2 }, { attrs: { p: 3 } }, /p 3 must be 1 or 2/],
  ["Gemm", [f(2, 3), f(3, 4)], [f(2, 4)], { transA: 0, transB: 0 }, { attrs: { transB: 1 } }, /inner dimensions differ/],
  ["Gemm", [f(2, 3), f(3, 4)], [f(2, 4)], { transA: 0, transB: 0 }, { attrs: { transA: 2 } }, /transA 2 and transB 0 must be 0 or 1/],
  ["Gemm", [f(2, 3), f(3, 4), f(4)], [f(2, 4)], {}, { inputs: [f(2, 3), f(3, 4), f(3)] }, /do not broadcast/],
  ["MatMul", [f(2, 2, 3), f(2, 3, 4)], [f(2, 2, 4)], {}, { outputs: [f(4, 2, 2)] }, /output has shape \[4, 2, 2\], but .* give \[2, 2, 4\]/],
  ["MatMul", [f(2, 2, 3), f(2, 3, 4)], [f(2, 2, 4)], {}, { inputs: [f(2, 2, 3), f(3, 3, 4)], outputs: [f(3, 2, 4)] }, /do not broadcast/],
  ["BatchNormalization", [f(1, 2, 2), f(2), f(2), f(2), f(2)], [f(1, 2, 2)], {}, { inputs: [f(1, 2, 2), f(3), f(2), f(2), f(2)] },
    /input 1 \[3\] must hold 2 values/],
  ["LayerNormalization", [f(2, 3), f(3)], [f(2, 3)], { axis: 1 }, { attrs: { axis: 2 ** 40 } }, /axis 1099511627776 is outside the input's 2 dims/],
  ["LayerNormalization", [f(2, 3), f(3)], [f(2, 3)], { axis: 1 }, { inputs: [f(2, 3), f(4)] }, /input shapes \[3\] and \[4\] do not broadcast/],
  ["LRN", [f(1, 3, 2, 2)], [f(1, 3, 2, 2)], { size: 3 }, { attrs: { size: 0 } }, /size 0 must be >= 1/],
  ["Softmax", [f(2, 3)], [f(2, 3)], { axis: 1 }, { attrs: { axis: 2 ** 40 } }, /axis 1099511627776 is outside/],
  ["Resize", [f(1, 1, 2, 2)], [f(1, 1, 4, 4)], { mode: "nearest", scales: [1, 1, 2, 2], sizes: [1, 1, 4, 4] },
    { attrs: { sizes: [1, 1, 4, 3] } }, /output has shape \[1, 1, 4, 4\], but its inputs and attributes give \[1, 1, 4, 3\]/],
  ["Resize", [f(1, 1, 2, 2)], [f(1, 1, 4, 4)], { mode: "nearest", scales: [1, 1, 2, 2], sizes: [1, 1, 4, 4] },
    { attrs: { scales: [1, 1, 0, 2] } }, /scales \[1,1,0,2\] must be positive/],
  ["DepthToSpace", [f(1, 4, 2, 2)], [f(1, 1, 4, 4)], { blocksize: 2 }, { attrs: { blocksize: 3 } }, /blocksize 3 does not divide the channels/],
  ["DepthToSpace", [f(1, 4, 2, 2)], [f(1, 1, 4, 4)], { blocksize: 2 }, { attrs: { mode: "XYZ" } }, /mode 'XYZ' must be DCR or CRD/],
  ["SpaceToDepth", [f(1, 1, 4, 4)], [f(1, 4, 2, 2)], { blocksize: 2 }, { attrs: { blocksize: 3 } }, /blocksize 3 does not divide the spatial dims/],
  ["Transpose", [f(2, 3)], [f(3, 2)], { perm: [1, 0] }, { attrs: { perm: [0, 0] } }, /perm \[0,0\] is not a permutation/],
  ["Transpose", [f(2, 3, 2)], [f(2, 3, 2)], { perm: [0, 1, 2] }, { attrs: { perm: [1, 0, 2] } }, /output has shape \[2, 3, 2\], but .* give \[3, 2, 2\]/],
  ["Slice", [f(4, 6)], [f(2, 3)], { starts: [1, 0], ends: [3, 6], steps: [1, 2], axes: [0, 1] },
    { attrs: { starts: [2, 0] } }, /output has shape \[2, 3\], but its inputs and attributes give \[1, 3\]/],
  ["Slice", [f(4, 6)], [f(2, 3)], { starts: [1, 0], ends: [3, 6], steps: [1, 2], axes: [0, 1] },
    { attrs: { starts: [-3, 0] } }, /starts \[-3,0\] are not canonical/],
  ["Expand", [f(3, 1)], [f(3, 2)], { shape: [3, 2] }, { attrs: { shape: [2, 3] } }, /do not broadcast/],
  ["Tile", [f(2, 3)], [f(4, 3)], { repeats: [2, 1] }, { attrs: { repeats: [1, 2] } }, /output has shape \[4, 3\], but .* give \[2, 6\]/],
  ["Concat", [f(2, 2), f(2, 1)], [f(2, 3)], { axis: 1 }, { outputs: [f(2, 4)] }, /add up to 3, not 4/],
  ["Concat", [f(2, 2), f(2, 1)], [f(2, 3)], { axis: 1 }, { attrs: { axis: 5 } }, /axis 5 is outside the input's 2 dims/],
  ["Split", [f(2, 5)], [f(2, 2), f(2, 3)], { axis: 1, split: [2, 3] }, { attrs: { axis: 1, split: [3, 2] } }, /split \[3,2\] does not match/],
  ["Pad", [f(2, 2)], [f(2, 4)], { pads: [0, 1, 0, 1], mode: "constant" }, { attrs: { pads: [0, 1, 0, 2] } }, /output has shape \[2, 4\], but .* give \[2, 5\]/],
  ["Pad", [f(2, 0)], [f(2, 2)], { pads: [0, 1, 0, 1], mode: "constant" }, { attrs: { mode: "wrap" } }, /cannot pad an empty axis/],
  ["Trilu", [f(3, 3)], [f(3, 3)], { upper: 1 }, { inputs: [f(9)], outputs: [f(9)] }, /must have at least 2 dims/],
  ["Trilu", [f(3, 3)], [f(3, 3)], { upper: 1 }, { attrs: { upper: 2 } }, /upper must be 0 or 1/],
  ["Trilu", [f(3, 3)], [f(3, 3)], { upper: 1, k: 1 }, { attrs: { k: 1e308 } }, /attribute 'k' must be an integer, got 1e\+308/],
  ["Gather", [f(3, 2), i64(2)], [f(2, 2)], { axis: 0 }, { attrs: { axis: 2 } }, /axis 2 is outside the input's 2 dims/],
  ["Gather", [f(3, 2), i64(2)], [f(2, 2)], { axis: 0 }, { attrs: { axis: 1 } }, /output has shape \[2, 2\], but .* give \[3, 2\]/],
  ["GatherElements", [f(3, 2), i64(2, 2)], [f(2, 2)], { axis: 0 }, { inputs: [f(3, 2), i64(2, 3)], outputs: [f(2, 3)] }, /do not fit data/],
  ["GatherND", [f(3, 2), i64(2, 1)], [f(2, 2)], { batch_dims: 0 }, { attrs: { batch_dims: 2 } }, /do not index data/],
  ["ScatterND", [f(3, 2), i64(2, 1), f(2, 2)], [f(3, 2)], {}, { inputs: [f(3, 2), i64(2, 1), f(2, 3)] }, /updates has shape \[2, 3\]/],
  ["OneHot", [i64(2)], [f(2, 3)], { depth: 3, axis: -1, values: [0, 1] }, { attrs: { depth: 4, axis: -1, values: [0, 1] } }, /output has shape \[2, 3\], but .* give \[2, 4\]/],
  ["ReduceSum", [f(2, 3)], [f(2, 1)], { axes: [1], keepdims: 1 }, { attrs: { axes: [1, 1], keepdims: 1 } }, /must be canonical \(distinct/],
  ["ReduceSum", [f(2, 3)], [f(2, 1)], { axes: [1], keepdims: 1 }, { attrs: { axes: [1], keepdims: 0 } }, /output has shape \[2, 1\], but .* give \[2\]/],
  ["ReduceMean", [f(2, 3)], [f(2, 1)], { axes: [1], keepdims: 1 }, { attrs: { axes: [1], keepdims: 2 } }, /keepdims must be 0 or 1/],
  ["ArgMax", [f(2, 3)], [i64(2, 1)], { axis: 1, keepdims: 1 }, { outputs: [f(2, 1)] }, /output is float32, not int64/],
  ["CumSum", [f(2, 3)], [f(2, 3)], { axis: 1 }, { attrs: { axis: 3 } }, /axis 3 is outside/],
  ["CumSum", [f(2, 3)], [f(2, 3)], { axis: 1 }, { attrs: { axis: 1, reverse: 2 } }, /reverse must be 0 or 1/],
  ["Add", [f(2, 3), f(3)], [f(2, 3)], {}, { inputs: [f(2, 3), f(3), f(3)] }, /has 3 inputs, it takes at most 2/],
  ["Add", [f(2, 3), f(3)], [f(2, 3)], {}, { outputs: [f(3, 2)] }, /do not broadcast|output has shape/],
  ["Add", [f(2, 3), f(3)], [f(2, 3)], {}, { inputs: [f(2, 3), i64(3)] }, /operand types float32, int64 -> float32 do not fit/],
  ["Less", [f(3), f(3)], [[[3], "bool"]], {}, { outputs: [f(3)] }, /operand types float32, float32 -> float32 do not fit/],
  ["Mod", [f(3), f(3)], [f(3)], { fmod: 1 }, { attrs: { fmod: 2 } }, /fmod must be 0 or 1/],
  ["Sum", [f(3), f(3)], [f(3)], {}, { inputs: [f(3), i64(3)] }, /input types float32,int64 are not the output's float32/],
  ["Where", [[[3], "bool"], f(3), f(3)], [f(3)], {}, { inputs: [f(3), f(3), f(3)] }, /condition is float32, not bool/],
  ["Cast", [f(3)], [i64(3)], { to: 7 }, { attrs: { to: 6 } }, /the output is int64, attribute to 6 says int32/],
  ["IsNaN", [f(2, 3)], [[[2, 3], "bool"]], {}, { outputs: [[[3, 3], "bool"]] }, /output has shape \[3, 3\], but .* give \[2, 3\]/],
  ["IsInf", [f(3)], [[[3], "bool"]], {}, { attrs: { detect_negative: 2 } }, /detect_negative must be 0 or 1/],
  ["Not", [[[3], "bool"]], [[[3], "bool"]], {}, { outputs: [[[4], "bool"]] }, /output has shape \[4\]/],
];

for (const [op, ins, outs, attrs, change, message] of CASES) {
  const what = Object.entries(change).map(([k, v]) => `${k} ${JSON.stringify(v)}`).join(", ");
  test(`${op}: ${what} is refused at load`, () => {
    make(op, ins, outs, attrs)(); // fits: loads and runs
    const bad = () => make(op, change.inputs ?? ins, change.outputs ?? outs, change.attrs ? { ...attrs, ...change.attrs } : attrs);
    assert.throws(bad, (e) => {
      assert.ok(e instanceof DescriptorError, `${e?.constructor?.name}: ${e?.message}`);
      assert.match(e.message, message);
      return true;
    });
  });
}

test("an index out of range at run time is an InputError (a WebDNNError), not a RangeError", () => {
  const x = view([3, 2]);
  const idx = { dtype: "int64", shape: [2], size: 2, data: BigInt64Array.from([0n, 3n]) };
  const run = getKernel("Gather")([x, idx], [view([2, 2])], { axis: 0 }, "Gather");
  assert.throws(run, (e) => e instanceof InputError && e instanceof WebDNNError && /index 3 is out of range for a dim of 3/.test(e.message));
});
