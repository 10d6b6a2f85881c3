// The webgl backend's descriptor field "webgl" (written by src/webdnn/backends/webgl/lower.py)
// and its validation: every texture size, program and texture reference is checked before use.

import type { Descriptor } from "../../descriptor.js";
import { DescriptorError } from "../../errors.js";

export interface TextureSpec {
  width: number;
  height: number;
  layers: number; // > 1: a 2-D array texture
  stride: number; // texels per layer in the flat order: flat texel t is texel t % stride of layer t / stride
}

export interface WebGLExtra {
  programs: string[];
  textures: TextureSpec[];
  inputs: number[];
  outputs: number[];
}

const isIndex = (x: unknown, n: number): x is number => typeof x === "number" && Number.isInteger(x) && x >= 0 && x < n;
const isDim = (x: unknown): x is number => typeof x === "number" && Number.isInteger(x) && x >= 1;

function fail(what: string): never {
  throw new DescriptorError(`descriptor field webgl: ${what}. Re-convert the model with the matching webdnn version.`);
}

export function parseExtra(desc: Descriptor): WebGLExtra {
  const ex = desc.webgl as Partial<WebGLExtra> | undefined;
  if (typeof ex !== "object" || ex === null) fail("missing");
  const { programs, textures, inputs, outputs } = ex;
  if (!Array.isArray(programs) || !programs.every((p) => typeof p === "string")) fail("programs must be strings");
  if (!Array.isArray(textures) || !textures.every((t) => typeof t === "object" && t !== null && isDim(t.width) &&
    isDim(t.height) && (t.layers === undefined || isDim(t.layers)) &&
    (t.stride === undefined || (isDim(t.stride) && t.stride <= t.width * t.height)))) {
    fail("textures must be {width, height, layers?, stride?} objects (stride at most width * height)");
  }
  const nt = textures.length;
  if (!Array.isArray(inputs) || inputs.length !== desc.inputs.length || !inputs.every((t) => isIndex(t, nt))) fail("bad inputs");
  if (!Array.isArray(outputs) || outputs.length !== desc.outputs.length || !outputs.every((t) => isIndex(t, nt))) fail("bad outputs");
  desc.kernels.forEach((k, i) => {
    const a = k.attrs as { program?: unknown; textures?: unknown; targets?: unknown };
    if (!isIndex(a.program, programs.length)) fail(`kernel ${i} ('${k.name}') has no valid program`);
    const t = a.textures;
    if (!Array.isArray(t) || t.length !== k.inputs.length + 1 || !t.every((x) => isIndex(x, nt)) || k.outputs.length !== 1) {
      fail(`kernel ${i} ('${k.name}') has invalid textures`);
    }
    if (k.inputs.some((x) => x < 0)) fail(`kernel ${i} ('${k.name}') has an omitted input`);
    const out = t[t.length - 1];
    if (t.slice(0, -1).includes(out)) fail(`kernel ${i} ('${k.name}') reads its own output texture`);
    if (a.targets !== undefined && (!isDim(a.targets) || a.targets !== (textures[out as number]!.layers ?? 1))) {
      fail(`kernel ${i} ('${k.name}') has ${String(a.targets)} render targets, not one per layer of its output`);
    }
  });
  const specs = textures.map((t) => ({
    width: t.width, height: t.height, layers: t.layers ?? 1, stride: t.stride ?? t.width * t.height,
  }));
  return { programs, textures: specs, inputs, outputs };
}
