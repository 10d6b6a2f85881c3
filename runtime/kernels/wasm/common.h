// Shared definitions of the WebDNN wasm kernels: freestanding C (no libc), SIMD128.
//
// Calling convention (ABI 2): every exported kernel is
//     void name(const int32_t *p, int32_t tid, int32_t nthreads)
// where `p` points at the call's parameter block in linear memory (32-bit words:
// pointers, integers and float32 bit patterns, laid out per kernel as documented at each
// kernel), written once by the runtime when the session is created.
//
// Threads: the runtime calls the same kernel with the same `p` on every thread at once
// (tid = 0..nthreads-1) and waits for all of them before the next call. There is no
// barrier inside a call, so each thread must compute a disjoint part of the output and
// must not read what another thread writes in the same call. Per-thread scratch lives on
// the thread's own stack (locals / VLAs); the converter declares the largest stack need
// of the model (descriptor `wasm.stackBytes`) and the runtime gives every thread a stack
// that big.
#pragma once
#include <stdint.h>
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name))) void name(const int32_t *p, int32_t tid, int32_t nthreads)

typedef float f32;
typedef v128_t v4;

/** acc + a * b: one fused multiply-add in the relaxed-SIMD build (where the engine has FMA),
 *  a multiply and an add in the SIMD128 build. */
static inline v4 v_madd(v4 a, v4 b, v4 acc) {
#ifdef __wasm_relaxed_simd__
  return wasm_f32x4_relaxed_madd(a, b, acc);
#else
  return wasm_f32x4_add(acc, wasm_f32x4_mul(a, b));
#endif
}

static inline f32 pf(const int32_t *p, int i) { return __builtin_bit_cast(f32, p[i]); }
static inline f32 *pp(const int32_t *p, int i) { return (f32 *)(uintptr_t)(uint32_t)p[i]; }

static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }

/** The [lo, hi) slice of n items that thread `tid` of `nt` takes. */
static inline void split(int n, int tid, int nt, int *lo, int *hi) {
  if (nt <= 1) { *lo = 0; *hi = n; return; }
  int q = n / nt, r = n % nt;
  *lo = tid * q + imin(tid, r);
  *hi = *lo + q + (tid < r);
}

/** How many column chunks to cut a grid of `blocks` row blocks into so that `nt` threads
 *  all get work: 1 when there are plenty of row blocks, else up to `maxchunks`. */
static inline int col_chunks(int blocks, int nt, int maxchunks) {
  if (nt <= 1 || blocks >= 4 * nt) return 1;
  int want = (4 * nt + blocks - 1) / blocks;
  return imax(1, imin(want, maxchunks));
}

// ---- activation (the fused epilogue of Conv/Gemm/MatMul and the unary kernel) --------
enum { ACT_NONE = 0, ACT_RELU = 1, ACT_CLIP = 2, ACT_LEAKY = 3, ACT_SIGMOID = 4, ACT_HARDSIGMOID = 5,
       ACT_HARDSWISH = 6, ACT_TANH = 7 };

typedef struct { int type; f32 a, b; } Act;

static inline Act act_from(const int32_t *p, int i) { Act a = {p[i], pf(p, i + 1), pf(p, i + 2)}; return a; }

// NaN and the infinities: wasm's f32x4.pmax(a, b) is `a < b ? b : a` and pmin(a, b) is
// `b < a ? b : a`, so with the variable first, pmax(x, c) / pmin(x, c) pass a NaN x through (a
// plain maxps/minps on x86, where f32x4.max/min, which also propagate NaN, cost a longer
// sequence). Every clamp below is written that way: NaN in, NaN out, as in onnxruntime.

/** e^x for f32x4: Cody-Waite range reduction and a degree-6 polynomial (rel. error < 2e-7).
 *  Below -87.34 (where e^x leaves the normal range) it is exactly 0, above 88.37 +inf, so
 *  e^-inf = 0 and a softmax's masked entries are exactly 0; NaN stays NaN. */
