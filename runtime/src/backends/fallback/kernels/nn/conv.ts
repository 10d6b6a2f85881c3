// Conv and ConvTranspose (NCHW, 1-D/2-D/3-D, groups, dilations, explicit pads).
//
// Spatial axes are padded to (D, H, W) so one loop nest serves every rank. Conv has three
// paths: depthwise (one input channel per group) as a direct convolution whose inner loop
// runs contiguously over an output row; pointwise (1x1, stride 1, no pad) as a GEMM straight
// on the input; everything else as im2col over bounded tiles of output pixels + GEMM.

import { attrInt, attrInts } from "../attrs.js";
import { makeActivation, type Activation } from "../activation.js";
import { registerKernel, type Attrs, type TensorView } from "../registry.js";
import { f32, f32opt, fail, prod, reserveScratch, Scratch, scratch, validRanges, window3, type Window3 } from "./common.js";
import { expectShape, intsOf, windowShape } from "../shape.js";
import { sgemmNN } from "./gemm_core.js";

const TILE_FLOATS = 1 << 17; // im2col tile budget (512 KiB): rows * pixels

interface ConvGeom {
  N: number; C: number; M: number; group: number; Cg: number; Mg: number;
  w: Window3;
  inP: number; outP: number; kk: number;
  /** Per row (d, h) of the iterated pixels (Conv: outputs, ConvTranspose: inputs): d*sd - pbd, h*sh - pbh. */
  baseD: Int32Array; baseH: Int32Array;
  /** Per kernel tap along W: the output columns whose input column is inside the input. */
  loW: Int32Array; hiW: Int32Array;
}

function geometry(op: string, inputs: readonly (TensorView | null)[], out: TensorView, attrs: Attrs, transposed: boolean) {
  const xs = inputs[0]!.shape;
  const ws = inputs[1]!.shape;
  const ys = out.shape;
  const nd = xs.length - 2;
  if (nd < 1 || nd > 3 || ws.length !== xs.length) throw fail(op, `input rank ${xs.length} and weight rank ${ws.length} must be equal, 3 to 5`);
  const ones = new Array<number>(nd).fill(1);
  const kernel = attrInts(attrs, "kernel_shape", ws.slice(2));
  const strides = attrInts(attrs, "strides", ones);
  const dilations = attrInts(attrs, "dilations", ones);
  const pads = attrInts(attrs, "pads", new Array<number>(2 * nd).fill(0));
  const group = attrInt(attrs, "group", 1);
  // The output shape the attributes give (the converter's shape rule) must be the declared one.
  if (kernel.length !== nd || kernel.some((k, i) => k !== ws[2 + i])) throw fail(op, `kernel_shape [${kernel}] is not the weight's [${ws.slice(2)}]`);
  let M: number;
  if (!transposed) {
    if (group < 1 || xs[1] !== ws[1] * group || ws[0] % group) throw fail(op, `input channels ${xs[1]}, weight [${ws}] and group ${group} do not fit together`);
    M = ws[0];
    expectShape(op, out, [xs[0], M, ...windowShape(op, xs.slice(2), kernel, strides, dilations, pads)]);
  } else {
    if (group < 1 || xs[1] !== ws[0] || ws[0] % group) throw fail(op, `input channels ${xs[1]}, weight [${ws}] and group ${group} do not fit together`);
    M = ws[1] * group;
    intsOf(op, strides, nd, 1, "strides");
    intsOf(op, dilations, nd, 1, "dilations");
    intsOf(op, pads, 2 * nd, -(2 ** 30), "pads");
    const adj = attrInts(attrs, "output_padding", new Array<number>(nd).fill(0));
    intsOf(op, adj, nd, 0, "output_padding");
    expectShape(op, out, [xs[0], M, ...xs.slice(2).map((n, i) => (n - 1) * strides[i] + adj[i] + (kernel[i] - 1) * dilations[i] + 1 - pads[i] - pads[i + nd])]);
  }
  if (inputs[2]) expectShape(op, inputs[2], [M], "bias B");
  const w = window3(op, xs.slice(2), ys.slice(2), kernel, strides, dilations, pads);
  const [N, C] = xs;
  // Conv iterates output pixels; ConvTranspose iterates input pixels and scatters to outputs.
  const [rowsD, rowsH, cols] = transposed ? [w.inS[0], w.inS[1], w.inS[2]] : [w.outS[0], w.outS[1], w.outS[2]];
  const baseD = new Int32Array(rowsD * rowsH);
  const baseH = new Int32Array(rowsD * rowsH);
  for (let a = 0; a < rowsD; a++) {
    for (let b = 0; b < rowsH; b++) {
      baseD[a * rowsH + b] = a * w.s[0] - w.pb[0];
      baseH[a * rowsH + b] = b * w.s[1] - w.pb[1];
    }
  }
  const limit = transposed ? w.outS[2] : w.inS[2];
  const { lo: loW, hi: hiW } = validRanges(limit, cols, w.k[2], w.s[2], w.d[2], w.pb[2]);
  const g: ConvGeom = {
    N, C, M, group, Cg: C / group, Mg: M / group, w,
    inP: prod(w.inS), outP: prod(w.outS), kk: prod(w.k), baseD, baseH, loW, hiW,
  };
  return g;
}

