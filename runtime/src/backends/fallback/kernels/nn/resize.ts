// Resize (and Upsample, canonicalized to the same attrs) for any rank: nearest (every
// nearest_mode), linear and cubic, with every coordinate_transformation_mode.
//
// Interpolation is separable, so the factory builds per-axis tap tables (source index and
// weight for each output index) and the kernel resamples one axis at a time through two
// scratch buffers; axes whose table is the identity are skipped. Coordinates are computed in
// float32 (Math.fround) the way onnxruntime does, so nearest rounding ties resolve alike.

import { attrFloat, attrFloats, attrInts, attrString } from "../attrs.js";
import { registerKernel, type Attrs, type TensorView } from "../registry.js";
import { f32, fail, prod, reserveScratch, Scratch, scratch } from "./common.js";
import { expectShape, flag } from "../shape.js";

const fr = Math.fround;

interface AxisTable {
  taps: number;
  idx: Int32Array; // out * taps
  w: Float64Array; // out * taps
  /** Output indices mapped outside the input (tf_crop_and_resize): set to extrapolation_value. */
  outside: Uint8Array | null;
}

type CoordFn = (x: number, scale: number, lenOut: number, lenIn: number, roiStart: number, roiEnd: number) => number;

function coordinateFn(mode: string, op: string): CoordFn {
  switch (mode) {
    case "half_pixel":
      return (x, s) => fr(fr(fr(x + 0.5) / s) - 0.5);
    case "half_pixel_symmetric":
      return (x, s, lo, li) => {
        const adjustment = fr(lo / fr(s * li));
        const offset = fr(fr(li / 2) * fr(1 - adjustment));
        return fr(fr(offset + fr(fr(x + 0.5) / s)) - 0.5);
      };
    case "pytorch_half_pixel":
      return (x, s, lo) => (lo > 1 ? fr(fr(fr(x + 0.5) / s) - 0.5) : 0);
    case "align_corners":
      // Integer output length, as onnxruntime and PyTorch compute it (the spec's text
      // implies length_original * scale, which differs when a scale gives a fractional size).
      return (x, _s, lo, li) => (lo === 1 ? 0 : fr(fr(x * (li - 1)) / (lo - 1)));
    case "asymmetric":
      return (x, s) => fr(x / s);
    case "tf_half_pixel_for_nn":
      return (x, s) => fr(fr(x + 0.5) / s);
    case "tf_crop_and_resize":
      return (x, _s, lo, li, a, b) =>
        lo > 1
          ? fr(fr(a * (li - 1)) + fr(fr(fr(x * fr(b - a)) * (li - 1)) / (lo - 1)))
          : fr(0.5 * (a + b) * (li - 1));
    default:
      throw fail(op, `coordinate_transformation_mode '${mode}' is not supported`);
  }
}

/** std::round: halves away from zero. */
function roundAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

function nearestFn(mode: string, op: string): (x: number, downsampling: boolean) => number {
  switch (mode) {
    case "round_prefer_floor":
      return (x) => (x === Math.trunc(x) + 0.5 ? Math.floor(x) : roundAway(x));
    case "round_prefer_ceil":
      return (x) => roundAway(x);
    case "floor":
      return (x) => Math.floor(x);
    case "ceil":
      return (x) => Math.ceil(x);
    case "simple": // Resize-10 / Upsample in onnxruntime
      return (x, down) => (down ? Math.ceil(x) : Math.trunc(x));
    default:
      throw fail(op, `nearest_mode '${mode}' is not supported`);
  }
}

function cubicCoeffs(s: number, a: number): number[] {
  const t = Math.abs(s);
  return [
    ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
    ((a + 2) * t - (a + 3)) * t * t + 1,
    ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1,
    ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a,
  ];
}

interface ResizeParams {
  mode: string;
  coord: CoordFn;
  nearest: (x: number, down: boolean) => number;
  cubicA: number;
  excludeOutside: boolean;
  extrapolate: boolean;
}

