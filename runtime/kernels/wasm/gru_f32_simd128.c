// GRU over a whole sequence (f32, SIMD128): the recurrence of ONNX GRU with the default activations
// (sigmoid, tanh), optional initial state, every direction, both linear_before_reset forms.
//
// As lstm_f32: the input projections of every step come precomputed (XW, with Wb + Rb folded in,
// but for linear_before_reset Rb_h, which stays inside the reset gate's product and comes as Rbh),
// gate columns interleaved by blocks of 8 units (z, r, h), R^T packed likewise into 8-wide panels:
//   z = s(xz + h Rz), r = s(xr + h Rr),
//   h~ = tanh(xh + (r . h) Rh)            (linear_before_reset = 0: needs r for every unit first)
//   h~ = tanh(xh + r . (h Rh + Rbh))      (linear_before_reset = 1)
//   h' = h~ + z (h - h~)
// Each step reads h from Y's previous step and writes Y's current one. Threads take whole directions.
#include "gemm_tile_f32_simd128.h"

// gru_f32: Y[T, dirs, B, H], Yh[dirs, B, H] from XW[T * B, dirs * 3 * Hp].
// p: 0 XW, 1 Rpacked ([dirs][3 * Hp / 8][H][8]), 2 Rbh ([dirs][Hp], linear_before_reset only; else 0),
//    3 h0 ([dirs, B, H]; 0: zeros), 4 Y, 5 Yh, 6 T, 7 B, 8 H, 9 dirs,
//    10 direction (0 forward, 1 reverse, 2 bidirectional), 11 linear_before_reset
// Stack: 2 * Hp floats per thread (a row's z and r, or r . h).
EXPORT(gru_f32) {
  const f32 *XW = pp(p, 0), *Rp = pp(p, 1), *Rbh = pp(p, 2), *h0 = pp(p, 3);
  f32 *Y = pp(p, 4), *Yh = pp(p, 5);
  int T = p[6], B = p[7], H = p[8], dirs = p[9], mode = p[10], lbr = p[11];
  int Hp = (H + NR - 1) / NR * NR, G = 3 * Hp, blocks = Hp / NR;
  f32 zs[Hp], rs[Hp];
  for (int d = tid; d < dirs; d += nthreads) {
    int reverse = mode == 1 || (mode == 2 && d == 1);
    const f32 *R = Rp + (long)d * G * H;
    const f32 *rbh = Rbh ? Rbh + (long)d * Hp : 0;
    const f32 *hprev = h0 ? h0 + (long)d * B * H : 0;  // [B, H]
    v4 zero = wasm_f32x4_splat(0.f);
    for (int s = 0; s < T; s++) {
      int t = reverse ? T - 1 - s : s;
      f32 *ht = Y + ((long)t * dirs + d) * B * H;
      for (int b = 0; b < B; b++) {
        const f32 *x = XW + ((long)t * B + b) * dirs * G + (long)d * G;
        const f32 *hb = hprev ? hprev + (long)b * H : 0;
        // z and r of every unit; with linear_before_reset = 0, rs holds r . h (the product Rh reads)
        for (int u = 0; u < blocks; u++) {
          v4 g[2][2];
          gate_pre(x, R, hb, H, u * 3, 2, g);
          wasm_v128_store(zs + u * NR, v_sigmoid(g[0][0]));
          wasm_v128_store(zs + u * NR + 4, v_sigmoid(g[0][1]));
          v4 r0 = v_sigmoid(g[1][0]), r1 = v_sigmoid(g[1][1]);
          wasm_v128_store(rs + u * NR, r0);
          wasm_v128_store(rs + u * NR + 4, r1);
        }
        if (!lbr) {
          for (int j = 0; j < Hp; j++) rs[j] = hb && j < H ? rs[j] * hb[j] : 0.f;
        }
        for (int u = 0; u < blocks; u++) {
          v4 c0 = wasm_v128_load(x + (u * 3 + 2) * NR), c1 = wasm_v128_load(x + (u * 3 + 2) * NR + 4);
          const f32 *rh = R + (long)(u * 3 + 2) * H * NR;
          v4 r0 = wasm_v128_load(rs + u * NR), r1 = wasm_v128_load(rs + u * NR + 4);
          if (lbr) {  // r . (h Rh + Rbh)
            v4 a0 = wasm_v128_load(rbh + u * NR), a1 = wasm_v128_load(rbh + u * NR + 4);
            if (hb) row_dot(hb, rh, H, &a0, &a1);
            c0 = v_madd(r0, a0, c0);
            c1 = v_madd(r1, a1, c1);
          } else if (hb) {  // (r . h) Rh
            row_dot(rs, rh, H, &c0, &c1);
          }
          v4 h_0 = v_tanh(c0), h_1 = v_tanh(c1);
          v4 p0 = zero, p1 = zero;
          if (hb) {
            f32 t[NR] = {0};
            for (int j = 0; j < NR && u * NR + j < H; j++) t[j] = hb[u * NR + j];
            p0 = wasm_v128_load(t);
            p1 = wasm_v128_load(t + 4);
          }
          v4 z0 = wasm_v128_load(zs + u * NR), z1 = wasm_v128_load(zs + u * NR + 4);
          h_0 = v_madd(z0, wasm_f32x4_sub(p0, h_0), h_0);
          h_1 = v_madd(z1, wasm_f32x4_sub(p1, h_1), h_1);
          store_row8(ht + (long)b * H + u * NR, h_0, h_1, imin(NR, H - u * NR));
        }
      }
      hprev = ht;
    }
    for (int b = 0; b < B; b++) {
      for (int j = 0; j < H; j++) Yh[((long)d * B + b) * H + j] = hprev ? hprev[(long)b * H + j] : 0.f;
    }
  }
}
