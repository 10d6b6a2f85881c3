// The wasm kernels' parameter blocks, checked once when a session is created.
//
// The C kernels (runtime/kernels/wasm/*.c) trust their parameter block completely: a count, a
// size or a stride that does not match the tensors it describes makes a kernel read or write
// outside them (other tensors' bytes, the weights, the stacks: garbage or corruption) or trap
// (division by zero, an access past the memory). So before anything runs, every wasm call of the
// descriptor is checked here against one table (SCHEMA: per export, the parameter layout the C
// code documents and a rule deriving, from the integer parameters, what it reads and writes):
//
//  - the parameter count and the kind of each parameter: tensor address ({in: i} / {out: i}, the
//    kernel's i-th input/output; an optional one may be 0), integer (a non-negative int32 unless
//    noted; enums in their range), float ({f: x}, a number or "Infinity"/"-Infinity"/"NaN");
//    kernels only write through {out} addresses;
//  - exactly how many bytes the kernel touches through each address, against that tensor's
//    byteLength: equal (a kernel reads all of each input and writes all of each output, so a size
//    that is merely smaller would leave stale data), and for strided operands (binary_f32,
//    transpose_any, bmm_f32) that the strides read inside the tensor and, for outputs, write each
//    element exactly once;
//  - the geometry against the tensors' shapes and the ONNX attributes the call keeps (Conv and
//    pool windows give the output size, transposes permute the shape, a concat's parts add up);
//  - divisors and loop bounds the kernels divide by are positive, and no index expression of the
//    C code (32-bit) can overflow;
//  - every call's stack scratch (the VLAs of conv2d_nhwc_f32, conv2d_winograd_nhwc_f32, bmm_f32)
//    fits the per-thread stack the descriptor declares (wasm.stackBytes). The declaration may
//    exceed the need (a model with symbolic dims declares the bound over all its sizes, so a small
//    size declares more than it uses), but not beyond MAX_STACK_BYTES.
// Together with the descriptor's own checks (every tensor inside the arena or the weights), a
// kernel can only touch its tensors' bytes and its thread's stack.

import type { Descriptor, KernelSpec, TensorSpec } from "../../descriptor.js";
import { itemSize } from "../../dtypes.js";
import { DescriptorError } from "../../errors.js";
import { ExprProgram } from "../fallback/kernels/expr.js";
import { windowOut } from "../fallback/kernels/shape.js";
import { programWords, referencedProgram } from "./expr_words.js";
import { MCH, NR } from "./tiles.js";

const INT32_MAX = 2 ** 31 - 1;
/** The most per-thread stack scratch (wasm.stackBytes) a descriptor may declare: the largest need
 *  of any model converted so far is ~2.3 MB (Winograd on VGG16 and HED); every thread gets one. */
export const MAX_STACK_BYTES = 64 * 1024 * 1024;
const ACT_NONE = 0, ACT_EXPR = 2; // kernels/wasm/common.h (1: a clamp)
const BINARY: Record<string, number> = { Add: 0, Sub: 1, Mul: 2, Div: 3 };

/** A violated rule: the message says what, the checker adds where. */
class Bad extends Error {}
function req(ok: boolean, what: string): asserts ok {
  if (!ok) throw new Bad(what);
}

const ceil = (a: number, b: number) => Math.ceil(a / b);
const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);
const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
const show = (s: readonly number[]) => `[${s.join(", ")}]`;

/** An operand read or written through element strides (0: broadcast). */
interface View { dims: number[]; strides: number[]; broadcast: boolean }

/** What a call touches, derived from its integer parameters. */
interface Footprint {
  /** Exact byte counts of the addresses read or written contiguously. */
  bytes?: Record<string, number>;
  /** Strided operands (byte counts follow from the tensor and the element size). */
  views?: Record<string, View>;
  /** Per-thread stack scratch, bytes. */
  stack?: number;
}

interface Call {
  v: Record<string, number>; // integer and float parameters by name
  program?: unknown; // the {program: ref} of the activation words
  t: Record<string, TensorSpec | null>; // tensors by parameter name (null: an omitted optional one)
  k: KernelSpec;
}

interface Schema {
  /** Parameter layout: `name:in`, `name:out`, `name:in?` (address or 0), `name:f` (float), `name`
   *  (integer), `name:lo-hi` (integer enum), `act` (activation: code, two floats). */
  params: string;
  /** Repeated group after the fixed parameters, `count` names the integer holding the repeats. */
  rest?: { params: string; count: string };
  /** Element types its addresses may point at (default float32 only). */
  anyType?: boolean;
  check(c: Call): Footprint;
}

// ---- attribute cross-checks -----------------------------------------------------------------
// The descriptor keeps each call's ONNX attributes (canonical: explicit pads, strides,
// dilations); the parameters were derived from them and must agree.
function attrInts(k: KernelSpec, key: string, dflt: number[]): number[] {
  const x = k.attrs[key];
  if (x === undefined) return dflt;
  req(Array.isArray(x) && x.every((v) => Number.isSafeInteger(v)), `attribute ${key} ${JSON.stringify(x)} is not a list of integers`);
  return x as number[];
}
function attrInt(k: KernelSpec, key: string, dflt: number): number {
  const x = k.attrs[key] ?? dflt;
  req(Number.isSafeInteger(x), `attribute ${key} ${JSON.stringify(x)} is not an integer`);
  return x as number;
}

/** The window parameters must be the call's attributes, and the output size what they give. */
function window2d(c: Call, w: { H: number; W: number; OH: number; OW: number; KH: number; KW: number; SH: number; SW: number;
  PT: number; PL: number; DH: number; DW: number; PB?: number; PR?: number }, ceilMode: boolean): void {
  const { k } = c;
  const kernel = attrInts(k, "kernel_shape", []);
  const strides = attrInts(k, "strides", [1, 1]);
  const dil = attrInts(k, "dilations", [1, 1]);
  const pads = attrInts(k, "pads", [0, 0, 0, 0]);
  req(kernel.length === 2 && strides.length === 2 && dil.length === 2 && pads.length === 4, "attributes kernel_shape, strides, dilations, pads are not those of a 2-D window");
  const pairs: [string, number, number][] = [["KH", w.KH, kernel[0]!], ["KW", w.KW, kernel[1]!], ["SH", w.SH, strides[0]!], ["SW", w.SW, strides[1]!],
    ["DH", w.DH, dil[0]!], ["DW", w.DW, dil[1]!], ["PT", w.PT, pads[0]!], ["PL", w.PL, pads[1]!]];
  if (w.PB !== undefined) pairs.push(["PB", w.PB, pads[2]!]);
  if (w.PR !== undefined) pairs.push(["PR", w.PR, pads[3]!]);
  for (const [name, p, a] of pairs) req(p === a, `${name} ${p} differs from the attributes' ${a}`);
  req(w.KH >= 1 && w.KW >= 1 && w.SH >= 1 && w.SW >= 1 && w.DH >= 1 && w.DW >= 1, "kernel, strides and dilations must be >= 1");
  const oh = windowOut(w.H, w.KH, w.SH, w.DH, pads[0]!, pads[2]!, ceilMode);
  const ow = windowOut(w.W, w.KW, w.SW, w.DW, pads[1]!, pads[3]!, ceilMode);
  req(w.OH === oh && w.OW === ow, `output ${w.OH}x${w.OW} differs from the ${oh}x${ow} that a ${w.H}x${w.W} input and the window give`);
  // the kernels' 32-bit index arithmetic: o*S - P + k*D, and H + PB
  for (const [o, s, p, kk, d, n, pe] of [[w.OH, w.SH, w.PT, w.KH, w.DH, w.H, pads[2]!], [w.OW, w.SW, w.PL, w.KW, w.DW, w.W, pads[3]!]] as const) {
    req((o - 1) * s + p + (kk - 1) * d < INT32_MAX && n + pe < INT32_MAX, "the window's coordinates overflow 32 bits");
  }
}

