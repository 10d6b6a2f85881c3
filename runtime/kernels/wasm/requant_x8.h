// The requantizing store of the 8-bit convolution kernels (qconv2d_nhwc_x8, qdwconv2d_nhwc_x8): int32 sums
// times the per-column multiplier x_scale * w_scale / y_scale, rounded half to even (f32x4.nearest), plus
// the output zero point, saturated to the output type.
#pragma once
#include "common.h"
#include "tiles.h"

typedef struct { f32 zero, lo, hi; int is_signed, int32_out; } Requant;

/** Requantizes one row of 8 int32 sums (c0..3, c4..7) into nc <= 8 bytes at y (or stores the nc sums, for
 *  MatMulInteger's int32 output). */
static inline void requant_store(v128_t s0, v128_t s1, v4 m0, v4 m1, int nc, uint8_t *y, const Requant *rq) {
  if (rq->int32_out) {
    int32_t t[8];
    wasm_v128_store(t, s0);
    wasm_v128_store(t + 4, s1);
    __builtin_memcpy(y, t, nc * sizeof(int32_t));
    return;
  }
  v4 z = wasm_f32x4_splat(rq->zero), lo = wasm_f32x4_splat(rq->lo), hi = wasm_f32x4_splat(rq->hi);
  v4 r0 = wasm_f32x4_mul(wasm_f32x4_convert_i32x4(s0), m0);
  v4 r1 = wasm_f32x4_mul(wasm_f32x4_convert_i32x4(s1), m1);
  r0 = wasm_f32x4_pmin(wasm_f32x4_pmax(wasm_f32x4_add(wasm_f32x4_nearest(r0), z), lo), hi);
  r1 = wasm_f32x4_pmin(wasm_f32x4_pmax(wasm_f32x4_add(wasm_f32x4_nearest(r1), z), lo), hi);
  v128_t h = wasm_i16x8_narrow_i32x4(wasm_i32x4_trunc_sat_f32x4(r0), wasm_i32x4_trunc_sat_f32x4(r1));
  v128_t q = rq->is_signed ? wasm_i8x16_narrow_i16x8(h, h) : wasm_u8x16_narrow_i16x8(h, h);
  if (nc == NR) {
    wasm_v128_store64_lane(y, q, 0);
  } else {
    uint8_t t[16];
    wasm_v128_store(t, q);
    for (int j = 0; j < nc; j++) y[j] = t[j];
  }
}
