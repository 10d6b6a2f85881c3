// Transformer kernels (f32, SIMD128): LayerNormalization, Gelu/Erf, batched MatMul with two
// runtime operands (strided, so attention's head split/merge Transposes and K^T need no copy,
// with a fused scale + additive mask + softmax epilogue), and a general strided Transpose.
// Threading as everywhere (common.h): each thread takes a disjoint set of rows/tasks.
#include "common.h"
#include "tiles.h"  // MR, NR: the batched-MatMul microkernel rows and packed panel width

static inline f32 hsum(v4 v) {
  return wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1) + wasm_f32x4_extract_lane(v, 2) +
         wasm_f32x4_extract_lane(v, 3);
}

static inline f32 hmax(v4 v) {
  f32 a = wasm_f32x4_extract_lane(v, 0), b = wasm_f32x4_extract_lane(v, 1);
  f32 c = wasm_f32x4_extract_lane(v, 2), d = wasm_f32x4_extract_lane(v, 3);
  a = a > b ? a : b;
  c = c > d ? c : d;
  return a > c ? a : c;
}

/** e^x for f32x4 as common.h's v_exp (same polynomial, rel. error < 2e-7, exactly 0 below
 *  -87.34 and +inf above 88.37, NaN kept), but rounding with the 1.5 * 2^23 trick instead of
 *  f32x4.nearest + i32x4.trunc_sat (long sequences in V8 on x86). */
static inline v4 v_exp_fast(v4 x) {
  const v4 magic = wasm_f32x4_splat(12582912.0f);  // 1.5 * 2^23
  const v4 lo = wasm_f32x4_splat(-87.33654f), hi = wasm_f32x4_splat(88.37626f);
  v4 under = wasm_f32x4_lt(x, lo), over = wasm_f32x4_gt(x, hi);
  x = wasm_f32x4_pmin(wasm_f32x4_pmax(x, lo), hi);  // NaN passes (common.h)
  v4 t = v_madd(x, wasm_f32x4_splat(1.44269504f), magic);  // low mantissa bits hold n = round(x / ln 2)
  v4 n = wasm_f32x4_sub(t, magic);
  v4 r = wasm_f32x4_sub(x, wasm_f32x4_mul(n, wasm_f32x4_splat(0.693359375f)));
  r = wasm_f32x4_sub(r, wasm_f32x4_mul(n, wasm_f32x4_splat(-2.12194440e-4f)));
  v4 q = wasm_f32x4_splat(1.9875691500e-4f);
  q = v_madd(q, r, wasm_f32x4_splat(1.3981999507e-3f));
  q = v_madd(q, r, wasm_f32x4_splat(8.3334519073e-3f));
  q = v_madd(q, r, wasm_f32x4_splat(4.1665795894e-2f));
  q = v_madd(q, r, wasm_f32x4_splat(1.6666665459e-1f));
  q = v_madd(q, r, wasm_f32x4_splat(5.0000001201e-1f));
  q = v_madd(wasm_f32x4_mul(q, r), r, r);
  q = wasm_f32x4_add(q, wasm_f32x4_splat(1.0f));
  v4 pow2 = wasm_i32x4_add(wasm_i32x4_shl(t, 23), wasm_i32x4_splat(127 << 23));  // 2^n, n in [-126, 127]
  v4 e = wasm_v128_andnot(wasm_f32x4_mul(q, pow2), under);
  return wasm_v128_bitselect(wasm_f32x4_splat(__builtin_inff()), e, over);
}

