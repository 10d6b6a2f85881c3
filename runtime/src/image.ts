// Image pre- and post-processing for apps: pixels -> a float32 input tensor (resize, centre crop, scale,
// mean/std, NCHW/NHWC, RGB/BGR), a tensor -> ImageData, and softmax / top-k for classifiers.
//
//   const x = WebDNN.image.toTensor(imgElement, { resize: 256, crop: 224,
//     mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });            // ImageNet, NCHW, RGB
//   const { logits } = await runner.run({ input: x.data });
//   const top5 = WebDNN.image.topK(WebDNN.image.softmax(logits.data), 5, labels);
//
// Resizing is Pillow's Image.resize (libImaging/Resample.c) re-done exactly: separable filters whose support
// widens with the downscale factor (antialiased), two passes in Pillow 13's order, 22-bit fixed-point
// coefficients and rounding to 8 bits after each pass. So a photo resized here has the same bytes as
// PIL.Image.resize(..., BICUBIC | BILINEAR) in Python (torchvision's and most model cards' preprocessing), and the
// float steps are done in float32 in numpy's order: x = p * scale, then (x - mean) / std. The one difference
// from a Python pipeline is decoding: in a browser the image is decoded (and colour-managed to sRGB) by the
// browser, which can differ by a few levels from Pillow's decoder for JPEGs or images with an ICC profile.

import { InputError } from "./errors.js";

/** Raw 8-bit RGBA pixels, row-major (ImageData has this shape; a plain object works in Node). */
export interface RGBAImage {
  data: Uint8ClampedArray | Uint8Array;
  width: number;
  height: number;
}

/** What toTensor accepts: raw RGBA pixels or anything a canvas can draw (browser only). */
export type ImageSource = RGBAImage | CanvasImageSource | ImageBitmap | ImageData;

export type Interpolation = "bicubic" | "bilinear" | "nearest";
export interface Size { width: number; height: number }

export interface ToTensorOptions {
  /** Resize first: a number resizes the SHORTER side to it, keeping the aspect ratio (the other side is
   *  rounded half to even, as Python's round()); {width, height} resizes to exactly that size. Default: none. */
  resize?: number | Size;
  /** Resampling of the resize (Pillow's filters, antialiased when downscaling). Default "bicubic". */
  interpolation?: Interpolation;
  /** Centre crop after resizing: a number for a square, or {width, height}. The offset is
   *  round((size - crop) / 2), rounded half to even as Python's round(). Default: none. */
  crop?: number | Size;
  /** Each 0..255 value is multiplied by this (then rounded to float32). Default 1/255. */
  scale?: number;
  /** Subtracted per channel (in the order of `channels`) after scaling. Default [0, 0, 0]. */
  mean?: readonly number[];
  /** Divided per channel (in the order of `channels`) after subtracting the mean. Default [1, 1, 1]. */
  std?: readonly number[];
  /** "NCHW" (default; dims [1, 3, H, W]) or "NHWC" (dims [1, H, W, 3]). */
  layout?: "NCHW" | "NHWC";
  /** Channel order of the tensor: "RGB" (default) or "BGR" (Caffe models). */
  channels?: "RGB" | "BGR";
}

/** A float32 tensor with its dims, ready for Runner.run({ name: t.data }). */
export interface ImageTensor { data: Float32Array; dims: number[] }

export interface FromTensorOptions {
  /** Layout of the tensor (batch 1; dims [1, C, H, W] / [1, H, W, C], or without the batch). Default "NCHW". */
  layout?: "NCHW" | "NHWC";
  /** Channel order of the tensor. Default "RGB". A 1-channel tensor is drawn as grey. */
  channels?: "RGB" | "BGR";
  /** The inverse of toTensor's: pixel = (x * std + mean) / scale, rounded and clamped to 0..255.
   *  Defaults: mean 0, std 1, scale 1/255 (a tensor of 0..1 values). */
  scale?: number;
  mean?: readonly number[];
  std?: readonly number[];
}

// ----- reading pixels ----------------------------------------------------------------------------------

function isRGBA(x: unknown): x is RGBAImage {
  if (typeof x !== "object" || x === null) return false;
  const o = x as Partial<RGBAImage>;
  return (o.data instanceof Uint8ClampedArray || o.data instanceof Uint8Array) && typeof o.width === "number" &&
    typeof o.height === "number";
}

function checkRGBA(img: RGBAImage): RGBAImage {
  const { width, height, data } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new InputError(`image size ${width}x${height} is not a positive integer size`);
  }
  if (data.length !== width * height * 4) {
    throw new InputError(`image of ${width}x${height} needs ${width * height * 4} RGBA bytes, got ${data.length}`);
  }
  return img;
}