function axisTable(p: ResizeParams, lenIn: number, lenOut: number, scale: number, roiA: number, roiB: number): AxisTable {
  const taps = p.mode === "nearest" ? 1 : p.mode === "linear" ? 2 : 4;
  const idx = new Int32Array(lenOut * taps);
  const w = new Float64Array(lenOut * taps);
  const outside = p.extrapolate ? new Uint8Array(lenOut) : null;
  const clampIdx = (i: number) => Math.min(Math.max(i, 0), lenIn - 1);
  for (let o = 0; o < lenOut; o++) {
    // onnxruntime maps an axis whose scale is 1 to itself, whatever the coordinate mode
    const x = scale === 1 ? o : p.coord(o, scale, lenOut, lenIn, roiA, roiB);
    if (outside && (x < 0 || x > lenIn - 1)) outside[o] = 1;
    const t = o * taps;
    if (p.mode === "nearest") {
      idx[t] = clampIdx(p.nearest(x, scale < 1));
      w[t] = 1;
    } else if (p.mode === "linear") {
      const xc = Math.max(0, Math.min(x, lenIn - 1));
      const i1 = Math.min(Math.trunc(xc), lenIn - 1);
      const i2 = Math.min(i1 + 1, lenIn - 1);
      idx[t] = i1;
      idx[t + 1] = i2;
      w[t] = i1 === i2 ? 0.5 : Math.abs(xc - i2);
      w[t + 1] = i1 === i2 ? 0.5 : Math.abs(xc - i1);
    } else {
      const base = Math.floor(x);
      const c = cubicCoeffs(x - base, p.cubicA);
      let total = 0;
      for (let k = 0; k < 4; k++) {
        const i = base + k - 1;
        if (p.excludeOutside && (i < 0 || i >= lenIn)) c[k] = 0;
        total += c[k];
      }
      for (let k = 0; k < 4; k++) {
        idx[t + k] = clampIdx(base + k - 1);
        w[t + k] = p.excludeOutside && total !== 0 ? c[k] / total : c[k];
      }
    }
  }
  return { taps, idx, w, outside };
}

function isIdentity(t: AxisTable, lenIn: number, lenOut: number): boolean {
  if (lenIn !== lenOut || t.outside?.some((v) => v === 1)) return false;
  for (let o = 0; o < lenOut; o++) {
    let self = 0;
    for (let k = 0; k < t.taps; k++) {
      const wk = t.w[o * t.taps + k];
      if (t.idx[o * t.taps + k] === o) self += wk;
      else if (wk !== 0) return false;
    }
    if (self !== 1) return false;
  }
  return true;
}

/** Resample axis `a`: src has shape (outer, lenIn, inner), dst (outer, lenOut, inner). */
function resampleAxis(src: Float32Array, dst: Float32Array, outer: number, lenIn: number, lenOut: number, inner: number, t: AxisTable) {
  const { taps, idx, w } = t;
  for (let o = 0; o < outer; o++) {
    const s0 = o * lenIn * inner;
    for (let y = 0; y < lenOut; y++) {
      const d = (o * lenOut + y) * inner;
      const q = y * taps;
      if (taps === 1) {
        const s = s0 + idx[q] * inner;
        for (let i = 0; i < inner; i++) dst[d + i] = src[s + i];
      } else if (taps === 2) {
        const sa = s0 + idx[q] * inner;
        const sb = s0 + idx[q + 1] * inner;
        const wa = w[q];
        const wb = w[q + 1];
        for (let i = 0; i < inner; i++) dst[d + i] = wa * src[sa + i] + wb * src[sb + i];
      } else {
        const sa = s0 + idx[q] * inner;
        const sb = s0 + idx[q + 1] * inner;
        const sc = s0 + idx[q + 2] * inner;
        const sd = s0 + idx[q + 3] * inner;
        const wa = w[q], wb = w[q + 1], wc = w[q + 2], wd = w[q + 3];
        for (let i = 0; i < inner; i++) {
          dst[d + i] = wa * src[sa + i] + wb * src[sb + i] + wc * src[sc + i] + wd * src[sd + i];
        }
      }
    }
  }
}

