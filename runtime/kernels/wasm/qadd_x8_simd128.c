// QLinearAdd on 8-bit tensors of one shape (any layout: both operands and the output share it):
// Y = saturate(round(((A - a_zero) * a_scale + (B - b_zero) * b_scale) / y_scale) + y_zero), each step
// in float32 as DequantizeLinear, Add and QuantizeLinear compute it (so the QDQ graph's own result).
#include "common.h"

typedef struct { v4 scale, zero; int is_signed; } Deq;

/** Lanes 4q..4q+3 of 16 8-bit values, as float32 less the zero point, times the scale. */
static inline v4 deq4(v128_t b, int q, const Deq *d) {
  v128_t h = (q < 2) ? (d->is_signed ? wasm_i16x8_extend_low_i8x16(b) : wasm_u16x8_extend_low_u8x16(b))
                     : (d->is_signed ? wasm_i16x8_extend_high_i8x16(b) : wasm_u16x8_extend_high_u8x16(b));
  v128_t w = (q & 1) ? wasm_i32x4_extend_high_i16x8(h) : wasm_i32x4_extend_low_i16x8(h);
  return wasm_f32x4_mul(wasm_f32x4_sub(wasm_f32x4_convert_i32x4(w), d->zero), d->scale);
}

// p: 0 A, 1 B, 2 Y, 3 n (elements), 4 a scale (f32), 5 a zero point, 6 a signed, 7 b scale (f32), 8 b zero point,
//    9 b signed, 10 y scale (f32), 11 y zero point, 12 y signed
EXPORT(qadd_x8) {
  const uint8_t *A = (const uint8_t *)pp(p, 0), *B = (const uint8_t *)pp(p, 1);
  uint8_t *Y = (uint8_t *)pp(p, 2);
  int n = p[3], ys = p[12];
  Deq da = {wasm_f32x4_splat(pf(p, 4)), wasm_f32x4_splat((f32)p[5]), p[6]};
  Deq db = {wasm_f32x4_splat(pf(p, 7)), wasm_f32x4_splat((f32)p[8]), p[9]};
  v4 yscale = wasm_f32x4_splat(pf(p, 10)), yz = wasm_f32x4_splat((f32)p[11]);
  v4 lo = wasm_f32x4_splat(ys ? -128.f : 0.f), hi = wasm_f32x4_splat(ys ? 127.f : 255.f);
  int chunks = (n + 15) / 16, c0, c1;
  split(chunks, tid, nthreads, &c0, &c1);
  for (int c = c0; c < c1; c++) {
    int i = c * 16, m = imin(16, n - i);
    uint8_t ta[16] = {0}, tb[16] = {0}, ty[16];
    const uint8_t *pa = A + i, *pb = B + i;
    if (m < 16) {
      for (int j = 0; j < m; j++) { ta[j] = pa[j]; tb[j] = pb[j]; }
      pa = ta;
      pb = tb;
    }
    v128_t a = wasm_v128_load(pa), b = wasm_v128_load(pb);
    v128_t r[4];
#pragma clang loop unroll(full)
    for (int q = 0; q < 4; q++) {
      v4 s = wasm_f32x4_div(wasm_f32x4_add(deq4(a, q, &da), deq4(b, q, &db)), yscale);
      s = wasm_f32x4_pmin(wasm_f32x4_pmax(wasm_f32x4_add(wasm_f32x4_nearest(s), yz), lo), hi);
      r[q] = wasm_i32x4_trunc_sat_f32x4(s);
    }
    v128_t h0 = wasm_i16x8_narrow_i32x4(r[0], r[1]), h1 = wasm_i16x8_narrow_i32x4(r[2], r[3]);
    v128_t y = ys ? wasm_i8x16_narrow_i16x8(h0, h1) : wasm_u8x16_narrow_i16x8(h0, h1);
    if (m == 16) {
      wasm_v128_store(Y + i, y);
    } else {
      wasm_v128_store(ty, y);
      for (int j = 0; j < m; j++) Y[i + j] = ty[j];
    }
  }
}
