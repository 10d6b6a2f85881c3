// Cast between float32, uint8, int8 and int32 (what a quantized model's leftover float arithmetic casts
// through), as the fallback backend's JavaScript kernel computes it (onnxruntime on x86): a float becomes
// an integer by truncation toward zero, NaN and values outside int32 by 0x80000000, then keeps its low
// bits (uint8/int8 wrap); integers become floats rounded to nearest.
#include "common.h"

enum { T_F32 = 0, T_U8 = 1, T_I8 = 2, T_I32 = 3 };

static inline int32_t f32_to_i32_bits(f32 x) {
  return x > -2147483648.0f && x < 2147483648.0f ? (int32_t)x : (int32_t)0x80000000u;
}

static inline int32_t load_int(const void *X, int from, long i) {
  if (from == T_U8) return ((const uint8_t *)X)[i];
  if (from == T_I8) return ((const int8_t *)X)[i];
  return ((const int32_t *)X)[i];
}

// p: 0 X, 1 Y, 2 n (elements), 3 from, 4 to (T_* codes; from != to)
EXPORT(cast) {
  const void *X = pp(p, 0);
  void *Y = pp(p, 1);
  int n = p[2], from = p[3], to = p[4], lo, hi;
  split((n + 63) / 64, tid, nthreads, &lo, &hi);
  long i0 = (long)lo * 64, i1 = (long)hi * 64 < n ? (long)hi * 64 : n;
  if (from == T_F32) {
    const f32 *x = (const f32 *)X;
    if (to == T_I32) for (long i = i0; i < i1; i++) ((int32_t *)Y)[i] = f32_to_i32_bits(x[i]);
    else for (long i = i0; i < i1; i++) ((uint8_t *)Y)[i] = (uint8_t)f32_to_i32_bits(x[i]);
    return;
  }
  if (to == T_F32) {
    for (long i = i0; i < i1; i++) ((f32 *)Y)[i] = (f32)load_int(X, from, i);
    return;
  }
  if (to == T_I32) for (long i = i0; i < i1; i++) ((int32_t *)Y)[i] = load_int(X, from, i);
  else for (long i = i0; i < i1; i++) ((uint8_t *)Y)[i] = (uint8_t)load_int(X, from, i);
}
