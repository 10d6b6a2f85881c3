// The webgl backend: WebGL2 fragment shaders (GLSL ES 3.00) generated at conversion time,
// run over R32F textures (one element per texel, row-major 2-D layouts chosen by the
// transpiler). Everything is prepared at load: programs compiled and linked, textures and
// framebuffers created, weights uploaded once. run() uploads the inputs, draws every pass
// in order and reads back only the outputs. Shader sources come from the descriptor and go
// to the GPU driver; no JavaScript is generated or evaluated.

import type { Descriptor, TensorSpec } from "../../descriptor.js";
import { allocate, makeView, type DType, type TypedArray } from "../../dtypes.js";
import { DescriptorError, WebDNNError } from "../../errors.js";
import type { Backend, Session } from "../backend.js";
import { parseExtra, type WebGLExtra } from "./extra.js";

const VERTEX = `#version 300 es
void main() {
  vec2 p = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
  gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}
`;

type Canvas = OffscreenCanvas | HTMLCanvasElement;

function createContext(): { canvas: Canvas; gl: WebGL2RenderingContext } | null {
  let canvas: Canvas;
  if (typeof OffscreenCanvas !== "undefined") canvas = new OffscreenCanvas(1, 1);
  else if (typeof document !== "undefined") canvas = document.createElement("canvas");
  else return null;
  const gl = canvas.getContext("webgl2", {
    alpha: false, antialias: false, depth: false, stencil: false, preserveDrawingBuffer: false,
    powerPreference: "high-performance",
  }) as WebGL2RenderingContext | null;
  if (!gl) return null;
  if (!gl.getExtension("EXT_color_buffer_float")) {
    gl.getExtension("WEBGL_lose_context")?.loseContext();
    return null;
  }
  return { canvas, gl };
}

/** Float32 copy of `data` (of `dtype`) padded to `length` texels. */
function toTexels(data: TypedArray, dtype: DType, length: number): Float32Array {
  const out = new Float32Array(length);
  if (dtype === "float32") out.set(data as Float32Array);
  else if (dtype === "int64") {
    const d = data as BigInt64Array;
    for (let i = 0; i < d.length; i++) out[i] = Number(d[i]);
  } else {
    const d = data as unknown as ArrayLike<number>;
    for (let i = 0; i < d.length; i++) out[i] = d[i]!;
  }
  return out;
}

/** `length` elements of `dtype` from the first channel of RGBA float pixels. */
function fromPixels(px: Float32Array, dtype: DType, length: number): TypedArray {
  const out = allocate(dtype, length);
  if (dtype === "int64") {
    const o = out as BigInt64Array;
    for (let i = 0; i < length; i++) o[i] = BigInt(Math.round(px[4 * i]!));
  } else if (dtype === "bool") {
    const o = out as Uint8Array;
    for (let i = 0; i < length; i++) o[i] = px[4 * i] !== 0 ? 1 : 0;
  } else {
    const o = out as unknown as { [i: number]: number };
    for (let i = 0; i < length; i++) o[i] = px[4 * i]!;
  }
  return out;
}

interface Step {
  name: string;
  program: WebGLProgram;
  inputs: WebGLTexture[];
  fbo: WebGLFramebuffer;
  width: number;
  height: number;
}

class WebGLSession implements Session {
  private lost = false;
  private textures: WebGLTexture[] = [];
  private fbos = new Map<number, WebGLFramebuffer>();
  private programs: WebGLProgram[] = [];
  private shaders: WebGLShader[] = [];
  private vao: WebGLVertexArrayObject | null = null;
  private steps: Step[] = [];
  private readonly extra: WebGLExtra;
  private readonly ins: TensorSpec[];
  private readonly outs: TensorSpec[];