const PROBES = [-Infinity, -1e30, -7, -1, -0.5, -0, 0, 0.25, 1, 5.5, 6, 7, 1e30, Infinity, NaN];

/** The activation words (kind, a, b) must apply the call's program: attrs.activation.expr for a
 *  fused activation (none without one), attrs.expr for unary_f32 (`ref`). A clamp must compute
 *  what the program does; a program must be one the C interpreter runs (expr_words.ts). */
function activation(c: Call, ref: "activation" | "expr"): void {
  const prog = referencedProgram(c.k.attrs, ref);
  const kind = c.v.act!;
  const what = ref === "expr" ? "attrs.expr" : "attrs.activation.expr";
  if (prog === undefined) {
    req(kind === ACT_NONE && ref === "activation", ref === "expr" ? "attrs.expr is missing" : `activation kind ${kind} without attrs.activation`);
    return;
  }
  req(kind !== ACT_NONE, `the activation words are empty, but the call has ${what}`);
  let program: ExprProgram;
  try {
    if (kind === ACT_EXPR) {
      req(c.program === ref, `the program word must be {program: "${ref}"}, got ${JSON.stringify(c.program)}`);
      programWords(prog, what);
      return;
    }
    program = new ExprProgram(prog, what);
  } catch (e) {
    if (e instanceof DescriptorError) throw new Bad(e.message);
    throw e;
  }
  req(c.program === undefined, "a clamp's words are two floats");
  const lo = c.v.actA!, hi = c.v.actB!;
  for (const x of PROBES) {
    const want = Math.fround(program.scalar(x));
    const got = Math.fround(Math.min(Math.max(x, lo), hi));
    req(Object.is(want, got) || (want === got) || (Number.isNaN(want) && Number.isNaN(got)),
      `the clamp [${lo}, ${hi}] gives ${got} at ${x} where ${what} gives ${want}`);
  }
}

/** `t`'s shape must be `want`. */
function shapeIs(c: Call, name: string, want: readonly number[]): void {
  const t = c.t[name];
  if (t) req(sameShape(t.shape, want), `${name} has shape ${show(t.shape)}, the parameters say ${show(want)}`);
}

/** A requantized output's clamp [lo, hi] must lie in its 8-bit type's range (signed: int8). */
function outputRange(signed: number, lo: number, hi: number): void {
  const [tlo, thi] = signed ? [-128, 127] : [0, 255];
  req(tlo <= lo && lo <= hi && hi <= thi, `output range [${lo}, ${hi}] is not within ${signed ? "int8" : "uint8"}'s`);
}

/** The layout conversion of `size`-byte elements. */
function transpose2d(size: number): Schema {
  return {
    params: "X:in Y:out batch rows cols",
    anyType: true,
    check: ({ v, t }) => {
      const { batch, rows, cols } = v as Record<string, number>;
      const x = t.X, y = t.Y;
      if (x && y) {
        req(itemSize(x.dtype) === size && x.dtype === y.dtype, `moves ${8 * size}-bit elements, not ${x.dtype} -> ${y.dtype}`);
        // X = [batch, A..., B...] with prod(A) = rows, prod(B) = cols must become Y = [batch, B..., A...]
        let ok = false;
        for (let s = 1; s <= x.shape.length && !ok; s++) {
          const a = x.shape.slice(1, s), b = x.shape.slice(s);
          ok = x.shape[0] === batch && prod(a) === rows && prod(b) === cols && sameShape(y.shape, [batch, ...b, ...a]);
        }
        req(ok, `${batch} x (${rows} x ${cols} -> ${cols} x ${rows}) does not turn X's shape ${show(x.shape)} into Y's ${show(y.shape)}`);
      }
      return { bytes: { X: size * batch * rows * cols, Y: size * batch * rows * cols } };
    },
  };
}

/** `t`'s element type must be `dtype`. */
function dtypeIs(c: Call, name: string, dtype: string): void {
  const t = c.t[name];
  if (t) req(t.dtype === dtype, `${name} is tensor '${t.name}' of ${t.dtype}, not ${dtype}`);
}

/** `t` must be the 8-bit type `signed` says (1: int8, 0: uint8), its zero point in that type's range. */
function eightBit(c: Call, name: string, signed: number, zero: number): void {
  const dtype = signed ? "int8" : "uint8";
  dtypeIs(c, name, dtype);
  req(signed ? zero >= -128 && zero <= 127 : zero >= 0 && zero <= 255, `${name}'s zero point ${zero} is outside ${dtype}`);
}

