// Elementwise f32 kernels (SIMD128): binary Add/Sub/Mul/Div with broadcasting over up to
// 4 dimensions (strides of 0 broadcast; the converter collapses the shapes), and unary
// activations.
#include "common.h"

enum { BIN_ADD = 0, BIN_SUB = 1, BIN_MUL = 2, BIN_DIV = 3 };

static inline v4 vop(int op, v4 a, v4 b) {
  switch (op) {
    case BIN_ADD: return wasm_f32x4_add(a, b);
    case BIN_SUB: return wasm_f32x4_sub(a, b);
    case BIN_MUL: return wasm_f32x4_mul(a, b);
    default: return wasm_f32x4_div(a, b);
  }
}

static inline f32 sop(int op, f32 a, f32 b) {
  switch (op) {
    case BIN_ADD: return a + b;
    case BIN_SUB: return a - b;
    case BIN_MUL: return a * b;
    default: return a / b;
  }
}

// One innermost row of n outputs; sa/sb are 1 (contiguous) or 0 (broadcast scalar).
static void row(int op, const f32 *a, int sa, const f32 *b, int sb, f32 *y, int n, const Act *act) {
  int i = 0;
  if (sa && sb) {
    for (; i + 4 <= n; i += 4) wasm_v128_store(y + i, v_act(vop(op, wasm_v128_load(a + i), wasm_v128_load(b + i)), act));
  } else if (sa) {
    v4 vb = wasm_f32x4_splat(*b);
    for (; i + 4 <= n; i += 4) wasm_v128_store(y + i, v_act(vop(op, wasm_v128_load(a + i), vb), act));
  } else if (sb) {
    v4 va = wasm_f32x4_splat(*a);
    for (; i + 4 <= n; i += 4) wasm_v128_store(y + i, v_act(vop(op, va, wasm_v128_load(b + i)), act));
  }
  for (; i < n; i++) y[i] = s_act(sop(op, a[i * sa], b[i * sb]), act);
}

// binary_f32: Y[d0,d1,d2,d3] = act(A op B), A/B read with element strides (0 = broadcast).
// p: 0 A, 1 B, 2 Y, 3 op, 4..7 dims d0..d3, 8..11 A strides, 12..15 B strides, 16..18 activation
EXPORT(binary_f32) {
  const f32 *A = pp(p, 0), *B = pp(p, 1);
  f32 *Y = pp(p, 2);
  int op = p[3], d0 = p[4], d1 = p[5], d2 = p[6], d3 = p[7];
  Act act = act_from(p, 16);
  // Tasks: (row, chunk of the row); rows are cut into chunks only when there are few of them.
  int outer = d0 * d1 * d2, chunk = outer >= 4 * nthreads ? d3 : imax(1024, (d3 / (4 * nthreads) + 3) & ~3);
  int per = (d3 + chunk - 1) / chunk, lo, hi;
  split(outer * per, tid, nthreads, &lo, &hi);
  for (int t = lo; t < hi; t++) {
    int o = t / per, j0 = (t % per) * chunk, n = imin(chunk, d3 - j0);
    int i0 = o / (d1 * d2), i1 = (o / d2) % d1, i2 = o % d2;
    const f32 *a = A + i0 * p[8] + i1 * p[9] + i2 * p[10] + j0 * p[11];
    const f32 *b = B + i0 * p[12] + i1 * p[13] + i2 * p[14] + j0 * p[15];
    row(op, a, p[11], b, p[15], Y + (long)o * d3 + j0, n, &act);
  }
}

// unary_f32: Y = act(X). p: 0 X, 1 Y, 2 n, 3..5 activation
EXPORT(unary_f32) {
  const f32 *X = pp(p, 0);
  f32 *Y = pp(p, 1);
  int n = p[2], lo, hi;
  Act act = act_from(p, 3);
  split((n + 1023) / 1024, tid, nthreads, &lo, &hi);
  int i = lo * 1024, end = imin(n, hi * 1024);
  for (; i + 4 <= end; i += 4) wasm_v128_store(Y + i, v_act(wasm_v128_load(X + i), &act));
  for (; i < end; i++) Y[i] = s_act(X[i], &act);
}

// softmax_f32 over the last axis: p: 0 X, 1 Y, 2 rows, 3 cols
EXPORT(softmax_f32) {
  const f32 *X = pp(p, 0);
  f32 *Y = pp(p, 1);
  int rows = p[2], cols = p[3], lo, hi;
  split(rows, tid, nthreads, &lo, &hi);
  for (int r = lo; r < hi; r++) {
    const f32 *x = X + (long)r * cols;
    f32 *y = Y + (long)r * cols;
    f32 m = -__builtin_inff();
    int i = 0;
    if (cols >= 4) {
      v4 vm = wasm_v128_load(x);
      for (i = 4; i + 4 <= cols; i += 4) vm = wasm_f32x4_pmax(vm, wasm_v128_load(x + i));
      m = wasm_f32x4_extract_lane(vm, 0);
      for (int l = 1; l < 4; l++) {
        f32 t = l == 1 ? wasm_f32x4_extract_lane(vm, 1) : l == 2 ? wasm_f32x4_extract_lane(vm, 2) : wasm_f32x4_extract_lane(vm, 3);
        m = t > m ? t : m;
      }
    }
    for (; i < cols; i++) m = x[i] > m ? x[i] : m;
    v4 vmax = wasm_f32x4_splat(m), vs = wasm_f32x4_splat(0.0f);
    f32 s = 0.0f;
    for (i = 0; i + 4 <= cols; i += 4) {
      v4 e = v_exp(wasm_f32x4_sub(wasm_v128_load(x + i), vmax));
      wasm_v128_store(y + i, e);
      vs = wasm_f32x4_add(vs, e);
    }
    for (; i < cols; i++) {
      f32 e = wasm_f32x4_extract_lane(v_exp(wasm_f32x4_splat(x[i] - m)), 0);
      y[i] = e;
      s += e;
    }
    s += wasm_f32x4_extract_lane(vs, 0) + wasm_f32x4_extract_lane(vs, 1) + wasm_f32x4_extract_lane(vs, 2) +
         wasm_f32x4_extract_lane(vs, 3);
    v4 inv = wasm_f32x4_splat(1.0f / s);
    for (i = 0; i + 4 <= cols; i += 4) wasm_v128_store(y + i, wasm_f32x4_mul(wasm_v128_load(y + i), inv));
    for (; i < cols; i++) y[i] *= 1.0f / s;
  }
}
