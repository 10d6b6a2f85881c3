// Quantized convolution (QLinearConv) in NHWC on 8-bit tensors, SIMD128 integer math:
// Y = saturate(round((sum_k (x - x_zero_point) * w + bias) * multiplier[m]) + y_zero_point),
// as ONNX defines it, with exact int32 sums (one rounding, in the requantization).
//
// Each block of MC output pixels is first written into a per-thread scratch as int16 rows of
// (x - x_zero_point), im2col order k = (ky, kx, ci), K padded to even with zeros (padding taps are
// zeros too: the zero point, centered). The weights are packed at conversion into NR = 8 column
// panels of int8 pairs, Wp[panel][k / 2][8 columns][2]: one 16-byte load gives two i16x8 vectors
// (columns 0-3 and 4-7, k and k + 1 interleaved), and i32x4.dot_i16x8_s against a 32-bit splat of
// the row's (x[k], x[k + 1]) adds both products into each column's int32 accumulator. Engines with
// AVX-VNNI fuse the dot and the add into one vpdpwssd; the measured peak is in docs/backends/wasm.md.
#include "gemm_grid.h"

#define QMR 4  // rows per register tile (6 spilled: 25% slower on ResNet50 in Node)

typedef struct { f32 zero, lo, hi; int is_signed; } Requant;

/** One MR x NR tile: rows a[0..mr) (int16, lda apart) against the panel `w`, requantized into y. */
static void qtile(int mr, int nc, int K2, const int16_t *a, int lda, const int8_t *w, const int32_t *bias,
                  const f32 *mult, uint8_t *y, int ldy, const Requant *rq) {
  const int16_t *ar[QMR];
  ar[0] = a;
#pragma clang loop unroll(full)
  for (int i = 1; i < QMR; i++) ar[i] = mr > i ? ar[i - 1] + lda : ar[i - 1];
  v128_t acc[QMR][2];
  v128_t b0 = wasm_v128_load(bias), b1 = wasm_v128_load(bias + 4);
#pragma clang loop unroll(full)
  for (int i = 0; i < QMR; i++) { acc[i][0] = b0; acc[i][1] = b1; }
  for (int k2 = 0; k2 < K2; k2++) {
    v128_t wv = wasm_v128_load(w + 16 * k2);
    v128_t w0 = wasm_i16x8_extend_low_i8x16(wv), w1 = wasm_i16x8_extend_high_i8x16(wv);
#pragma clang loop unroll(full)
    for (int i = 0; i < QMR; i++) {
      v128_t s = wasm_v128_load32_splat(ar[i] + 2 * k2);
      acc[i][0] = wasm_i32x4_add(acc[i][0], wasm_i32x4_dot_i16x8(s, w0));
      acc[i][1] = wasm_i32x4_add(acc[i][1], wasm_i32x4_dot_i16x8(s, w1));
    }
  }
  v4 m0 = wasm_v128_load(mult), m1 = wasm_v128_load(mult + 4);
  v4 z = wasm_f32x4_splat(rq->zero), lo = wasm_f32x4_splat(rq->lo), hi = wasm_f32x4_splat(rq->hi);
#pragma clang loop unroll(full)
  for (int i = 0; i < QMR; i++) {
    if (i >= mr) continue;
    v4 r0 = wasm_f32x4_mul(wasm_f32x4_convert_i32x4(acc[i][0]), m0);
    v4 r1 = wasm_f32x4_mul(wasm_f32x4_convert_i32x4(acc[i][1]), m1);
    r0 = wasm_f32x4_pmin(wasm_f32x4_pmax(wasm_f32x4_add(wasm_f32x4_nearest(r0), z), lo), hi);
    r1 = wasm_f32x4_pmin(wasm_f32x4_pmax(wasm_f32x4_add(wasm_f32x4_nearest(r1), z), lo), hi);
    v128_t h = wasm_i16x8_narrow_i32x4(wasm_i32x4_trunc_sat_f32x4(r0), wasm_i32x4_trunc_sat_f32x4(r1));
    v128_t q = rq->is_signed ? wasm_i8x16_narrow_i16x8(h, h) : wasm_u8x16_narrow_i16x8(h, h);
    uint8_t *yi = y + (long)i * ldy;
    if (nc == NR) {
      wasm_v128_store64_lane(yi, q, 0);
    } else {
      uint8_t t[16];
      wasm_v128_store(t, q);
      for (int j = 0; j < nc; j++) yi[j] = t[j];
    }
  }
}

