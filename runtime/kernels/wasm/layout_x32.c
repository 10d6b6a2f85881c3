// Data movement kernels (any element type): layout conversion NCHW <-> NHWC and Concat.
#include "common.h"

// transpose_2d_x32: per batch, Y[b][j][i] = X[b][i][j] for 32-bit elements, X[b] is rows x cols.
// NCHW -> NHWC is rows = C, cols = H*W; NHWC -> NCHW is rows = H*W, cols = C.
// p: 0 X, 1 Y, 2 batch, 3 rows, 4 cols
EXPORT(transpose_2d_x32) {
  const int32_t *X = (const int32_t *)pp(p, 0);
  int32_t *Y = (int32_t *)pp(p, 1);
  int B = p[2], R = p[3], C = p[4];
  enum { T = 16 };
  int tiles = (R + T - 1) / T, lo, hi;
  split(B * tiles, tid, nthreads, &lo, &hi);
  for (int t = lo; t < hi; t++) {
    int b = t / tiles, r0 = (t % tiles) * T, r1 = imin(R, r0 + T);
    const int32_t *x = X + (long)b * R * C;
    int32_t *y = Y + (long)b * R * C;
    for (int c0 = 0; c0 < C; c0 += T) {
      int c1 = imin(C, c0 + T);
      for (int r = r0; r < r1; r++)
        for (int c = c0; c < c1; c++) y[(long)c * R + r] = x[(long)r * C + c];
    }
  }
}

// transpose_2d_x8: transpose_2d_x32 for 8-bit elements (quantized tensors).
// p: 0 X, 1 Y, 2 batch, 3 rows, 4 cols
EXPORT(transpose_2d_x8) {
  const uint8_t *X = (const uint8_t *)pp(p, 0);
  uint8_t *Y = (uint8_t *)pp(p, 1);
  int B = p[2], R = p[3], C = p[4];
  enum { T = 32 };
  int tiles = (R + T - 1) / T, lo, hi;
  split(B * tiles, tid, nthreads, &lo, &hi);
  for (int t = lo; t < hi; t++) {
    int b = t / tiles, r0 = (t % tiles) * T, r1 = imin(R, r0 + T);
    const uint8_t *x = X + (long)b * R * C;
    uint8_t *y = Y + (long)b * R * C;
    for (int c0 = 0; c0 < C; c0 += T) {
      int c1 = imin(C, c0 + T);
      for (int r = r0; r < r1; r++)
        for (int c = c0; c < c1; c++) y[(long)c * R + r] = x[(long)r * C + c];
    }
  }
}

// concat: for o in outer: the inputs' inner byte runs one after another.
// p: 0 Y, 1 outer, 2 output inner bytes, 3 n inputs, then per input: ptr, inner bytes
EXPORT(concat) {
  uint8_t *Y = (uint8_t *)pp(p, 0);
  int outer = p[1], yinner = p[2], n = p[3], lo, hi;
  split(outer, tid, nthreads, &lo, &hi);
  for (int o = lo; o < hi; o++) {
    uint8_t *y = Y + (long)o * yinner;
    for (int i = 0; i < n; i++) {
      const uint8_t *x = (const uint8_t *)pp(p, 4 + 2 * i);
      int inner = p[5 + 2 * i];
      __builtin_memcpy(y, x + (long)o * inner, inner);
      y += inner;
    }
  }
}