function convFactory(inputs: readonly (TensorView | null)[], outputs: readonly TensorView[], attrs: Attrs, op: string) {
  const X = f32(inputs[0], op, "input X");
  const W = f32(inputs[1], op, "weight W");
  const B = f32opt(inputs[2], op, "bias B");
  const Y = f32(outputs[0], op, "output Y");
  const g = geometry(op, inputs, outputs[0], attrs, false);
  const act = makeActivation(attrs.activation);
  if (g.Cg === 1) return () => depthwise(g, X, W, B, Y, act);
  const { w } = g;
  const K = g.Cg * g.kk;
  const pointwise = g.kk === 1 && w.s.every((s) => s === 1) && w.pb.every((p) => p === 0) && w.pe.every((p) => p === 0);
  const tile = Math.min(g.outP, Math.max(128, Math.floor(TILE_FLOATS / K)));
  if (!pointwise) reserveScratch(Scratch.Col, K * tile);
  return () => {
    const col = scratch(Scratch.Col);
    for (let n = 0; n < g.N; n++) {
      for (let gi = 0; gi < g.group; gi++) {
        const yOff = (n * g.M + gi * g.Mg) * g.outP;
        const xOff = (n * g.C + gi * g.Cg) * g.inP;
        for (let p0 = 0; p0 < g.outP; p0 += tile) {
          const pt = Math.min(tile, g.outP - p0);
          initRows(Y, yOff + p0, g.outP, g.Mg, pt, B, gi * g.Mg);
          if (pointwise) {
            sgemmNN(g.Mg, pt, K, W, gi * g.Mg * K, K, X, xOff + p0, g.inP, Y, yOff + p0, g.outP);
          } else {
            im2col(g, X, xOff, col, p0, pt);
            sgemmNN(g.Mg, pt, K, W, gi * g.Mg * K, K, col, 0, pt, Y, yOff + p0, g.outP);
          }
          if (act) for (let m = 0; m < g.Mg; m++) act(Y, yOff + m * g.outP + p0, yOff + m * g.outP + p0 + pt);
        }
      }
    }
  };
}

/** Y[off + m*ld + j] = bias[b0 + m] (or 0) for m < rows, j < n. */
function initRows(Y: Float32Array, off: number, ld: number, rows: number, n: number, bias: Float32Array | null, b0: number) {
  for (let m = 0; m < rows; m++) {
    const v = bias ? bias[b0 + m] : 0;
    Y.fill(v, off + m * ld, off + m * ld + n);
  }
}

/** col[r, q] = X[c, input pixel of output pixel p0+q under kernel tap r] (0 in the padding). */
function im2col(g: ConvGeom, X: Float32Array, xOff: number, col: Float32Array, p0: number, pt: number) {
  const { w, baseD, baseH, loW, hiW } = g;
  const [ID, IH, IW] = w.inS;
  const OW = w.outS[2];
  const [KD, KH, KW] = w.k;
  const sw = w.s[2];
  let r = 0;
  for (let c = 0; c < g.Cg; c++) {
    const chan = xOff + c * g.inP;
    for (let kd = 0; kd < KD; kd++) {
      const offD = kd * w.d[0];
      for (let kh = 0; kh < KH; kh++) {
        const offH = kh * w.d[1];
        for (let kw = 0; kw < KW; kw++, r++) {
          const offW = kw * w.d[2] - w.pb[2];
          const lo = loW[kw];
          const hi = hiW[kw];
          let dst = r * pt;
          const end = dst + pt;
          let rr = Math.floor(p0 / OW);
          let ow = p0 - rr * OW;
          while (dst < end) {
            const seg = Math.min(OW - ow, end - dst);
            const id = baseD[rr] + offD;
            const ih = baseH[rr] + offH;
            if (id < 0 || id >= ID || ih < 0 || ih >= IH) {
              col.fill(0, dst, dst + seg);
            } else {
              const rowIn = chan + (id * IH + ih) * IW + offW;
              const segEnd = ow + seg;
              const a = Math.min(Math.max(lo, ow), segEnd);
              const b = Math.max(Math.min(hi, segEnd), a);
              const q = dst - ow; // col index of output column t is q + t
              col.fill(0, dst, q + a);
              if (sw === 1) {
                for (let t = a; t < b; t++) col[q + t] = X[rowIn + t];
              } else {
                for (let t = a; t < b; t++) col[q + t] = X[rowIn + t * sw];
              }
              col.fill(0, q + b, q + segEnd);
            }
            dst += seg;
            ow = 0;
            rr++;
          }
        }
      }
    }
  }
}