// ---- LayerNormalization -----------------------------------------------------------------
// layernorm_f32: Y[r, :] = (X[r, :] - mean) / sqrt(var + eps) * gamma + beta over rows of `cols`.
// p: 0 X, 1 gamma [cols], 2 beta [cols] (0: none), 3 Y, 4 rows, 5 cols, 6 eps (f32)
EXPORT(layernorm_f32) {
  const f32 *X = pp(p, 0), *G = pp(p, 1), *Bt = pp(p, 2);
  f32 *Y = pp(p, 3);
  int rows = p[4], n = p[5], lo, hi;
  f32 eps = pf(p, 6);
  split(rows, tid, nthreads, &lo, &hi);
  for (int r = lo; r < hi; r++) {
    const f32 *x = X + (long)r * n;
    f32 *y = Y + (long)r * n;
    v4 s0 = wasm_f32x4_splat(0.0f), s1 = s0;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
      s0 = wasm_f32x4_add(s0, wasm_v128_load(x + i));
      s1 = wasm_f32x4_add(s1, wasm_v128_load(x + i + 4));
    }
    for (; i + 4 <= n; i += 4) s0 = wasm_f32x4_add(s0, wasm_v128_load(x + i));
    f32 sum = hsum(wasm_f32x4_add(s0, s1));
    for (; i < n; i++) sum += x[i];
    f32 mean = sum / (f32)n;
    v4 vm = wasm_f32x4_splat(mean);
    s0 = s1 = wasm_f32x4_splat(0.0f);
    for (i = 0; i + 8 <= n; i += 8) {
      v4 d0 = wasm_f32x4_sub(wasm_v128_load(x + i), vm), d1 = wasm_f32x4_sub(wasm_v128_load(x + i + 4), vm);
      s0 = v_madd(d0, d0, s0);
      s1 = v_madd(d1, d1, s1);
    }
    for (; i + 4 <= n; i += 4) {
      v4 d0 = wasm_f32x4_sub(wasm_v128_load(x + i), vm);
      s0 = v_madd(d0, d0, s0);
    }
    f32 ss = hsum(wasm_f32x4_add(s0, s1));
    for (; i < n; i++) ss += (x[i] - mean) * (x[i] - mean);
    f32 rstd = 1.0f / __builtin_sqrtf(ss / (f32)n + eps);
    v4 vr = wasm_f32x4_splat(rstd);
    for (i = 0; i + 4 <= n; i += 4) {
      v4 v = wasm_f32x4_mul(wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(x + i), vm), vr), wasm_v128_load(G + i));
      if (Bt) v = wasm_f32x4_add(v, wasm_v128_load(Bt + i));
      wasm_v128_store(y + i, v);
    }
    for (; i < n; i++) y[i] = (x[i] - mean) * rstd * G[i] + (Bt ? Bt[i] : 0.0f);
  }
}

// layernorm_spatial_nhwc_f32: LayerNormalization over the spatial axes of an NCHW tensor (axis 2: instance
// normalization, as exporters write it), computed on its NHWC twin: per image and channel, the mean and the
// centered variance over the HW pixels (two passes, as layernorm_f32), then (x - mean) * rstd * gamma + beta,
// gamma and beta per pixel (LayerNormalization's) or per channel (InstanceNormalization's). Threads take
// (image, block of 4 channels) tasks; C is a multiple of 4.
// p: 0 X [N, HW, C], 1 gamma [HW] or [C], 2 beta (0: none), 3 Y, 4 N, 5 HW, 6 C, 7 eps (f32), 8 per channel (0/1)
EXPORT(layernorm_spatial_nhwc_f32) {
  const f32 *X = pp(p, 0), *G = pp(p, 1), *Bt = pp(p, 2);
  f32 *Y = pp(p, 3);
  int N = p[4], HW = p[5], C = p[6], per_channel = p[8], blocks = C / 4, lo, hi;
  f32 eps = pf(p, 7);
  split(N * blocks, tid, nthreads, &lo, &hi);
  for (int t = lo; t < hi; t++) {
    int c0 = (t % blocks) * 4;
    long base = (long)(t / blocks) * HW * C + c0;
    const f32 *x = X + base;
    f32 *y = Y + base;
    v4 s = wasm_f32x4_splat(0.0f);
    for (int i = 0; i < HW; i++) s = wasm_f32x4_add(s, wasm_v128_load(x + (long)i * C));
    v4 n = wasm_f32x4_splat((f32)HW), mean = wasm_f32x4_div(s, n);
    v4 ss = wasm_f32x4_splat(0.0f);
    for (int i = 0; i < HW; i++) {
      v4 d = wasm_f32x4_sub(wasm_v128_load(x + (long)i * C), mean);
      ss = v_madd(d, d, ss);
    }
    v4 rstd = wasm_f32x4_div(wasm_f32x4_splat(1.0f),
                             wasm_f32x4_sqrt(wasm_f32x4_add(wasm_f32x4_div(ss, n), wasm_f32x4_splat(eps))));
    if (per_channel) {  // one scale and bias per channel: folded into the normalization
      v4 g = wasm_f32x4_mul(rstd, wasm_v128_load(G + c0)), b = Bt ? wasm_v128_load(Bt + c0) : wasm_f32x4_splat(0.0f);
      for (int i = 0; i < HW; i++)
        wasm_v128_store(y + (long)i * C, wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(x + (long)i * C),
                                                                                       mean), g), b));
      continue;
    }
    for (int i = 0; i < HW; i++) {
      v4 v = wasm_f32x4_mul(wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(x + (long)i * C), mean), rstd),
                            wasm_f32x4_splat(G[i]));
      if (Bt) v = wasm_f32x4_add(v, wasm_f32x4_splat(Bt[i]));
      wasm_v128_store(y + (long)i * C, v);
    }
  }
}


