// Quantized convolution (QLinearConv) in NHWC on 8-bit tensors, integer SIMD:
// Y = saturate(round((sum_k (x - x_zero_point) * w + bias) * multiplier[m]) + y_zero_point),
// as ONNX defines it, with exact int32 sums (one rounding, in the requantization).
//
// The int8 weights are packed at conversion into NR = 8 column panels of k quads,
// Wp[panel][K / 4][8 columns][4]. Each block of MC output pixels is first packed (im2col, k = (ky,
// kx, ci), K padded to a multiple of 4) into a per-thread scratch, then multiplied one of two ways:
//
// - dot8 (relaxed-SIMD builds, where the engine's i32x4.relaxed_dot_i8x16_i7x16_add_s multiplies
//   its second operand's bytes as unsigned and exactly: V8 on x86 with AVX-VNNI, vpdpbusd; checked
//   by usdot_exact() at each call, since the spec leaves bytes above 127 implementation-defined and
//   other lowerings saturate or read them as signed): the block as unsigned bytes (int8 x shifted by
//   128), padding at the zero point; one dot adds 4 products into each of 4 columns. The zero point
//   is taken out through the columns' weight sums: sum x*w - zero * sum w.
// - dot16 (everywhere else): the block as int16 x - x_zero_point (padding 0), i32x4.dot_i16x8_s of
//   a 64-bit splat of 4 of them against 2 columns x 4 k (an i16x8.extend of the quad), pairs of
//   lanes summed at the end. Engines with AVX-VNNI fuse the dot and its add (vpdpwssd).
#include "gemm_grid.h"
#include "requant_x8.h"

#define QMR 4   // dot8: rows per register tile (8 accumulators)
#define QMR16 2 // dot16: rows per register tile (8 accumulators: 2 columns each)

#ifdef __wasm_relaxed_simd__
/** Whether relaxed dot computes unsigned(second) x signed(first) bytes exactly, without saturating. */
static int usdot_exact(void) {
  static const int8_t a[16] = {127, 127, 127, 127, 127, 127, 127, 127, -128, -128, -128, -128, -128, -128, -128, -128};
  static const uint8_t b[16] = {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255};
  const volatile int8_t *va = a;  // read at run time: the result is the engine's, not the compiler's
  const volatile uint8_t *vb = b;
  v128_t x = wasm_i8x16_make(va[0], va[1], va[2], va[3], va[4], va[5], va[6], va[7], va[8], va[9], va[10], va[11],
                             va[12], va[13], va[14], va[15]);
  v128_t y = wasm_u8x16_make(vb[0], vb[1], vb[2], vb[3], vb[4], vb[5], vb[6], vb[7], vb[8], vb[9], vb[10], vb[11],
                             vb[12], vb[13], vb[14], vb[15]);
  v128_t r = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(x, y, wasm_i32x4_splat(0));
  return wasm_i32x4_extract_lane(r, 0) == 4 * 127 * 255 && wasm_i32x4_extract_lane(r, 3) == 4 * -128 * 255;
}

/** dot8 tile: rows a[0..mr) (unsigned bytes, lda apart) against the panel w; acc starts at (b0, b1). */
static void tile_dot8(int mr, int nc, int K4, const uint8_t *a, int lda, const int8_t *w, v128_t b0, v128_t b1,
                      v4 m0, v4 m1, uint8_t *y, int ldy, const Requant *rq) {
  const uint8_t *ar[QMR];
  ar[0] = a;
#pragma clang loop unroll(full)
  for (int i = 1; i < QMR; i++) ar[i] = mr > i ? ar[i - 1] + lda : ar[i - 1];
  v128_t acc[QMR][2];
#pragma clang loop unroll(full)
  for (int i = 0; i < QMR; i++) { acc[i][0] = b0; acc[i][1] = b1; }
  for (int q = 0; q < K4; q++, w += 32) {
    v128_t w0 = wasm_v128_load(w), w1 = wasm_v128_load(w + 16);
#pragma clang loop unroll(full)
    for (int i = 0; i < QMR; i++) {
      v128_t s = wasm_v128_load32_splat(ar[i] + 4 * q);
      acc[i][0] = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(w0, s, acc[i][0]);
      acc[i][1] = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(w1, s, acc[i][1]);
    }
  }
#pragma clang loop unroll(full)
  for (int i = 0; i < QMR; i++) {
    if (i < mr) requant_store(acc[i][0], acc[i][1], m0, m1, nc, y + (long)i * ldy, rq);
  }
}
#endif

