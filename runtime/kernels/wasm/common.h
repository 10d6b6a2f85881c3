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

// ---- activation (the fused epilogue of Conv/Gemm/MatMul/Add and the unary kernel) -----
// Three words in a call's parameters: a kind, then two words. ACT_CLAMP: min(max(x, lo), hi)
// (Relu, Clip: the common ones, in two instructions); ACT_EXPR: the first word is the offset,
// in words from the parameter block, of an expression program the runtime appended to it
// (ops/expr.py's program of the op, encoded by runtime/src/backends/wasm/expr_words.ts and
// checked there: every argument indexes an earlier instruction, at most EXPR_MAX of them).
enum { ACT_NONE = 0, ACT_CLAMP = 1, ACT_EXPR = 2 };
#define EXPR_MAX 64

typedef struct { int kind; f32 lo, hi; const int32_t *prog; } Act;

static inline Act act_from(const int32_t *p, int i) {
  Act a = {p[i], pf(p, i + 1), pf(p, i + 2), p[i] == ACT_EXPR ? p + p[i + 1] : 0};
  return a;
}

// NaN and the infinities: wasm's f32x4.pmax(a, b) is `a < b ? b : a` and pmin(a, b) is
// `b < a ? b : a`, so with the variable first, pmax(x, c) / pmin(x, c) pass a NaN x through (a
// plain maxps/minps on x86, where f32x4.max/min, which also propagate NaN, cost a longer
// sequence). Every clamp below is written that way: NaN in, NaN out, as in onnxruntime.

/** e^x for f32x4: Cody-Waite range reduction and a degree-6 polynomial (rel. error < 2e-7).
 *  Below -87.34 (where e^x leaves the normal range) it is exactly 0, above 88.72 (log of the
 *  largest float) +inf, so e^-inf = 0 and a softmax's masked entries are exactly 0; NaN stays
 *  NaN. 2^n is applied as two factors, so that n = 128 (x near 88.7) does not overflow it. */
