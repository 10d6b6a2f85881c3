// MaxPool in NHWC on 8-bit tensors (SIMD128): what a quantized model's DequantizeLinear -> MaxPool ->
// QuantizeLinear at one scale computes (passes/fuse_qdq.py), 16 channels per vector. A window of
// padding only gives the type's minimum (float MaxPool's -inf, quantized).
#include "common.h"

// p: 0 X, 1 Y, 2 N, 3 H, 4 W, 5 C, 6 OH, 7 OW, 8 KH, 9 KW, 10 SH, 11 SW, 12 PT, 13 PL, 14 DH, 15 DW, 16 signed
EXPORT(maxpool2d_nhwc_x8) {
  const uint8_t *X = (const uint8_t *)pp(p, 0);
  uint8_t *Y = (uint8_t *)pp(p, 1);
  int N = p[2], H = p[3], W = p[4], C = p[5], OH = p[6], OW = p[7], KH = p[8], KW = p[9];
  int SH = p[10], SW = p[11], PT = p[12], PL = p[13], DH = p[14], DW = p[15], is_signed = p[16];
  uint8_t init = is_signed ? 0x80 : 0;
  int lo, hi;
  split(N * OH, tid, nthreads, &lo, &hi);
  for (int row = lo; row < hi; row++) {
    int n = row / OH, oy = row % OH;
    const uint8_t *xn = X + (long)n * H * W * C;
    for (int ox = 0; ox < OW; ox++) {
      uint8_t *y = Y + ((long)row * OW + ox) * C;
      for (int c = 0; c < C; c += 16) {
        int m = imin(16, C - c);
        v128_t acc = wasm_i8x16_splat((int8_t)init);
        for (int ky = 0; ky < KH; ky++) {
          int iy = oy * SH - PT + ky * DH;
          if (iy < 0 || iy >= H) continue;
          for (int kx = 0; kx < KW; kx++) {
            int ix = ox * SW - PL + kx * DW;
            if (ix < 0 || ix >= W) continue;
            const uint8_t *src = xn + ((long)iy * W + ix) * C + c;
            v128_t v;
            if (m == 16) {
              v = wasm_v128_load(src);
            } else {
              uint8_t t[16];
              for (int j = 0; j < 16; j++) t[j] = j < m ? src[j] : init;
              v = wasm_v128_load(t);
            }
            acc = is_signed ? wasm_i8x16_max(acc, v) : wasm_u8x16_max(acc, v);
          }
        }
        if (m == 16) {
          wasm_v128_store(y + c, acc);
        } else {
          uint8_t t[16];
          wasm_v128_store(t, acc);
          for (int j = 0; j < m; j++) y[c + j] = t[j];
        }
      }
    }
  }
}
