// Single-precision matrix multiply cores shared by Conv, ConvTranspose, Gemm and MatMul.
//
// Both accumulate into C (callers initialize it with zeros, the bias or beta*C). Matrices are
// row-major with explicit leading dimensions so callers can multiply sub-blocks in place.
// sgemmNN blocks 8 rows of A against 4 rows of B per step (32 A values held in locals) with
// the innermost loop running contiguously over a row of B and C -- the fastest shape measured
// for V8's typed-array code (~5 GFLOPS on one core) -- and tiles j and k so the B tile stays
// in cache while every row block reuses it.

const JB = 1024; // columns of B/C per tile
const KB = 128; // rows of B per tile (a multiple of 4)

/** C[m, j] += sum_k A[m, k] * B[k, j];  A: M x K (lda), B: K x N (ldb), C: M x N (ldc). */
export function sgemmNN(
  M: number, N: number, K: number,
  A: Float32Array, aOff: number, lda: number,
  B: Float32Array, bOff: number, ldb: number,
  C: Float32Array, cOff: number, ldc: number,
): void {
  if (N === 1) {
    sgemvCol(M, K, A, aOff, lda, B, bOff, ldb, C, cOff, ldc);
    return;
  }
  const M8 = M - (M % 8);
  const M4 = M - (M % 4);
  for (let j0 = 0; j0 < N; j0 += JB) {
    const jn = Math.min(JB, N - j0);
    for (let k0 = 0; k0 < K; k0 += KB) {
      const k1 = Math.min(K, k0 + KB);
      for (let i = 0; i < M8; i += 8) {
        rows8(i, jn, k0, k1, A, aOff, lda, B, bOff + j0, ldb, C, cOff + j0, ldc);
      }
      if (M4 > M8) rows4(M8, jn, k0, k1, A, aOff, lda, B, bOff + j0, ldb, C, cOff + j0, ldc);
      for (let i = M4; i < M; i++) {
        row1(i, jn, k0, k1, A, aOff, lda, B, bOff + j0, ldb, C, cOff + j0, ldc);
      }
    }
  }
}

function rows8(
  i: number, N: number, k0: number, k1: number,
  A: Float32Array, aOff: number, lda: number,
  B: Float32Array, bOff: number, ldb: number,
  C: Float32Array, cOff: number, ldc: number,
): void {
  const c0 = cOff + i * ldc;
  const c1 = c0 + ldc, c2 = c1 + ldc, c3 = c2 + ldc, c4 = c3 + ldc, c5 = c4 + ldc, c6 = c5 + ldc, c7 = c6 + ldc;
  let k = k0;
  for (; k + 4 <= k1; k += 4) {
    let r = aOff + i * lda + k;
    const a00 = A[r], a01 = A[r + 1], a02 = A[r + 2], a03 = A[r + 3];
    r += lda;
    const a10 = A[r], a11 = A[r + 1], a12 = A[r + 2], a13 = A[r + 3];
    r += lda;
    const a20 = A[r], a21 = A[r + 1], a22 = A[r + 2], a23 = A[r + 3];
    r += lda;
    const a30 = A[r], a31 = A[r + 1], a32 = A[r + 2], a33 = A[r + 3];
    r += lda;
    const a40 = A[r], a41 = A[r + 1], a42 = A[r + 2], a43 = A[r + 3];
    r += lda;
    const a50 = A[r], a51 = A[r + 1], a52 = A[r + 2], a53 = A[r + 3];
    r += lda;
    const a60 = A[r], a61 = A[r + 1], a62 = A[r + 2], a63 = A[r + 3];
    r += lda;
    const a70 = A[r], a71 = A[r + 1], a72 = A[r + 2], a73 = A[r + 3];
    const b0 = bOff + k * ldb;
    const b1 = b0 + ldb;
    const b2 = b1 + ldb;
    const b3 = b2 + ldb;
    for (let j = 0; j < N; j++) {
      const x0 = B[b0 + j], x1 = B[b1 + j], x2 = B[b2 + j], x3 = B[b3 + j];
      C[c0 + j] += a00 * x0 + a01 * x1 + a02 * x2 + a03 * x3;
      C[c1 + j] += a10 * x0 + a11 * x1 + a12 * x2 + a13 * x3;
      C[c2 + j] += a20 * x0 + a21 * x1 + a22 * x2 + a23 * x3;
      C[c3 + j] += a30 * x0 + a31 * x1 + a32 * x2 + a33 * x3;
      C[c4 + j] += a40 * x0 + a41 * x1 + a42 * x2 + a43 * x3;
      C[c5 + j] += a50 * x0 + a51 * x1 + a52 * x2 + a53 * x3;
      C[c6 + j] += a60 * x0 + a61 * x1 + a62 * x2 + a63 * x3;
      C[c7 + j] += a70 * x0 + a71 * x1 + a72 * x2 + a73 * x3;
    }
  }
  // k tail: two blocks of 4 rows
  if (k < k1) {
    rows4(i, N, k, k1, A, aOff, lda, B, bOff, ldb, C, cOff, ldc);
    rows4(i + 4, N, k, k1, A, aOff, lda, B, bOff, ldb, C, cOff, ldc);
  }
}