// ---- Gelu / Erf -------------------------------------------------------------------------
// (v_erf: common.h, shared with the expression interpreter)
/** Exact GELU: 0.5 x (1 + erf(x / sqrt 2)). */
static inline v4 v_gelu(v4 x) {
  v4 e = v_erf(wasm_f32x4_mul(x, wasm_f32x4_splat(0.70710678118654752f)));
  return wasm_f32x4_mul(wasm_f32x4_mul(x, wasm_f32x4_splat(0.5f)), wasm_f32x4_add(wasm_f32x4_splat(1.0f), e));
}

// gelu_f32: Y = gelu(X) (mode 0, exact: 0.5 x (1 + erf(x / sqrt 2))) or erf(X) (mode 1).
// p: 0 X, 1 Y, 2 n, 3 mode
EXPORT(gelu_f32) {
  const f32 *X = pp(p, 0);
  f32 *Y = pp(p, 1);
  int n = p[2], mode = p[3], lo, hi;
  split((n + 1023) / 1024, tid, nthreads, &lo, &hi);
  int i = lo * 1024, end = imin(n, hi * 1024);
  for (; i + 4 <= end; i += 4) {
    v4 x = wasm_v128_load(X + i);
    wasm_v128_store(Y + i, mode ? v_erf(x) : v_gelu(x));
  }
  if (i < end) {
    f32 t[4] = {0, 0, 0, 0};
    for (int j = 0; j < end - i; j++) t[j] = X[i + j];
    v4 x = wasm_v128_load(t);
    store_partial(Y + i, mode ? v_erf(x) : v_gelu(x), end - i);
  }
}

// ---- batched MatMul with two runtime operands -------------------------------------------
// C[b][m][n] = alpha * sum_k A[b][m][k] * B[b][k][n] (+ R[b][m][n]), then optionally a softmax
// over each row of C. Every operand is addressed through element strides, so strided views
// (heads split out of [B, S, H, D], K^T read in place, C written straight into [B, S, H, D])
// cost nothing, and broadcast batch axes have stride 0. The batch is two axes (b0, b1).
// B is packed per (batch, column chunk) into the thread's stack, as [NC/8][K][8] panels, then
// a 4 x 8 register tile runs over it (as the constant-weight GEMM).

typedef struct {
  const f32 *A, *B, *R;
  f32 *C;
  int d1, M, N, K;
  int sA0, sA1, sAm, sAk, sB0, sB1, sBk, sBn, sC0, sC1, sCm, sR0, sR1, sRm, sRn;
  f32 alpha;
} Bmm;

static void pack_b(const Bmm *q, const f32 *b, int n0, int nc, f32 *dst) {
  int K = q->K, sBk = q->sBk, sBn = q->sBn;
  for (int j = 0; j < nc; j += NR) {
    int w = imin(NR, q->N - (n0 + j));
    const f32 *src = b + (long)(n0 + j) * sBn;
    if (w == NR && sBn == 1) {
      for (int k = 0; k < K; k++, dst += NR) {
        wasm_v128_store(dst, wasm_v128_load(src + (long)k * sBk));
        wasm_v128_store(dst + 4, wasm_v128_load(src + (long)k * sBk + 4));
      }
    } else if (w == NR && sBk == 1) {  // B transposed in memory: columns are contiguous along k
      for (int jj = 0; jj < NR; jj++) {
        const f32 *col = src + (long)jj * sBn;
        for (int k = 0; k < K; k++) dst[k * NR + jj] = col[k];
      }
      dst += K * NR;
    } else {
      for (int k = 0; k < K; k++, dst += NR) {
        for (int jj = 0; jj < NR; jj++) dst[jj] = jj < w ? src[(long)k * sBk + (long)jj * sBn] : 0.0f;
      }
    }
  }
}