/** (A0 + A1 of each lane pair, B likewise): 4 columns from two vectors of 2 columns x 2 partial sums. */
static inline v128_t pair_sums(v128_t a, v128_t b) {
  return wasm_i32x4_add(wasm_i32x4_shuffle(a, b, 0, 2, 4, 6), wasm_i32x4_shuffle(a, b, 1, 3, 5, 7));
}

/** dot16 tile: rows a[0..mr) (int16, lda apart) against the panel w; sums start at (b0, b1). */
static void tile_dot16(int mr, int nc, int K4, const int16_t *a, int lda, const int8_t *w, v128_t b0, v128_t b1,
                       v4 m0, v4 m1, uint8_t *y, int ldy, const Requant *rq) {
  const int16_t *ar[QMR16];
  ar[0] = a;
#pragma clang loop unroll(full)
  for (int i = 1; i < QMR16; i++) ar[i] = mr > i ? ar[i - 1] + lda : ar[i - 1];
  v128_t acc[QMR16][4];
#pragma clang loop unroll(full)
  for (int i = 0; i < QMR16; i++) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = wasm_i32x4_splat(0);
  for (int q = 0; q < K4; q++, w += 32) {
    v128_t v0 = wasm_v128_load(w), v1 = wasm_v128_load(w + 16);
    v128_t e[4] = {wasm_i16x8_extend_low_i8x16(v0), wasm_i16x8_extend_high_i8x16(v0), wasm_i16x8_extend_low_i8x16(v1),
                   wasm_i16x8_extend_high_i8x16(v1)};
#pragma clang loop unroll(full)
    for (int i = 0; i < QMR16; i++) {
      v128_t s = wasm_v128_load64_splat(ar[i] + 4 * q);
#pragma clang loop unroll(full)
      for (int j = 0; j < 4; j++) acc[i][j] = wasm_i32x4_add(acc[i][j], wasm_i32x4_dot_i16x8(s, e[j]));
    }
  }
#pragma clang loop unroll(full)
  for (int i = 0; i < QMR16; i++) {
    if (i >= mr) continue;
    v128_t s0 = wasm_i32x4_add(pair_sums(acc[i][0], acc[i][1]), b0);
    v128_t s1 = wasm_i32x4_add(pair_sums(acc[i][2], acc[i][3]), b1);
    requant_store(s0, s1, m0, m1, nc, y + (long)i * ldy, rq);
  }
}

typedef struct {
  const uint8_t *X;
  int x_signed, zx, H, W, C, Cg, OH, OW, KH, KW, SH, SW, PT, PL, DH, DW;
} Geometry;

/** rows x K of group g's im2col into rows of Kq (a multiple of 4) elements at col: int16 x - zx (wide), or
 *  the unsigned bytes (int8 x shifted by 128) with the zero point at padding taps (not wide). */
