// ReduceMin / ReduceMax of a whole float32 tensor to one value (DynamicQuantizeLinear's range): as the
// fallback's JavaScript kernel computes it, NaN anywhere gives NaN; between equal values the first kept
// within each of the four lanes (a -0 / +0 tie may keep another zero's sign than a scalar scan would).
// One thread does it: there is no barrier inside a call to combine partial results, and a pass over
// the largest activation of a CNN takes a fraction of a millisecond.
#include "common.h"

// p: 0 X, 1 Y (one float), 2 n (>= 1), 3 mode (0 min, 1 max)
EXPORT(reduce_all_f32) {
  if (tid != 0) return;
  const f32 *X = pp(p, 0);
  f32 *Y = pp(p, 1);
  int n = p[2], is_max = p[3], i = 0;
  f32 first = X[0];
  v4 acc = wasm_f32x4_splat(first), nan = wasm_i32x4_splat(0);
  for (; i + 4 <= n; i += 4) {
    v4 v = wasm_v128_load(X + i);
    nan = wasm_v128_or(nan, wasm_f32x4_ne(v, v));
    acc = is_max ? wasm_f32x4_pmax(acc, v) : wasm_f32x4_pmin(acc, v);  // acc < v ? v : acc (keeps ties, skips NaN)
  }
  f32 r = wasm_f32x4_extract_lane(acc, 0);
  f32 lanes[3] = {wasm_f32x4_extract_lane(acc, 1), wasm_f32x4_extract_lane(acc, 2), wasm_f32x4_extract_lane(acc, 3)};
  int any_nan = wasm_v128_any_true(nan);
  for (int j = 0; j < 3; j++) r = is_max ? (r < lanes[j] ? lanes[j] : r) : (lanes[j] < r ? lanes[j] : r);
  for (; i < n; i++) {
    f32 v = X[i];
    if (v != v) any_nan = 1;
    else r = is_max ? (r < v ? v : r) : (v < r ? v : r);
  }
  Y[0] = any_nan ? __builtin_nanf("") : r;
}