function resizeFactory(inputs: readonly (TensorView | null)[], outputs: readonly TensorView[], attrs: Attrs, op: string) {
  const X = f32(inputs[0], op, "input X");
  const Y = f32(outputs[0], op, "output Y");
  const xs = inputs[0]!.shape;
  const ys = outputs[0].shape;
  const rank = xs.length;
  const mode = attrString(attrs, "mode", "nearest");
  if (!["nearest", "linear", "cubic"].includes(mode)) throw fail(op, `mode '${mode}' is not supported`);
  const coordMode = attrString(attrs, "coordinate_transformation_mode", "half_pixel");
  const p: ResizeParams = {
    mode,
    coord: coordinateFn(coordMode, op),
    nearest: nearestFn(attrString(attrs, "nearest_mode", "round_prefer_floor"), op),
    cubicA: attrFloat(attrs, "cubic_coeff_a", -0.75),
    excludeOutside: flag(op, attrs, "exclude_outside", 0),
    extrapolate: coordMode === "tf_crop_and_resize",
  };
  const extrapolation = attrFloat(attrs, "extrapolation_value", 0);
  const scales = attrFloats(attrs, "scales").map(fr);
  const roi = attrFloats(attrs, "roi", [...new Array<number>(rank).fill(0), ...new Array<number>(rank).fill(1)]);
  if (scales.length !== rank || roi.length !== 2 * rank) throw fail(op, `scales/roi do not match rank ${rank}`);
  if (scales.some((v) => !(v > 0 && v < Infinity))) throw fail(op, `scales [${scales}] must be positive`);
  if (roi.some((v) => !Number.isFinite(v))) throw fail(op, `roi [${roi}] must be finite`);
  // the output size the converter resolved (attrs.sizes) is the declared one
  expectShape(op, outputs[0], attrs.sizes === undefined ? ys : attrInts(attrs, "sizes"));
  if (ys.length !== rank) throw fail(op, `output rank ${ys.length} differs from the input's ${rank}`);
  const tables = xs.map((d, a) => axisTable(p, d, ys[a], scales[a], fr(roi[a]), fr(roi[rank + a])));
  const axes = xs.map((_d, a) => a).filter((a) => !isIdentity(tables[a], xs[a], ys[a]));
  // Scratch for intermediate shapes: axes before the current one resized, the rest not.
  let maxMid = 0;
  const shape = [...xs];
  for (const a of axes.slice(0, -1)) {
    shape[a] = ys[a];
    maxMid = Math.max(maxMid, prod(shape));
  }
  reserveScratch(Scratch.PingA, maxMid);
  if (axes.length > 2) reserveScratch(Scratch.PingB, maxMid);
  // outer/inner extents of each pass (earlier axes already at their output size)
  const outers = axes.map((a) => prod(ys, 0, a));
  const inners = axes.map((a) => prod(xs, a + 1));
  return () => {
    if (axes.length === 0) Y.set(X);
    let src = X;
    for (let i = 0; i < axes.length; i++) {
      const a = axes[i];
      const dst = i === axes.length - 1 ? Y : scratch(i % 2 === 0 ? Scratch.PingA : Scratch.PingB);
      resampleAxis(src, dst, outers[i], xs[a], ys[a], inners[i], tables[a]);
      src = dst;
    }
    if (p.extrapolate) markOutside(Y, ys, tables, extrapolation);
  };
}

/** Set every output element with a coordinate outside the input (on any axis) to `value`. */
function markOutside(Y: Float32Array, ys: readonly number[], tables: AxisTable[], value: number) {
  for (let a = 0; a < tables.length; a++) {
    const flags = tables[a].outside;
    if (!flags) continue;
    const outer = prod(ys, 0, a);
    const inner = prod(ys, a + 1);
    for (let o = 0; o < outer; o++) {
      for (let y = 0; y < ys[a]; y++) {
        if (flags[y]) Y.fill(value, (o * ys[a] + y) * inner, (o * ys[a] + y + 1) * inner);
      }
    }
  }
}

registerKernel(["Resize", "Upsample"], resizeFactory);
