// Pad of the spatial axes of an NHWC tensor of 32-bit elements (ONNX Pad with N and C unpadded, pads >= 0):
// constant (the value), reflect (mirrored without repeating the edge, as many times as the pads need),
// edge (the edge repeated) and wrap (periodic). Every output pixel is one run of C elements copied from
// the input pixel its coordinates map to, or filled with the value.
#include "common.h"

enum { PAD_CONSTANT = 0, PAD_REFLECT = 1, PAD_EDGE = 2, PAD_WRAP = 3 };

/** The input coordinate of padded coordinate i (i - pad before, in [-pad, n + pad)); -1: the constant. */
static inline int source(int i, int n, int mode) {
  if (i >= 0 && i < n) return i;
  if (mode == PAD_CONSTANT) return -1;
  if (mode == PAD_EDGE) return i < 0 ? 0 : n - 1;
  if (mode == PAD_WRAP) return ((i % n) + n) % n;
  if (n == 1) return 0;
  int period = 2 * (n - 1), r = ((i % period) + period) % period;
  return r < n ? r : period - r;
}

// p: 0 X, 1 Y, 2 N, 3 H, 4 W, 5 C, 6 OH, 7 OW, 8 PT, 9 PL, 10 mode, 11 value (bits of a float32)
EXPORT(pad2d_nhwc_x32) {
  const int32_t *X = (const int32_t *)pp(p, 0);
  int32_t *Y = (int32_t *)pp(p, 1);
  int N = p[2], H = p[3], W = p[4], C = p[5], OH = p[6], OW = p[7], PT = p[8], PL = p[9], mode = p[10];
  int32_t value = p[11];
  int lo, hi;
  split(N * OH, tid, nthreads, &lo, &hi);
  for (int row = lo; row < hi; row++) {
    int n = row / OH, iy = source(row % OH - PT, H, mode);
    int32_t *y = Y + (long)row * OW * C;
    for (int ox = 0; ox < OW; ox++, y += C) {
      int ix = iy < 0 ? -1 : source(ox - PL, W, mode);
      if (ix < 0) {
        for (int c = 0; c < C; c++) y[c] = value;
      } else {
        __builtin_memcpy(y, X + (((long)n * H + iy) * W + ix) * C, (unsigned long)C * 4);
      }
    }
  }
}
