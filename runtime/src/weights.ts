// Weight encodings: how a descriptor's weights travel (and weights computed at load from a smaller stored
// array, weight_transforms.ts) (`webdnn convert --weights fp16|int8|int4`,
// src/webdnn/backends/common/weight_encoding.py). The weight files hold the stored bytes; this file
// checks the descriptor's table of them and decodes them once at load into the weights every backend
// reads (the same bytes an fp32 conversion would have downloaded), so no backend knows about encodings.
//
//   raw   the tensor's bytes as they are
//   fp16  IEEE half precision, one per float32 element
//   int8  blocks of 32 consecutive elements: the blocks' scales (bfloat16: float32's upper 16 bits),
//         then one int8 per element (x = q * scale, rounded to float32)
//   int4  the same blocks, then two values in [-8, 7] per byte, the even element in the low nibble

import type { Descriptor, TensorSpec } from "./descriptor.js";
import { DescriptorError } from "./errors.js";
import { halfToFloat } from "./backends/fallback/kernels/elementwise/common.js";
import { TRANSFORMS } from "./weight_transforms.js";

export const INT8_BLOCK = 32;
export type WeightKind = "raw" | "fp16" | "int8" | "int4";
/** What a stored array becomes (weight_transforms.ts): the transform's name and params. */
export interface StoredTransform { transform: string; params: number[] }
/** [tensor index, kind, stored offset, stored byteLength, transform?] */
export type EncodedWeight = [number, WeightKind, number, number, StoredTransform?];
export interface WeightEncoding { byteLength: number; tensors: EncodedWeight[] }

const KINDS: readonly string[] = ["raw", "fp16", "int8", "int4"];
const bf16 = new DataView(new ArrayBuffer(4)); // bfloat16 bits -> float32

function fail(where: string, what: string): never {
  throw new DescriptorError(`${where}: ${what}. Re-convert the model with the matching webdnn version.`);
}

/** The stored size of a tensor of `byteLength` decoded bytes. */
export function storedSize(kind: WeightKind, byteLength: number): number {
  if (kind === "raw") return byteLength;
  const count = byteLength / 4;
  if (kind === "fp16") return 2 * count;
  return 2 * Math.ceil(count / INT8_BLOCK) + (kind === "int4" ? Math.ceil(count / 2) : count);
}

/** The bytes the weight files must cover: the stored size when the weights are encoded. */
export function storedByteLength(weights: { byteLength: number; encoding?: unknown }): number {
  const e = weights.encoding as { byteLength?: unknown } | undefined;
  return e && typeof e.byteLength === "number" ? e.byteLength : weights.byteLength;
}

/** Check `encoding` against the descriptor's weight tensors: every one listed once, in order, each stored range
 *  inside the stored bytes, not overlapping the one before, and of the size its kind stores. */
export function checkWeightEncoding(where: string, encoding: unknown, tensors: readonly TensorSpec[]): WeightEncoding {
  const e = encoding as Record<string, unknown> | null;
  if (typeof e !== "object" || e === null || !Number.isSafeInteger(e.byteLength) || (e.byteLength as number) < 0 || !Array.isArray(e.tensors)) {
    fail(where, "weights.encoding needs byteLength and tensors");
  }
  const total = e.byteLength as number;
  const weightTensors = tensors.map((t, i) => (t.memory === "weights" ? i : -1)).filter((i) => i >= 0);
  const list = e.tensors as unknown[];
  if (list.length !== weightTensors.length) fail(where, `weights.encoding lists ${list.length} tensors, the descriptor has ${weightTensors.length} weight tensors`);
  let end = 0;
  const out = list.map((x, k): EncodedWeight => {
    const w = `${where} weights.encoding.tensors[${k}]`;
    if (!Array.isArray(x) || (x.length !== 4 && x.length !== 5)) fail(w, "must be [tensor, kind, offset, byteLength(, transform)]");
    const [t, kind, off, len, tr] = x as [unknown, unknown, unknown, unknown, unknown];
    if (t !== weightTensors[k]) fail(w, `is tensor ${JSON.stringify(t)}, expected weight tensor ${weightTensors[k]} (the weights in order)`);
    if (typeof kind !== "string" || !KINDS.includes(kind)) fail(w, `has kind ${JSON.stringify(kind)}, not one of ${KINDS.join(", ")}`);
    if (!Number.isSafeInteger(off) || !Number.isSafeInteger(len) || (off as number) < end || (off as number) + (len as number) > total) {
      fail(w, `stores bytes ${JSON.stringify(off)}..+${JSON.stringify(len)}, outside the stored weights or over the tensor before`);
    }
    const spec = tensors[t as number]!;
    const transform = tr === undefined ? undefined : checkTransform(w, tr, spec);
    if ((kind !== "raw" || transform) && spec.dtype !== "float32") fail(w, `encodes a ${spec.dtype} tensor (only float32 tensors are encoded)`);
    if ((kind !== "raw" || transform) && spec.offset % 4 !== 0) fail(w, `decodes to weights offset ${spec.offset}, which is not a multiple of 4`);
    const source = transform ? 4 * TRANSFORMS[transform.transform]!.sourceCount(transform.params) : spec.byteLength;
    const want = storedSize(kind as WeightKind, source);
    if (len !== want) fail(w, `stores ${len} bytes; ${kind} of ${source} bytes takes ${want}`);
    end = (off as number) + (len as number);
    return [t as number, kind as WeightKind, off as number, len as number, ...(transform ? [transform] : [])] as EncodedWeight;
  });
  return { byteLength: total, tensors: out };
}