/** Direct convolution when each group reads one input channel (depthwise, channel multiplier Mg). */
function depthwise(g: ConvGeom, X: Float32Array, W: Float32Array, B: Float32Array | null, Y: Float32Array, act: Activation | null) {
  const { w, baseD, baseH, loW, hiW } = g;
  const [ID, IH, IW] = w.inS;
  const [OD, OH, OW] = w.outS;
  const [KD, KH, KW] = w.k;
  const sw = w.s[2];
  const dw = w.d[2];
  // Output columns where every kernel tap along W is inside the input: no edge handling there.
  let inLo = 0;
  let inHi = OW;
  for (let kw = 0; kw < KW; kw++) {
    inLo = Math.max(inLo, loW[kw]);
    inHi = Math.min(inHi, hiW[kw]);
  }
  if (inHi < inLo) inHi = inLo;
  // 2-D 3x3: rows whose three input rows all exist take one 9-tap pass, one store per output.
  const fast3x3 = KD === 1 && KH === 3 && KW === 3;
  for (let n = 0; n < g.N; n++) {
    for (let m = 0; m < g.M; m++) {
      const xin = (n * g.C + Math.floor(m / g.Mg)) * g.inP;
      const yo = (n * g.M + m) * g.outP;
      Y.fill(B ? B[m] : 0, yo, yo + g.outP);
      const wo = m * g.kk;
      for (let rr = 0; rr < OD * OH; rr++) {
        const rowOut = yo + rr * OW;
        if (fast3x3) {
          const ih = baseH[rr];
          if (ih >= 0 && ih + 2 * w.d[1] < IH) {
            row3x3(X, xin + ih * IW - w.pb[2], IW * w.d[1], dw, sw, W, wo, Y, rowOut, inLo, inHi);
            edges(X, xin + ih * IW - w.pb[2], IW * w.d[1], 3, dw, sw, W, wo, Y, rowOut, loW, hiW, inLo, inHi);
            continue;
          }
        }
        for (let kd = 0; kd < KD; kd++) {
          const id = baseD[rr] + kd * w.d[0];
          if (id < 0 || id >= ID) continue;
          for (let kh = 0; kh < KH; kh++) {
            const ih = baseH[rr] + kh * w.d[1];
            if (ih < 0 || ih >= IH) continue;
            const src = xin + (id * IH + ih) * IW - w.pb[2];
            const wk = wo + (kd * KH + kh) * KW;
            edges(X, src, 0, 1, dw, sw, W, wk, Y, rowOut, loW, hiW, inLo, inHi);
            if (KW === 3) {
              const w0 = W[wk], w1 = W[wk + 1], w2 = W[wk + 2];
              const s1 = src + dw;
              const s2 = src + 2 * dw;
              for (let t = inLo; t < inHi; t++) {
                const x = t * sw;
                Y[rowOut + t] += w0 * X[src + x] + w1 * X[s1 + x] + w2 * X[s2 + x];
              }
            } else {
              for (let t = inLo; t < inHi; t++) {
                let acc = 0;
                for (let kw = 0, x = src + t * sw; kw < KW; kw++, x += dw) acc += W[wk + kw] * X[x];
                Y[rowOut + t] += acc;
              }
            }
          }
        }
      }
      if (act) act(Y, yo, yo + g.outP);
    }
  }
}

/** Taps along W for the output columns outside [inLo, inHi), for `rows` kernel rows `rowStep` apart. */
function edges(
  X: Float32Array, src: number, rowStep: number, rows: number, dw: number, sw: number, W: Float32Array, wk: number,
  Y: Float32Array, rowOut: number, loW: Int32Array, hiW: Int32Array, inLo: number, inHi: number,
) {
  const KW = loW.length;
  for (let kh = 0; kh < rows; kh++) {
    for (let kw = 0; kw < KW; kw++) {
      const wv = W[wk + kh * KW + kw];
      const s = src + kh * rowStep + kw * dw;
      for (let t = loW[kw]; t < Math.min(hiW[kw], inLo); t++) Y[rowOut + t] += wv * X[s + t * sw];
      for (let t = Math.max(loW[kw], inHi); t < hiW[kw]; t++) Y[rowOut + t] += wv * X[s + t * sw];
    }
  }
}

