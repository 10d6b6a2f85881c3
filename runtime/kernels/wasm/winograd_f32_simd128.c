// Winograd F(4x4, 3x3) convolution in NHWC (f32, SIMD128): 3x3 Conv with stride 1,
// dilation 1 and one group, any pads. Each 4x4 output tile is computed from a 6x6 input
// tile with 36 multiplies per (input, output channel) pair instead of 144.
//
//   Y_tile = A^T [ sum_c U[c] (.) (B^T d_c B) ] A,   U[c] = G g_c G^T
//
// Interpolation points 0, 1, -1, 1/2, -2 and infinity: in fp32 their error is about a third
// of the usual 0, +-1, +-2 (docs/backends/wasm.md). src/webdnn/backends/wasm/winograd.py
// holds the same matrices and transforms the filters (U) at conversion time.
//
// Work: output tiles are numbered over (n, tile row, tile column); a block of TB
// consecutive tiles is input-transformed into V[36][TB][Cp] (Cp = C rounded up to 4, C
// contiguous: the 36 GEMM A operands), then, MCH output channels at a time, the 36 GEMMs
// V[xi] (TB x C) * U[xi] (C x M) go into Mb[36][TB][MCH] and are output-transformed into Y
// with the bias / residual / activation epilogue. V, Mb and a zero row for the padding
// are per-thread stack scratch (VLAs; the converter declares their size, see
// winograd.stack_bytes). Threads take (tile block, column chunk) work items; column chunks
// (whole 8-wide panels) are cut only when there are too few tile blocks for all threads.
#include "gemm_tile_f32_simd128.h"  // (MR, NR, MCH: tiles.h; MCH keeps Mb small: 36*TB*MCH floats)

// 1-D input transform r = B^T d (6 -> 6) for the points {0, 1, -1, 1/2, -2, inf}:
//   B^T = [ 1 -3/2 -2  3/2 1 0 ]
//         [ 0  -1  1/2 5/2 1 0 ]
//         [ 0   1 -5/2 1/2 1 0 ]
//         [ 0  -2  -1   2  1 0 ]
//         [ 0  1/2 -1 -1/2 1 0 ]
//         [ 0   1 -3/2 -2 3/2 1 ]
static inline __attribute__((always_inline)) void in1d(const v4 d[6], v4 r[6]) {
  v4 h = wasm_f32x4_splat(0.5f), h3 = wasm_f32x4_splat(1.5f), h5 = wasm_f32x4_splat(2.5f);
  v4 t = wasm_f32x4_sub(d[4], d[2]);  // d4 - d2
  v4 u = wasm_f32x4_sub(d[3], d[1]);  // d3 - d1
  r[0] = wasm_f32x4_add(wasm_f32x4_sub(wasm_f32x4_add(d[0], d[4]), wasm_f32x4_add(d[2], d[2])), wasm_f32x4_mul(h3, u));
  r[1] = wasm_f32x4_add(wasm_f32x4_sub(d[4], d[1]), wasm_f32x4_add(wasm_f32x4_mul(h, d[2]), wasm_f32x4_mul(h5, d[3])));
  r[2] = wasm_f32x4_add(wasm_f32x4_add(d[4], d[1]), wasm_f32x4_sub(wasm_f32x4_mul(h, d[3]), wasm_f32x4_mul(h5, d[2])));
  r[3] = wasm_f32x4_add(t, wasm_f32x4_add(u, u));
  r[4] = wasm_f32x4_sub(t, wasm_f32x4_mul(h, u));
  r[5] = wasm_f32x4_add(wasm_f32x4_sub(wasm_f32x4_add(d[5], d[1]), wasm_f32x4_add(d[3], d[3])), wasm_f32x4_mul(h3, t));
}

// 1-D output transform o = A^T m (6 -> 4):
//   A^T = [ 1 1  1  1   1 0 ]
//         [ 0 1 -1 1/2 -2 0 ]
//         [ 0 1  1 1/4  4 0 ]
//         [ 0 1 -1 1/8 -8 1 ]
static inline __attribute__((always_inline)) void out1d(const v4 m[6], v4 o[4]) {
  v4 a = wasm_f32x4_add(m[1], m[2]), b = wasm_f32x4_sub(m[1], m[2]);
  o[0] = wasm_f32x4_add(wasm_f32x4_add(m[0], a), wasm_f32x4_add(m[3], m[4]));
  o[1] = wasm_f32x4_add(b, wasm_f32x4_sub(wasm_f32x4_mul(wasm_f32x4_splat(0.5f), m[3]),
                                          wasm_f32x4_mul(wasm_f32x4_splat(2.0f), m[4])));
  o[2] = wasm_f32x4_add(a, wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_splat(0.25f), m[3]),
                                          wasm_f32x4_mul(wasm_f32x4_splat(4.0f), m[4])));
  o[3] = wasm_f32x4_add(wasm_f32x4_add(b, m[5]), wasm_f32x4_sub(wasm_f32x4_mul(wasm_f32x4_splat(0.125f), m[3]),
                                                               wasm_f32x4_mul(wasm_f32x4_splat(8.0f), m[4])));
}