let HALVES: Float32Array | null = null;
/** Every float16 bit pattern's value (256 KiB, made once): a table read per weight instead of a conversion. */
function halfTable(): Float32Array {
  if (!HALVES) {
    HALVES = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) HALVES[h] = halfToFloat(h);
  }
  return HALVES;
}

function checkTransform(w: string, tr: unknown, spec: TensorSpec): StoredTransform {
  const o = tr as Record<string, unknown> | null;
  if (typeof o !== "object" || o === null || typeof o.transform !== "string" || !Array.isArray(o.params) ||
    !o.params.every((p) => Number.isSafeInteger(p) && (p as number) > 0)) {
    fail(w, "a transform needs a name and positive integer params");
  }
  const t = TRANSFORMS[o.transform as string];
  if (!t) fail(w, `names the weight transform ${JSON.stringify(o.transform)}, which this runtime does not have (${Object.keys(TRANSFORMS).join(", ")})`);
  const params = o.params as number[];
  if (4 * t.outputCount(params) !== spec.byteLength) fail(w, `transform ${o.transform} [${params.join(", ")}] makes ${4 * t.outputCount(params)} bytes, the tensor has ${spec.byteLength}`);
  return { transform: o.transform as string, params };
}

/** `count` 4-bit values (two per byte, the even element in the low nibble), sign-extended. */
function unpackInt4(bytes: Uint8Array, count: number): Int8Array {
  const q = new Int8Array(count);
  for (let i = 0; i < count; i++) {
    const nib = (bytes[i >> 1]! >> ((i & 1) << 2)) & 15;
    q[i] = nib > 7 ? nib - 16 : nib;
  }
  return q;
}

/** The weights as the backends read them, decoded from the downloaded `stored` bytes (returned as they are
 *  when the descriptor stores the weights unencoded). */
export function decodeWeights(desc: Pick<Descriptor, "weights" | "tensors">, stored: Uint8Array): Uint8Array {
  const encoding = (desc.weights as { encoding?: WeightEncoding }).encoding;
  if (!encoding) return stored;
  const out = new Uint8Array(desc.weights.byteLength);
  const view = new DataView(stored.buffer, stored.byteOffset, stored.byteLength);
  for (const [t, kind, off, len, transform] of encoding.tensors) {
    const spec = desc.tensors[t]!;
    if (kind === "raw" && !transform) {
      out.set(stored.subarray(off, off + len), spec.offset);
      continue;
    }
    const target = new Float32Array(out.buffer, spec.offset, spec.byteLength / 4);
    const count = transform ? TRANSFORMS[transform.transform]!.sourceCount(transform.params) : target.length;
    // the stored values: straight into the weight, or into a scratch array the transform reads
    const dst = transform ? new Float32Array(count) : target;
    if (kind === "raw") {
      for (let i = 0; i < count; i++) dst[i] = view.getFloat32(off + 4 * i, true);
    }
    if (kind === "fp16") {
      const table = halfTable();
      for (let i = 0; i < count; i++) dst[i] = table[view.getUint16(off + 2 * i, true)]!;
    } else if (kind === "int8" || kind === "int4") {
      const blocks = Math.ceil(count / INT8_BLOCK);
      const at = stored.byteOffset + off + 2 * blocks;
      const q = kind === "int8" ? new Int8Array(stored.buffer, at, count) : unpackInt4(stored.subarray(at - stored.byteOffset), count);
      for (let b = 0; b < blocks; b++) {
        bf16.setUint32(0, view.getUint16(off + 2 * b, true) << 16);
        const scale = bf16.getFloat32(0);
        const hi = Math.min(count, (b + 1) * INT8_BLOCK);
        for (let i = b * INT8_BLOCK; i < hi; i++) dst[i] = q[i]! * scale;
      }
    }
    if (transform) TRANSFORMS[transform.transform]!.apply(dst, target, transform.params);
  }
  return out;
}