static inline v4 v_exp(v4 x) {
  const v4 lo = wasm_f32x4_splat(-87.33654f), hi = wasm_f32x4_splat(88.72283f);
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
  // 2^n = 2^n1 * 2^n2 with n1 = n >> 1: n is in [-126, 128] after the clamp (0 for NaN, whose q
  // is NaN), each factor's exponent in [-63, 64].
  v4 ni = wasm_i32x4_trunc_sat_f32x4(n);
  v4 n1 = wasm_i32x4_shr(ni, 1), n2 = wasm_i32x4_sub(ni, n1);
  v4 p1 = wasm_i32x4_shl(wasm_i32x4_add(n1, wasm_i32x4_splat(127)), 23);
  v4 p2 = wasm_i32x4_shl(wasm_i32x4_add(n2, wasm_i32x4_splat(127)), 23);
  v4 e = wasm_v128_andnot(wasm_f32x4_mul(wasm_f32x4_mul(q, p1), p2), under);
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

// erf(x) = x * P(x^2) / Q(x^2) on x clamped to [-4, 4] (erf(4) = 1 - 1.5e-8): a degree 5/5
// rational fitted here (iterated weighted least squares on [0, 4]); evaluated in f32 its
// absolute error is < 5e-7 on [-6, 6] (checked against math.erf), with one division and no exp.
// From |x| >= 3.9 on, erf(x) rounds to +-1 in f32: returned exactly, so that gelu(-inf) is NaN
// and gelu of a huge negative x is -0, as onnxruntime has them.
static inline v4 v_erf(v4 x) {
  v4 sat = wasm_f32x4_ge(wasm_f32x4_abs(x), wasm_f32x4_splat(3.9f));  // (false for NaN)
  v4 one = wasm_v128_or(wasm_f32x4_splat(1.0f), wasm_v128_and(x, wasm_i32x4_splat((int32_t)0x80000000)));
  x = wasm_f32x4_pmin(wasm_f32x4_pmax(x, wasm_f32x4_splat(-4.0f)), wasm_f32x4_splat(4.0f));  // NaN passes
  v4 t = wasm_f32x4_mul(x, x);
  v4 P = wasm_f32x4_splat(1.9744734345295e-06f);
  P = v_madd(P, t, wasm_f32x4_splat(0.00028795673279091716f));
  P = v_madd(P, t, wasm_f32x4_splat(0.004002056084573269f));
  P = v_madd(P, t, wasm_f32x4_splat(0.05346264690160751f));
  P = v_madd(P, t, wasm_f32x4_splat(0.19621871411800385f));
  P = v_madd(P, t, wasm_f32x4_splat(1.128378987312317f));
  v4 Q = wasm_f32x4_splat(3.7472604162758216e-05f);
  Q = v_madd(Q, t, wasm_f32x4_splat(0.0012158772442489862f));
  Q = v_madd(Q, t, wasm_f32x4_splat(0.015441368333995342f));
  Q = v_madd(Q, t, wasm_f32x4_splat(0.11646313220262527f));
  Q = v_madd(Q, t, wasm_f32x4_splat(0.507225513458252f));
  Q = v_madd(Q, t, wasm_f32x4_splat(1.0f));
  return wasm_v128_bitselect(one, wasm_f32x4_div(wasm_f32x4_mul(x, P), Q), sat);
}

/** expm1 (the cubic series where exp(x) - 1 would lose x's digits). */
static inline v4 v_expm1(v4 x) {
  v4 series = wasm_f32x4_mul(x, v_madd(x, v_madd(x, wasm_f32x4_splat(1.0f / 6.0f), wasm_f32x4_splat(0.5f)),
                                        wasm_f32x4_splat(1.0f)));
  v4 small = wasm_f32x4_lt(wasm_f32x4_abs(x), wasm_f32x4_splat(1e-3f));
  return wasm_v128_bitselect(series, wasm_f32x4_sub(v_exp(x), wasm_f32x4_splat(1.0f)), small);
}

/** sign(x): -1, 0 (keeping -0) or 1; NaN stays NaN. */
static inline v4 v_sign(v4 x) {
  v4 one = wasm_f32x4_splat(1.0f);
  v4 s = wasm_v128_or(one, wasm_v128_and(x, wasm_i32x4_splat((int32_t)0x80000000)));
  return wasm_v128_bitselect(x, s, wasm_v128_or(wasm_f32x4_eq(x, wasm_f32x4_splat(0.0f)), wasm_f32x4_ne(x, x)));
}

// Opcodes of the interpreted primitives: ops/expr.py's OPCODES numbering (tests check it).
// The interpreter runs the primitives an epilogue may hold (unary_ops.EPILOGUE_PRIMITIVES);
// comparisons give lane masks, read only as where()'s condition (the converter sends no other).
enum { OP_X = 0, OP_C = 1, OP_NEG = 2, OP_ABS = 3, OP_FLOOR = 4, OP_CEIL = 5, OP_ROUND = 6, OP_SIGN = 7,
       OP_SQRT = 8, OP_EXP = 9, OP_EXPM1 = 10, OP_TANH = 13, OP_SIGMOID = 14, OP_ERF = 15,
       OP_ADD = 27, OP_SUB = 28, OP_MUL = 29, OP_DIV = 30, OP_MIN = 32, OP_MAX = 33,
       OP_LT = 34, OP_LE = 35, OP_GT = 36, OP_GE = 37, OP_EQ = 38, OP_WHERE = 39 };

/** The program at `prog` ([n, then n instructions of 4 words: opcode, three arguments]) on x.
 *  Out of line: the rare activations pay a call, the kernels' loops stay small. */
static __attribute__((noinline)) v4 v_expr(v4 x, const int32_t *prog) {
  v4 r[EXPR_MAX];
  int n = prog[0];
  const int32_t *in = prog + 1;
  for (int i = 0; i < n; i++, in += 4) {
    v4 a = r[in[1] & (EXPR_MAX - 1)], b = r[in[2] & (EXPR_MAX - 1)];
    switch (in[0]) {
      case OP_X: r[i] = x; break;
      case OP_C: r[i] = wasm_i32x4_splat(in[1]); break;  // the constant's float32 bits
      case OP_NEG: r[i] = wasm_f32x4_neg(a); break;
      case OP_ABS: r[i] = wasm_f32x4_abs(a); break;
      case OP_FLOOR: r[i] = wasm_f32x4_floor(a); break;
      case OP_CEIL: r[i] = wasm_f32x4_ceil(a); break;
      case OP_ROUND: r[i] = wasm_f32x4_nearest(a); break;
      case OP_SIGN: r[i] = v_sign(a); break;
      case OP_SQRT: r[i] = wasm_f32x4_sqrt(a); break;
      case OP_EXP: r[i] = v_exp(a); break;
      case OP_EXPM1: r[i] = v_expm1(a); break;
      case OP_TANH: r[i] = v_tanh(a); break;
      case OP_SIGMOID: r[i] = v_sigmoid(a); break;
      case OP_ERF: r[i] = v_erf(a); break;
      case OP_ADD: r[i] = wasm_f32x4_add(a, b); break;
      case OP_SUB: r[i] = wasm_f32x4_sub(a, b); break;
      case OP_MUL: r[i] = wasm_f32x4_mul(a, b); break;
      case OP_DIV: r[i] = wasm_f32x4_div(a, b); break;
      case OP_MIN: r[i] = wasm_f32x4_pmin(a, b); break;  // b < a ? b : a
      case OP_MAX: r[i] = wasm_f32x4_pmax(a, b); break;  // a < b ? b : a
      case OP_LT: r[i] = wasm_f32x4_lt(a, b); break;
      case OP_LE: r[i] = wasm_f32x4_le(a, b); break;
      case OP_GT: r[i] = wasm_f32x4_gt(a, b); break;
      case OP_GE: r[i] = wasm_f32x4_ge(a, b); break;
      case OP_EQ: r[i] = wasm_f32x4_eq(a, b); break;
      case OP_WHERE: r[i] = wasm_v128_bitselect(b, r[in[3] & (EXPR_MAX - 1)], a); break;
      default: r[i] = wasm_f32x4_splat(__builtin_nanf("")); break;
    }
  }
  return r[(n - 1) & (EXPR_MAX - 1)];
}

static inline __attribute__((always_inline)) v4 v_act(v4 v, const Act *a) {
  switch (a->kind) {
    case ACT_CLAMP: return wasm_f32x4_pmin(wasm_f32x4_pmax(v, wasm_f32x4_splat(a->lo)), wasm_f32x4_splat(a->hi));
    case ACT_EXPR: return v_expr(v, a->prog);
    default: return v;
  }
}

static inline f32 s_act(f32 x, const Act *a) {
  if (a->kind == ACT_NONE) return x;
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