function sourceSize(src: CanvasImageSource | ImageBitmap): Size {
  const s = src as { naturalWidth?: number; naturalHeight?: number; videoWidth?: number; videoHeight?: number;
    displayWidth?: number; displayHeight?: number; width?: unknown; height?: unknown };
  if (s.naturalWidth) return { width: s.naturalWidth, height: s.naturalHeight ?? 0 };
  if (s.videoWidth) return { width: s.videoWidth, height: s.videoHeight ?? 0 };
  if (s.displayWidth) return { width: s.displayWidth, height: s.displayHeight ?? 0 };
  const w = s.width, h = s.height;
  // SVGImageElement's width is an animated length
  const num = (v: unknown) => (typeof v === "number" ? v : Number((v as { baseVal?: { value?: number } })?.baseVal?.value ?? 0));
  return { width: num(w), height: num(h) };
}

/** The RGBA pixels of an image at its own size: raw pixels and ImageData as they are, anything else
 *  (img, canvas, video frame, ImageBitmap) drawn on a canvas (browser; the image must be loaded and, when
 *  cross-origin, CORS-enabled, or the canvas is tainted and this throws). */
export function getPixels(src: ImageSource): RGBAImage {
  if (isRGBA(src)) return checkRGBA(src);
  if (typeof document === "undefined" && typeof OffscreenCanvas === "undefined") {
    throw new InputError("only raw RGBA pixels ({ data, width, height }) can be read without a canvas (Node)");
  }
  const { width, height } = sourceSize(src as CanvasImageSource);
  if (!(width > 0 && height > 0)) {
    throw new InputError(`the image has no pixels yet (${width}x${height}): wait for it to load (img.decode())`);
  }
  const canvas = typeof OffscreenCanvas !== "undefined" ? new OffscreenCanvas(width, height)
    : Object.assign(document.createElement("canvas"), { width, height });
  const ctx = canvas.getContext("2d", { willReadFrequently: true }) as
    CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D | null;
  if (!ctx) throw new InputError("no 2D canvas context to read the image's pixels");
  ctx.drawImage(src as CanvasImageSource, 0, 0, width, height);
  const d = ctx.getImageData(0, 0, width, height);
  return { data: d.data, width, height };
}

// ----- resizing (Pillow's Resample.c) ----------------------------------------------------------------------

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);
const MAX = ONE * 256;

