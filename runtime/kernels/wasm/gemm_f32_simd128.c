// GEMM-based kernels (f32, SIMD128): Gemm/MatMul with a constant right operand, and
// Conv in NHWC through the same microkernel (pointwise: straight on the input; otherwise
// tiled im2col: MC output pixels at a time into a scratch block).
//
// B (the weights) is packed at conversion time into panels of NR = 8 columns:
// panel j holds rows k = 0..K-1 of columns 8j..8j+7 (zero beyond N), i.e. Bp[j][k][8].
// The bias is padded to a multiple of 8. The register tile: gemm_tile_f32_simd128.h.
#include "gemm_grid.h"
#include "gemm_tile_f32_simd128.h"

/** (v0, v1) += the n <= NR floats at r (a residual row; the tail of a partial panel is not read). */
static inline void add_row8(v4 *v0, v4 *v1, const f32 *r, int n) {
  if (n == NR) {
    *v0 = wasm_f32x4_add(*v0, wasm_v128_load(r));
    *v1 = wasm_f32x4_add(*v1, wasm_v128_load(r + 4));
    return;
  }
  f32 t[NR] = {0};
  for (int j = 0; j < n; j++) t[j] = r[j];
  *v0 = wasm_f32x4_add(*v0, wasm_v128_load(t));
  *v1 = wasm_f32x4_add(*v1, wasm_v128_load(t + 4));
}

// One MR x NR tile: C[0..mr, 0..nc) = act(A[0..mr, :] * Bpanel + bias (+ R)).
static void ukernel(int mr, int nc, int K, const f32 *a, int lda, const f32 *w, const f32 *bias, f32 *c, int ldc,
                    const f32 *r, const Act *act) {
  const f32 *ar[MR];
  tile_rows(ar, a, lda, mr);
  v4 acc[MR][2];
  v4 b0 = wasm_v128_load(bias), b1 = wasm_v128_load(bias + 4);
#pragma clang loop unroll(full)
  for (int i = 0; i < MR; i++) { acc[i][0] = b0; acc[i][1] = b1; }
  tile_accumulate(acc, ar, K, w);
#pragma clang loop unroll(full)
  for (int i = 0; i < MR; i++) {
    if (i >= mr) continue;
    v4 v0 = acc[i][0], v1 = acc[i][1];
    f32 *ci = c + i * ldc;
    if (r) add_row8(&v0, &v1, r + i * ldc, nc);
    if (act->kind != ACT_NONE) { v0 = v_act(v0, act); v1 = v_act(v1, act); }
    store_row8(ci, v0, v1, nc);
  }
}

// One row of C against one panel (a GEMV step, row_dot).
static void ukernel_row(int nc, int K, const f32 *a, const f32 *w, const f32 *bias, f32 *c, const f32 *r,
                        const Act *act) {
  v4 v0 = wasm_v128_load(bias), v1 = wasm_v128_load(bias + 4);
  row_dot(a, w, K, &v0, &v1);
  if (r) add_row8(&v0, &v1, r, nc);
  if (act->kind != ACT_NONE) { v0 = v_act(v0, act); v1 = v_act(v1, act); }
  store_row8(c, v0, v1, nc);
}

// rows x [j0, j1) block of C: for each panel, for each MR-row tile (one row: RP panels at a time).
static void gemm_block(int rows, int K, int j0, int j1, const f32 *a, int lda, const f32 *bp, const f32 *bias, f32 *c,
                       int ldc, const f32 *r, const Act *act) {
  if (rows == 1) {
    for (int j = j0; j < j1; j += NR) {
      ukernel_row(imin(NR, j1 - j), K, a, bp + (long)(j / NR) * K * NR, bias + j, c + j, r ? r + j : 0, act);
    }
    return;
  }
  for (int j = j0; j < j1; j += NR) {
    const f32 *w = bp + (long)(j / NR) * K * NR;
    int nc = imin(NR, j1 - j);
    for (int i = 0; i < rows; i += MR) {
      ukernel(imin(MR, rows - i), nc, K, a + (long)i * lda, lda, w, bias + j, c + (long)i * ldc + j, ldc,
              r ? r + (long)i * ldc + j : 0, act);
    }
  }
}

// gemm_f32: C[M,N] = act(A[M,K] * B + bias (+ R)).
// p: 0 A, 1 Bpacked, 2 bias (padded to 8), 3 C, 4 R (0: none), 5 M, 6 K, 7 N, 8..10 activation, 11 MC (rows per block)
EXPORT(gemm_f32) {
  const f32 *A = pp(p, 0), *B = pp(p, 1), *bias = pp(p, 2), *R = pp(p, 4);
  f32 *C = pp(p, 3);
  int M = p[5], K = p[6], N = p[7], MC = p[11];
  Act act = act_from(p, 8);
  Grid g = grid_of(M, MC, N, nthreads);
  int lo, hi;
  split(g.blocks * g.chunks, tid, nthreads, &lo, &hi);
  for (int t = lo; t < hi; t++) {
    int b = t / g.chunks, ch = t % g.chunks;
    int m0 = b * MC, rows = imin(MC, M - m0);
    int j0 = ch * g.panels_per_chunk * NR, j1 = imin(N, j0 + g.panels_per_chunk * NR);
    gemm_block(rows, K, j0, j1, A + (long)m0 * K, K, B, bias, C + (long)m0 * N, N, R ? R + (long)m0 * N : 0, &act);
  }
}