  constructor(private readonly canvas: Canvas, private readonly gl: WebGL2RenderingContext, desc: Descriptor,
    weights: Uint8Array) {
    this.extra = parseExtra(desc);
    this.ins = desc.inputs.map((x) => desc.tensors[x.tensor]!);
    this.outs = desc.outputs.map((x) => desc.tensors[x.tensor]!);
    (canvas as EventTarget).addEventListener("webglcontextlost", this.onLost);
    try {
      this.build(desc, weights);
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  private readonly onLost = (ev: Event): void => {
    ev.preventDefault();
    this.lost = true;
  };

  private checkLost(): void {
    if (this.lost || this.gl.isContextLost()) {
      throw new WebDNNError("the WebGL context was lost (GPU reset, driver update or too many contexts); " +
        "dispose this runner and load the model again");
    }
  }

  private build(desc: Descriptor, weights: Uint8Array): void {
    const gl = this.gl;
    const ex = this.extra;
    const max = gl.getParameter(gl.MAX_TEXTURE_SIZE) as number;
    ex.textures.forEach((t, i) => {
      if (t.width > max || t.height > max) {
        throw new WebDNNError(`webgl: texture ${i} is ${t.width}x${t.height}, beyond this device's MAX_TEXTURE_SIZE ` +
          `${max}; use another backend (backendOrder) for this model`);
      }
    });
    gl.disable(gl.DITHER);
    gl.disable(gl.BLEND);
    gl.disable(gl.DEPTH_TEST);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    gl.pixelStorei(gl.PACK_ALIGNMENT, 1);
    this.vao = gl.createVertexArray();
    gl.bindVertexArray(this.vao);
    for (const t of ex.textures) {
      const tex = gl.createTexture();
      if (!tex) throw new WebDNNError("webgl: createTexture failed");
      gl.bindTexture(gl.TEXTURE_2D, tex);
      gl.texStorage2D(gl.TEXTURE_2D, 1, gl.R32F, t.width, t.height);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
      this.textures.push(tex);
    }
    this.uploadWeights(desc, weights);
    this.compile(desc);
    for (const k of desc.kernels) {
      const a = k.attrs as { program: number; textures: number[] };
      const out = a.textures[a.textures.length - 1]!;
      const lay = ex.textures[out]!;
      this.steps.push({
        name: k.name, program: this.programs[a.program]!, inputs: a.textures.slice(0, -1).map((t) => this.textures[t]!),
        fbo: this.framebuffer(out), width: lay.width, height: lay.height,
      });
    }
    for (const t of ex.outputs) this.framebuffer(t);
    const err = gl.getError();
    if (err !== gl.NO_ERROR) throw new WebDNNError(`webgl: GL error 0x${err.toString(16)} while preparing the model`);
    this.checkLost();
  }

  private uploadWeights(desc: Descriptor, weights: Uint8Array): void {
    const gl = this.gl;
    const done = new Set<number>();
    for (const k of desc.kernels) {
      const texs = (k.attrs as { textures: number[] }).textures;
      k.inputs.forEach((ti, i) => {
        const spec = desc.tensors[ti];
        const tex = texs[i]!;
        if (!spec || spec.memory !== "weights" || done.has(tex)) return;
        done.add(tex);
        const size = spec.shape.reduce((p, d) => p * d, 1);
        const lay = this.extra.textures[tex]!;
        const aligned = (weights.byteOffset + spec.offset) % 8 === 0;
        const src = aligned ? weights : weights.slice(spec.offset, spec.offset + spec.byteLength);
        const data = makeView(spec.dtype, src.buffer, src.byteOffset + (aligned ? spec.offset : 0), size);
        gl.bindTexture(gl.TEXTURE_2D, this.textures[tex]!);
        gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, lay.width, lay.height, gl.RED, gl.FLOAT,
          toTexels(data, spec.dtype, lay.width * lay.height));
      });
    }
  }

  /** Compile every shader first, then check (lets drivers compile in parallel). */
  private compile(desc: Descriptor): void {
    const gl = this.gl;
    const vs = this.shader(gl.VERTEX_SHADER, VERTEX);
    const frags = this.extra.programs.map((src) => this.shader(gl.FRAGMENT_SHADER, src));
    this.programs = frags.map((fs) => {
      const p = gl.createProgram();
      if (!p) throw new WebDNNError("webgl: createProgram failed");
      gl.attachShader(p, vs);
      gl.attachShader(p, fs);
      gl.linkProgram(p);
      return p;
    });
    const users = new Map<number, string>();
    for (const k of desc.kernels) {
      const pi = (k.attrs as { program: number }).program;
      if (!users.has(pi)) users.set(pi, `${k.name}' (${k.op}`);
    }
    this.programs.forEach((p, i) => {
      if (!gl.getProgramParameter(p, gl.LINK_STATUS)) {
        const log = gl.getShaderInfoLog(frags[i]!) || gl.getProgramInfoLog(p) || "(no log)";
        this.checkLost();
        throw new WebDNNError(`webgl: the shader of kernel '${users.get(i) ?? "?"}) failed to compile/link: ${log}`);
      }
      gl.useProgram(p);
      for (let k = 0; ; k++) {
        const loc = gl.getUniformLocation(p, `u${k}`);
        if (!loc) break;
        gl.uniform1i(loc, k);
      }
    });
  }

  private shader(type: number, src: string): WebGLShader {
    const gl = this.gl;
    const s = gl.createShader(type);
    if (!s) throw new WebDNNError("webgl: createShader failed");
    gl.shaderSource(s, src);
    gl.compileShader(s);
    this.shaders.push(s);
    return s;
  }

  private framebuffer(tex: number): WebGLFramebuffer {
    const have = this.fbos.get(tex);
    if (have) return have;
    const gl = this.gl;
    const fbo = gl.createFramebuffer();
    if (!fbo) throw new WebDNNError("webgl: createFramebuffer failed");
    gl.bindFramebuffer(gl.FRAMEBUFFER, fbo);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, this.textures[tex]!, 0);
    const status = gl.checkFramebufferStatus(gl.FRAMEBUFFER);
    if (status !== gl.FRAMEBUFFER_COMPLETE) {
      throw new WebDNNError(`webgl: an R32F render target is not supported here (framebuffer status 0x${status.toString(16)})`);
    }
    this.fbos.set(tex, fbo);
    return fbo;
  }