// One MR x 8 tile at rows a[0..mr) (row stride sAm, k stride sAk) against one packed panel.
static void bmm_tile(int mr, int nc, int K, const f32 *a, int sAm, int sAk, const f32 *w, f32 *c, int sCm,
                     const f32 *r, int sRm, int sRn, f32 alpha) {
  const f32 *ar[MR];
  ar[0] = a;
#pragma clang loop unroll(full)
  for (int i = 1; i < MR; i++) ar[i] = mr > i ? ar[i - 1] + sAm : ar[i - 1];
  v4 acc[MR][2];
#pragma clang loop unroll(full)
  for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = wasm_f32x4_splat(0.0f);
  if (sAk == 1) {
    for (int k = 0; k < K; k++, w += NR) {
      v4 w0 = wasm_v128_load(w), w1 = wasm_v128_load(w + 4);
#pragma clang loop unroll(full)
      for (int i = 0; i < MR; i++) {
        v4 s = wasm_v128_load32_splat(ar[i] + k);
        acc[i][0] = v_madd(s, w0, acc[i][0]);
        acc[i][1] = v_madd(s, w1, acc[i][1]);
      }
    }
  } else {
    for (int k = 0; k < K; k++, w += NR) {
      v4 w0 = wasm_v128_load(w), w1 = wasm_v128_load(w + 4);
#pragma clang loop unroll(full)
      for (int i = 0; i < MR; i++) {
        v4 s = wasm_v128_load32_splat(ar[i] + (long)k * sAk);
        acc[i][0] = v_madd(s, w0, acc[i][0]);
        acc[i][1] = v_madd(s, w1, acc[i][1]);
      }
    }
  }
  v4 va = wasm_f32x4_splat(alpha);
#pragma clang loop unroll(full)
  for (int i = 0; i < MR; i++) {
    if (i >= mr) continue;
    v4 v0 = wasm_f32x4_mul(acc[i][0], va), v1 = wasm_f32x4_mul(acc[i][1], va);
    if (r) {
      const f32 *ri = r + (long)i * sRm;
      if (nc == NR && sRn == 1) {
        v0 = wasm_f32x4_add(v0, wasm_v128_load(ri));
        v1 = wasm_f32x4_add(v1, wasm_v128_load(ri + 4));
      } else {
        f32 t[NR] = {0};
        for (int j = 0; j < nc; j++) t[j] = ri[(long)j * sRn];
        v0 = wasm_f32x4_add(v0, wasm_v128_load(t));
        v1 = wasm_f32x4_add(v1, wasm_v128_load(t + 4));
      }
    }
    store_row8(c + (long)i * sCm, v0, v1, nc);
  }
}

/** In-place softmax of one contiguous row of n floats. */
static void softmax_row(f32 *y, int n) {
  int i = 0;
  f32 m = -__builtin_inff();
  if (n >= 4) {
    v4 vm = wasm_v128_load(y);
    for (i = 4; i + 4 <= n; i += 4) vm = wasm_f32x4_pmax(vm, wasm_v128_load(y + i));
    m = hmax(vm);
  }
  for (; i < n; i++) m = y[i] > m ? y[i] : m;
  v4 vmax = wasm_f32x4_splat(m), vs = wasm_f32x4_splat(0.0f);
  f32 s = 0.0f;
  for (i = 0; i + 4 <= n; i += 4) {
    v4 e = v_exp_fast(wasm_f32x4_sub(wasm_v128_load(y + i), vmax));
    wasm_v128_store(y + i, e);
    vs = wasm_f32x4_add(vs, e);
  }
  if (i < n) {
    f32 t[4] = {m, m, m, m};
    for (int j = 0; j < n - i; j++) t[j] = y[i + j];
    v4 e = v_exp_fast(wasm_f32x4_sub(wasm_v128_load(t), vmax));
    wasm_v128_store(t, e);
    for (int j = 0; j < n - i; j++) { y[i + j] = t[j]; s += t[j]; }
  }
  s += hsum(vs);
  v4 inv = wasm_f32x4_splat(1.0f / s);
  for (i = 0; i + 4 <= n; i += 4) wasm_v128_store(y + i, wasm_f32x4_mul(wasm_v128_load(y + i), inv));
  for (; i < n; i++) y[i] *= 1.0f / s;
}