// im2col of output pixels [m0, m0 + rows) of group g into col[rows][K], k = (ky, kx, ci).
static void im2col(f32 *col, const f32 *X, int m0, int rows, int g, int H, int W, int C, int Cg, int OH, int OW,
                   int KH, int KW, int SH, int SW, int PT, int PL, int DH, int DW) {
  int K = KH * KW * Cg;
  for (int i = 0; i < rows; i++) {
    int pix = m0 + i, n = pix / (OH * OW), rem = pix % (OH * OW), oy = rem / OW, ox = rem % OW;
    f32 *dst = col + (long)i * K;
    const f32 *xn = X + (long)n * H * W * C + g * Cg;
    for (int ky = 0; ky < KH; ky++) {
      int iy = oy * SH - PT + ky * DH;
      for (int kx = 0; kx < KW; kx++, dst += Cg) {
        int ix = ox * SW - PL + kx * DW;
        if (iy < 0 || iy >= H || ix < 0 || ix >= W) {
          __builtin_memset(dst, 0, Cg * sizeof(f32));
        } else {
          __builtin_memcpy(dst, xn + ((long)iy * W + ix) * C, Cg * sizeof(f32));
        }
      }
    }
  }
}

// conv2d_nhwc_f32: Y[N,OH,OW,M] = act(conv(X[N,H,W,C], W) + bias (+ R)), groups, strides, pads, dilations.
// p: 0 X, 1 Wpacked ([group][panel][K=KH*KW*Cg][8], k = (ky, kx, ci)), 2 bias ([group][panels*8]), 3 Y, 4 R (0: none),
//    5 N, 6 H, 7 W, 8 C, 9 OH, 10 OW, 11 M, 12 KH, 13 KW, 14 SH, 15 SW, 16 PT, 17 PL, 18 DH, 19 DW, 20 group,
//    21..23 activation, 24 MC (output pixels per block)
// A non-pointwise conv im2cols MC pixels at a time into a stack buffer (MC*K floats per thread,
// declared by the converter as the call's stack need).
EXPORT(conv2d_nhwc_f32) {
  const f32 *X = pp(p, 0), *Wp = pp(p, 1), *bias = pp(p, 2), *R = pp(p, 4);
  f32 *Y = pp(p, 3);
  int N = p[5], H = p[6], W = p[7], C = p[8], OH = p[9], OW = p[10], M = p[11];
  int KH = p[12], KW = p[13], SH = p[14], SW = p[15], PT = p[16], PL = p[17], DH = p[18], DW = p[19];
  int G = p[20], MC = p[24];
  Act act = act_from(p, 21);
  int Cg = C / G, Mg = M / G, K = KH * KW * Cg, panels = (Mg + NR - 1) / NR;
  int pointwise = KH == 1 && KW == 1 && SH == 1 && SW == 1 && PT == 0 && PL == 0 && OH == H && OW == W;
  int P = N * OH * OW;  // output pixels (rows of the GEMM)
  Grid gr = grid_of(P, MC, Mg, nthreads);
  int lo, hi;
  split(gr.blocks * gr.chunks, tid, nthreads, &lo, &hi);
  f32 col[pointwise ? 1 : MC * K];
  int have = -1;  // (row block, group) whose im2col is in `col`
  for (int t = lo; t < hi; t++) {
    int b = t / gr.chunks, ch = t % gr.chunks;
    int m0 = b * MC, rows = imin(MC, P - m0);
    int j0 = ch * gr.panels_per_chunk * NR, j1 = imin(Mg, j0 + gr.panels_per_chunk * NR);
    for (int g = 0; g < G; g++) {
      const f32 *wg = Wp + (long)g * panels * K * NR;
      const f32 *bg = bias + g * panels * NR;
      f32 *yg = Y + (long)m0 * M + g * Mg;
      const f32 *rg = R ? R + (long)m0 * M + g * Mg : 0;
      if (pointwise) {
        gemm_block(rows, K, j0, j1, X + (long)m0 * C + g * Cg, C, wg, bg, yg, M, rg, &act);
        continue;
      }
      if (have != b * G + g) {
        im2col(col, X, m0, rows, g, H, W, C, Cg, OH, OW, KH, KW, SH, SW, PT, PL, DH, DW);
        have = b * G + g;
      }
      gemm_block(rows, K, j0, j1, col, K, wg, bg, yg, M, rg, &act);
    }
  }
}
