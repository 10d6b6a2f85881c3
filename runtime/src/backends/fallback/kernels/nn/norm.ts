// Normalizations: BatchNormalization (inference), InstanceNormalization, LayerNormalization, LRN.
// Statistics are accumulated in float64 (JS numbers) for accuracy.

import { attrFloat, attrInt } from "../attrs.js";
import { registerKernel, type Attrs, type TensorView } from "../registry.js";
import { f32, f32opt, fail, prod } from "./common.js";
import { axisIn, broadcastShape, expectShape } from "../shape.js";

type Ins = readonly (TensorView | null)[];
type Outs = readonly TensorView[];

const sameDims = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/** Y has X's shape (rank >= 2) and inputs 1..n-1 hold one value per channel C = X's dim 1. */
function channelParams(op: string, inputs: Ins, n: number, outputs: Outs): void {
  const xs = inputs[0]!.shape;
  if (xs.length < 2) throw fail(op, `input [${xs}] has no channel dim`);
  expectShape(op, outputs[0], xs);
  for (let i = 1; i < n; i++) {
    const p = inputs[i];
    if (p && p.size !== xs[1]) throw fail(op, `input ${i} [${p.shape}] must hold ${xs[1]} values (one per channel)`);
  }
}

function batchNormFactory(inputs: Ins, outputs: Outs, attrs: Attrs, op: string) {
  const X = f32(inputs[0], op, "input X");
  const scale = f32(inputs[1], op, "scale");
  const bias = f32(inputs[2], op, "B");
  const mean = f32(inputs[3], op, "input_mean");
  const variance = f32(inputs[4], op, "input_var");
  const Y = f32(outputs[0], op, "output Y");
  const xs = inputs[0]!.shape;
  const eps = attrFloat(attrs, "epsilon", 1e-5);
  channelParams(op, inputs, 5, outputs);
  const [N, C] = xs;
  const size = prod(xs, 2);
  const mul = new Float64Array(C);
  const add = new Float64Array(C);
  return () => {
    for (let c = 0; c < C; c++) {
      mul[c] = scale[c] / Math.sqrt(variance[c] + eps);
      add[c] = bias[c] - mean[c] * mul[c];
    }
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const o = (n * C + c) * size;
        const m = mul[c];
        const a = add[c];
        for (let i = o; i < o + size; i++) Y[i] = X[i] * m + a;
      }
    }
  };
}

/** Y[o, o+n) = (X - mean) / sqrt(var + eps) over that range (population variance). */
function normalizeRow(X: Float32Array, Y: Float32Array, o: number, n: number, eps: number): void {
  let s = 0;
  for (let i = o; i < o + n; i++) s += X[i];
  const mean = s / n;
  let v = 0;
  for (let i = o; i < o + n; i++) {
    const d = X[i] - mean;
    v += d * d;
  }
  const inv = 1 / Math.sqrt(v / n + eps);
  for (let i = o; i < o + n; i++) Y[i] = (X[i] - mean) * inv;
}

function instanceNormFactory(inputs: Ins, outputs: Outs, attrs: Attrs, op: string) {
  const X = f32(inputs[0], op, "input X");
  const scale = f32(inputs[1], op, "scale");
  const bias = f32(inputs[2], op, "B");
  const Y = f32(outputs[0], op, "output Y");
  const xs = inputs[0]!.shape;
  const eps = attrFloat(attrs, "epsilon", 1e-5);
  channelParams(op, inputs, 3, outputs);
  const [N, C] = xs;
  const size = prod(xs, 2);
  return () => {
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const o = (n * C + c) * size;
        normalizeRow(X, Y, o, size, eps);
        const m = scale[c];
        const a = bias[c];
        for (let i = o; i < o + size; i++) Y[i] = Y[i] * m + a;
      }
    }
  };
}