  async run(inputs: readonly TypedArray[]): Promise<TypedArray[]> {
    this.checkLost();
    const gl = this.gl;
    const ex = this.extra;
    inputs.forEach((x, i) => {
      const t = ex.inputs[i]!;
      const lay = ex.textures[t]!;
      gl.bindTexture(gl.TEXTURE_2D, this.textures[t]!);
      gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, lay.width, lay.height, gl.RED, gl.FLOAT,
        toTexels(x, this.ins[i]!.dtype, lay.width * lay.height));
    });
    gl.bindVertexArray(this.vao);
    for (const s of this.steps) {
      gl.bindFramebuffer(gl.FRAMEBUFFER, s.fbo);
      gl.viewport(0, 0, s.width, s.height);
      gl.useProgram(s.program);
      for (let k = 0; k < s.inputs.length; k++) {
        gl.activeTexture(gl.TEXTURE0 + k);
        gl.bindTexture(gl.TEXTURE_2D, s.inputs[k]!);
      }
      gl.drawArrays(gl.TRIANGLES, 0, 3);
    }
    const results = ex.outputs.map((t, i) => {
      const lay = ex.textures[t]!;
      const px = new Float32Array(lay.width * lay.height * 4);
      gl.bindFramebuffer(gl.FRAMEBUFFER, this.fbos.get(t)!);
      gl.readPixels(0, 0, lay.width, lay.height, gl.RGBA, gl.FLOAT, px);
      const spec = this.outs[i]!;
      return fromPixels(px, spec.dtype, spec.shape.reduce((p, d) => p * d, 1));
    });
    this.checkLost();
    const err = gl.getError();
    if (err !== gl.NO_ERROR) throw new WebDNNError(`webgl: GL error 0x${err.toString(16)} while running the model`);
    return results;
  }

  dispose(): void {
    const gl = this.gl;
    (this.canvas as EventTarget).removeEventListener("webglcontextlost", this.onLost);
    if (!gl.isContextLost()) {
      for (const f of this.fbos.values()) gl.deleteFramebuffer(f);
      for (const t of this.textures) gl.deleteTexture(t);
      for (const p of this.programs) gl.deleteProgram(p);
      for (const s of this.shaders) gl.deleteShader(s);
      if (this.vao) gl.deleteVertexArray(this.vao);
      gl.getExtension("WEBGL_lose_context")?.loseContext();
    }
    this.fbos.clear();
    this.textures = [];
    this.programs = [];
    this.shaders = [];
    this.steps = [];
    this.vao = null;
  }
}

let probe: Promise<boolean> | null = null;

export const webglBackend: Backend = {
  name: "webgl",
  isAvailable: () => {
    probe ??= (async () => {
      try {
        const c = createContext();
        if (!c) return false;
        c.gl.getExtension("WEBGL_lose_context")?.loseContext();
        return true;
      } catch {
        return false;
      }
    })();
    return probe;
  },
  createSession: async (desc, weights) => {
    const c = createContext();
    if (!c) throw new DescriptorError("webgl: no WebGL2 context with EXT_color_buffer_float could be created");
    return new WebGLSession(c.canvas, c.gl, desc, weights);
  },
};