// ---- the table --------------------------------------------------------------------------------
const SCHEMA: Record<string, Schema> = {
  // C[M,N] = act(A[M,K] * Bpacked + bias (+ R)), MC rows per block.
  gemm_f32: {
    params: "A:in B:in bias:in C:out R:in? M K N act MC",
    check: ({ v, t }) => {
      const { M, K, N, MC } = v as Record<string, number>;
      req(M >= 1 && N >= 1, "M and N must be >= 1 (the kernel divides by its block and panel counts)");
      req(MC >= 1 && MC <= ceil(M, 4) * 4, `MC ${MC} must be in 1..${ceil(M, 4) * 4} (rows per block)`);
      if (t.A) req(t.A.shape[t.A.shape.length - 1] === K, `K ${K} differs from A's last dim (shape ${show(t.A.shape)})`);
      if (t.C) req(t.C.shape[t.C.shape.length - 1] === N, `N ${N} differs from C's last dim (shape ${show(t.C.shape)})`);
      const panels = ceil(N, NR);
      return { bytes: { A: 4 * M * K, B: 4 * panels * K * NR, bias: 4 * panels * NR, C: 4 * M * N, R: 4 * M * N } };
    },
  },
  // LSTM over a sequence: Y[T,dirs,B,H], Yh/Yc[dirs,B,H] from the input projections XW[T,B,dirs*4*Hp] and R^T
  // packed per direction into 4*Hp/8 panels of H rows (gates interleaved by 8 units, Hp = H rounded up to 8).
  lstm_f32: {
    params: "XW:in R:in P:in? h0:in? c0:in? Y:out Yh:out Yc:out T B H dirs mode:0-2",
    check: ({ v }) => {
      const { T, B, H, dirs, mode } = v as Record<string, number>;
      req(T >= 1 && B >= 1 && H >= 1, "T, B and H must be >= 1");
      req(dirs === (mode === 2 ? 2 : 1), `dirs ${dirs} does not match direction mode ${mode}`);
      const Hp = ceil(H, NR) * NR, state = 4 * dirs * B * H;
      return {
        bytes: { XW: 4 * T * B * dirs * 4 * Hp, R: 4 * dirs * 4 * Hp * H, P: 4 * dirs * 3 * Hp, h0: state, c0: state,
          Y: 4 * T * state / 4, Yh: state, Yc: state },
        stack: 4 * B * Hp,
      };
    },
  },
  // GRU likewise: three gates (z, r, h); with linear_before_reset, R_h's bias Rbh[dirs,Hp] comes apart.
  gru_f32: {
    params: "XW:in R:in Rbh:in? h0:in? Y:out Yh:out T B H dirs mode:0-2 lbr:0-1",
    check: ({ v, t }) => {
      const { T, B, H, dirs, mode, lbr } = v as Record<string, number>;
      req(T >= 1 && B >= 1 && H >= 1, "T, B and H must be >= 1");
      req(dirs === (mode === 2 ? 2 : 1), `dirs ${dirs} does not match direction mode ${mode}`);
      req((t.Rbh !== null) === (lbr === 1), "Rbh is given exactly when linear_before_reset is 1");
      const Hp = ceil(H, NR) * NR, state = 4 * dirs * B * H;
      return {
        bytes: { XW: 4 * T * B * dirs * 3 * Hp, R: 4 * dirs * 3 * Hp * H, Rbh: 4 * dirs * Hp, h0: state, Y: T * state, Yh: state },
        stack: 4 * 2 * Hp,
      };
    },
  },
  // Y[N,OH,OW,M] = act(conv(X[N,H,W,C], Wpacked) + bias (+ R)) through im2col blocks of MC pixels.
  conv2d_nhwc_f32: {
    params: "X:in W:in bias:in Y:out R:in? N H W C OH OW M KH KW SH SW PT PL DH DW G act MC",
    check: (c) => {
      const { N, H, W, C, OH, OW, M, KH, KW, SH, SW, PT, PL, DH, DW, G, MC } = c.v as Record<string, number>;
      req(G >= 1 && C % G === 0 && M % G === 0 && M >= 1, `channels ${C} -> ${M} must be positive multiples of group ${G}`);
      req(G === attrInt(c.k, "group", 1), `group ${G} differs from the attributes'`);
      window2d(c, { H, W, OH, OW, KH, KW, SH, SW, PT, PL, DH, DW }, false);
      shapeIs(c, "X", [N, H, W, C]);
      shapeIs(c, "Y", [N, OH, OW, M]);
      const P = N * OH * OW;
      const K = KH * KW * (C / G);
      const panels = ceil(M / G, NR);
      req(P >= 1, "the output is empty");
      req(MC >= 1 && MC <= ceil(P, 4) * 4, `MC ${MC} must be in 1..${ceil(P, 4) * 4} (pixels per block)`);
      const pointwise = KH === 1 && KW === 1 && SH === 1 && SW === 1 && PT === 0 && PL === 0 && OH === H && OW === W;
      return {
        bytes: { X: 4 * N * H * W * C, W: 4 * G * panels * K * NR, bias: 4 * G * panels * NR, Y: 4 * P * M, R: 4 * P * M },
        stack: pointwise ? 4 : 4 * MC * K, // f32 col[pointwise ? 1 : MC * K]
      };
    },
  },
  // Depthwise: one input channel per group; Wpacked [KH*KW][Cp], bias [Cp], Cp = C rounded up to 4.
  dwconv2d_nhwc_f32: {
    params: "X:in W:in bias:in Y:out N H W C OH OW KH KW SH SW PT PL DH DW act Cp",
    check: (c) => {
      const { N, H, W, C, OH, OW, KH, KW, SH, SW, PT, PL, DH, DW, Cp } = c.v as Record<string, number>;
      req(Cp === ceil(C, 4) * 4, `Cp ${Cp} must be C = ${C} rounded up to 4`);
      req(attrInt(c.k, "group", 1) === C, `the attributes' group is not C = ${C}`);
      window2d(c, { H, W, OH, OW, KH, KW, SH, SW, PT, PL, DH, DW }, false);
      shapeIs(c, "X", [N, H, W, C]);
      shapeIs(c, "Y", [N, OH, OW, C]);
      return { bytes: { X: 4 * N * H * W * C, W: 4 * KH * KW * Cp, bias: 4 * Cp, Y: 4 * N * OH * OW * C } };
    },
  },
  // Winograd F(4x4, 3x3): U [36][panels][C][8], TB tiles per block; stack V + Mb + a zero row.
  conv2d_winograd_nhwc_f32: {
    params: "X:in U:in bias:in Y:out R:in? N H W C OH OW M PT PL act TB",
    check: (c) => {
      const { N, H, W, C, OH, OW, M, PT, PL, TB } = c.v as Record<string, number>;
      req(attrInt(c.k, "group", 1) === 1, "Winograd runs one group only");
      window2d(c, { H, W, OH, OW, KH: 3, KW: 3, SH: 1, SW: 1, PT, PL, DH: 1, DW: 1 }, false);
      shapeIs(c, "X", [N, H, W, C]);
      shapeIs(c, "Y", [N, OH, OW, M]);
      req(N * OH * OW >= 1 && M >= 1 && C >= 1, "empty input or output");
      req(TB >= 1 && TB <= 1024, `TB ${TB} must be in 1..1024 (tiles per block)`);
      const panels = ceil(M, NR);
      const Cp = ceil(C, 4) * 4;
      return {
        bytes: { X: 4 * N * H * W * C, U: 4 * 36 * panels * C * NR, bias: 4 * panels * NR, Y: 4 * N * OH * OW * M, R: 4 * N * OH * OW * M },
        stack: 4 * (36 * TB * (Cp + MCH) + Cp) + 64, // V, Mb, zeros (+ alignment of the three arrays)
      };
    },
  },
  // MaxPool / AveragePool; mode 0 max, 1 average counting pads, 2 average over valid taps.
  // QLinearConv on 8-bit NHWC tensors: int8 weights in k-quad panels, int32 bias and weight sums and f32
  // multipliers per column (padded per group to whole panels), zero points of X and Y, their signedness; or
  // (int32 = 1) MatMulInteger as a pointwise one with int32 output, X's zero point maybe a tensor (xzt).
  qconv2d_nhwc_x8: {
    params: "X:in W:in bias:in colsum:in mult:in Y:out N H W C OH OW M KH KW SH SW PT PL DH DW G xz:-128-255 xs:0-1 yz:-128-255 ys:0-1 MC int32:0-1 xzt:in? ylo:-128-255 yhi:-128-255",
    anyType: true,
    check: (c) => {
      const { N, H, W, C, OH, OW, M, KH, KW, SH, SW, PT, PL, DH, DW, G, xz, xs, yz, ys, MC, int32, ylo, yhi } = c.v as Record<string, number>;
      req(G >= 1 && C % G === 0 && M % G === 0 && M >= 1, `channels ${C} -> ${M} must be positive multiples of group ${G}`);
      req(G === attrInt(c.k, "group", 1), `group ${G} differs from the attributes'`);
      window2d(c, { H, W, OH, OW, KH, KW, SH, SW, PT, PL, DH, DW }, false);
      shapeIs(c, "X", [N, H, W, C]);
      shapeIs(c, "Y", [N, OH, OW, M]);
      eightBit(c, "X", xs, xz);
      if (int32) dtypeIs(c, "Y", "int32"); else eightBit(c, "Y", ys, yz);
      if (int32) req(ylo === 0 && yhi === 0, "an int32 output has no range words"); else outputRange(ys, ylo, yhi);
      if (c.t.xzt) {
        dtypeIs(c, "xzt", xs ? "int8" : "uint8");
        req(xz === 0, "a zero point tensor and a zero point word both");
      }
      dtypeIs(c, "W", "int8");
      dtypeIs(c, "bias", "int32");
      dtypeIs(c, "colsum", "int32");
      dtypeIs(c, "mult", "float32");
      const P = N * OH * OW;
      const K = KH * KW * (C / G), Kq = ceil(K, 4) * 4;
      const panels = ceil(M / G, NR);
      req(P >= 1, "the output is empty");
      req(MC >= 1 && MC <= ceil(P, 4) * 4, `MC ${MC} must be in 1..${ceil(P, 4) * 4} (pixels per block)`);
      return {
        bytes: { X: N * H * W * C, W: G * panels * Kq * NR, bias: 4 * G * panels * NR, colsum: 4 * G * panels * NR,
          mult: 4 * G * panels * NR, Y: (int32 ? 4 : 1) * P * M, xzt: 1 },
        stack: 2 * MC * Kq, // int16 col[MC * Kq]
      };
    },
  },
  // QLinearConv with group = C = M on 8-bit NHWC tensors: int16 taps [KH*KW][Cp], int32 bias and f32 multipliers [Cp].
  qdwconv2d_nhwc_x8: {
    params: "X:in W:in bias:in mult:in Y:out N H W C OH OW KH KW SH SW PT PL DH DW xz:-128-255 xs:0-1 yz:-128-255 ys:0-1 ylo:-128-255 yhi:-128-255",
    anyType: true,
    check: (c) => {
      const { N, H, W, C, OH, OW, KH, KW, SH, SW, PT, PL, DH, DW, xz, xs, yz, ys, ylo, yhi } = c.v as Record<string, number>;
      req(C >= 1 && C === attrInt(c.k, "group", 1), `group ${attrInt(c.k, "group", 1)} is not the ${C} channels`);
      window2d(c, { H, W, OH, OW, KH, KW, SH, SW, PT, PL, DH, DW }, false);
      shapeIs(c, "X", [N, H, W, C]);
      shapeIs(c, "Y", [N, OH, OW, C]);
      eightBit(c, "X", xs, xz);
      eightBit(c, "Y", ys, yz);
      outputRange(ys, ylo, yhi);
      dtypeIs(c, "W", "int16");
      dtypeIs(c, "bias", "int32");
      dtypeIs(c, "mult", "float32");
      const Cp = ceil(C, NR) * NR;
      return { bytes: { X: N * H * W * C, W: 2 * KH * KW * Cp, bias: 4 * Cp, mult: 4 * Cp, Y: N * OH * OW * C } };
    },
  },
  // QLinearAdd of two same-shape 8-bit tensors: scales (float) and zero points of A, B and Y.
  qadd_x8: {
    params: "A:in B:in Y:out n as:f az:-128-255 asg:0-1 bs:f bz:-128-255 bsg:0-1 ys:f yz:-128-255 ysg:0-1",
    anyType: true,
    check: (c) => {
      const { n, az, asg, bz, bsg, yz, ysg } = c.v as Record<string, number>;
      eightBit(c, "A", asg, az);
      eightBit(c, "B", bsg, bz);
      eightBit(c, "Y", ysg, yz);
      return { bytes: { A: n, B: n, Y: n } };
    },
  },
  // Pad of an NHWC tensor's spatial axes: constant / reflect / edge / wrap (mode 0..3), the constant's value.
  pad2d_nhwc_x32: {
    params: "X:in Y:out N H W C OH OW PT PL mode:0-3 value:f",
    check: (c) => {
      const { N, H, W, C, OH, OW, PT, PL, mode } = c.v as Record<string, number>;
      const pads = attrInts(c.k, "pads", []);
      const modes = ["constant", "reflect", "edge", "wrap"];
      req(pads.length === 8 && pads.every((v) => v >= 0) && pads[0] === 0 && pads[1] === 0 && pads[4] === 0 && pads[5] === 0,
        `attribute pads ${JSON.stringify(pads)} is not a non-negative padding of the spatial axes of a 4-D tensor`);
      req(PT === pads[2] && PL === pads[3] && OH === H + pads[2]! + pads[6]! && OW === W + pads[3]! + pads[7]!,
        `the output ${OH}x${OW} and pads ${PT}, ${PL} are not what the attributes' pads ${JSON.stringify(pads)} make of ${H}x${W}`);
      req((c.k.attrs.mode ?? "constant") === modes[mode], `mode ${mode} is not the attributes' ${JSON.stringify(c.k.attrs.mode)}`);
      req(mode === 0 || (H >= 1 && W >= 1), "a reflect, edge or wrap pad of an empty axis");
      shapeIs(c, "X", [N, H, W, C]);
      shapeIs(c, "Y", [N, OH, OW, C]);
      return { bytes: { X: 4 * N * H * W * C, Y: 4 * N * OH * OW * C } };
    },
  },
  // ReduceMin / ReduceMax (mode 0 / 1) of all n elements of X into Y's one value.
  reduce_all_f32: {
    params: "X:in Y:out n mode:0-1",
    check: (c) => {
      const { n, mode } = c.v as Record<string, number>;
      req(n >= 1, "n must be >= 1");
      req(mode === (c.k.op === "ReduceMax" ? 1 : 0), `mode ${mode} is not that of ${c.k.op}`);
      return { bytes: { X: 4 * n, Y: 4 } };
    },
  },
  // Cast between float32, uint8, int8 and int32 (type codes 0..3), n elements, any layout.
  cast: {
    params: "X:in Y:out n from:0-3 to:0-3",
    anyType: true,
    check: (c) => {
      const { n, from, to } = c.v as Record<string, number>;
      const types = ["float32", "uint8", "int8", "int32"];
      req(from !== to, "casts a type to itself");
      dtypeIs(c, "X", types[from]!);
      dtypeIs(c, "Y", types[to]!);
      const size = [4, 1, 1, 4];
      return { bytes: { X: size[from]! * n, Y: size[to]! * n } };
    },
  },
  // MaxPool on an 8-bit NHWC tensor.
  maxpool2d_nhwc_x8: {
    params: "X:in Y:out N H W C OH OW KH KW SH SW PT PL DH DW signed:0-1",
    anyType: true,
    check: (c) => {
      const { N, H, W, C, OH, OW, KH, KW, SH, SW, PT, PL, DH, DW } = c.v as Record<string, number>;
      req(c.k.op === "MaxPool", `runs MaxPool, not ${c.k.op}`);
      window2d(c, { H, W, OH, OW, KH, KW, SH, SW, PT, PL, DH, DW }, attrInt(c.k, "ceil_mode", 0) === 1);
      shapeIs(c, "X", [N, H, W, C]);
      shapeIs(c, "Y", [N, OH, OW, C]);
      eightBit(c, "X", c.v.signed!, 0);
      eightBit(c, "Y", c.v.signed!, 0);
      return { bytes: { X: N * H * W * C, Y: N * OH * OW * C } };
    },
  },
  pool2d_nhwc_f32: {
    params: "X:in Y:out N H W C OH OW KH KW SH SW PT PL PB PR DH DW mode:0-2",
    check: (c) => {
      const { N, H, W, C, OH, OW, KH, KW, SH, SW, PT, PL, PB, PR, DH, DW, mode } = c.v as Record<string, number>;
      const want = c.k.op === "MaxPool" ? 0 : attrInt(c.k, "count_include_pad", 0) ? 1 : 2;
      req(mode === want, `mode ${mode} is not that of ${c.k.op} with these attributes (${want})`);
      window2d(c, { H, W, OH, OW, KH, KW, SH, SW, PT, PL, DH, DW, PB, PR }, attrInt(c.k, "ceil_mode", 0) === 1);
      shapeIs(c, "X", [N, H, W, C]);
      shapeIs(c, "Y", [N, OH, OW, C]);
      return { bytes: { X: 4 * N * H * W * C, Y: 4 * N * OH * OW * C } };
    },
  },
  // Global average (mode 1) / max (mode 0) pool over HW.
  global_pool_nhwc_f32: {
    params: "X:in Y:out N HW C mode:0-1",
    check: (c) => {
      const { N, HW, C, mode } = c.v as Record<string, number>;
      req(mode === (c.k.op === "GlobalMaxPool" ? 0 : 1), `mode ${mode} is not that of ${c.k.op}`);
      req(HW >= 1, "HW must be >= 1");
      const x = c.t.X;
      if (x) req(x.shape.length === 4 && x.shape[0] === N && x.shape[1]! * x.shape[2]! === HW && x.shape[3] === C, `X has shape ${show(x.shape)}, the parameters say ${N}, ${HW} pixels, ${C} channels`);
      return { bytes: { X: 4 * N * HW * C, Y: 4 * N * C } };
    },
  },
  // Y[d0..d3] = act(A op B), A and B read with element strides (0 broadcasts; innermost 0 or 1).
  binary_f32: {
    params: "A:in B:in Y:out op:0-3 d0 d1 d2 d3 a0 a1 a2 a3 b0 b1 b2 b3 act",
    check: (c) => {
      const v = c.v as Record<string, number>;
      req(v.op === BINARY[c.k.op], `operation ${v.op} is not that of ${c.k.op} (${BINARY[c.k.op]})`);
      const dims = [v.d0!, v.d1!, v.d2!, v.d3!];
      // an empty output is fine, but the kernel divides by the row length d3 once a thread has 4 rows
      req(v.d3! >= 1 || v.d0! * v.d1! * v.d2! < 4, `rows of d3 = 0 elements: ${v.d0! * v.d1! * v.d2!} of them would divide by zero`);
      req(v.a3! <= 1 && v.b3! <= 1, "the innermost strides must be 0 or 1");
      // an empty call still takes each row's first operand element: its rows must not move
      if (dims.includes(0)) req([0, 1, 2].every((i) => dims[i] === 1 || (v[`a${i}`] === 0 && v[`b${i}`] === 0)), "an empty call's row strides must be 0");
      return {
        bytes: { Y: 4 * prod(dims) },
        views: { A: { dims, strides: [v.a0!, v.a1!, v.a2!, v.a3!], broadcast: true }, B: { dims, strides: [v.b0!, v.b1!, v.b2!, v.b3!], broadcast: true } },
      };
    },
  },
  // Y = act(X), n elements; the activation is the call's op (its attrs.expr).
  unary_f32: {
    params: "X:in Y:out n act",
    check: (c) => {
      return { bytes: { X: 4 * c.v.n!, Y: 4 * c.v.n! } };
    },
  },
  // Softmax over rows of cols (the last axis).
  softmax_f32: {
    params: "X:in Y:out rows cols",
    check: ({ v, t }) => {
      req(v.cols! >= 1 || v.rows === 0, "cols must be >= 1 (rows of nothing would still be looped over)");
      if (t.X) req(t.X.shape.length > 0 && t.X.shape[t.X.shape.length - 1] === v.cols, `cols ${v.cols} is not X's last dim (shape ${show(t.X.shape)})`);
      return { bytes: { X: 4 * v.rows! * v.cols!, Y: 4 * v.rows! * v.cols! } };
    },
  },
  // LayerNormalization over rows of cols; gamma/beta [cols].
  layernorm_f32: {
    params: "X:in G:in B:in? Y:out rows cols eps:f",
    check: ({ v, t, k }) => {
      const { rows, cols } = v as Record<string, number>;
      req(cols >= 1 || rows === 0, "cols must be >= 1 (rows of nothing would still be looped over)");
      if (t.X) {
        const r = t.X.shape.length;
        const a = attrInt(k, "axis", -1);
        req(a >= -r && a < r, `attribute axis ${a} is outside X's ${r} dims`);
        const inner = prod(t.X.shape.slice(a < 0 ? a + r : a));
        req(cols === inner, `cols ${cols} is not the ${inner} elements normalized per row of X (shape ${show(t.X.shape)}, axis ${a})`);
      }
      return { bytes: { X: 4 * rows * cols, G: 4 * cols, B: 4 * cols, Y: 4 * rows * cols } };
    },
  },
  // LayerNormalization over H, W (axis 2) of an NCHW tensor, on its NHWC twin X [N, HW, C], gamma / beta per pixel;
  // or InstanceNormalization (perChannel), gamma / beta per channel.
  layernorm_spatial_nhwc_f32: {
    params: "X:in G:in B:in? Y:out N HW C eps:f perChannel:0-1",
    check: ({ v, t, k }) => {
      const { N, HW, C, perChannel } = v as Record<string, number>;
      req(perChannel === (k.op === "InstanceNormalization" ? 1 : 0), `perChannel ${perChannel} is not that of ${k.op}`);
      req(k.op === "InstanceNormalization" || attrInt(k, "axis", -1) === 2, "normalizes the spatial axes (attribute axis 2) only");
      req(C >= 4 && C % 4 === 0 && HW >= 1, `C ${C} must be a positive multiple of 4, HW ${HW} positive`);
      if (t.X) req(t.X.shape.length === 4 && t.X.shape[0] === N && t.X.shape[1]! * t.X.shape[2]! === HW && t.X.shape[3] === C,
        `X's shape ${show(t.X.shape)} is not [${N}, H, W, ${C}] with H * W = ${HW}`);
      const g = perChannel ? C : HW;
      return { bytes: { X: 4 * N * HW * C, G: 4 * g, B: 4 * g, Y: 4 * N * HW * C } };
    },
  },
  // Gelu (mode 0) or Erf (mode 1), n elements.
  gelu_f32: {
    params: "X:in Y:out n mode:0-1",
    check: (c) => {
      req(c.v.mode === (c.k.op === "Erf" ? 1 : 0), `mode ${c.v.mode} is not that of ${c.k.op}`);
      return { bytes: { X: 4 * c.v.n!, Y: 4 * c.v.n! } };
    },
  },
  // NCHW <-> NHWC: per batch, X[rows][cols] -> Y[cols][rows] (32-bit or 8-bit elements).
  transpose_2d_x32: transpose2d(4),
  transpose_2d_x8: transpose2d(1),
  // Concat: for each of `outer` rows, the inputs' inner byte runs one after another.
  concat: {
    params: "Y:out outer yinner n",
    rest: { params: "X:in inner", count: "n" },
    anyType: true,
    check: ({ v, t, k }) => {
      const { outer, yinner, n } = v as Record<string, number>;
      req(n >= 1, "n must be >= 1");
      const bytes: Record<string, number> = { Y: outer * yinner };
      let sum = 0;
      for (let i = 0; i < n; i++) {
        const inner = v[`inner${i}`]!;
        bytes[`X${i}`] = outer * inner;
        sum += inner;
      }
      req(sum === yinner, `the inputs' inner bytes add up to ${sum}, not yinner = ${yinner}`);
      const y = t.Y;
      if (y) {
        const axis = attrInt(k, "axis", 0);
        req(axis >= 0 && axis < y.shape.length, `attribute axis ${axis} is outside Y's ${y.shape.length} dims`);
        const item = itemSize(y.dtype);
        req(outer === prod(y.shape.slice(0, axis)) && yinner === prod(y.shape.slice(axis)) * item, `outer ${outer} and yinner ${yinner} do not split Y (shape ${show(y.shape)}) at axis ${axis}`);
        for (let i = 0; i < n; i++) {
          const x = t[`X${i}`];
          if (x) req(x.dtype === y.dtype && v[`inner${i}`] === prod(x.shape.slice(axis)) * item, `input ${i} (shape ${show(x.shape)}, ${x.dtype}) does not have ${v[`inner${i}`]} bytes per row at axis ${axis}`);
        }
      }
      return { bytes };
    },
  },
  // Y (contiguous, dims d0..d5) = X read with element strides s0..s5; 1-, 2-, 4- or 8-byte elements.
  transpose_any: {
    params: "X:in Y:out esz d0 d1 d2 d3 d4 d5 s0 s1 s2 s3 s4 s5",
    anyType: true,
    check: ({ v, t, k }) => {
      const dims = [0, 1, 2, 3, 4, 5].map((i) => v[`d${i}`]!);
      const strides = [0, 1, 2, 3, 4, 5].map((i) => v[`s${i}`]!);
      const x = t.X, y = t.Y;
      if (x && y) {
        req(v.esz === itemSize(x.dtype) && x.dtype === y.dtype, `element size ${v.esz} does not match ${x.dtype} -> ${y.dtype}`);
        // the dims and strides must be those the converter derives from X's shape and perm
        const perm = attrInts(k, "perm", x.shape.map((_, i) => x.shape.length - 1 - i));
        req(perm.length === x.shape.length && [...perm].sort((a, b) => a - b).every((p, i) => p === i), `perm ${show(perm)} is not a permutation of X's ${x.shape.length} dims`);
        req(sameShape(y.shape, perm.map((p) => x.shape[p]!)), `Y's shape ${show(y.shape)} is not X's ${show(x.shape)} permuted by ${show(perm)}`);
        // compared as the reads they make, not as written: a dim of 1 is no axis, and adjacent axes
        // that step as one are one (a model with symbolic dims keeps, at a size where a symbol is
        // 1, the axis the converter could not know would be 1)
        const want = transposeParams(x.shape, perm);
        req(want !== null && sameSteps(dims, strides, want[0], want[1]), `dims ${show(dims)} and strides ${show(strides)} are not those of X's shape ${show(x.shape)} permuted by ${show(perm)}`);
      }
      return { bytes: { Y: v.esz! * prod(dims) }, views: { X: { dims, strides, broadcast: false } } };
    },
  },
  // C[b][m][n] = alpha * A[b] x B[b] (+ R), optional softmax over rows; every operand strided.
  bmm_f32: {
    params: "A:in B:in C:out R:in? d0 d1 M N K sA0 sA1 sAm sAk sB0 sB1 sBk sBn sC0 sC1 sCm sR0 sR1 sRm sRn alpha:f flags:0-1 NC",
    check: ({ v, k }) => {
      const { d0, d1, M, N, K, flags, NC } = v as Record<string, number>;
      req(d0 >= 1 && d1 >= 1 && M >= 1 && N >= 1 && K >= 1, "batch dims, M, N and K must be >= 1");
      req(NC >= NR && NC % NR === 0 && NC <= ceil(N, NR) * NR, `NC ${NC} must be a multiple of ${NR} in ${NR}..${ceil(N, NR) * NR}`);
      req(!(flags & 1) || NC >= N, `the fused softmax needs whole rows: NC ${NC} < N ${N}`);
      req(flags === (k.attrs.softmax === true ? 1 : 0), `flags ${flags} differ from attrs.softmax ${JSON.stringify(k.attrs.softmax)}`);
      const alpha = k.attrs.alpha ?? 1;
      req(Math.fround(v.alpha!) === Math.fround(Number(alpha)), `alpha ${v.alpha} differs from attrs.alpha ${JSON.stringify(alpha)}`);
      const s = (name: string) => v[name]!;
      const view = (inner: [number, number], strides: number[], broadcast: boolean): View => ({ dims: [d0, d1, ...inner], strides, broadcast });
      return {
        views: {
          A: view([M, K], [s("sA0"), s("sA1"), s("sAm"), s("sAk")], true),
          B: view([K, N], [s("sB0"), s("sB1"), s("sBk"), s("sBn")], true),
          C: view([M, N], [s("sC0"), s("sC1"), s("sCm"), 1], false), // softmax rows need n contiguous
          R: view([M, N], [s("sR0"), s("sR1"), s("sRm"), s("sRn")], true),
        },
        stack: 4 * NC * K, // f32 packed[NC * K]
      };
    },
  },
};

