// The MR x NR register tile of the GEMM kernels (and the one-row dot of a GEMV step, below) (gemm_f32_simd128.c: Gemm, MatMul, Conv;
// winograd_f32_simd128.c: the 36 transform-domain GEMMs): MR rows of A against one packed
// NR = 8 wide panel of B, 2 * MR f32x4 accumulators, one broadcast-loaded A element per row
// and k. Measured in Chromium and Node on x86-64: 4x8 with load-splat beat 6x8 and 5x8 (V8 has
// 16 xmm registers) and loading A four k at a time with lane shuffles.
#pragma once
#include "common.h"
#include "tiles.h"

/** Row pointers of an mr-row tile of A from `a` (rows past mr repeat the last one: read, never stored). */
static inline __attribute__((always_inline)) void tile_rows(const f32 *ar[MR], const f32 *a, int lda, int mr) {
  ar[0] = a;
#pragma clang loop unroll(full)
  for (int i = 1; i < MR; i++) ar[i] = mr > i ? ar[i - 1] + lda : ar[i - 1];
}

/** acc[i][0..2) += A[i][0..K) * panel, the panel `w` holding K rows of NR floats. */
static inline __attribute__((always_inline)) void tile_accumulate(v4 acc[MR][2], const f32 *const ar[MR], int K,
                                                                  const f32 *w) {
  for (int k = 0; k < K; k++) {
    v4 w0 = wasm_v128_load(w), w1 = wasm_v128_load(w + 4);
    w += NR;
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; i++) {
      v4 s = wasm_v128_load32_splat(ar[i] + k);
      acc[i][0] = v_madd(s, w0, acc[i][0]);
      acc[i][1] = v_madd(s, w1, acc[i][1]);
    }
  }
}

/** (*v0, *v1) += a[0..K) * panel (K rows of NR floats at w), for one row of A (a GEMV step): four
 *  add chains over k, k+1, k+2, k+3, the panel read as one stream. On a 256x1024 weight (Node,
 *  x86-64) this beat the MR-row tile (which computes MR - 1 rows for nothing here) and four panels
 *  at a time with one chain each. Used by gemm_f32's one-row path and lstm_f32's gates. */
static inline __attribute__((always_inline)) void row_dot(const f32 *a, const f32 *w, int K, v4 *v0, v4 *v1) {
  v4 acc[4][2];
#pragma clang loop unroll(full)
  for (int q = 0; q < 4; q++) acc[q][0] = acc[q][1] = wasm_f32x4_splat(0.f);
  int k = 0;
  for (; k + 4 <= K; k += 4, w += 4 * NR) {
#pragma clang loop unroll(full)
    for (int q = 0; q < 4; q++) {
      v4 s = wasm_v128_load32_splat(a + k + q);
      acc[q][0] = v_madd(s, wasm_v128_load(w + q * NR), acc[q][0]);
      acc[q][1] = v_madd(s, wasm_v128_load(w + q * NR + 4), acc[q][1]);
    }
  }
  for (; k < K; k++, w += NR) {
    v4 s = wasm_v128_load32_splat(a + k);
    acc[0][0] = v_madd(s, wasm_v128_load(w), acc[0][0]);
    acc[0][1] = v_madd(s, wasm_v128_load(w + 4), acc[0][1]);
  }
  *v0 = wasm_f32x4_add(*v0, wasm_f32x4_add(wasm_f32x4_add(acc[0][0], acc[1][0]), wasm_f32x4_add(acc[2][0], acc[3][0])));
  *v1 = wasm_f32x4_add(*v1, wasm_f32x4_add(wasm_f32x4_add(acc[0][1], acc[1][1]), wasm_f32x4_add(acc[2][1], acc[3][1])));
}

/** A recurrent step's pre-activation of one 8-unit gate panel (lstm_f32, gru_f32): the step's input
 *  projection x[panel * NR ..] plus h[0..K) * R's panel (K rows of NR), h null for a zero state. */
static inline __attribute__((always_inline)) void gate_pre(const f32 *x, const f32 *R, const f32 *h, int K, int panel,
                                                           v4 *g0, v4 *g1) {
  *g0 = wasm_v128_load(x + panel * NR);
  *g1 = wasm_v128_load(x + panel * NR + 4);
  if (h) row_dot(h, R + (long)panel * K * NR, K, g0, g1);
}
