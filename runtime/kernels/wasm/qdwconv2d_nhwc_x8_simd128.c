// Quantized depthwise convolution (QLinearConv with group = C = M) in NHWC on 8-bit tensors: per output
// pixel and block of 8 channels, sum over the window of (x - x_zero_point) * w in int32 (i32x4.extmul of
// int16 lanes), plus the bias, requantized as qconv2d_nhwc_x8 does (requant_x8.h). Exact int32 sums.
#include "requant_x8.h"

/** 8 channels of an 8-bit row at src as int16 less the zero point (n < 8: the rest 0). */
static inline v128_t load8(const uint8_t *src, int n, int is_signed, v128_t vz) {
  v128_t b;
  if (n == 8) {
    b = wasm_v128_load64_zero(src);
  } else {
    uint8_t t[16] = {0};
    for (int j = 0; j < n; j++) t[j] = src[j];
    b = wasm_v128_load(t);
  }
  v128_t x = is_signed ? wasm_i16x8_extend_low_i8x16(b) : wasm_u16x8_extend_low_u8x16(b);
  return wasm_i16x8_sub(x, vz);
}

// qdwconv2d_nhwc_x8: Y[N,OH,OW,C] (8-bit) = QLinearConv(X[N,H,W,C] (8-bit), W) with group = C.
// p: 0 X, 1 W (int16, [KH*KW][Cp], Cp = C rounded up to 8, zero padded), 2 bias (int32, [Cp]), 3 multiplier (f32,
//    [Cp]), 4 Y, 5 N, 6 H, 7 W, 8 C, 9 OH, 10 OW, 11 KH, 12 KW, 13 SH, 14 SW, 15 PT, 16 PL, 17 DH, 18 DW,
//    19 x zero point, 20 x signed, 21 y zero point, 22 y signed, 23, 24 the output's lowest and highest value (the
//    type's range, or a fused Clip's)
EXPORT(qdwconv2d_nhwc_x8) {
  const uint8_t *X = (const uint8_t *)pp(p, 0);
  const int16_t *Wt = (const int16_t *)pp(p, 1);
  const int32_t *bias = (const int32_t *)pp(p, 2);
  const f32 *mult = pp(p, 3);
  uint8_t *Y = (uint8_t *)pp(p, 4);
  int N = p[5], H = p[6], W = p[7], C = p[8], OH = p[9], OW = p[10], KH = p[11], KW = p[12];
  int SH = p[13], SW = p[14], PT = p[15], PL = p[16], DH = p[17], DW = p[18], zx = p[19], xs = p[20];
  Requant rq = {(f32)p[21], (f32)p[23], (f32)p[24], p[22], 0};
  int Cp = (C + 7) & ~7;
  v128_t vz = wasm_i16x8_splat((int16_t)zx);
  int lo, hi;
  split(N * OH, tid, nthreads, &lo, &hi);
  for (int row = lo; row < hi; row++) {
    int n = row / OH, oy = row % OH;
    const uint8_t *xn = X + (long)n * H * W * C;
    for (int ox = 0; ox < OW; ox++) {
      uint8_t *y = Y + ((long)row * OW + ox) * C;
      for (int c = 0; c < C; c += 8) {
        int nc = imin(8, C - c);
        v128_t a0 = wasm_v128_load(bias + c), a1 = wasm_v128_load(bias + c + 4);
        for (int ky = 0; ky < KH; ky++) {
          int iy = oy * SH - PT + ky * DH;
          if (iy < 0 || iy >= H) continue;
          for (int kx = 0; kx < KW; kx++) {
            int ix = ox * SW - PL + kx * DW;
            if (ix < 0 || ix >= W) continue;
            v128_t x = load8(xn + ((long)iy * W + ix) * C + c, nc, xs, vz);
            v128_t w = wasm_v128_load(Wt + (long)(ky * KW + kx) * Cp + c);
            a0 = wasm_i32x4_add(a0, wasm_i32x4_extmul_low_i16x8(x, w));
            a1 = wasm_i32x4_add(a1, wasm_i32x4_extmul_high_i16x8(x, w));
          }
        }
        requant_store(a0, a1, wasm_v128_load(mult + c), wasm_v128_load(mult + c + 4), nc, y + c, &rq);
      }
    }
  }
}