/** transpose_any's (dims, strides) for `shape` permuted by `perm`: adjacent axes merged, padded to 6 (lower.py's transpose_params). */
function transposeParams(shape: readonly number[], perm: readonly number[]): [number[], number[]] | null {
  const xs = shape.map((_, i) => prod(shape.slice(i + 1)));
  const dims: number[] = [];
  const st: number[] = [];
  for (const p of perm) {
    const d = shape[p]!, s = xs[p]!;
    if (d === 1) continue;
    if (dims.length && st[st.length - 1] === s * d) {
      dims[dims.length - 1]! *= d;
      st[st.length - 1] = s;
      continue;
    }
    dims.push(d);
    st.push(s);
  }
  if (dims.length > 6) return null;
  const pad = 6 - dims.length;
  return [[...new Array<number>(pad).fill(1), ...dims], [...new Array<number>(pad).fill(0), ...st]];
}

/** (dims, strides) in canonical form: axes of 1 dropped, each axis merged into the one outside it
 *  when that one's stride is its stride times its dim (together they step as one axis). null:
 *  empty (a dim of 0, nothing read). Two strided walks (outer axes first, row-major output order)
 *  read the same elements in the same order exactly when their canonical forms are equal. */
function canonicalSteps(dims: readonly number[], strides: readonly number[]): [number[], number[]] | null {
  if (dims.includes(0)) return null;
  const d: number[] = [];
  const s: number[] = [];
  dims.forEach((n, i) => {
    if (n === 1) return;
    const st = strides[i]!;
    if (d.length && s[s.length - 1] === st * n) {
      d[d.length - 1]! *= n;
      s[s.length - 1] = st;
      return;
    }
    d.push(n);
    s.push(st);
  });
  return [d, s];
}

