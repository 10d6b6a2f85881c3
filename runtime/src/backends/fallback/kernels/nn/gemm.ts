// Gemm (alpha, beta, transA, transB, C broadcast to M x N) and MatMul (numpy semantics:
// 1-D operands, batch broadcasting).

import { attrFloat, attrInt } from "../attrs.js";
import { makeActivation } from "../activation.js";
import { registerKernel, type Attrs, type TensorView } from "../registry.js";
import { f32, f32opt, fail, reserveScratch, Scratch, scratch } from "./common.js";
import { broadcastShape, expectShape } from "../shape.js";
import { sgemmNN, sgemmNT } from "./gemm_core.js";

function gemmFactory(inputs: readonly (TensorView | null)[], outputs: readonly TensorView[], attrs: Attrs, op: string) {
  const A = f32(inputs[0], op, "input A");
  const B = f32(inputs[1], op, "input B");
  const C = f32opt(inputs[2], op, "input C");
  const Y = f32(outputs[0], op, "output Y");
  const [M, N] = outputs[0].shape;
  const tA = attrInt(attrs, "transA", 0);
  const tB = attrInt(attrs, "transB", 0);
  if ((tA !== 0 && tA !== 1) || (tB !== 0 && tB !== 1)) throw fail(op, `transA ${tA} and transB ${tB} must be 0 or 1`);
  const transA = tA === 1;
  const transB = tB === 1;
  const alpha = attrFloat(attrs, "alpha", 1);
  const beta = attrFloat(attrs, "beta", 1);
  const as = inputs[0]!.shape;
  const bs = inputs[1]!.shape;
  if (as.length !== 2 || bs.length !== 2) throw fail(op, `A [${as}] and B [${bs}] must be matrices`);
  const K = transA ? as[0] : as[1];
  const [kb, nb] = transB ? [bs[1], bs[0]] : [bs[0], bs[1]];
  if (kb !== K) throw fail(op, `inner dimensions differ: A [${as}] (transA ${tA}) x B [${bs}] (transB ${tB})`);
  expectShape(op, outputs[0], [transA ? as[1] : as[0], nb]);
  // C broadcasts to [M, N] (unidirectionally)
  if (inputs[2]) expectShape(op, outputs[0], broadcastShape(op, [outputs[0].shape, inputs[2].shape]), "output (with C broadcast)");
  const act = makeActivation(attrs.activation);
  // Strides of C over (i, j): broadcast dims get stride 0.
  const cs = inputs[2]?.shape ?? [];
  const ci = cs.length === 2 && cs[0] !== 1 ? cs[1] : 0;
  const cj = cs.length >= 1 && cs[cs.length - 1] !== 1 ? 1 : 0;
  // A is copied (transposed and/or scaled by alpha) into row-major M x K when needed.
  const pack = transA || alpha !== 1;
  if (pack) reserveScratch(Scratch.Pack, M * K);
  return () => {
    if (C && beta !== 0) {
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < N; j++) Y[i * N + j] = beta * C[i * ci + j * cj];
      }
    } else {
      Y.fill(0);
    }
    let a = A;
    if (pack) {
      const packed = scratch(Scratch.Pack);
      for (let i = 0; i < M; i++) {
        for (let k = 0; k < K; k++) packed[i * K + k] = alpha * (transA ? A[k * M + i] : A[i * K + k]);
      }
      a = packed;
    }
    if (transB) sgemmNT(M, N, K, a, 0, K, B, 0, K, Y, 0, N);
    else sgemmNN(M, N, K, a, 0, K, B, 0, N, Y, 0, N);
    if (act) act(Y, 0, Y.length);
  };
}

/** Element offsets of every batch entry of an operand broadcast to `batch`. */
function batchOffsets(shape: readonly number[], batch: readonly number[], matrix: number): Int32Array {
  const count = batch.reduce((p, d) => p * d, 1);
  const offs = new Int32Array(count);
  const lead = batch.length - shape.length;
  // stride of each batch dim in the operand (0 where it is broadcast or absent)
  const strides = batch.map((_, i) => {
    const k = i - lead;
    if (k < 0 || shape[k] === 1) return 0;
    let s = matrix;
    for (let j = k + 1; j < shape.length; j++) s *= shape[j];
    return s;
  });
  const idx = new Array<number>(batch.length).fill(0);
  for (let b = 0; b < count; b++) {
    let off = 0;
    for (let i = 0; i < batch.length; i++) off += idx[i] * strides[i];
    offs[b] = off;
    for (let i = batch.length - 1; i >= 0; i--) {
      if (++idx[i] < batch[i]) break;
      idx[i] = 0;
    }
  }
  return offs;
}

function matmulFactory(inputs: readonly (TensorView | null)[], outputs: readonly TensorView[], attrs: Attrs, op: string) {
  const A = f32(inputs[0], op, "input A");
  const B = f32(inputs[1], op, "input B");
  const Y = f32(outputs[0], op, "output Y");
  const as = inputs[0]!.shape;
  const bs = inputs[1]!.shape;
  const a2 = as.length === 1 ? [1, as[0]] : as;
  const b2 = bs.length === 1 ? [bs[0], 1] : bs;
  const M = a2[a2.length - 2];
  const K = a2[a2.length - 1];
  const N = b2[b2.length - 1];
  if (as.length < 1 || bs.length < 1 || b2[b2.length - 2] !== K) throw fail(op, `inner dimensions differ: [${as}] x [${bs}]`);
  const aBatch = a2.slice(0, -2);
  const bBatch = b2.slice(0, -2);
  const batch = broadcastShape(op, [aBatch, bBatch]);
  expectShape(op, outputs[0], [...batch, ...(as.length > 1 ? [M] : []), ...(bs.length > 1 ? [N] : [])]);
  const aOff = batchOffsets(aBatch, batch, M * K);
  const bOff = batchOffsets(bBatch, batch, K * N);
  const act = makeActivation(attrs.activation);
  return () => {
    Y.fill(0);
    for (let b = 0; b < aOff.length; b++) sgemmNN(M, N, K, A, aOff[b], K, B, bOff[b], N, Y, b * M * N, N);
    if (act) act(Y, 0, Y.length);
  };
}

registerKernel("Gemm", gemmFactory);
registerKernel("MatMul", matmulFactory);