/** rows x K of group g's im2col, centered, as int16 rows of Kp (even) elements at col. */
static void pack_rows(int16_t *col, int Kp, const uint8_t *X, int x_signed, int zx, int m0, int rows, int g, int H,
                      int W, int C, int Cg, int OH, int OW, int KH, int KW, int SH, int SW, int PT, int PL, int DH,
                      int DW) {
  int K = KH * KW * Cg;
  for (int i = 0; i < rows; i++) {
    int pix = m0 + i, n = pix / (OH * OW), rem = pix % (OH * OW), oy = rem / OW, ox = rem % OW;
    int16_t *dst = col + (long)i * Kp;
    const uint8_t *xn = X + (long)n * H * W * C + g * Cg;
    for (int ky = 0; ky < KH; ky++) {
      int iy = oy * SH - PT + ky * DH;
      for (int kx = 0; kx < KW; kx++, dst += Cg) {
        int ix = ox * SW - PL + kx * DW;
        if (iy < 0 || iy >= H || ix < 0 || ix >= W) {
          __builtin_memset(dst, 0, Cg * sizeof(int16_t));
          continue;
        }
        const uint8_t *src = xn + ((long)iy * W + ix) * C;
        v128_t vz = wasm_i16x8_splat((int16_t)zx);
        int c = 0;
        for (; c + 8 <= Cg; c += 8) {
          v128_t b = wasm_v128_load64_zero(src + c);
          v128_t wide = x_signed ? wasm_i16x8_extend_low_i8x16(b) : wasm_u16x8_extend_low_u8x16(b);
          wasm_v128_store(dst + c, wasm_i16x8_sub(wide, vz));
        }
        for (; c < Cg; c++) dst[c] = (int16_t)((x_signed ? (int)(int8_t)src[c] : (int)src[c]) - zx);
      }
    }
    if (Kp > K) dst[0] = 0;  // the even padding of K
  }
}

// qconv2d_nhwc_x8: Y[N,OH,OW,M] (8-bit) = QLinearConv(X[N,H,W,C] (8-bit), W) with groups, strides, pads, dilations.
// p: 0 X, 1 Wpacked (int8, [group][panel][Kp/2][8][2], Kp = K rounded up to even, K = KH*KW*Cg, k = (ky, kx, ci)),
//    2 bias (int32, [group][panels*8]), 3 multiplier (f32 x_scale*w_scale/y_scale, [group][panels*8]), 4 Y,
//    5 N, 6 H, 7 W, 8 C, 9 OH, 10 OW, 11 M, 12 KH, 13 KW, 14 SH, 15 SW, 16 PT, 17 PL, 18 DH, 19 DW, 20 group,
//    21 x zero point, 22 x signed, 23 y zero point, 24 y signed, 25 MC (output pixels per block)
// The packed block (MC * Kp int16 per thread) is declared by the converter as the call's stack need.
EXPORT(qconv2d_nhwc_x8) {
  const uint8_t *X = (const uint8_t *)pp(p, 0);
  const int8_t *Wp = (const int8_t *)pp(p, 1);
  const int32_t *bias = (const int32_t *)pp(p, 2);
  const f32 *mult = pp(p, 3);
  uint8_t *Y = (uint8_t *)pp(p, 4);
  int N = p[5], H = p[6], W = p[7], C = p[8], OH = p[9], OW = p[10], M = p[11];
  int KH = p[12], KW = p[13], SH = p[14], SW = p[15], PT = p[16], PL = p[17], DH = p[18], DW = p[19];
  int G = p[20], zx = p[21], x_signed = p[22], MC = p[25];
  Requant rq = {(f32)p[23], p[24] ? -128.f : 0.f, p[24] ? 127.f : 255.f, p[24]};
  int Cg = C / G, Mg = M / G, K = KH * KW * Cg, Kp = K + (K & 1), panels = (Mg + NR - 1) / NR;
  int P = N * OH * OW;
  Grid gr = grid_of(P, MC, Mg, nthreads);
  int lo, hi;
  split(gr.blocks * gr.chunks, tid, nthreads, &lo, &hi);
  int16_t col[MC * Kp];
  int have = -1;  // (row block, group) packed in `col`
  for (int t = lo; t < hi; t++) {
    int b = t / gr.chunks, ch = t % gr.chunks;
    int m0 = b * MC, rows = imin(MC, P - m0);
    int j0 = ch * gr.panels_per_chunk * NR, j1 = imin(Mg, j0 + gr.panels_per_chunk * NR);
    for (int g = 0; g < G; g++) {
      if (have != b * G + g) {
        pack_rows(col, Kp, X, x_signed, zx, m0, rows, g, H, W, C, Cg, OH, OW, KH, KW, SH, SW, PT, PL, DH, DW);
        have = b * G + g;
      }
      for (int j = j0; j < j1; j += NR) {
        long pj = (long)g * panels + j / NR;
        const int8_t *w = Wp + pj * Kp * NR;
        for (int i = 0; i < rows; i += QMR) {
          qtile(imin(QMR, rows - i), imin(NR, j1 - j), Kp / 2, col + (long)i * Kp, Kp, w, bias + pj * NR,
                mult + pj * NR, Y + (long)(m0 + i) * M + g * Mg + j, M, &rq);
        }
      }
    }
  }
}