/** Do two (dims, strides) make the same reads (canonicalSteps)? */
function sameSteps(dims: readonly number[], strides: readonly number[], wantDims: readonly number[], wantStrides: readonly number[]): boolean {
  const a = canonicalSteps(dims, strides);
  const b = canonicalSteps(wantDims, wantStrides);
  if (a === null || b === null) return a === b;
  return sameShape(a[0], b[0]) && sameShape(a[1], b[1]);
}

/**
 * A strided view of a tensor of `elements` elements: every offset inside it, and the axes that are
 * not broadcast (stride 0, allowed only when `broadcast`) tile it exactly, i.e. sorted by stride each
 * stride is the product of the dims below (a permuted row-major layout), the last product the size.
 */
function checkView(view: View, elements: number): void {
  if (view.dims.includes(0)) return; // an empty view touches nothing
  const axes = view.dims.map((d, i) => [d, view.strides[i]!] as const).filter(([d]) => d > 1);
  const moving = axes.filter(([, s]) => s !== 0).sort((a, b) => a[1] - b[1]);
  req(view.broadcast || moving.length === axes.length, `strides ${show(view.strides)} repeat elements of an output (dims ${show(view.dims)})`);
  let next = 1;
  for (const [d, s] of moving) {
    req(s === next, `strides ${show(view.strides)} with dims ${show(view.dims)} do not tile a tensor of ${elements} elements`);
    next *= d;
  }
  req(next === elements, `dims ${show(view.dims)} with strides ${show(view.strides)} cover ${next} elements of a tensor of ${elements}`);
}

