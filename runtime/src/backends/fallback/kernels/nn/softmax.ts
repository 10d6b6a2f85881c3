// Softmax, LogSoftmax and Hardmax over one axis, or (coerce_2d, opset < 13) over every axis
// from `axis` on. Rows are strided by `inner`; the inner loops run over `inner` contiguously
// with per-column running max and sum kept in scratch arrays.

import { attrInt } from "../attrs.js";
import { registerKernel, type Attrs, type TensorView } from "../registry.js";
import { f32, prod } from "./common.js";
import { axisIn, expectShape } from "../shape.js";

function softmaxFactory(inputs: readonly (TensorView | null)[], outputs: readonly TensorView[], attrs: Attrs, op: string) {
  const X = f32(inputs[0], op, "input");
  const Y = f32(outputs[0], op, "output");
  const xs = inputs[0]!.shape;
  const axis = axisIn(op, attrInt(attrs, "axis", xs.length - 1), xs.length);
  expectShape(op, outputs[0], xs);
  const coerce = attrs.coerce_2d === true;
  const outer = prod(xs, 0, axis);
  const n = coerce ? prod(xs, axis) : xs[axis];
  const inner = coerce ? 1 : prod(xs, axis + 1);
  const mx = new Float64Array(inner);
  const sum = new Float64Array(inner);
  const arg = new Int32Array(inner);
  const kind = op;
  return () => {
    for (let o = 0; o < outer; o++) {
      const base = o * n * inner;
      mx.fill(-Infinity);
      arg.fill(0);
      for (let k = 0; k < n; k++) {
        const r = base + k * inner;
        for (let i = 0; i < inner; i++) {
          if (X[r + i] > mx[i]) {
            mx[i] = X[r + i];
            arg[i] = k;
          }
        }
      }
      if (kind === "Hardmax") {
        for (let k = 0; k < n; k++) {
          const r = base + k * inner;
          for (let i = 0; i < inner; i++) Y[r + i] = arg[i] === k ? 1 : 0;
        }
        continue;
      }
      sum.fill(0);
      for (let k = 0; k < n; k++) {
        const r = base + k * inner;
        for (let i = 0; i < inner; i++) {
          const e = Math.exp(X[r + i] - mx[i]);
          sum[i] += e;
          if (kind === "Softmax") Y[r + i] = e;
        }
      }
      if (kind === "Softmax") {
        for (let i = 0; i < inner; i++) sum[i] = 1 / sum[i];
        for (let k = 0; k < n; k++) {
          const r = base + k * inner;
          for (let i = 0; i < inner; i++) Y[r + i] *= sum[i];
        }
      } else {
        for (let i = 0; i < inner; i++) sum[i] = mx[i] + Math.log(sum[i]);
        for (let k = 0; k < n; k++) {
          const r = base + k * inner;
          for (let i = 0; i < inner; i++) Y[r + i] = X[r + i] - sum[i];
        }
      }
    }
  };
}

registerKernel(["Softmax", "LogSoftmax", "Hardmax"], softmaxFactory);