const FILTERS: Record<"bicubic" | "bilinear", { support: number; fn: (x: number) => number }> = {
  bilinear: { support: 1, fn: (x) => { x = Math.abs(x); return x < 1 ? 1 - x : 0; } },
  bicubic: {
    support: 2,
    fn: (x) => {
      const a = -0.5;
      x = Math.abs(x);
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
};

interface Coeffs { bounds: Int32Array; kk: Float64Array; ksize: number }

// precompute_coeffs + normalize_coeffs_8bpc: weights in 22-bit fixed point (kept in a Float64Array: the
// accumulations are exact integers in doubles, as in Pillow's int32)
function coefficients(inSize: number, outSize: number, filter: { support: number; fn: (x: number) => number }): Coeffs {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Float64Array(outSize * ksize);
  const k = new Float64Array(ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = filter.fn((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? k[x] / ww : k[x];
      kk[xx * ksize + x] = Math.trunc(w < 0 ? -0.5 + w * ONE : 0.5 + w * ONE);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { bounds, kk, ksize };
}

function clip8(v: number): number {
  if (v >= MAX) return 255;
  if (v <= 0) return 0;
  return Math.floor(v / ONE);
}

// one pass over RGBA rows: along x (horizontal) or y (vertical); alpha is resampled too
function resamplePass(src: Uint8ClampedArray | Uint8Array, w: number, h: number, out: number, horizontal: boolean,
  filter: { support: number; fn: (x: number) => number }): Uint8ClampedArray {
  const c = coefficients(horizontal ? w : h, out, filter);
  const ow = horizontal ? out : w, oh = horizontal ? h : out;
  const dst = new Uint8ClampedArray(ow * oh * 4);
  const acc = new Float64Array(4);
  for (let yy = 0; yy < oh; yy++) {
    for (let xx = 0; xx < ow; xx++) {
      const o = horizontal ? xx : yy;
      const xmin = c.bounds[o * 2], n = c.bounds[o * 2 + 1], kb = o * c.ksize;
      acc.fill(HALF);
      for (let t = 0; t < n; t++) {
        const kv = c.kk[kb + t];
        const p = horizontal ? (yy * w + xmin + t) * 4 : ((xmin + t) * w + xx) * 4;
        acc[0] += src[p] * kv;
        acc[1] += src[p + 1] * kv;
        acc[2] += src[p + 2] * kv;
        acc[3] += src[p + 3] * kv;
      }
      const q = (yy * ow + xx) * 4;
      dst[q] = clip8(acc[0]);
      dst[q + 1] = clip8(acc[1]);
      dst[q + 2] = clip8(acc[2]);
      dst[q + 3] = clip8(acc[3]);
    }
  }
  return dst;
}

function nearest(img: RGBAImage, width: number, height: number): RGBAImage {
  // Pillow's NEAREST: source pixel floor((x + 0.5) * in / out)
  const out = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(img.height - 1, Math.floor((y + 0.5) * img.height / height));
    for (let x = 0; x < width; x++) {
      const sx = Math.min(img.width - 1, Math.floor((x + 0.5) * img.width / width));
      const p = (sy * img.width + sx) * 4, q = (y * width + x) * 4;
      out[q] = img.data[p]; out[q + 1] = img.data[p + 1]; out[q + 2] = img.data[p + 2]; out[q + 3] = img.data[p + 3];
    }
  }
  return { data: out, width, height };
}

/** Resize RGBA pixels to width x height exactly as Pillow's Image.resize with BICUBIC / BILINEAR / NEAREST
 *  (antialiased when downscaling; every channel, alpha included, resampled alike, without premultiplying). */
export function resize(img: RGBAImage, width: number, height: number, interpolation: Interpolation = "bicubic"): RGBAImage {
  checkRGBA(img);
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new InputError(`cannot resize to ${width}x${height}: the size must be positive integers`);
  }
  if (interpolation === "nearest") return nearest(img, width, height);
  const filter = FILTERS[interpolation];
  if (!filter) throw new InputError(`unknown interpolation ${String(interpolation)}: use bicubic, bilinear or nearest`);
  let data: Uint8ClampedArray | Uint8Array = img.data;
  // Pillow 13's order: the vertical pass first when the height shrinks by more than twice as many pixels as
  // the width (older Pillow always ran the horizontal pass first: then a pixel may differ by a level or two)
  const dh = img.height - height;
  if (dh > 0 && dh > (img.width - width) * 2) {
    data = resamplePass(data, img.width, img.height, height, false, filter);
    if (width !== img.width) data = resamplePass(data, img.width, height, width, true, filter);
  } else {
    if (width !== img.width) data = resamplePass(data, img.width, img.height, width, true, filter);
    if (height !== img.height) data = resamplePass(data, width, img.height, height, false, filter);
  }
  return { data: data === img.data ? new Uint8ClampedArray(data) : data, width, height };
}

/** Round half to even, as Python's round(). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function asSize(s: number | Size, what: string): Size {
  const size = typeof s === "number" ? { width: s, height: s } : s;
  if (!Number.isInteger(size.width) || !Number.isInteger(size.height) || size.width < 1 || size.height < 1) {
    throw new InputError(`${what} ${JSON.stringify(s)} is not a positive integer size`);
  }
  return size;
}

/** The size a `resize` option gives an image of width x height (shorter side to n, the other rounded half to
 *  even as Python's round(), or the exact size). */
export function resizedSize(width: number, height: number, resize: number | Size): Size {
  if (typeof resize !== "number") return asSize(resize, "resize");
  asSize(resize, "resize");
  const scale = resize / Math.min(width, height);
  return width <= height ? { width: resize, height: roundHalfEven(height * scale) }
    : { width: roundHalfEven(width * scale), height: resize };
}

/** The centre crop of size crop (offset round((size - crop) / 2), half to even); it must fit. */
export function centerCrop(img: RGBAImage, crop: number | Size): RGBAImage {
  checkRGBA(img);
  const { width, height } = asSize(crop, "crop");
  if (width > img.width || height > img.height) {
    throw new InputError(`cannot crop ${width}x${height} out of an image of ${img.width}x${img.height}: resize it first`);
  }
  const top = roundHalfEven((img.height - height) / 2), left = roundHalfEven((img.width - width) / 2);
  const out = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    const s = ((top + y) * img.width + left) * 4;
    out.set(img.data.subarray(s, s + width * 4), y * width * 4);
  }
  return { data: out, width, height };
}

// ----- to and from tensors ----------------------------------------------------------------------------------

function channelParams(values: readonly number[] | undefined, fill: number, what: string): Float32Array {
  const v = values ?? [fill, fill, fill];
  if (v.length !== 3 || !v.every((x) => Number.isFinite(x))) {
    throw new InputError(`${what} must be 3 finite numbers (one per channel), got ${JSON.stringify(values)}`);
  }
  return Float32Array.from(v);
}

/** An image as a float32 tensor: resize (optional), centre crop (optional), then per pixel and channel
 *  x = fround(fround(p * scale) - mean[c]) / std[c] in float32 (numpy's float32 arithmetic), laid out NCHW or
 *  NHWC with batch 1, channels RGB or BGR. Alpha is ignored. */
export function toTensor(src: ImageSource, options: ToTensorOptions = {}): ImageTensor {
  let img = getPixels(src);
  if (options.resize !== undefined) {
    const s = resizedSize(img.width, img.height, options.resize);
    img = resize(img, s.width, s.height, options.interpolation ?? "bicubic");
  }
  if (options.crop !== undefined) img = centerCrop(img, options.crop);
  const scale = options.scale ?? 1 / 255;
  if (!Number.isFinite(scale)) throw new InputError(`scale must be a finite number, got ${scale}`);
  const mean = channelParams(options.mean, 0, "mean"), std = channelParams(options.std, 1, "std");
  const bgr = (options.channels ?? "RGB") === "BGR";
  const nhwc = (options.layout ?? "NCHW") === "NHWC";
  const { width: w, height: h, data: px } = img;
  const n = w * h;
  const out = new Float32Array(n * 3);
  // per channel of the tensor: the RGBA byte it reads and its 256 possible values (every pixel maps through it)
  for (let c = 0; c < 3; c++) {
    const srcChannel = bgr ? 2 - c : c;
    const lut = new Float32Array(256);
    for (let p = 0; p < 256; p++) lut[p] = Math.fround(Math.fround(Math.fround(p * scale) - mean[c]) / std[c]);
    if (nhwc) for (let i = 0; i < n; i++) out[i * 3 + c] = lut[px[i * 4 + srcChannel]];
    else for (let i = 0; i < n; i++) out[c * n + i] = lut[px[i * 4 + srcChannel]];
  }
  return { data: out, dims: nhwc ? [1, h, w, 3] : [1, 3, h, w] };
}

/** A tensor of an image (e.g. an image-to-image model's output) as RGBA pixels: ImageData in a browser, a plain
 *  { data, width, height } in Node. dims: [1, C, H, W] / [C, H, W] (NCHW) or [1, H, W, C] / [H, W, C] (NHWC),
 *  C = 3 or 1; values mapped back by the inverse of toTensor's scale/mean/std, rounded (half to even, as numpy), clamped to
 *  0..255; NaN is 0. */
export function fromTensor(data: ArrayLike<number>, dims: readonly number[], options: FromTensorOptions = {}): RGBAImage {
  const nhwc = (options.layout ?? "NCHW") === "NHWC";
  const d = dims.length === 4 ? dims.slice(1) : dims.slice();
  if (d.length !== 3 || (dims.length === 4 && dims[0] !== 1)) {
    throw new InputError(`an image tensor has dims [1, C, H, W] or [C, H, W] (or NHWC), got [${dims.join(", ")}]`);
  }
  const [c, h, w] = nhwc ? [d[2], d[0], d[1]] : d;
  if (c !== 1 && c !== 3) throw new InputError(`an image tensor has 1 or 3 channels, got ${c} (dims [${dims.join(", ")}])`);
  if (data.length !== c * h * w) throw new InputError(`tensor of dims [${dims.join(", ")}] needs ${c * h * w} values, got ${data.length}`);
  const scale = options.scale ?? 1 / 255;
  const mean = channelParams(options.mean, 0, "mean"), std = channelParams(options.std, 1, "std");
  const bgr = (options.channels ?? "RGB") === "BGR";
  const n = w * h;
  const out = new Uint8ClampedArray(n * 4);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 3; k++) {
      const tc = c === 1 ? 0 : bgr ? 2 - k : k;
      const x = nhwc ? data[i * c + tc] : data[tc * n + i];
      const v = (x * std[c === 1 ? 0 : tc] + mean[c === 1 ? 0 : tc]) / scale;
      out[i * 4 + k] = Number.isNaN(v) ? 0 : roundHalfEven(v); // half to even as numpy; Uint8ClampedArray clamps
    }
    out[i * 4 + 3] = 255;
  }
  if (typeof ImageData !== "undefined") return new ImageData(out, w, h);
  return { data: out, width: w, height: h };
}

// ----- classifiers ------------------------------------------------------------------------------------------

/** Softmax of a row of logits (computed in float64 after subtracting the maximum, as numpy). */
export function softmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  const out = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += out[i] = Math.exp(logits[i] - max);
  for (let i = 0; i < out.length; i++) out[i] /= sum;
  return out;
}

export interface TopKEntry { index: number; value: number; label?: string }

/** The k largest values, largest first (ties: the lower index first, as numpy's stable argsort of -x); NaN
 *  values are ranked last. With `labels`, each entry has its label. */
export function topK(values: ArrayLike<number>, k: number, labels?: readonly string[]): TopKEntry[] {
  const key = (i: number) => (Number.isNaN(values[i]) ? -Infinity : values[i]);
  const idx = Array.from({ length: values.length }, (_, i) => i);
  idx.sort((a, b) => key(b) - key(a) || a - b);
  return idx.slice(0, Math.max(0, k)).map((index) => {
    const e: TopKEntry = { index, value: values[index] };
    if (labels) e.label = labels[index];
    return e;
  });
}
