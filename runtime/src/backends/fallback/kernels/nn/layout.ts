// DepthToSpace (DCR and CRD) and SpaceToDepth on NCHW tensors.

import { attrInt, attrString } from "../attrs.js";
import { registerKernel, type Attrs, type TensorView } from "../registry.js";
import { f32 } from "./common.js";
import { bad, expectShape } from "../shape.js";

function depthToSpaceFactory(inputs: readonly (TensorView | null)[], outputs: readonly TensorView[], attrs: Attrs, op: string) {
  const X = f32(inputs[0], op, "input");
  const Y = f32(outputs[0], op, "output");
  const xs = inputs[0]!.shape;
  const [N, C, H, W] = xs;
  const b = attrInt(attrs, "blocksize");
  const mode = attrString(attrs, "mode", "DCR");
  if (mode !== "DCR" && mode !== "CRD") throw bad(op, `mode '${mode}' must be DCR or CRD`);
  const crd = mode === "CRD";
  if (xs.length !== 4 || b < 1 || C % (b * b)) throw bad(op, `blocksize ${b} does not divide the channels of [${xs}]`);
  const Co = C / (b * b);
  expectShape(op, outputs[0], [N, Co, H * b, W * b]);
  return () => {
    let y = 0;
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < Co; c++) {
        for (let h = 0; h < H; h++) {
          for (let i = 0; i < b; i++) {
            for (let w = 0; w < W; w++) {
              for (let j = 0; j < b; j++, y++) {
                const ch = crd ? c * b * b + i * b + j : (i * b + j) * Co + c;
                Y[y] = X[((n * C + ch) * H + h) * W + w];
              }
            }
          }
        }
      }
    }
  };
}

function spaceToDepthFactory(inputs: readonly (TensorView | null)[], outputs: readonly TensorView[], attrs: Attrs, op: string) {
  const X = f32(inputs[0], op, "input");
  const Y = f32(outputs[0], op, "output");
  const xs = inputs[0]!.shape;
  const [N, C, H, W] = xs;
  const b = attrInt(attrs, "blocksize");
  if (xs.length !== 4 || b < 1 || H % b || W % b) throw bad(op, `blocksize ${b} does not divide the spatial dims of [${xs}]`);
  const Ho = H / b;
  const Wo = W / b;
  expectShape(op, outputs[0], [N, C * b * b, Ho, Wo]);
  return () => {
    let y = 0;
    for (let n = 0; n < N; n++) {
      for (let i = 0; i < b; i++) {
        for (let j = 0; j < b; j++) {
          for (let c = 0; c < C; c++) {
            for (let h = 0; h < Ho; h++) {
              const row = ((n * C + c) * H + h * b + i) * W + j;
              for (let w = 0; w < Wo; w++, y++) Y[y] = X[row + w * b];
            }
          }
        }
      }
    }
  };
}

registerKernel("DepthToSpace", depthToSpaceFactory);
registerKernel("SpaceToDepth", spaceToDepthFactory);