// ---- the checker -------------------------------------------------------------------------------
// actA: a float (a clamp's lower bound) or, for a program, {program: "activation" | "expr"}
type Slot = { name: string; kind: "in" | "out" | "in?" | "int" | "f" | "actA"; lo?: number; hi?: number };

function slots(spec: string, suffix = ""): Slot[] {
  return spec.split(" ").flatMap((tok): Slot[] => {
    if (tok === "act") return [{ name: "act", kind: "int", lo: 0, hi: 2 }, { name: "actA", kind: "actA" }, { name: "actB", kind: "f" }];
    const [name, kind] = tok.split(":") as [string, string | undefined];
    const range = kind?.match(/^(-?\d+)-(-?\d+)$/);
    if (range) return [{ name: name + suffix, kind: "int", lo: Number(range[1]), hi: Number(range[2]) }];
    return [{ name: name + suffix, kind: (kind ?? "int") as Slot["kind"] }];
  });
}

const PARSED = new Map<string, Slot[]>(Object.entries(SCHEMA).map(([fn, s]) => [fn, slots(s.params)]));

function readFloat(p: unknown): number | null {
  if (typeof p !== "object" || p === null || Object.keys(p).length !== 1 || !("f" in p)) return null;
  const f = (p as { f: unknown }).f;
  if (typeof f === "number" && Number.isFinite(f)) return f;
  return f === "Infinity" ? Infinity : f === "-Infinity" ? -Infinity : f === "NaN" ? NaN : null;
}

