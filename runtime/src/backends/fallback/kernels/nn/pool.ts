// Pooling (MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool) and LpNormalization.
//
// Windows use the explicit pads of the canonical attrs and the output shape of the tensor
// (which already reflects ceil_mode). Each output row is accumulated in place, tap by tap,
// with the inner loop running over the row's valid columns (precomputed per tap).

import { attrInt, attrInts } from "../attrs.js";
import { registerKernel, type Attrs, type TensorView } from "../registry.js";
import { f32, fail, prod, validRanges, window3, type Window3 } from "./common.js";
import { axisIn, expectShape, flag, windowShape } from "../shape.js";

/** Per output index along one axis: how many taps fall inside [lo, hi) of the input coordinates. */
function tapCounts(out: number, k: number, s: number, d: number, pb: number, lo: number, hi: number) {
  const c = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let n = 0;
    for (let t = 0; t < k; t++) {
      const i = o * s + t * d - pb;
      if (i >= lo && i < hi) n++;
    }
    c[o] = n;
  }
  return c;
}

function poolFactory(inputs: readonly (TensorView | null)[], outputs: readonly TensorView[], attrs: Attrs, op: string) {
  const X = f32(inputs[0], op, "input X");
  const Y = f32(outputs[0], op, "output Y");
  const xs = inputs[0]!.shape;
  const nd = xs.length - 2;
  const ones = new Array<number>(nd).fill(1);
  const kernel = attrInts(attrs, "kernel_shape");
  const strides = attrInts(attrs, "strides", ones);
  const dilations = attrInts(attrs, "dilations", ones);
  const pads = attrInts(attrs, "pads", new Array<number>(2 * nd).fill(0));
  if (nd < 1 || nd > 3) throw fail(op, `input rank ${xs.length} must be 3 to 5`);
  const spatial = windowShape(op, xs.slice(2), kernel, strides, dilations, pads, flag(op, attrs, "ceil_mode", 0));
  expectShape(op, outputs[0], [xs[0], xs[1], ...spatial]);
  const w = window3(op, xs.slice(2), outputs[0].shape.slice(2), kernel, strides, dilations, pads);
  const planes = xs[0] * xs[1];
  const isMax = op === "MaxPool";
  const [OD, OH, OW] = w.outS;
  const inP = prod(w.inS);
  const outP = OD * OH * OW;
  const inv = isMax ? new Float64Array(0) : inverseCounts(w, flag(op, attrs, "count_include_pad", 0));
  const { lo, hi } = validRanges(w.inS[2], OW, w.k[2], w.s[2], w.d[2], w.pb[2]);
  return () => {
    for (let p = 0; p < planes; p++) {
      const yo = p * outP;
      if (isMax) {
        Y.fill(-Infinity, yo, yo + outP);
        windows(w, X, p * inP, Y, yo, lo, hi, true);
      } else {
        Y.fill(0, yo, yo + outP);
        windows(w, X, p * inP, Y, yo, lo, hi, false);
        for (let i = 0; i < outP; i++) Y[yo + i] *= inv[i];
      }
    }
  };
}

/** 1 / (number of taps averaged) per output element: a product of per-axis tap counts. */
function inverseCounts(w: Window3, includePad: boolean): Float64Array {
  const counts = [0, 1, 2].map((a) =>
    includePad
      ? tapCounts(w.outS[a], w.k[a], w.s[a], w.d[a], w.pb[a], -w.pb[a], w.inS[a] + w.pe[a])
      : tapCounts(w.outS[a], w.k[a], w.s[a], w.d[a], w.pb[a], 0, w.inS[a]),
  );
  const [OD, OH, OW] = w.outS;
  const inv = new Float64Array(OD * OH * OW);
  for (let a = 0, i = 0; a < OD; a++) {
    for (let b = 0; b < OH; b++) {
      for (let c = 0; c < OW; c++, i++) inv[i] = 1 / (counts[0][a] * counts[1][b] * counts[2][c]);
    }
  }
  return inv;
}