/** Interior output columns of one output row of a 3x3 depthwise conv: all 9 taps in one pass. */
function row3x3(
  X: Float32Array, src: number, rowStep: number, dw: number, sw: number, W: Float32Array, wk: number,
  Y: Float32Array, rowOut: number, inLo: number, inHi: number,
) {
  const w00 = W[wk], w01 = W[wk + 1], w02 = W[wk + 2];
  const w10 = W[wk + 3], w11 = W[wk + 4], w12 = W[wk + 5];
  const w20 = W[wk + 6], w21 = W[wk + 7], w22 = W[wk + 8];
  const r0 = src;
  const r1 = src + rowStep;
  const r2 = src + 2 * rowStep;
  const d2 = 2 * dw;
  for (let t = inLo; t < inHi; t++) {
    const x = t * sw;
    Y[rowOut + t] +=
      w00 * X[r0 + x] + w01 * X[r0 + x + dw] + w02 * X[r0 + x + d2] +
      w10 * X[r1 + x] + w11 * X[r1 + x + dw] + w12 * X[r1 + x + d2] +
      w20 * X[r2 + x] + w21 * X[r2 + x + dw] + w22 * X[r2 + x + d2];
  }
}

function convTransposeFactory(
  inputs: readonly (TensorView | null)[], outputs: readonly TensorView[], attrs: Attrs, op: string,
) {
  const X = f32(inputs[0], op, "input X");
  const W = f32(inputs[1], op, "weight W");
  const B = f32opt(inputs[2], op, "bias B");
  const Y = f32(outputs[0], op, "output Y");
  const g = geometry(op, inputs, outputs[0], attrs, true);
  const act = makeActivation(attrs.activation);
  const R = g.Mg * g.kk; // rows of the column matrix: (output channel, kernel tap)
  const tile = Math.min(g.inP, Math.max(128, Math.floor(TILE_FLOATS / R)));
  reserveScratch(Scratch.Col, R * tile);
  reserveScratch(Scratch.Pack, W.length); // per group: W^T, R x Cg
  return () => {
    const col = scratch(Scratch.Col);
    const wT = scratch(Scratch.Pack);
    transposeWeights(W, wT, g.group, g.Cg, R);
    for (let n = 0; n < g.N; n++) {
      for (let gi = 0; gi < g.group; gi++) {
        const yOff = (n * g.M + gi * g.Mg) * g.outP;
        initRows(Y, yOff, g.outP, g.Mg, g.outP, B, gi * g.Mg);
        const xOff = (n * g.C + gi * g.Cg) * g.inP;
        for (let p0 = 0; p0 < g.inP; p0 += tile) {
          const pt = Math.min(tile, g.inP - p0);
          col.fill(0, 0, R * pt);
          sgemmNN(R, pt, g.Cg, wT, gi * R * g.Cg, g.Cg, X, xOff + p0, g.inP, col, 0, pt);
          col2im(g, col, p0, pt, Y, yOff);
        }
      }
    }
    if (act) act(Y, 0, Y.length);
  };
}

function transposeWeights(W: Float32Array, wT: Float32Array, group: number, Cg: number, R: number) {
  for (let gi = 0; gi < group; gi++) {
    const off = gi * Cg * R;
    for (let c = 0; c < Cg; c++) {
      for (let r = 0; r < R; r++) wT[off + r * Cg + c] = W[off + c * R + r];
    }
  }
}

/** Y[m, i*s + t*d - pb] += col[(m, t), i] for the input pixels p0.. of this tile. */
function col2im(g: ConvGeom, col: Float32Array, p0: number, pt: number, Y: Float32Array, yOff: number) {
  const { w, baseD, baseH, loW, hiW } = g;
  const [OD, OH, OW] = w.outS;
  const IW = w.inS[2];
  const [KD, KH, KW] = w.k;
  const sw = w.s[2];
  let r = 0;
  for (let m = 0; m < g.Mg; m++) {
    const chan = yOff + m * g.outP;
    for (let kd = 0; kd < KD; kd++) {
      for (let kh = 0; kh < KH; kh++) {
        for (let kw = 0; kw < KW; kw++, r++) {
          const offW = kw * w.d[2] - w.pb[2];
          const lo = loW[kw];
          const hi = hiW[kw];
          let src = r * pt;
          const end = src + pt;
          let rr = Math.floor(p0 / IW);
          let iw = p0 - rr * IW;
          while (src < end) {
            const seg = Math.min(IW - iw, end - src);
            const od = baseD[rr] + kd * w.d[0];
            const oh = baseH[rr] + kh * w.d[1];
            if (od >= 0 && od < OD && oh >= 0 && oh < OH) {
              const rowOut = chan + (od * OH + oh) * OW + offW;
              const segEnd = iw + seg;
              const a = Math.min(Math.max(lo, iw), segEnd);
              const b = Math.max(Math.min(hi, segEnd), a);
              const q = src - iw;
              for (let t = a; t < b; t++) Y[rowOut + t * sw] += col[q + t];
            }
            src += seg;
            iw = 0;
            rr++;
          }
        }
      }
    }
  }
}

registerKernel("Conv", convFactory);
registerKernel("ConvTranspose", convTransposeFactory);
