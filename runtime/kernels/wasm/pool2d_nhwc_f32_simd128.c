// Pooling in NHWC (f32, SIMD128): MaxPool / AveragePool with explicit pads, strides and
// dilations (the output shape already reflects ceil_mode), and global average/max pool.
// Channels are the contiguous axis, so every tap is a vector load.
#include "common.h"

static inline int taps(int o, int k, int s, int d, int pb, int lo, int hi) {
  int n = 0;
  for (int t = 0; t < k; t++) {
    int i = o * s + t * d - pb;
    n += i >= lo && i < hi;
  }
  return n;
}

// p: 0 X, 1 Y, 2 N, 3 H, 4 W, 5 C, 6 OH, 7 OW, 8 KH, 9 KW, 10 SH, 11 SW, 12 PT, 13 PL, 14 PB, 15 PR, 16 DH, 17 DW,
//    18 mode (0 max, 1 average counting pads, 2 average over valid taps)
EXPORT(pool2d_nhwc_f32) {
  const f32 *X = pp(p, 0);
  f32 *Y = pp(p, 1);
  int N = p[2], H = p[3], W = p[4], C = p[5], OH = p[6], OW = p[7], KH = p[8], KW = p[9];
  int SH = p[10], SW = p[11], PT = p[12], PL = p[13], PB = p[14], PR = p[15], DH = p[16], DW = p[17], mode = p[18];
  int lo, hi;
  split(N * OH, tid, nthreads, &lo, &hi);
  for (int row = lo; row < hi; row++) {
    int n = row / OH, oy = row % OH;
    const f32 *xn = X + (long)n * H * W * C;
    for (int ox = 0; ox < OW; ox++) {
      f32 *y = Y + ((long)row * OW + ox) * C;
      f32 inv = 1.0f;
      if (mode == 1) inv = 1.0f / (f32)(taps(oy, KH, SH, DH, PT, -PT, H + PB) * taps(ox, KW, SW, DW, PL, -PL, W + PR));
      if (mode == 2) inv = 1.0f / (f32)(taps(oy, KH, SH, DH, PT, 0, H) * taps(ox, KW, SW, DW, PL, 0, W));
      int c = 0;
      for (; c < C; c += 4) {
        int full = c + 4 <= C;
        v4 acc = wasm_f32x4_splat(mode == 0 ? -__builtin_inff() : 0.0f);
        for (int ky = 0; ky < KH; ky++) {
          int iy = oy * SH - PT + ky * DH;
          if (iy < 0 || iy >= H) continue;
          for (int kx = 0; kx < KW; kx++) {
            int ix = ox * SW - PL + kx * DW;
            if (ix < 0 || ix >= W) continue;
            const f32 *xp = xn + ((long)iy * W + ix) * C + c;
            v4 v;
            if (full) {
              v = wasm_v128_load(xp);
            } else {
              f32 t[4] = {0, 0, 0, 0};
              for (int j = 0; j < C - c; j++) t[j] = xp[j];
              v = wasm_v128_load(t);
            }
            if (mode == 0) {
              // max that propagates NaN: keep acc unless v > acc or v is NaN
              v4 take = wasm_v128_or(wasm_f32x4_gt(v, acc), wasm_f32x4_ne(v, v));
              acc = wasm_v128_bitselect(v, acc, take);
            } else {
              acc = wasm_f32x4_add(acc, v);
            }
          }
        }
        if (mode != 0) acc = wasm_f32x4_mul(acc, wasm_f32x4_splat(inv));
        if (full) wasm_v128_store(y + c, acc);
        else store_partial(y + c, acc, C - c);
      }
    }
  }
}

// p: 0 X, 1 Y, 2 N, 3 HW, 4 C, 5 mode (0 max, 1 average)
EXPORT(global_pool_nhwc_f32) {
  const f32 *X = pp(p, 0);
  f32 *Y = pp(p, 1);
  int N = p[2], HW = p[3], C = p[4], mode = p[5];
  // Tasks: (image, chunk of 64 channels), so a batch of one still uses every thread.
  enum { CH = 64 };
  int per = (C + CH - 1) / CH, lo, hi;
  split(N * per, tid, nthreads, &lo, &hi);
  f32 inv = 1.0f / (f32)HW;
  for (int t = lo; t < hi; t++) {
    int n = t / per, c0 = (t % per) * CH, c1 = imin(C, c0 + CH);
    const f32 *xn = X + (long)n * HW * C;
    f32 *y = Y + (long)n * C;
    int c = c0;
    for (; c + 4 <= c1; c += 4) {
      v4 acc = wasm_v128_load(xn + c);
      for (int i = 1; i < HW; i++) {
        v4 v = wasm_v128_load(xn + (long)i * C + c);
        if (mode == 0) acc = wasm_v128_bitselect(v, acc, wasm_v128_or(wasm_f32x4_gt(v, acc), wasm_f32x4_ne(v, v)));
        else acc = wasm_f32x4_add(acc, v);
      }
      if (mode != 0) acc = wasm_f32x4_mul(acc, wasm_f32x4_splat(inv));
      wasm_v128_store(y + c, acc);
    }
    for (; c < c1; c++) {
      f32 a = xn[c];
      for (int i = 1; i < HW; i++) {
        f32 v = xn[(long)i * C + c];
        if (mode == 0) a = (v > a || v != v) ? v : a;
        else a += v;
      }
      y[c] = mode == 0 ? a : a * inv;
    }
  }
}
