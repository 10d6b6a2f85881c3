// LSTM over a whole sequence (f32, SIMD128): the recurrence of ONNX LSTM with the default
// activations (sigmoid, tanh, tanh), optional peepholes and initial states, every direction.
//
// The input projections X * W^T + Wb + Rb of every step come precomputed (one gemm_f32 call over
// the whole sequence, XW). Gate columns are interleaved by blocks of 8 hidden units, as the
// converter packs them (backends/wasm/recurrent.py): within a direction, block u holds the four
// gates i, o, f, c of units 8u..8u+7, columns (4u + g) * 8 + lane, hidden padded to Hp = 8 * ceil(H / 8).
// R^T is packed by unit block, its four gate panels interleaved by k ([dirs][Hp / 8][H][4][8]): a block's
// recurrent product reads one stream from one pointer, each load at an offset clang folds into the instruction
// (panels_dot_k: one broadcast of h[k] for all four gates), and the cell update runs in registers on the four gate vectors:
//   i = s(xi + h Ri + pi c), f = s(xf + h Rf + pf c), g = tanh(xc + h Rc), c' = f c + i g,
//   o = s(xo + h Ro + po c'), h' = o tanh(c').
// Each step reads h from Y's previous step and writes Y's current one; c lives on the stack.
// Threads take whole directions (there is no barrier inside a call): a bidirectional layer runs its
// two directions at once on two threads.
#include "gemm_tile_f32_simd128.h"

/** The cell update of 4 units: gates x (i, o, f, c pre-activations), state c (updated); returns h. */
static inline __attribute__((always_inline)) v4 cell4(v4 xi, v4 xo, v4 xf, v4 xc, v4 *c, v4 pi, v4 po, v4 pf) {
  v4 i = v_sigmoid(v_madd(pi, *c, xi));
  v4 f = v_sigmoid(v_madd(pf, *c, xf));
  v4 cn = v_madd(f, *c, wasm_f32x4_mul(i, v_tanh(xc)));
  v4 o = v_sigmoid(v_madd(po, cn, xo));
  *c = cn;
  return wasm_f32x4_mul(o, v_tanh(cn));
}

// lstm_f32: Y[T, dirs, B, H], Yh[dirs, B, H], Yc[dirs, B, H] from XW[T * B, dirs * 4 * Hp].
// p: 0 XW, 1 Rpacked ([dirs][Hp / 8][H][4][8]), 2 P (peepholes [dirs][3][Hp]: i, o, f; 0: none),
//    3 h0 ([dirs, B, H]; 0: zeros), 4 c0 (likewise), 5 Y, 6 Yh, 7 Yc, 8 T, 9 B, 10 H,
//    11 dirs, 12 direction (0 forward, 1 reverse, 2 bidirectional: direction 1 runs in reverse)
// Stack: B * Hp floats per thread (the cell state of the direction it runs).
EXPORT(lstm_f32) {
  const f32 *XW = pp(p, 0), *Rp = pp(p, 1), *P = pp(p, 2), *h0 = pp(p, 3), *c0 = pp(p, 4);
  f32 *Y = pp(p, 5), *Yh = pp(p, 6), *Yc = pp(p, 7);
  int T = p[8], B = p[9], H = p[10], dirs = p[11], mode = p[12];
  int Hp = (H + NR - 1) / NR * NR, G = 4 * Hp, blocks = Hp / NR;
  f32 cs[B * Hp];
  for (int d = tid; d < dirs; d += nthreads) {
    int reverse = mode == 1 || (mode == 2 && d == 1);
    const f32 *R = Rp + (long)d * G * H;
    const f32 *pd = P ? P + (long)d * 3 * Hp : 0;
    for (int b = 0; b < B; b++) {
      for (int j = 0; j < Hp; j++) cs[b * Hp + j] = c0 && j < H ? c0[((long)d * B + b) * H + j] : 0.f;
    }
    const f32 *hprev = h0 ? h0 + (long)d * B * H : 0;  // [B, H], row stride H
    for (int s = 0; s < T; s++) {
      int t = reverse ? T - 1 - s : s;
      f32 *ht = Y + ((long)t * dirs + d) * B * H;
      for (int b = 0; b < B; b++) {
        const f32 *x = XW + ((long)t * B + b) * dirs * G + (long)d * G;
        const f32 *hb = hprev ? hprev + (long)b * H : 0;
        for (int u = 0; u < blocks; u++) {
          v4 g[4][2];
#pragma clang loop unroll(full)
          for (int q = 0; q < 4; q++) {
            g[q][0] = wasm_v128_load(x + (u * 4 + q) * NR);
            g[q][1] = wasm_v128_load(x + (u * 4 + q) * NR + 4);
          }
          if (hb) panels_dot_k(hb, R + (long)u * 4 * H * NR, H, 4, g);
          v4 zero = wasm_f32x4_splat(0.f), pv[3][2];
#pragma clang loop unroll(full)
          for (int q = 0; q < 3; q++) {
            pv[q][0] = pd ? wasm_v128_load(pd + q * Hp + u * NR) : zero;
            pv[q][1] = pd ? wasm_v128_load(pd + q * Hp + u * NR + 4) : zero;
          }
          f32 *cb = cs + b * Hp + u * NR;
          v4 c_0 = wasm_v128_load(cb), c_1 = wasm_v128_load(cb + 4);
          v4 h_0 = cell4(g[0][0], g[1][0], g[2][0], g[3][0], &c_0, pv[0][0], pv[1][0], pv[2][0]);
          v4 h_1 = cell4(g[0][1], g[1][1], g[2][1], g[3][1], &c_1, pv[0][1], pv[1][1], pv[2][1]);
          wasm_v128_store(cb, c_0);
          wasm_v128_store(cb + 4, c_1);
          store_row8(ht + (long)b * H + u * NR, h_0, h_1, imin(NR, H - u * NR));
        }
      }
      hprev = ht;
    }
    for (int b = 0; b < B; b++) {
      for (int j = 0; j < H; j++) {
        Yh[((long)d * B + b) * H + j] = hprev ? hprev[(long)b * H + j] : 0.f;
        Yc[((long)d * B + b) * H + j] = cs[b * Hp + j];
      }
    }
  }
}