static void pack_rows(void *col, int Kq, int wide, const Geometry *gm, int m0, int rows, int g) {
  int Cg = gm->Cg;
  int flip = gm->x_signed ? 0x80 : 0, zu = gm->zx + (gm->x_signed ? 128 : 0);
  for (int i = 0; i < rows; i++) {
    int pix = m0 + i, n = pix / (gm->OH * gm->OW), rem = pix % (gm->OH * gm->OW), oy = rem / gm->OW, ox = rem % gm->OW;
    int16_t *d16 = (int16_t *)col + (long)i * Kq;
    uint8_t *d8 = (uint8_t *)col + (long)i * Kq;
    const uint8_t *xn = gm->X + (long)n * gm->H * gm->W * gm->C + g * Cg;
    int k = 0;
    for (int ky = 0; ky < gm->KH; ky++) {
      int iy = oy * gm->SH - gm->PT + ky * gm->DH;
      for (int kx = 0; kx < gm->KW; kx++, k += Cg) {
        int ix = ox * gm->SW - gm->PL + kx * gm->DW;
        int inside = iy >= 0 && iy < gm->H && ix >= 0 && ix < gm->W;
        const uint8_t *src = xn + ((long)iy * gm->W + ix) * gm->C;
        if (!wide) {
          if (!inside) {
            __builtin_memset(d8 + k, zu, Cg);
          } else if (!flip) {
            __builtin_memcpy(d8 + k, src, Cg);
          } else {
            int c = 0;
            for (; c + 16 <= Cg; c += 16)
              wasm_v128_store(d8 + k + c, wasm_v128_xor(wasm_v128_load(src + c), wasm_i8x16_splat((int8_t)0x80)));
            for (; c < Cg; c++) d8[k + c] = src[c] ^ 0x80;
          }
          continue;
        }
        if (!inside) {
          __builtin_memset(d16 + k, 0, Cg * sizeof(int16_t));
          continue;
        }
        v128_t vz = wasm_i16x8_splat((int16_t)gm->zx);
        int c = 0;
        for (; c + 8 <= Cg; c += 8) {
          v128_t b = wasm_v128_load64_zero(src + c);
          v128_t x = gm->x_signed ? wasm_i16x8_extend_low_i8x16(b) : wasm_u16x8_extend_low_u8x16(b);
          wasm_v128_store(d16 + k + c, wasm_i16x8_sub(x, vz));
        }
        for (; c < Cg; c++) d16[k + c] = (int16_t)((gm->x_signed ? (int)(int8_t)src[c] : (int)src[c]) - gm->zx);
      }
    }
    for (; k < Kq; k++) {  // the quad padding (its weights are 0)
      if (wide) d16[k] = 0; else d8[k] = (uint8_t)zu;
    }
  }
}

/** Which integer product qconv2d_nhwc_x8 uses in this engine: 8 (relaxed dot of bytes) or 16 (int16 dot);
 *  the runtime reports it (backendInfo.int8Dot). */
__attribute__((export_name("int8_dot_bits"))) int int8_dot_bits(void) {
#ifdef __wasm_relaxed_simd__
  return usdot_exact() ? 8 : 16;
#else
  return 16;
#endif
}