/** For each element of the normalized block, the index into a parameter broadcast to it. */
function broadcastIndex(param: readonly number[], inner: readonly number[]): Int32Array | null {
  const n = prod(inner);
  if (prod(param) === n) return null; // same elements in the same order: index directly
  const idx = new Int32Array(n);
  const lead = inner.length - param.length;
  const coord = new Array<number>(inner.length).fill(0);
  for (let e = 0; e < n; e++) {
    let off = 0;
    for (let k = 0; k < param.length; k++) off = off * param[k] + (param[k] === 1 ? 0 : coord[lead + k]);
    idx[e] = off;
    for (let k = inner.length - 1; k >= 0; k--) {
      if (++coord[k] < inner[k]) break;
      coord[k] = 0;
    }
  }
  return idx;
}

function layerNormFactory(inputs: Ins, outputs: Outs, attrs: Attrs, op: string) {
  const X = f32(inputs[0], op, "input X");
  const scale = f32(inputs[1], op, "Scale");
  const bias = f32opt(inputs[2], op, "B");
  const Y = f32(outputs[0], op, "output Y");
  const xs = inputs[0]!.shape;
  const axis = axisIn(op, attrInt(attrs, "axis", xs.length - 1), xs.length);
  const eps = attrFloat(attrs, "epsilon", 1e-5);
  const inner = xs.slice(axis);
  expectShape(op, outputs[0], xs);
  // Scale and B broadcast to the normalized block (unidirectionally)
  for (const [i, what] of [[1, "Scale"], [2, "B"]] as const) {
    const p = inputs[i];
    if (p && (p.shape.length > inner.length || !sameDims(broadcastShape(op, [inner, p.shape]), inner))) {
      throw fail(op, `${what} [${p.shape}] does not broadcast to the normalized dims [${inner}]`);
    }
  }
  const n = prod(inner);
  const rows = prod(xs, 0, axis);
  const si = broadcastIndex(inputs[1]!.shape, inner);
  const bi = inputs[2] ? broadcastIndex(inputs[2].shape, inner) : null;
  return () => {
    for (let r = 0; r < rows; r++) {
      const o = r * n;
      normalizeRow(X, Y, o, n, eps);
      for (let e = 0; e < n; e++) {
        const s = scale[si ? si[e] : e];
        const b = bias ? bias[bi ? bi[e] : e] : 0;
        Y[o + e] = Y[o + e] * s + b;
      }
    }
  };
}

function lrnFactory(inputs: Ins, outputs: Outs, attrs: Attrs, op: string) {
  const X = f32(inputs[0], op, "input X");
  const Y = f32(outputs[0], op, "output Y");
  const xs = inputs[0]!.shape;
  const size = attrInt(attrs, "size");
  if (size < 1 || xs.length < 2) throw fail(op, `size ${size} must be >= 1 over an input of rank >= 2 ([${xs}])`);
  expectShape(op, outputs[0], xs);
  const alpha = attrFloat(attrs, "alpha", 1e-4) / size;
  const beta = attrFloat(attrs, "beta", 0.75);
  const bias = attrFloat(attrs, "bias", 1);
  const [N, C] = xs;
  const plane = prod(xs, 2);
  const before = Math.floor((size - 1) / 2);
  const after = Math.ceil((size - 1) / 2);
  const sq = new Float64Array(plane);
  return () => {
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        sq.fill(0);
        const c0 = Math.max(0, c - before);
        const c1 = Math.min(C - 1, c + after);
        for (let k = c0; k <= c1; k++) {
          const o = (n * C + k) * plane;
          for (let i = 0; i < plane; i++) sq[i] += X[o + i] * X[o + i];
        }
        const o = (n * C + c) * plane;
        for (let i = 0; i < plane; i++) Y[o + i] = X[o + i] / Math.pow(bias + alpha * sq[i], beta);
      }
    }
  };
}

registerKernel("BatchNormalization", batchNormFactory);
registerKernel("InstanceNormalization", instanceNormFactory);
registerKernel("LayerNormalization", layerNormFactory);
registerKernel("LRN", lrnFactory);
