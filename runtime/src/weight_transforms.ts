// Weights computed at load from a smaller stored array (weights.ts decodes the stored bytes first): the
// descriptor names the transform and its params. Each one here is the same arithmetic as the converter's
// (named next to it), so a conversion could have stored the result instead; storing the source keeps the
// download at the model's own size.

/** Winograd F(4x4, 3x3) filters for the wasm kernel conv2d_winograd_nhwc_f32 (src/webdnn/backends/wasm/winograd.py,
 *  pack_filters): [M, C, 3, 3] -> U = G g G^T per (c, m), laid out [36][ceil(M/8)][C][8] with zero columns past M,
 *  computed in double precision and rounded to float32 once. */
const G: readonly (readonly number[])[] = [
  [1, 0, 0],
  [1 / 3, 1 / 3, 1 / 3],
  [-1 / 3, 1 / 3, -1 / 3],
  [-16 / 15, -8 / 15, -4 / 15],
  [1 / 15, -2 / 15, 4 / 15],
  [0, 0, 1],
];
const NR = 8;

function winogradF43(src: Float32Array, dst: Float32Array, m: number, c: number): void {
  const panels = Math.ceil(m / NR);
  const gg = new Float64Array(18); // G g: 6 x 3
  for (let mm = 0; mm < m; mm++) {
    const panel = Math.floor(mm / NR), col = mm % NR;
    for (let cc = 0; cc < c; cc++) {
      const g = (mm * c + cc) * 9;
      for (let i = 0; i < 6; i++) {
        const r = G[i]!;
        for (let l = 0; l < 3; l++) gg[i * 3 + l] = r[0]! * src[g + l]! + r[1]! * src[g + 3 + l]! + r[2]! * src[g + 6 + l]!;
      }
      for (let i = 0; i < 6; i++) {
        for (let j = 0; j < 6; j++) {
          const r = G[j]!;
          const u = gg[i * 3]! * r[0]! + gg[i * 3 + 1]! * r[1]! + gg[i * 3 + 2]! * r[2]!;
          dst[(((i * 6 + j) * panels + panel) * c + cc) * NR + col] = u;
        }
      }
    }
  }
}

export interface WeightTransform {
  /** Elements of the stored source for these params. */
  sourceCount(params: readonly number[]): number;
  /** Elements of the weight it makes. */
  outputCount(params: readonly number[]): number;
  apply(src: Float32Array, dst: Float32Array, params: readonly number[]): void;
}

export const TRANSFORMS: Readonly<Record<string, WeightTransform>> = {
  winograd_f4x4_3x3_nr8: {
    sourceCount: ([m, c]) => m! * c! * 9,
    outputCount: ([m, c]) => 36 * Math.ceil(m! / NR) * NR * c!,
    apply: (src, dst, [m, c]) => winogradF43(src, dst, m!, c!),
  },
};
