// Depthwise convolution in NHWC (f32, SIMD128): one input channel per group, one output
// channel per input channel. Weights packed at conversion time as [KH*KW][Cp] (Cp = C
// rounded up to 4, zero-padded), bias as [Cp]. Channels run in vectors of 8 and 4 with a
// scalar tail; the valid taps of each output pixel are found once per pixel.
#include "common.h"

// p: 0 X, 1 Wpacked, 2 bias, 3 Y, 4 N, 5 H, 6 W, 7 C, 8 OH, 9 OW, 10 KH, 11 KW, 12 SH, 13 SW, 14 PT, 15 PL, 16 DH,
//    17 DW, 18..20 activation, 21 Cp
EXPORT(dwconv2d_nhwc_f32) {
  const f32 *X = pp(p, 0), *Wp = pp(p, 1), *bias = pp(p, 2);
  f32 *Y = pp(p, 3);
  int N = p[4], H = p[5], W = p[6], C = p[7], OH = p[8], OW = p[9], KH = p[10], KW = p[11];
  int SH = p[12], SW = p[13], PT = p[14], PL = p[15], DH = p[16], DW = p[17], Cp = p[21];
  Act act = act_from(p, 18);
  int rowsTotal = N * OH, lo, hi;
  split(rowsTotal, tid, nthreads, &lo, &hi);
  for (int row = lo; row < hi; row++) {
    int n = row / OH, oy = row % OH;
    const f32 *xn = X + (long)n * H * W * C;
    int ky0 = 0, ky1 = KH;
    while (ky0 < KH && oy * SH - PT + ky0 * DH < 0) ky0++;
    while (ky1 > ky0 && oy * SH - PT + (ky1 - 1) * DH >= H) ky1--;
    for (int ox = 0; ox < OW; ox++) {
      f32 *y = Y + ((long)row * OW + ox) * C;
      int kx0 = 0, kx1 = KW;
      while (kx0 < KW && ox * SW - PL + kx0 * DW < 0) kx0++;
      while (kx1 > kx0 && ox * SW - PL + (kx1 - 1) * DW >= W) kx1--;
      int c = 0;
      for (; c + 8 <= C; c += 8) {
        v4 a0 = wasm_v128_load(bias + c), a1 = wasm_v128_load(bias + c + 4);
        for (int ky = ky0; ky < ky1; ky++) {
          const f32 *xr = xn + ((long)(oy * SH - PT + ky * DH) * W) * C + c;
          const f32 *wr = Wp + (long)ky * KW * Cp + c;
          for (int kx = kx0; kx < kx1; kx++) {
            const f32 *xp = xr + (long)(ox * SW - PL + kx * DW) * C;
            const f32 *wp = wr + (long)kx * Cp;
            a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(wasm_v128_load(xp), wasm_v128_load(wp)));
            a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(wasm_v128_load(xp + 4), wasm_v128_load(wp + 4)));
          }
        }
        wasm_v128_store(y + c, v_act(a0, &act));
        wasm_v128_store(y + c + 4, v_act(a1, &act));
      }
      for (; c + 4 <= C; c += 4) {
        v4 a0 = wasm_v128_load(bias + c);
        for (int ky = ky0; ky < ky1; ky++) {
          const f32 *xr = xn + ((long)(oy * SH - PT + ky * DH) * W) * C + c;
          for (int kx = kx0; kx < kx1; kx++) {
            const f32 *xp = xr + (long)(ox * SW - PL + kx * DW) * C;
            a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(wasm_v128_load(xp), wasm_v128_load(Wp + (long)(ky * KW + kx) * Cp + c)));
          }
        }
        wasm_v128_store(y + c, v_act(a0, &act));
      }
      for (; c < C; c++) {
        f32 a = bias[c];
        for (int ky = ky0; ky < ky1; ky++) {
          const f32 *xr = xn + ((long)(oy * SH - PT + ky * DH) * W) * C + c;
          for (int kx = kx0; kx < kx1; kx++) a += xr[(long)(ox * SW - PL + kx * DW) * C] * Wp[(long)(ky * KW + kx) * Cp + c];
        }
        y[c] = s_act(a, &act);
      }
    }
  }
}