function rows4(
  i: number, N: number, k0: number, k1: number,
  A: Float32Array, aOff: number, lda: number,
  B: Float32Array, bOff: number, ldb: number,
  C: Float32Array, cOff: number, ldc: number,
): void {
  const c0 = cOff + i * ldc;
  const c1 = c0 + ldc;
  const c2 = c1 + ldc;
  const c3 = c2 + ldc;
  const r0 = aOff + i * lda;
  const r1 = r0 + lda;
  const r2 = r1 + lda;
  const r3 = r2 + lda;
  let k = k0;
  for (; k + 4 <= k1; k += 4) {
    const a00 = A[r0 + k], a01 = A[r0 + k + 1], a02 = A[r0 + k + 2], a03 = A[r0 + k + 3];
    const a10 = A[r1 + k], a11 = A[r1 + k + 1], a12 = A[r1 + k + 2], a13 = A[r1 + k + 3];
    const a20 = A[r2 + k], a21 = A[r2 + k + 1], a22 = A[r2 + k + 2], a23 = A[r2 + k + 3];
    const a30 = A[r3 + k], a31 = A[r3 + k + 1], a32 = A[r3 + k + 2], a33 = A[r3 + k + 3];
    const b0 = bOff + k * ldb;
    const b1 = b0 + ldb;
    const b2 = b1 + ldb;
    const b3 = b2 + ldb;
    for (let j = 0; j < N; j++) {
      const x0 = B[b0 + j], x1 = B[b1 + j], x2 = B[b2 + j], x3 = B[b3 + j];
      C[c0 + j] += a00 * x0 + a01 * x1 + a02 * x2 + a03 * x3;
      C[c1 + j] += a10 * x0 + a11 * x1 + a12 * x2 + a13 * x3;
      C[c2 + j] += a20 * x0 + a21 * x1 + a22 * x2 + a23 * x3;
      C[c3 + j] += a30 * x0 + a31 * x1 + a32 * x2 + a33 * x3;
    }
  }
  for (; k < k1; k++) {
    const a0 = A[r0 + k], a1 = A[r1 + k], a2 = A[r2 + k], a3 = A[r3 + k];
    const b0 = bOff + k * ldb;
    for (let j = 0; j < N; j++) {
      const x = B[b0 + j];
      C[c0 + j] += a0 * x;
      C[c1 + j] += a1 * x;
      C[c2 + j] += a2 * x;
      C[c3 + j] += a3 * x;
    }
  }
}

function row1(
  i: number, N: number, k0: number, k1: number,
  A: Float32Array, aOff: number, lda: number,
  B: Float32Array, bOff: number, ldb: number,
  C: Float32Array, cOff: number, ldc: number,
): void {
  const c0 = cOff + i * ldc;
  const r0 = aOff + i * lda;
  let k = k0;
  for (; k + 4 <= k1; k += 4) {
    const a0 = A[r0 + k], a1 = A[r0 + k + 1], a2 = A[r0 + k + 2], a3 = A[r0 + k + 3];
    const b0 = bOff + k * ldb;
    const b1 = b0 + ldb;
    const b2 = b1 + ldb;
    const b3 = b2 + ldb;
    for (let j = 0; j < N; j++) {
      C[c0 + j] += a0 * B[b0 + j] + a1 * B[b1 + j] + a2 * B[b2 + j] + a3 * B[b3 + j];
    }
  }
  for (; k < k1; k++) {
    const a = A[r0 + k];
    const b0 = bOff + k * ldb;
    for (let j = 0; j < N; j++) C[c0 + j] += a * B[b0 + j];
  }
}

/** C[m, 0] += sum_k A[m, k] * B[k, 0]: a matrix-vector product (B is one column). */
function sgemvCol(
  M: number, K: number,
  A: Float32Array, aOff: number, lda: number,
  B: Float32Array, bOff: number, ldb: number,
  C: Float32Array, cOff: number, ldc: number,
): void {
  for (let i = 0; i < M; i++) {
    const r = aOff + i * lda;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    let k = 0;
    for (; k + 4 <= K; k += 4) {
      const b = bOff + k * ldb;
      s0 += A[r + k] * B[b];
      s1 += A[r + k + 1] * B[b + ldb];
      s2 += A[r + k + 2] * B[b + 2 * ldb];
      s3 += A[r + k + 3] * B[b + 3 * ldb];
    }
    for (; k < K; k++) s0 += A[r + k] * B[bOff + k * ldb];
    C[cOff + i * ldc] += s0 + s1 + s2 + s3;
  }
}

/** C[m, j] += sum_k A[m, k] * B[j, k];  A: M x K (lda), B: N x K (ldb, i.e. B transposed). */
export function sgemmNT(
  M: number, N: number, K: number,
  A: Float32Array, aOff: number, lda: number,
  B: Float32Array, bOff: number, ldb: number,
  C: Float32Array, cOff: number, ldc: number,
): void {
  // j outer: each group of 4 rows of B is read from memory once and reused for every row of A.
  const N4 = N - (N % 4);
  for (let j = 0; j < N4; j += 4) {
    const q0 = bOff + j * ldb;
    const q1 = q0 + ldb;
    const q2 = q1 + ldb;
    const q3 = q2 + ldb;
    for (let i = 0; i < M; i++) {
      const r = aOff + i * lda;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let k = 0; k < K; k++) {
        const a = A[r + k];
        s0 += a * B[q0 + k];
        s1 += a * B[q1 + k];
        s2 += a * B[q2 + k];
        s3 += a * B[q3 + k];
      }
      const c = cOff + i * ldc + j;
      C[c] += s0;
      C[c + 1] += s1;
      C[c + 2] += s2;
      C[c + 3] += s3;
    }
  }
  for (let j = N4; j < N; j++) {
    const q = bOff + j * ldb;
    for (let i = 0; i < M; i++) {
      const r = aOff + i * lda;
      let s = 0;
      for (let k = 0; k < K; k++) s += A[r + k] * B[q + k];
      C[cOff + i * ldc + j] += s;
    }
  }
}