/** The first n (< 4) floats at s, zeros in the other lanes (no read past s + n). */
static inline v4 load_partial(const f32 *s, int n) {
  f32 t[4] = {0, 0, 0, 0};
  for (int i = 0; i < n; i++) t[i] = s[i];
  return wasm_v128_load(t);
}

// B^T d B of 4 channels [ch, ch + 4) of one tile; src[r*6+c] points at the tile's input
// pixel (r, c) (or at a zero row for padding); nc < 4 only for the channel tail.
// Writes v[xi * stride] for xi = 0..35.
static inline __attribute__((always_inline)) void tile_in(const f32 *const src[36], int ch, int nc, f32 *v,
                                                          long stride) {
  v4 t[6][6];
  for (int c = 0; c < 6; c++) {
    v4 d[6], r[6];
#pragma clang loop unroll(full)
    for (int i = 0; i < 6; i++) d[i] = nc == 4 ? wasm_v128_load(src[i * 6 + c] + ch) : load_partial(src[i * 6 + c] + ch, nc);
    in1d(d, r);
#pragma clang loop unroll(full)
    for (int i = 0; i < 6; i++) t[i][c] = r[i];
  }
  for (int i = 0; i < 6; i++) {
    v4 r[6];
    in1d(t[i], r);
#pragma clang loop unroll(full)
    for (int j = 0; j < 6; j++) wasm_v128_store(v + (i * 6 + j) * stride, r[j]);
  }
}

typedef struct {
  const f32 *X, *U, *bias, *R;
  f32 *Y;
  int N, H, W, C, OH, OW, M, PT, PL, TH, TW, T, TB, Cp, panels;
  Act act;
} Geo;

// Input transform of tiles [t0, t0 + nt) into V[36][TB][Cp].
static void input_block(const Geo *g, int t0, int nt, f32 *V, const f32 *zeros) {
  long stride = (long)g->TB * g->Cp;
  for (int tt = 0; tt < nt; tt++) {
    int t = t0 + tt, n = t / (g->TH * g->TW), rem = t % (g->TH * g->TW);
    int iy0 = rem / g->TW * 4 - g->PT, ix0 = rem % g->TW * 4 - g->PL;
    const f32 *src[36];
    for (int r = 0; r < 6; r++) {
      int iy = iy0 + r;
      for (int c = 0; c < 6; c++) {
        int ix = ix0 + c;
        int ok = iy >= 0 && iy < g->H && ix >= 0 && ix < g->W;
        src[r * 6 + c] = ok ? g->X + (((long)n * g->H + iy) * g->W + ix) * g->C : zeros;
      }
    }
    f32 *v = V + (long)tt * g->Cp;
    int ch = 0;
    for (; ch + 4 <= g->C; ch += 4) tile_in(src, ch, 4, v + ch, stride);
    if (ch < g->C) tile_in(src, ch, g->C - ch, v + ch, stride);
  }
}

// Mb[0..mr, 0..8) = A[0..mr, 0..K) * w (one 8-wide panel, K rows), MR x 8 register tile.
static inline void ukernel(int mr, int K, const f32 *a, int lda, const f32 *w, f32 *c, int ldc) {
  const f32 *ar[MR];
  tile_rows(ar, a, lda, mr);
  v4 acc[MR][2];
#pragma clang loop unroll(full)
  for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = wasm_f32x4_splat(0.0f);
  tile_accumulate(acc, ar, K, w);
#pragma clang loop unroll(full)
  for (int i = 0; i < MR; i++) {
    if (i >= mr) continue;
    wasm_v128_store(c + i * ldc, acc[i][0]);
    wasm_v128_store(c + i * ldc + 4, acc[i][1]);
  }
}