/** Accumulate every window tap of one plane into Y (max or sum). */
function windows(
  w: Window3, X: Float32Array, xo: number, Y: Float32Array, yo: number, lo: Int32Array, hi: Int32Array, isMax: boolean,
) {
  const [ID, IH, IW] = w.inS;
  const [OD, OH, OW] = w.outS;
  const [KD, KH, KW] = w.k;
  const sw = w.s[2];
  for (let od = 0; od < OD; od++) {
    for (let oh = 0; oh < OH; oh++) {
      const rowOut = yo + (od * OH + oh) * OW;
      for (let kd = 0; kd < KD; kd++) {
        const id = od * w.s[0] + kd * w.d[0] - w.pb[0];
        if (id < 0 || id >= ID) continue;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * w.s[1] + kh * w.d[1] - w.pb[1];
          if (ih < 0 || ih >= IH) continue;
          const rowIn = xo + (id * IH + ih) * IW;
          for (let kw = 0; kw < KW; kw++) {
            const src = rowIn + kw * w.d[2] - w.pb[2];
            const end = hi[kw];
            if (isMax) {
              for (let t = lo[kw]; t < end; t++) {
                const v = X[src + t * sw];
                if (v > Y[rowOut + t] || v !== v) Y[rowOut + t] = v; // NaN propagates
              }
            } else {
              for (let t = lo[kw]; t < end; t++) Y[rowOut + t] += X[src + t * sw];
            }
          }
        }
      }
    }
  }
}

function globalPoolFactory(inputs: readonly (TensorView | null)[], outputs: readonly TensorView[], _attrs: Attrs, op: string) {
  const X = f32(inputs[0], op, "input X");
  const Y = f32(outputs[0], op, "output Y");
  const xs = inputs[0]!.shape;
  if (xs.length < 3) throw fail(op, `input rank ${xs.length} must be at least 3`);
  expectShape(op, outputs[0], [xs[0], xs[1], ...xs.slice(2).map(() => 1)]);
  const planes = xs[0] * xs[1];
  const size = prod(xs, 2);
  const isMax = op === "GlobalMaxPool";
  return () => {
    for (let p = 0; p < planes; p++) {
      const o = p * size;
      if (isMax) {
        let m = -Infinity;
        for (let i = 0; i < size; i++) {
          const v = X[o + i];
          if (v > m || v !== v) m = v;
        }
        Y[p] = m;
      } else {
        let s = 0;
        for (let i = 0; i < size; i++) s += X[o + i];
        Y[p] = s / size;
      }
    }
  };
}

function lpNormFactory(inputs: readonly (TensorView | null)[], outputs: readonly TensorView[], attrs: Attrs, op: string) {
  const X = f32(inputs[0], op, "input X");
  const Y = f32(outputs[0], op, "output Y");
  const xs = inputs[0]!.shape;
  const axis = axisIn(op, attrInt(attrs, "axis", xs.length - 1), xs.length);
  const p = attrInt(attrs, "p", 2);
  if (p !== 1 && p !== 2) throw fail(op, `p ${p} must be 1 or 2`);
  expectShape(op, outputs[0], xs);
  const outer = prod(xs, 0, axis);
  const n = xs[axis];
  const inner = prod(xs, axis + 1);
  return () => {
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const base = o * n * inner + i;
        let s = 0;
        for (let k = 0; k < n; k++) {
          const v = X[base + k * inner];
          s += p === 1 ? Math.abs(v) : v * v;
        }
        const norm = p === 1 ? s : Math.sqrt(s);
        const scale = norm === 0 ? 0 : 1 / norm;
        for (let k = 0; k < n; k++) Y[base + k * inner] = X[base + k * inner] * scale;
      }
    }
  };
}

registerKernel(["MaxPool", "AveragePool"], poolFactory);
registerKernel(["GlobalAveragePool", "GlobalMaxPool"], globalPoolFactory);
registerKernel("LpNormalization", lpNormFactory);