/** The tensor of an address parameter {in: i} / {out: i} (or null for an optional 0). */
function readAddress(p: unknown, slot: Slot, k: KernelSpec, tensors: readonly TensorSpec[]): TensorSpec | null {
  if (slot.kind === "in?" && p === 0) return null;
  const dir = slot.kind === "out" ? "out" : "in";
  req(typeof p === "object" && p !== null && Object.keys(p).length === 1 && dir in p, `must be {${dir}: i}${slot.kind === "in?" ? " or 0" : ""}, got ${JSON.stringify(p)}`);
  const i = (p as Record<string, unknown>)[dir];
  const list = dir === "in" ? k.inputs : k.outputs;
  req(Number.isInteger(i) && (i as number) >= 0 && (i as number) < list.length && list[i as number]! >= 0, `${JSON.stringify(p)} names no ${dir === "in" ? "input" : "output"} of the call`);
  return tensors[list[i as number]!]!;
}

/** Checks every wasm call's parameters against SCHEMA and the stack the descriptor declares; throws a
 *  DescriptorError naming the kernel, the parameter and the mismatch. */
export function checkWasmParams(desc: Descriptor): void {
  let stackNeed = 0;
  // The ops that run as JavaScript kernels (no wasm kernel, or not for these operands) are listed;
  // any other call without attrs.wasm would run a JS kernel on operands laid out for a wasm one
  // (NHWC activations, packed weights).
  const js = desc.jsKernels;
  if (!Array.isArray(js) || !js.every((x) => typeof x === "string")) {
    throw new DescriptorError(`descriptor for backend wasm: jsKernels ${JSON.stringify(js)} is not a list of op types. Re-convert the model with the matching webdnn version.`);
  }
  desc.kernels.forEach((k, index) => {
    const spec = k.attrs.wasm as { fn?: unknown; params?: unknown } | undefined;
    let where = `kernel '${k.name}' (${k.op}, kernels[${index}])`;
    if (spec === undefined) {
      if (!js.includes(k.op)) throw new DescriptorError(`${where} has no attrs.wasm, but ${k.op} is not among the descriptor's JavaScript kernels (jsKernels). Re-convert the model with the matching webdnn version.`);
      return;
    }
    if (typeof spec !== "object" || spec === null || typeof spec.fn !== "string" || !Array.isArray(spec.params)) {
      throw new DescriptorError(`${where}: attrs.wasm needs fn and params`);
    }
    const schema = SCHEMA[spec.fn];
    if (!schema || !Object.prototype.hasOwnProperty.call(SCHEMA, spec.fn)) {
      throw new DescriptorError(`${where}: the wasm kernel library has no function '${spec.fn}'; update the webdnn runtime`);
    }
    where += ` wasm ${spec.fn}`;
    const params = spec.params as unknown[];
    const call: Call = { v: {}, t: {}, k };
    let layout = PARSED.get(spec.fn)!;
    let at = 0;
    try {
      const read = (list: Slot[]) => {
        for (const slot of list) {
          const p = params[at];
          try {
            req(at < params.length, "is missing");
            if (slot.kind === "actA" && typeof p === "object" && p !== null && "program" in p) {
              req(Object.keys(p).length === 1, `must be {program: ref}, got ${JSON.stringify(p)}`);
              call.program = (p as { program: unknown }).program;
              call.v[slot.name] = 0;
            } else if (slot.kind === "f" || slot.kind === "actA") {
              const f = readFloat(p);
              req(f !== null, `must be {f: a number, "Infinity", "-Infinity" or "NaN"}, got ${JSON.stringify(p)}`);
              call.v[slot.name] = f;
            } else if (slot.kind === "int") {
              const lo = slot.lo ?? 0, hi = slot.hi ?? INT32_MAX;
              req(Number.isInteger(p) && (p as number) >= lo && (p as number) <= hi, `must be an integer in ${lo}..${hi}, got ${JSON.stringify(p)}`);
              call.v[slot.name] = p as number;
            } else {
              call.t[slot.name] = readAddress(p, slot, k, desc.tensors);
            }
          } catch (e) {
            if (e instanceof Bad) throw new Bad(`parameter ${at} (${slot.name}) ${e.message}`);
            throw e;
          }
          at++;
        }
      };
      read(layout);
      if (schema.rest) {
        const n = call.v[schema.rest.count]!;
        req(n <= params.length, `${schema.rest.count} ${n} exceeds the parameter count`);
        for (let i = 0; i < n; i++) {
          const group = slots(schema.rest.params, String(i));
          layout = [...layout, ...group];
          read(group);
        }
      }
      req(params.length === layout.length, `has ${params.length} parameters, ${spec.fn} takes ${layout.length}`);
      // The addresses name the call's inputs and outputs in order, each once (the converter's
      // layout): another order would be another model, a skipped one an unused operand.
      const next = { in: 0, out: 0 };
      layout.forEach((slot, j) => {
        if (slot.kind === "int" || slot.kind === "f" || slot.kind === "actA" || params[j] === 0) return;
        const dir = slot.kind === "out" ? "out" : "in";
        const i = (params[j] as Record<string, number>)[dir];
        req(i === next[dir], `parameter ${j} (${slot.name}) is {${dir}: ${i}}, the call's ${dir === "in" ? "input" : "output"} ${next[dir]} comes there`);
        next[dir]++;
      });
      req(next.in === k.inputs.length && next.out === k.outputs.length, `the parameters use ${next.in} inputs and ${next.out} outputs, the call has ${k.inputs.length} and ${k.outputs.length}`);
      if (layout.some((slot) => slot.name === "act")) activation(call, spec.fn === "unary_f32" ? "expr" : "activation");
      const fp = schema.check(call);
      for (const [name, t] of Object.entries(call.t)) {
        if (!t) continue;
        req(schema.anyType || t.dtype === "float32", `${name} is tensor '${t.name}' of ${t.dtype}; ${spec.fn} reads and writes float32`);
        const view = fp.views?.[name];
        if (view) {
          try {
            checkView(view, t.byteLength / itemSize(t.dtype));
          } catch (e) {
            if (e instanceof Bad) throw new Bad(`${name} (tensor '${t.name}', shape ${show(t.shape)}): ${e.message}`);
            throw e;
          }
          continue;
        }
        const want = fp.bytes?.[name];
        req(want === t.byteLength, `${name} is tensor '${t.name}' of ${t.byteLength} bytes, but the parameters make the kernel ${layout.find((s) => s.name === name)?.kind === "out" ? "write" : "read"} ${want} bytes there`);
      }
      stackNeed = Math.max(stackNeed, fp.stack ?? 0);
    } catch (e) {
      if (e instanceof Bad) throw new DescriptorError(`${where}: ${e.message}. Re-convert the model with the matching webdnn version.`);
      throw e;
    }
  });
  const declared = (desc.wasm as { stackBytes?: unknown } | undefined)?.stackBytes ?? 0;
  if (typeof declared !== "number" || !Number.isSafeInteger(declared) || declared < stackNeed || declared > MAX_STACK_BYTES) {
    throw new DescriptorError(`descriptor for backend wasm: wasm.stackBytes ${JSON.stringify(declared)} is not the kernels' per-thread stack need or more ` +
      `(they need ${stackNeed} bytes; at most ${MAX_STACK_BYTES} may be declared). Re-convert the model with the matching webdnn version.`);
  }
}