// Channels [m, m + 4) (m a multiple of 4) of the outputs y < ny, x < nx of the tile at (n, oy0, ox0), by
// direct convolution, into o[y][x] (without bias). For tiles whose Winograd values are not all finite: a
// NaN or an infinity in the input tile (or an overflow in the transform) would make the whole 4x4 tile
// NaN, where a convolution (onnxruntime) gives NaN or +-inf only at the outputs that read it. The 3x3
// filters are recovered from U: G's rows for the points 0, 1 and infinity are (1,0,0), (1,1,1)/3 and
// (0,0,1), so g = L u L^T with u the U rows/columns {0, 1, 5} and L = [[1,0,0],[-1,3,-1],[0,0,1]]
// (relative error ~1e-7). About 5x the Winograd cost per tile, only for such tiles.
static void tile_direct(const Geo *g, int n, int oy0, int ox0, int ny, int nx, int m, v4 o[4][4]) {
  static const int R[3] = {0, 1, 5};
  long xs = (long)g->panels * g->C * NR;  // U stride between transform positions xi
  const f32 *u = g->U + (long)(m / NR) * g->C * NR + m % NR;
  v4 three = wasm_f32x4_splat(3.0f);
  for (int y = 0; y < 4; y++)
    for (int x = 0; x < 4; x++) o[y][x] = wasm_f32x4_splat(0.0f);
  for (int c = 0; c < g->C; c++, u += NR) {
    v4 t[3][3], w[3][3];
    for (int a = 0; a < 3; a++) {
      v4 q0 = wasm_v128_load(u + (R[a] * 6) * xs), q1 = wasm_v128_load(u + (R[a] * 6 + 1) * xs);
      v4 q5 = wasm_v128_load(u + (R[a] * 6 + 5) * xs);
      t[a][0] = q0;
      t[a][1] = wasm_f32x4_sub(wasm_f32x4_mul(three, q1), wasm_f32x4_add(q0, q5));
      t[a][2] = q5;
    }
    for (int kx = 0; kx < 3; kx++) {
      w[0][kx] = t[0][kx];
      w[1][kx] = wasm_f32x4_sub(wasm_f32x4_mul(three, t[1][kx]), wasm_f32x4_add(t[0][kx], t[2][kx]));
      w[2][kx] = t[2][kx];
    }
    for (int y = 0; y < ny; y++) {
      for (int x = 0; x < nx; x++) {
        v4 acc = o[y][x];
        for (int ky = 0; ky < 3; ky++) {
          int iy = oy0 + y + ky - g->PT;
          if (iy < 0 || iy >= g->H) continue;
          for (int kx = 0; kx < 3; kx++) {
            int ix = ox0 + x + kx - g->PL;
            if (ix < 0 || ix >= g->W) continue;
            acc = v_madd(wasm_v128_load32_splat(g->X + (((long)n * g->H + iy) * g->W + ix) * g->C + c), w[ky][kx], acc);
          }
        }
        o[y][x] = acc;
      }
    }
  }
}

// o (one output pixel's channels [m, m + nm)) + bias (+ R), activation, stored at Y + at.
static inline void store_out(const Geo *g, long at, v4 o, v4 b, int nm) {
  v4 v = wasm_f32x4_add(o, b);
  if (g->R) v = wasm_f32x4_add(v, nm == 4 ? wasm_v128_load(g->R + at) : load_partial(g->R + at, nm));
  if (g->act.kind != ACT_NONE) v = v_act(v, &g->act);
  if (nm == 4) wasm_v128_store(g->Y + at, v);
  else store_partial(g->Y + at, v, nm);
}