static inline v4 v_exp(v4 x) {
  const v4 lo = wasm_f32x4_splat(-87.33654f), hi = wasm_f32x4_splat(88.37626f);
  v4 under = wasm_f32x4_lt(x, lo), over = wasm_f32x4_gt(x, hi);
  x = wasm_f32x4_pmin(wasm_f32x4_pmax(x, lo), hi);
  v4 n = wasm_f32x4_nearest(wasm_f32x4_mul(x, wasm_f32x4_splat(1.44269504f)));
  v4 r = wasm_f32x4_sub(x, wasm_f32x4_mul(n, wasm_f32x4_splat(0.693359375f)));
  r = wasm_f32x4_sub(r, wasm_f32x4_mul(n, wasm_f32x4_splat(-2.12194440e-4f)));
  v4 q = wasm_f32x4_splat(1.9875691500e-4f);
  q = wasm_f32x4_add(wasm_f32x4_mul(q, r), wasm_f32x4_splat(1.3981999507e-3f));
  q = wasm_f32x4_add(wasm_f32x4_mul(q, r), wasm_f32x4_splat(8.3334519073e-3f));
  q = wasm_f32x4_add(wasm_f32x4_mul(q, r), wasm_f32x4_splat(4.1665795894e-2f));
  q = wasm_f32x4_add(wasm_f32x4_mul(q, r), wasm_f32x4_splat(1.6666665459e-1f));
  q = wasm_f32x4_add(wasm_f32x4_mul(q, r), wasm_f32x4_splat(5.0000001201e-1f));
  q = wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(q, r), r), r);
  q = wasm_f32x4_add(q, wasm_f32x4_splat(1.0f));
  // 2^n: n is in [-126, 127] after the clamp (and 0 for NaN, whose q is NaN).
  v4 pow2 = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_splat(127)), 23);
  v4 e = wasm_v128_andnot(wasm_f32x4_mul(q, pow2), under);
  return wasm_v128_bitselect(wasm_f32x4_splat(__builtin_inff()), e, over);
}

static inline v4 v_sigmoid(v4 x) {
  v4 one = wasm_f32x4_splat(1.0f);
  return wasm_f32x4_div(one, wasm_f32x4_add(one, v_exp(wasm_f32x4_neg(x))));
}

static inline v4 v_tanh(v4 x) {
  // tanh|x| = 1 - 2 / (e^{2|x|} + 1), sign restored; absolute error ~1e-7.
  v4 ax = wasm_f32x4_abs(x);
  v4 one = wasm_f32x4_splat(1.0f);
  v4 t = wasm_f32x4_sub(one, wasm_f32x4_div(wasm_f32x4_splat(2.0f), wasm_f32x4_add(v_exp(wasm_f32x4_add(ax, ax)), one)));
  return wasm_v128_or(t, wasm_v128_and(x, wasm_i32x4_splat((int32_t)0x80000000)));
}

static inline v4 v_act(v4 v, const Act *a) {
  switch (a->type) {
    case ACT_RELU: return wasm_f32x4_pmax(v, wasm_f32x4_splat(0.0f));
    case ACT_CLIP: return wasm_f32x4_pmin(wasm_f32x4_pmax(v, wasm_f32x4_splat(a->a)), wasm_f32x4_splat(a->b));
    case ACT_LEAKY: {
      v4 neg = wasm_f32x4_lt(v, wasm_f32x4_splat(0.0f));
      return wasm_v128_bitselect(wasm_f32x4_mul(v, wasm_f32x4_splat(a->a)), v, neg);
    }
    case ACT_SIGMOID: return v_sigmoid(v);
    case ACT_HARDSIGMOID: {
      v4 t = wasm_f32x4_add(wasm_f32x4_mul(v, wasm_f32x4_splat(a->a)), wasm_f32x4_splat(a->b));
      return wasm_f32x4_pmin(wasm_f32x4_pmax(t, wasm_f32x4_splat(0.0f)), wasm_f32x4_splat(1.0f));
    }
    case ACT_HARDSWISH: {
      v4 t = wasm_f32x4_add(wasm_f32x4_mul(v, wasm_f32x4_splat(1.0f / 6.0f)), wasm_f32x4_splat(0.5f));
      t = wasm_f32x4_pmin(wasm_f32x4_pmax(t, wasm_f32x4_splat(0.0f)), wasm_f32x4_splat(1.0f));
      return wasm_f32x4_mul(v, t);
    }
    case ACT_TANH: return v_tanh(v);
    default: return v;
  }
}

static inline f32 s_act(f32 x, const Act *a) {
  if (a->type == ACT_NONE) return x;
  return wasm_f32x4_extract_lane(v_act(wasm_f32x4_splat(x), a), 0);
}

/** Store the first n (< 4) lanes of v at dst. */
static inline void store_partial(f32 *dst, v4 v, int n) {
  if (n & 2) { wasm_v128_store64_lane(dst, v, 0); v = wasm_i64x2_shuffle(v, v, 1, 1); dst += 2; }
  if (n & 1) wasm_v128_store32_lane(dst, v, 0);
}

/** Store the first n (<= 8) values of the 8-wide row (v0, v1) at dst: a GEMM tile's row. */
static inline void store_row8(f32 *dst, v4 v0, v4 v1, int n) {
  if (n == 8) {
    wasm_v128_store(dst, v0);
    wasm_v128_store(dst + 4, v1);
  } else if (n >= 4) {
    wasm_v128_store(dst, v0);
    store_partial(dst + 4, v1, n - 4);
  } else {
    store_partial(dst, v0, n);
  }
}