// qconv2d_nhwc_x8: Y[N,OH,OW,M] (8-bit) = QLinearConv(X[N,H,W,C] (8-bit), W) with groups, strides, pads, dilations.
// p: 0 X, 1 Wpacked (int8, [group][panel][Kq/4][8][4], Kq = K rounded up to a multiple of 4, K = KH*KW*Cg,
//    k = (ky, kx, ci)), 2 bias (int32, [group][panels*8]), 3 colsum (int32 sum over k of each column's weights,
//    [group][panels*8]), 4 multiplier (f32 x_scale*w_scale/y_scale, [group][panels*8]), 5 Y,
//    6 N, 7 H, 8 W, 9 C, 10 OH, 11 OW, 12 M, 13 KH, 14 KW, 15 SH, 16 SW, 17 PT, 18 PL, 19 DH, 20 DW, 21 group,
//    22 x zero point, 23 x signed, 24 y zero point, 25 y signed, 26 MC (output pixels per block),
//    27 int32 output (MatMulInteger: the int32 sums plus bias, no requantization; multiplier unused),
//    28 x zero point tensor (a one-element tensor read at run time in place of p[22], as DynamicQuantizeLinear
//    makes it; 0: none), 29, 30 the output's lowest and highest value (the type's range, or a fused Clip's)
// The packed block (MC * Kq int16 per thread) is declared by the converter as the call's stack need.
EXPORT(qconv2d_nhwc_x8) {
  const int8_t *Wp = (const int8_t *)pp(p, 1);
  const int32_t *bias = (const int32_t *)pp(p, 2), *colsum = (const int32_t *)pp(p, 3);
  const f32 *mult = pp(p, 4);
  uint8_t *Y = (uint8_t *)pp(p, 5);
  int zx = p[28] ? (p[23] ? (int)*(const int8_t *)pp(p, 28) : (int)*(const uint8_t *)pp(p, 28)) : p[22];
  Geometry gm = {(const uint8_t *)pp(p, 0), p[23], zx, p[7], p[8], p[9], 0, p[10], p[11],
                 p[13], p[14], p[15], p[16], p[17], p[18], p[19], p[20]};
  int N = p[6], M = p[12], G = p[21], MC = p[26];
  Requant rq = {(f32)p[24], (f32)p[29], (f32)p[30], p[25], p[27]};
  int es = p[27] ? 4 : 1;  // output element bytes
  gm.Cg = gm.C / G;
  int Mg = M / G, K = gm.KH * gm.KW * gm.Cg, Kq = (K + 3) & ~3, panels = (Mg + NR - 1) / NR;
  int P = N * gm.OH * gm.OW;
#ifdef __wasm_relaxed_simd__
  int wide = !usdot_exact();
#else
  int wide = 1;
#endif
  Grid gr = grid_of(P, MC, Mg, nthreads);
  int lo, hi;
  split(gr.blocks * gr.chunks, tid, nthreads, &lo, &hi);
  int16_t col[MC * Kq];
  int have = -1;  // (row block, group) packed in `col`
  for (int t = lo; t < hi; t++) {
    int b = t / gr.chunks, ch = t % gr.chunks;
    int m0 = b * MC, rows = imin(MC, P - m0);
    int j0 = ch * gr.panels_per_chunk * NR, j1 = imin(Mg, j0 + gr.panels_per_chunk * NR);
    for (int g = 0; g < G; g++) {
      if (have != b * G + g) {
        pack_rows(col, Kq, wide, &gm, m0, rows, g);
        have = b * G + g;
      }
      for (int j = j0; j < j1; j += NR) {
        long pj = (long)g * panels + j / NR;
        const int8_t *w = Wp + pj * Kq * NR;
        const int32_t *bj = bias + pj * NR;
        v128_t b0 = wasm_v128_load(bj), b1 = wasm_v128_load(bj + 4);
        v4 m0v = wasm_v128_load(mult + pj * NR), m1v = wasm_v128_load(mult + pj * NR + 4);
        uint8_t *yb = Y + ((long)m0 * M + g * Mg + j) * es;
        int nc = imin(NR, j1 - j);
        if (wide) {
          for (int i = 0; i < rows; i += QMR16)
            tile_dot16(imin(QMR16, rows - i), nc, Kq / 4, col + (long)i * Kq, Kq, w, b0, b1, m0v, m1v,
                       yb + (long)i * M * es, M * es, &rq);
          continue;
        }
#ifdef __wasm_relaxed_simd__
        v128_t zu = wasm_i32x4_splat(gm.zx + (gm.x_signed ? 128 : 0));  // the zero point as the unsigned bytes hold it
        const int32_t *cj = colsum + pj * NR;
        b0 = wasm_i32x4_sub(b0, wasm_i32x4_mul(zu, wasm_v128_load(cj)));
        b1 = wasm_i32x4_sub(b1, wasm_i32x4_mul(zu, wasm_v128_load(cj + 4)));
        for (int i = 0; i < rows; i += QMR)
          tile_dot8(imin(QMR, rows - i), nc, Kq / 4, (const uint8_t *)col + (long)i * Kq, Kq, w, b0, b1, m0v, m1v,
                    yb + (long)i * M * es, M * es, &rq);
#endif
      }
    }
  }
#ifndef __wasm_relaxed_simd__
  (void)colsum;  // only the byte dot takes the zero point out through the column sums
#endif
}