// Output channels [m0, m1) (m1 - m0 <= MCH, m0 a multiple of 8) of tiles [t0, t0 + nt):
// the 36 GEMMs into Mb, then A^T Mb A + bias (+ R), activation, into Y (tiles with a value
// that is not finite: tile_direct).
static void gemm_out_block(const Geo *g, int t0, int nt, int m0, int m1, const f32 *V, f32 *Mb) {
  int C = g->C, Cp = g->Cp, TB = g->TB, M = g->M;
  int p0 = m0 / NR, p1 = (m1 + NR - 1) / NR;
  for (int xi = 0; xi < 36; xi++) {
    const f32 *a = V + (long)xi * TB * Cp;
    f32 *mb = Mb + (long)xi * TB * MCH;
    for (int pn = p0; pn < p1; pn++) {
      const f32 *w = g->U + ((long)xi * g->panels + pn) * C * NR;
      for (int i = 0; i < nt; i += MR)
        ukernel(imin(MR, nt - i), C, a + (long)i * Cp, Cp, w, mb + (long)i * MCH + (pn - p0) * NR, MCH);
    }
  }
  long xs = (long)TB * MCH;  // stride between the 36 transformed values of one output
  for (int tt = 0; tt < nt; tt++) {
    int t = t0 + tt, n = t / (g->TH * g->TW), rem = t % (g->TH * g->TW);
    int oy0 = rem / g->TW * 4, ox0 = rem % g->TW * 4;
    int ny = imin(4, g->OH - oy0), nx = imin(4, g->OW - ox0);
    for (int m = m0; m < m1; m += 4) {
      int nm = imin(4, m1 - m);
      const f32 *mb = Mb + (long)tt * MCH + (m - m0);
      v4 s[6][4], sum = wasm_f32x4_splat(0.0f);
      for (int i = 0; i < 6; i++) {
        v4 row[6];
#pragma clang loop unroll(full)
        for (int j = 0; j < 6; j++) row[j] = wasm_v128_load(mb + (i * 6 + j) * xs);
        out1d(row, s[i]);
#pragma clang loop unroll(full)
        for (int j = 0; j < 4; j++) sum = wasm_f32x4_add(sum, s[i][j]);
      }
      v4 b = wasm_v128_load(g->bias + m);
      // every A^T Mb A output is a combination of the s values: all finite unless their sum is not
      // (an overflowing sum of finite values only sends the tile to the exact path)
      v4 nonfinite = wasm_f32x4_ne(wasm_f32x4_sub(sum, sum), wasm_f32x4_splat(0.0f));
      if (__builtin_expect(wasm_v128_any_true(nonfinite), 0)) {
        v4 o[4][4];
        tile_direct(g, n, oy0, ox0, ny, nx, m, o);
        for (int y = 0; y < ny; y++)
          for (int x = 0; x < nx; x++) store_out(g, (((long)n * g->OH + oy0 + y) * g->OW + ox0 + x) * M + m, o[y][x], b, nm);
        continue;
      }
      for (int x = 0; x < nx; x++) {
        v4 col[6] = {s[0][x], s[1][x], s[2][x], s[3][x], s[4][x], s[5][x]}, o[4];
        out1d(col, o);
        for (int y = 0; y < ny; y++) store_out(g, (((long)n * g->OH + oy0 + y) * g->OW + ox0 + x) * M + m, o[y], b, nm);
      }
    }
  }
}

// conv2d_winograd_nhwc_f32: Y[N,OH,OW,M] = act(conv3x3(X[N,H,W,C], W) + bias (+ R)), stride 1, dilation 1, group 1.
// p: 0 X, 1 U (filters transformed and packed at conversion: [36][panel][C][8], xi = 6 * row + column of the 6x6
//    transform, zero beyond M), 2 bias (padded to a multiple of 8), 3 Y, 4 R (0: none), 5 N, 6 H, 7 W, 8 C, 9 OH,
//    10 OW, 11 M, 12 PT, 13 PL, 14..16 activation, 17 TB (tiles per block)
// Stack scratch per thread: (36 * TB * (Cp + MCH) + Cp) floats, Cp = C rounded up to 4.
EXPORT(conv2d_winograd_nhwc_f32) {
  Geo g;
  g.X = pp(p, 0); g.U = pp(p, 1); g.bias = pp(p, 2); g.Y = pp(p, 3); g.R = pp(p, 4);
  g.N = p[5]; g.H = p[6]; g.W = p[7]; g.C = p[8]; g.OH = p[9]; g.OW = p[10]; g.M = p[11];
  g.PT = p[12]; g.PL = p[13]; g.act = act_from(p, 14); g.TB = p[17];
  g.TH = (g.OH + 3) / 4; g.TW = (g.OW + 3) / 4; g.T = g.N * g.TH * g.TW;
  g.Cp = (g.C + 3) & ~3; g.panels = (g.M + NR - 1) / NR;
  int blocks = (g.T + g.TB - 1) / g.TB;
  int chunks = col_chunks(blocks, nthreads, g.panels);
  int ppc = (g.panels + chunks - 1) / chunks;  // panels per column chunk
  chunks = (g.panels + ppc - 1) / ppc;
  int lo, hi;
  split(blocks * chunks, tid, nthreads, &lo, &hi);
  if (lo >= hi) return;
  f32 V[36 * g.TB * g.Cp], Mb[36 * g.TB * MCH], zeros[g.Cp];
  __builtin_memset(zeros, 0, sizeof zeros);
  int have = -1;  // the tile block whose transform is in V
  for (int w = lo; w < hi; w++) {
    int b = w / chunks, ch = w % chunks;
    int t0 = b * g.TB, nt = imin(g.TB, g.T - t0);
    if (have != b) {
      input_block(&g, t0, nt, V, zeros);
      have = b;
    }
    int j0 = ch * ppc * NR, j1 = imin(g.M, j0 + ppc * NR);
    for (int m0 = j0; m0 < j1; m0 += MCH) gemm_out_block(&g, t0, nt, m0, imin(j1, m0 + MCH), V, Mb);
  }
}