// bmm_f32: p: 0 A, 1 B, 2 C, 3 R (0: none), 4 d0, 5 d1 (batch axes), 6 M, 7 N, 8 K,
//   9..12 A strides (b0, b1, m, k), 13..16 B strides (b0, b1, k, n), 17..19 C strides (b0, b1, m; n is 1),
//   20..23 R strides (b0, b1, m, n), 24 alpha (f32), 25 flags (1: softmax over each row),
//   26 NC (columns per packed chunk, a multiple of 8; >= N with the softmax)
// Stack: NC * K floats per thread (the packed chunk of B).
EXPORT(bmm_f32) {
  Bmm q = {pp(p, 0), pp(p, 1), pp(p, 3), pp(p, 2), p[5], p[6], p[7], p[8],
           p[9], p[10], p[11], p[12], p[13], p[14], p[15], p[16], p[17], p[18], p[19],
           p[20], p[21], p[22], p[23], pf(p, 24)};
  int batches = p[4] * p[5], softmax = p[25] & 1, NC = p[26];
  int chunks = (q.N + NC - 1) / NC, tiles = (q.M + MR - 1) / MR;
  // Row blocks per (batch, chunk): enough tasks for every thread (a multiple of MR rows each).
  int want = imax(1, (4 * nthreads + batches * chunks - 1) / (batches * chunks));
  int blocks = nthreads <= 1 ? 1 : imin(tiles, want);
  int tiles_per = (tiles + blocks - 1) / blocks;
  blocks = (tiles + tiles_per - 1) / tiles_per;
  int lo, hi;
  split(batches * chunks * blocks, tid, nthreads, &lo, &hi);
  f32 packed[NC * q.K];
  int have = -1;
  for (int t = lo; t < hi; t++) {
    int bc = t / blocks, blk = t % blocks, b = bc / chunks, ch = bc % chunks;
    int i0 = b / q.d1, i1 = b % q.d1;
    int n0 = ch * NC, nc = imin(NC, q.N - n0);
    if (have != bc) {
      pack_b(&q, q.B + (long)i0 * q.sB0 + (long)i1 * q.sB1, n0, nc, packed);
      have = bc;
    }
    const f32 *a = q.A + (long)i0 * q.sA0 + (long)i1 * q.sA1;
    f32 *c = q.C + (long)i0 * q.sC0 + (long)i1 * q.sC1 + n0;
    const f32 *r = q.R ? q.R + (long)i0 * q.sR0 + (long)i1 * q.sR1 + (long)n0 * q.sRn : 0;
    int m1 = imin(q.M, (blk + 1) * tiles_per * MR);
    for (int m = blk * tiles_per * MR; m < m1; m += MR) {
      int mr = imin(MR, m1 - m);
      for (int j = 0; j < nc; j += NR) {
        bmm_tile(mr, imin(NR, nc - j), q.K, a + (long)m * q.sAm, q.sAm, q.sAk, packed + (long)j * q.K,
                 c + (long)m * q.sCm + j, q.sCm, r ? r + (long)m * q.sRm + (long)j * q.sRn : 0, q.sRm, q.sRn,
                 q.alpha);
      }
      if (softmax) {
        for (int i = 0; i < mr; i++) softmax_row(c + (long)(m + i) * q.sCm, q.N);
      }
    }
  }
}

// ---- Transpose ----------------------------------------------------------------------------
// transpose_any: Y (contiguous, dims d0..d5) = X read with element strides s0..s5, for 1-, 2-,
// 4- or 8-byte elements. The converter collapses axes that stay adjacent and pads to 6.
// p: 0 X, 1 Y, 2 element bytes, 3..8 dims, 9..14 X strides (elements)
#define TRANSPOSE_ROWS(T)                                                                          \
  for (int o = lo; o < hi; o++) {                                                                  \
    int r = o;                                                                                     \
    long off = 0;                                                                                  \
    for (int ax = 4; ax >= 0; ax--) {                                                              \
      off += (long)(r % d[ax]) * s[ax];                                                            \
      r /= d[ax];                                                                                  \
    }                                                                                              \
    const T *x = (const T *)X + off;                                                               \
    T *y = (T *)Y + (long)o * inner;                                                               \
    if (s5 == 1) {                                                                                 \
      __builtin_memcpy(y, x, (unsigned long)inner * sizeof(T));                                    \
    } else {                                                                                       \
      for (int j = 0; j < inner; j++) y[j] = x[(long)j * s5];                                      \
    }                                                                                              \
  }

EXPORT(transpose_any) {
  const char *X = (const char *)pp(p, 0);
  char *Y = (char *)pp(p, 1);
  int esz = p[2], d[6], s[6];
  for (int i = 0; i < 6; i++) { d[i] = p[3 + i]; s[i] = p[9 + i]; }
  int outer = d[0] * d[1] * d[2] * d[3] * d[4], inner = d[5], s5 = s[5], lo, hi;
  split(outer, tid, nthreads, &lo, &hi);
  switch (esz) {
    case 1: TRANSPOSE_ROWS(uint8_t) break;
    case 2: TRANSPOSE_ROWS(uint16_t) break;
    case 8: TRANSPOSE_ROWS(uint64_t) break;
    default: TRANSPOSE_ROWS(uint32_t) break;
  }
}
