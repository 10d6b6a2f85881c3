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
#ifndef __wasm_relaxed_simd__
  // The SIMD128 build (a multiply and an add per step: the module of engines without relaxed SIMD, WebKit's) runs
  // k two at a time: in WebKitGTK 2.50 a 128x512x2048 MatMul 11.5 -> 10.0 ms, MiniLM 128 -> 107 ms. The relaxed
  // build's fused tile keeps one k a step: unrolled it was slower in Chromium (7.6 -> 8.7 ms) and Firefox.
#pragma clang loop unroll_count(2)
#endif
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
 *  at a time with one chain each. Used by gemm_f32's one-row path and gru_f32's candidate gate (the gates of
 *  a recurrent step share their broadcasts instead: panels_dot, below). */
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

/** acc[q][0..2) += h[0..K) * panel q, for P consecutive panels (K rows of NR floats each, from w): a recurrent
 *  step's gate panels of one unit block (gru_f32: P = 2; lstm_f32 has its own layout, panels_dot_k). One broadcast
 *  of h[k] feeds all 2P accumulators, and h is read four k at a time and broadcast by lane shuffles. On the LSTM
 *  benchmark (hidden 256) this took the recurrence from 26 to 20 ms a run in Firefox and 17-21 to 16.5 ms in
 *  Chromium against a row_dot per panel (two accumulators per broadcast, one broadcast load per k). */
static inline __attribute__((always_inline)) void panels_dot(const f32 *h, const f32 *w, int K, int P, v4 acc[][2]) {
  int k = 0;
  for (; k + 4 <= K; k += 4) {
    v4 h4 = wasm_v128_load(h + k);
    v4 s[4] = {wasm_i32x4_shuffle(h4, h4, 0, 0, 0, 0), wasm_i32x4_shuffle(h4, h4, 1, 1, 1, 1),
               wasm_i32x4_shuffle(h4, h4, 2, 2, 2, 2), wasm_i32x4_shuffle(h4, h4, 3, 3, 3, 3)};
#pragma clang loop unroll(full)
    for (int j = 0; j < 4; j++) {
#pragma clang loop unroll(full)
      for (int q = 0; q < P; q++) {
        const f32 *wq = w + ((long)q * K + k + j) * NR;
        acc[q][0] = v_madd(s[j], wasm_v128_load(wq), acc[q][0]);
        acc[q][1] = v_madd(s[j], wasm_v128_load(wq + 4), acc[q][1]);
      }
    }
  }
  for (; k < K; k++) {
    v4 s = wasm_v128_load32_splat(h + k);
#pragma clang loop unroll(full)
    for (int q = 0; q < P; q++) {
      const f32 *wq = w + ((long)q * K + k) * NR;
      acc[q][0] = v_madd(s, wasm_v128_load(wq), acc[q][0]);
      acc[q][1] = v_madd(s, wasm_v128_load(wq + 4), acc[q][1]);
    }
  }
}

/** panels_dot for the P gate panels of one unit block packed interleaved by k ([K][P][NR] from w: row k holds the P
 *  panels' NR floats one after another), lstm_f32's layout: one pointer, every load at a constant offset, h[k]
 *  broadcast by one load per k. Against panels_dot on the benchmark LSTM (page pairs interleaved, 1 thread): the
 *  recurrence 8.1-10.3 -> 7.1-7.7 ms a run in Chromium, level in WebKit and Firefox within their noise (±7 %).
 *  Read four k at a time with lane-shuffled broadcasts (as panels_dot) it was slower in WebKit (8.6 -> 9.7 ms):
 *  JavaScriptCore then spilled accumulators to the stack inside the loop. */
static inline __attribute__((always_inline)) void panels_dot_k(const f32 *h, const f32 *w, int K, int P,
                                                               v4 acc[][2]) {
  for (int k = 0; k < K; k++, w += P * NR) {
    v4 s = wasm_v128_load32_splat(h + k);
#pragma clang loop unroll(full)
    for (int q = 0; q < P; q++) {
      acc[q][0] = v_madd(s, wasm_v128_load(w + q * NR), acc[q][0]);
      acc[q][1] = v_madd(s, wasm_v128_load(w + q * NR + 4), acc[q][1]);
    }
  }
}

/** A recurrent step's pre-activations of P consecutive 8-unit gate panels from `panel` on (gru_f32):
 *  g[q] = the step's input projection x[(panel + q) * NR ..] plus h[0..K) * R's panel, h null for a zero state. */
static inline __attribute__((always_inline)) void gate_pre(const f32 *x, const f32 *R, const f32 *h, int K, int panel,
                                                           int P, v4 g[][2]) {
#pragma clang loop unroll(full)
  for (int q = 0; q < P; q++) {
    g[q][0] = wasm_v128_load(x + (panel + q) * NR);
    g[q][1] = wasm_v128_load(x + (panel + q) * NR + 4);
  }
  if (h) panels_dot(h, R + (long)panel * K * NR, K, P, g);
}
