// The webgl backend: WebGL2 fragment shaders (GLSL ES 3.00) generated at conversion time,
// run over RGBA32F textures (four consecutive row-major elements per texel, 2-D layouts chosen
// by the transpiler; tensors beyond 4096 x 4096 texels in 2-D array textures, drawn one layer
// at a time; a pass with several render targets draws once into as many layers, attached to
// COLOR_ATTACHMENT0..n-1, each holding an equal share of its output). Everything is prepared at load: programs compiled and linked, textures and
// framebuffers created, weights uploaded once. run() uploads the inputs, draws every pass
// in order and reads back only the outputs. Shader sources come from the descriptor and go
// to the GPU driver; no JavaScript is generated or evaluated.
//
// Context loss (GPU reset, driver update, too many contexts, WEBGL_lose_context): every
// texture is gone with the context, so the session does not try to rebuild itself. run()
// after a loss rejects with a WebGLContextLostError that says to load the model again;
// dispose() still works. dispose() deletes every texture, framebuffer, program, shader and
// vertex array it created, and releases the context if the backend created it.
//
// A model beyond this device's limits (texture size, layers, render targets, float render
// targets) fails createSession with a BackendUnavailableError, so load() tries the next backend.
//
// A model with symbolic dims (one concrete descriptor per input size) runs as a family
// (Backend.createFamily): one context, one vertex array and the weight textures, each uploaded
// once, for every size; each size has its own runtime textures and framebuffers and takes its
// programs from the family's cache (keyed by fragment source), so passes whose source does not
// depend on the size compile once. A fixed-shape model's session is a family of one.
//
// backendOptions.webgl: { canvas?: HTMLCanvasElement | OffscreenCanvas } runs on the
// application's canvas (its WebGL2 context) instead of a private OffscreenCanvas; that
// context is left alive at dispose().

import type { Descriptor, TensorSpec } from "../../descriptor.js";
import { allocate, makeView, type DType, type TypedArray } from "../../dtypes.js";
import { BackendUnavailableError, WebDNNError } from "../../errors.js";
import type { Backend, Session, SizeFamily } from "../backend.js";
import { floatToHalf, halfToFloat } from "../fallback/kernels/elementwise/common.js";
import { parseExtra, type TextureSpec, type WebGLExtra } from "./extra.js";

/** A run after the WebGL context was lost: the model must be loaded again. */
export class WebGLContextLostError extends WebDNNError {}

const VERTEX = `#version 300 es
void main() {
  vec2 p = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
  gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}
`;

type Canvas = OffscreenCanvas | HTMLCanvasElement;

interface Context { canvas: Canvas; gl: WebGL2RenderingContext; owned: boolean }

function userCanvas(options?: Record<string, unknown>): Canvas | null {
  const c = options?.["canvas"];
  if (c === undefined || c === null) return null;
  const ok = (typeof OffscreenCanvas !== "undefined" && c instanceof OffscreenCanvas) ||
    (typeof HTMLCanvasElement !== "undefined" && c instanceof HTMLCanvasElement);
  if (!ok) throw new WebDNNError("backendOptions.webgl.canvas must be an HTMLCanvasElement or OffscreenCanvas");
  return c as Canvas;
}

const CONTEXT_ATTRIBUTES: WebGLContextAttributes = {
  alpha: false, antialias: false, depth: false, stencil: false, preserveDrawingBuffer: false,
  powerPreference: "high-performance",
};

/** A WebGL2 context with EXT_color_buffer_float, or why there is none. Without a canvas from the app,
 * an OffscreenCanvas, else a document's canvas: an engine may have OffscreenCanvas without WebGL2 on it
 * (WebKitGTK), so each is tried in turn. */
function createContext(options?: Record<string, unknown>): Context | string {
  const given = userCanvas(options);
  const owned = given === null;
  const candidates: (() => Canvas)[] = given ? [() => given] : [];
  if (!given && typeof OffscreenCanvas !== "undefined") candidates.push(() => new OffscreenCanvas(1, 1));
  if (!given && typeof document !== "undefined") candidates.push(() => document.createElement("canvas"));
  if (candidates.length === 0) return "no WebGL2 here: neither OffscreenCanvas nor a document to make a canvas in";
  let canvas: Canvas | null = null;
  let gl: WebGL2RenderingContext | null = null;
  for (const make of candidates) {
    canvas = make();
    gl = canvas.getContext("webgl2", CONTEXT_ATTRIBUTES) as WebGL2RenderingContext | null;
    if (gl) break;
  }
  if (!gl || !canvas) return "no WebGL2 context could be created (WebGL2 missing, disabled or blocklisted)";
  if (gl.isContextLost()) return "the WebGL2 context was lost as it was created";
  if (!gl.getExtension("EXT_color_buffer_float")) {
    if (owned) gl.getExtension("WEBGL_lose_context")?.loseContext();
    return "this WebGL2 lacks EXT_color_buffer_float (float render targets)";
  }
  return { canvas, gl, owned };
}

/** Float32 copy of `data` (of `dtype`); float32 data is returned as is. */
function toFloat32(data: TypedArray, dtype: DType): Float32Array {
  if (dtype === "float32") return data as Float32Array;
  const out = new Float32Array(data.length);
  if (dtype === "int64") {
    const d = data as BigInt64Array;
    for (let i = 0; i < d.length; i++) out[i] = Number(d[i]);
  } else if (dtype === "float16") {
    const d = data as Uint16Array;
    for (let i = 0; i < d.length; i++) out[i] = halfToFloat(d[i]!);
  } else {
    const d = data as unknown as ArrayLike<number>;
    for (let i = 0; i < d.length; i++) out[i] = d[i]!;
  }
  return out;
}

/** `count` elements of RGBA float pixels (four consecutive elements per texel), stored into
 * `out` (of `dtype`) from index `at`. */
function fromTexels(px: Float32Array, count: number, out: TypedArray, dtype: DType, at: number): void {
  if (dtype === "int64") {
    const o = out as BigInt64Array;
    for (let i = 0; i < count; i++) o[at + i] = BigInt(Math.round(px[i]!));
  } else if (dtype === "bool") {
    const o = out as Uint8Array;
    for (let i = 0; i < count; i++) o[at + i] = px[i] !== 0 ? 1 : 0;
  } else if (dtype === "float16") {
    const o = out as Uint16Array;
    for (let i = 0; i < count; i++) o[at + i] = floatToHalf(px[i]!);
  } else if (dtype === "float32") {
    (out as Float32Array).set(px.subarray(0, count), at);
  } else {
    const o = out as unknown as { [i: number]: number };
    for (let i = 0; i < count; i++) o[at + i] = px[i]!;
  }
}

/** Texels holding `size` elements (four per texel, at least one). */
const texelsFor = (size: number): number => Math.max(1, Math.ceil(size / 4));

interface Tex extends TextureSpec {
  handle: WebGLTexture;
  target: number; // TEXTURE_2D or TEXTURE_2D_ARRAY
}

interface Draw { fbo: WebGLFramebuffer; base: number; rows: number }

interface Step {
  name: string;
  program: WebGLProgram;
  base: WebGLUniformLocation | null; // u_base of array-texture outputs
  inputs: Tex[];
  draws: Draw[];
  width: number;
}

/** A linked program in a family's cache, keyed by its fragment source: the sizes of a model whose
 *  pass source does not depend on the size share one. */
interface ProgramEntry {
  source: string;
  program: WebGLProgram;
  fragment: WebGLShader;
  base: WebGLUniformLocation | null; // u_base of array-texture outputs
  checked: boolean; // link status read and sampler units set
  users: number;
}

/** Programs that no size of a family uses any more, kept for sizes made later (see release). */
const IDLE_PROGRAMS = 64;

const CONTEXT_LOST = "webgl: the WebGL context was lost (GPU reset, driver update, too many " +
  "contexts or WEBGL_lose_context), and every texture with it; dispose this runner and load the model " +
  "again (WebDNN.load)";

/** Texture `t` of a descriptor, created (storage allocated, nearest sampling), not filled. */
function createTexture(gl: WebGL2RenderingContext, t: TextureSpec): Tex {
  const handle = gl.createTexture();
  if (!handle) throw new WebDNNError("webgl: createTexture failed");
  const target = t.layers > 1 ? gl.TEXTURE_2D_ARRAY : gl.TEXTURE_2D;
  gl.bindTexture(target, handle);
  if (t.layers > 1) gl.texStorage3D(target, 1, gl.RGBA32F, t.width, t.height, t.layers);
  else gl.texStorage2D(target, 1, gl.RGBA32F, t.width, t.height);
  gl.texParameteri(target, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
  gl.texParameteri(target, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
  gl.texParameteri(target, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
  gl.texParameteri(target, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
  return { ...t, handle, target };
}

/** Upload `data` into texture `tex` row by row, four elements per texel (no padded copy of the
 * whole tensor: only a partial last row is copied, zero-padded). */
function upload(gl: WebGL2RenderingContext, tex: Tex, data: Float32Array): void {
  const w = tex.width;
  const row = 4 * w; // floats per texture row
  const perLayer = 4 * tex.stride;
  gl.bindTexture(tex.target, tex.handle);
  const put = (layer: number, y: number, rows: number, src: Float32Array): void => {
    if (tex.layers > 1) gl.texSubImage3D(tex.target, 0, 0, y, layer, w, rows, 1, gl.RGBA, gl.FLOAT, src);
    else gl.texSubImage2D(tex.target, 0, 0, y, w, rows, gl.RGBA, gl.FLOAT, src);
  };
  for (let l = 0; l * perLayer < data.length; l++) {
    const chunk = data.subarray(l * perLayer, Math.min(data.length, (l + 1) * perLayer));
    const rows = Math.floor(chunk.length / row);
    if (rows > 0) put(l, 0, rows, chunk.subarray(0, rows * row));
    if (rows * row < chunk.length) {
      const last = new Float32Array(row);
      last.set(chunk.subarray(rows * row));
      put(l, rows, 1, last);
    }
  }
}

/** The weight textures of a descriptor: texture index -> the weights tensor it holds, for the
 *  textures that only weights are in (no pass writes them, no input or output is in them). */
function weightTextures(desc: Descriptor, ex: WebGLExtra): Map<number, TensorSpec> {
  const out = new Map<number, TensorSpec>();
  const written = new Set<number>([...ex.inputs, ...ex.outputs]);
  const other = new Set<number>();
  for (const k of desc.kernels) {
    const texs = (k.attrs as { textures: number[] }).textures;
    written.add(texs[texs.length - 1]!);
    k.inputs.forEach((ti, i) => {
      const spec = desc.tensors[ti];
      if (spec?.memory === "weights") {
        const had = out.get(texs[i]!);
        // two weights tensors in one texture (not written by the converter): not shared
        if (had && (had.offset !== spec.offset || had.byteLength !== spec.byteLength || had.dtype !== spec.dtype)) other.add(texs[i]!);
        else out.set(texs[i]!, spec);
      } else {
        other.add(texs[i]!);
      }
    });
  }
  for (const t of [...written, ...other]) out.delete(t);
  return out;
}

/** The key of a weight texture in a family: what it holds and its layout. */
function weightKey(spec: TensorSpec, t: TextureSpec): string {
  return `${spec.offset}+${spec.byteLength}:${spec.dtype}@${t.width}x${t.height}x${t.layers}/${t.stride}`;
}

/** What the sessions of one model share on WebGL: the context, the weight textures (uploaded
 *  once), the vertex shader and vertex array, and a cache of linked programs keyed by their
 *  fragment source. A fixed-shape model's one session has a family of its own (`single`). */
class WebGLFamily implements SizeFamily {
  lost = false;
  disposed = false;
  readonly sessions = new Set<WebGLSession>();
  private readonly weightTex = new Map<string, Tex>();
  private readonly programs = new Map<string, ProgramEntry>();
  private vs: WebGLShader | null = null;
  vao: WebGLVertexArrayObject | null = null;
  /** Counters shown in a size's backendInfo (symbolic-dim models). */
  weightUploads = 0;
  programsCompiled = 0;

  constructor(readonly ctx: Context, private readonly weights: Uint8Array, readonly single: boolean) {
    (ctx.canvas as EventTarget).addEventListener("webglcontextlost", this.onLost);
  }

  get gl(): WebGL2RenderingContext {
    return this.ctx.gl;
  }

  private readonly onLost = (ev: Event): void => {
    ev.preventDefault();
    this.lost = true;
  };

  checkLost(): void {
    if (this.lost || this.gl.isContextLost()) {
      this.lost = true;
      throw new WebGLContextLostError(CONTEXT_LOST);
    }
  }

  /** The session of one size (SizeFamily). */
  async createSession(desc: Descriptor): Promise<WebGLSession> {
    return this.session(desc);
  }

  session(desc: Descriptor): WebGLSession {
    if (this.disposed) throw new WebDNNError("webgl: this model was disposed; load it again");
    return new WebGLSession(this, desc);
  }

  /** GL state every pass relies on, and the vertex array (made once). */
  setup(): void {
    const gl = this.gl;
    gl.disable(gl.DITHER);
    gl.disable(gl.BLEND);
    gl.disable(gl.DEPTH_TEST);
    gl.disable(gl.SCISSOR_TEST);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    gl.pixelStorei(gl.PACK_ALIGNMENT, 1);
    if (!this.vao) this.vao = gl.createVertexArray();
    gl.bindVertexArray(this.vao);
  }

  /** The texture holding weights tensor `spec` in layout `t`: the family's, uploaded the first
   *  time a size needs it. */
  weightTexture(spec: TensorSpec, t: TextureSpec): Tex {
    const key = weightKey(spec, t);
    let tex = this.weightTex.get(key);
    if (!tex) {
      const gl = this.gl;
      tex = createTexture(gl, t);
      this.weightTex.set(key, tex);
      const size = spec.shape.reduce((p, d) => p * d, 1);
      const w = this.weights;
      const aligned = (w.byteOffset + spec.offset) % 8 === 0;
      const src = aligned ? w : w.slice(spec.offset, spec.offset + spec.byteLength);
      const data = makeView(spec.dtype, src.buffer, src.byteOffset + (aligned ? spec.offset : 0), size);
      upload(gl, tex, toFloat32(data, spec.dtype));
      this.weightUploads++;
    }
    return tex;
  }

  get weightTextureCount(): number {
    return this.weightTex.size;
  }

  get cachedPrograms(): number {
    return this.programs.size;
  }

  /** The program of this fragment source: from the cache, or compiled and linked now (its link
   *  status is read later, by check, so that drivers can compile in parallel). */
  program(source: string): { entry: ProgramEntry; fresh: boolean } {
    const have = this.programs.get(source);
    if (have) {
      have.users++;
      this.programs.delete(source); // re-inserted as the most recently used
      this.programs.set(source, have);
      return { entry: have, fresh: false };
    }
    const gl = this.gl;
    if (!this.vs) this.vs = this.shader(gl.VERTEX_SHADER, VERTEX);
    const fragment = this.shader(gl.FRAGMENT_SHADER, source);
    const p = gl.createProgram();
    if (!p) {
      gl.deleteShader(fragment);
      throw new WebDNNError("webgl: createProgram failed");
    }
    gl.attachShader(p, this.vs);
    gl.attachShader(p, fragment);
    gl.linkProgram(p);
    const entry: ProgramEntry = { source, program: p, fragment, base: null, checked: false, users: 1 };
    this.programs.set(source, entry);
    this.programsCompiled++;
    return { entry, fresh: true };
  }

  private shader(type: number, src: string): WebGLShader {
    const gl = this.gl;
    const s = gl.createShader(type);
    if (!s) throw new WebDNNError("webgl: createShader failed");
    gl.shaderSource(s, src);
    gl.compileShader(s);
    return s;
  }

  /** Read a program's link status (throws with the compile log, naming `user`) and set its
   *  sampler units (u0..u{samplers-1} = texture units 0..). */
  check(entry: ProgramEntry, samplers: number, user: string): void {
    if (entry.checked) return;
    const gl = this.gl;
    const p = entry.program;
    if (!gl.getProgramParameter(p, gl.LINK_STATUS)) {
      const log = gl.getShaderInfoLog(entry.fragment) || gl.getProgramInfoLog(p) || "(no log)";
      this.checkLost();
      // not kept: a later size with this source reports it again
      if (this.programs.get(entry.source) === entry) this.programs.delete(entry.source);
      throw new WebDNNError(`webgl: the shader of kernel '${user}) failed to compile/link: ${log}`);
    }
    gl.useProgram(p);
    // a sampler the shader does not read is optimized away (null location): skip it, not stop
    for (let k = 0; k < samplers; k++) {
      const loc = gl.getUniformLocation(p, `u${k}`);
      if (loc) gl.uniform1i(loc, k);
    }
    entry.base = gl.getUniformLocation(p, "u_base");
    entry.checked = true;
  }

  /** A size is done with this program. One no size uses stays linked (a size made again, or
   *  another size with the same source, takes it back) among the IDLE_PROGRAMS least recently
   *  used such ones; older ones are deleted. */
  release(entry: ProgramEntry): void {
    entry.users--;
    if (entry.users > 0) return;
    if (this.programs.get(entry.source) !== entry) {
      this.deleteProgram(entry); // dropped from the cache (it failed): nobody else holds it
      return;
    }
    let idle = 0;
    for (const e of this.programs.values()) if (e.users <= 0) idle++;
    for (const [k, e] of this.programs) {
      if (idle <= IDLE_PROGRAMS) break;
      if (e.users <= 0) {
        this.programs.delete(k);
        this.deleteProgram(e);
        idle--;
      }
    }
  }

  private deleteProgram(e: ProgramEntry): void {
    const gl = this.gl;
    if (gl.isContextLost()) return;
    gl.deleteProgram(e.program);
    gl.deleteShader(e.fragment);
  }

  /** Free the weight textures, programs and vertex array, and release the context if the backend
   *  created it; the sizes still open go with them. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const s of [...this.sessions]) s.dispose();
    const gl = this.gl;
    (this.ctx.canvas as EventTarget).removeEventListener("webglcontextlost", this.onLost);
    // after a context loss every object is already gone (delete* would be no-ops)
    if (!gl.isContextLost()) {
      for (const t of this.weightTex.values()) gl.deleteTexture(t.handle);
      for (const e of this.programs.values()) {
        gl.deleteProgram(e.program);
        gl.deleteShader(e.fragment);
      }
      if (this.vs) gl.deleteShader(this.vs);
      if (this.vao) gl.deleteVertexArray(this.vao);
      if (this.ctx.owned) gl.getExtension("WEBGL_lose_context")?.loseContext();
    }
    this.weightTex.clear();
    this.programs.clear();
    this.vs = null;
    this.vao = null;
  }
}

/** One input size of a model on WebGL: its textures (but the weights'), framebuffers, and its
 *  programs (from the family's cache); the context and the weight textures are the family's. */
class WebGLSession implements Session {
  private disposed = false;
  private textures: Tex[] = [];
  /** The textures this size made (the others are the family's weight textures). */
  private own: Tex[] = [];
  private fbos = new Map<string, WebGLFramebuffer>();
  private entries: ProgramEntry[] = [];
  private sharedPrograms = 0;
  private steps: Step[] = [];
  private readonly extra: WebGLExtra;
  private readonly ins: TensorSpec[];
  private readonly outs: TensorSpec[];
  private readonly ownInfo: Readonly<Record<string, unknown>>;

  constructor(private readonly family: WebGLFamily, desc: Descriptor) {
    this.extra = parseExtra(desc);
    this.ins = desc.inputs.map((x) => desc.tensors[x.tensor]!);
    this.outs = desc.outputs.map((x) => desc.tensors[x.tensor]!);
    family.sessions.add(this);
    try {
      this.build(desc);
    } catch (e) {
      this.dispose();
      throw e;
    }
    this.ownInfo = { textures: this.textures.length, programs: this.extra.programs.length, passes: this.steps.length };
  }

  /** The numbers of textures, programs and passes; for a model with symbolic dims also what the
   *  sizes share: weight textures (each uploaded once), this size's programs taken from the
   *  cache, programs cached and compiled. */
  get info(): Readonly<Record<string, unknown>> {
    const f = this.family;
    if (f.single) return this.ownInfo;
    return {
      ...this.ownInfo, weightTextures: f.weightTextureCount, weightUploads: f.weightUploads,
      sharedPrograms: this.sharedPrograms, familyPrograms: f.cachedPrograms, programsCompiled: f.programsCompiled,
      familySizes: f.sessions.size,
    };
  }

  private get gl(): WebGL2RenderingContext {
    return this.family.gl;
  }

  private build(desc: Descriptor): void {
    const gl = this.gl;
    const f = this.family;
    const ex = this.extra;
    f.checkLost();
    const max = gl.getParameter(gl.MAX_TEXTURE_SIZE) as number;
    const maxLayers = gl.getParameter(gl.MAX_ARRAY_TEXTURE_LAYERS) as number;
    ex.textures.forEach((t, i) => {
      if (t.width > max || t.height > max || t.layers > maxLayers) {
        throw new BackendUnavailableError(`webgl: texture ${i} is ${t.width}x${t.height}x${t.layers}, beyond ` +
          `this device's MAX_TEXTURE_SIZE ${max} / MAX_ARRAY_TEXTURE_LAYERS ${maxLayers}`);
      }
    });
    f.setup();
    const weights = weightTextures(desc, ex);
    this.textures = ex.textures.map((t, i) => {
      const spec = weights.get(i);
      if (spec) return f.weightTexture(spec, t);
      const tex = createTexture(gl, t);
      this.own.push(tex);
      return tex;
    });
    this.compile(desc);
    for (const k of desc.kernels) {
      const a = k.attrs as { program: number; textures: number[]; targets?: number };
      const out = a.textures[a.textures.length - 1]!;
      const entry = this.entries[a.program]!;
      const size = desc.tensors[k.outputs[0]!]!.shape.reduce((p, d) => p * d, 1);
      const tex = this.textures[out]!;
      const draws = a.targets === undefined ? this.draws(out, size)
        : [{ fbo: this.framebuffer(out, -1, a.targets), base: 0, rows: Math.ceil(tex.stride / tex.width) }];
      this.steps.push({
        name: k.name, program: entry.program, base: entry.base,
        inputs: a.textures.slice(0, -1).map((t) => this.textures[t]!), draws, width: tex.width,
      });
    }
    const err = gl.getError();
    if (err !== gl.NO_ERROR) throw new WebDNNError(`webgl: GL error 0x${err.toString(16)} while preparing the model`);
    f.checkLost();
  }

  /** One draw per layer of texture `t` holding `size` elements, covering only the rows in use. */
  private draws(t: number, elements: number): Draw[] {
    const tex = this.textures[t]!;
    const size = texelsFor(elements);
    const perLayer = tex.stride;
    const out: Draw[] = [];
    for (let l = 0; l === 0 || l * perLayer < size; l++) {
      const n = Math.max(1, Math.min(perLayer, size - l * perLayer));
      out.push({ fbo: this.framebuffer(t, l), base: l * perLayer, rows: Math.ceil(n / tex.width) });
    }
    return out;
  }

  /** Every program, from the family's cache or compiled now (all compiled first, then checked:
   *  lets drivers compile in parallel). */
  private compile(desc: Descriptor): void {
    const f = this.family;
    for (const src of this.extra.programs) {
      const { entry, fresh } = f.program(src);
      this.entries.push(entry);
      if (!fresh) this.sharedPrograms++;
    }
    const users = new Map<number, string>();
    const samplers = new Map<number, number>(); // program -> number of input samplers
    for (const k of desc.kernels) {
      const pi = (k.attrs as { program: number }).program;
      if (!users.has(pi)) users.set(pi, `${k.name}' (${k.op}`);
      samplers.set(pi, k.inputs.length);
    }
    this.entries.forEach((e, i) => f.check(e, samplers.get(i) ?? 0, users.get(i) ?? "?"));
  }

  /** Framebuffer drawing into `layer` of texture `t`, or (targets > 1, layer -1) into its
   * layers 0..targets-1 at once. */
  private framebuffer(t: number, layer: number, targets = 1): WebGLFramebuffer {
    const key = `${t}:${layer}:${targets}`;
    const have = this.fbos.get(key);
    if (have) return have;
    const gl = this.gl;
    const tex = this.textures[t]!;
    const fbo = gl.createFramebuffer();
    if (!fbo) throw new WebDNNError("webgl: createFramebuffer failed");
    this.fbos.set(key, fbo);
    gl.bindFramebuffer(gl.FRAMEBUFFER, fbo);
    if (targets > 1) {
      const max = Math.min(gl.getParameter(gl.MAX_DRAW_BUFFERS) as number,
        gl.getParameter(gl.MAX_COLOR_ATTACHMENTS) as number);
      if (targets > max) {
        throw new BackendUnavailableError(`webgl: a pass draws into ${targets} render targets, more than ` +
          `this device's MAX_DRAW_BUFFERS / MAX_COLOR_ATTACHMENTS ${max}`);
      }
      const bufs: number[] = [];
      for (let l = 0; l < targets; l++) {
        gl.framebufferTextureLayer(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0 + l, tex.handle, 0, l);
        bufs.push(gl.COLOR_ATTACHMENT0 + l);
      }
      gl.drawBuffers(bufs); // framebuffer state: set once here
    } else if (tex.layers > 1) {
      gl.framebufferTextureLayer(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, tex.handle, 0, layer);
    } else {
      gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, tex.handle, 0);
    }
    const status = gl.checkFramebufferStatus(gl.FRAMEBUFFER);
    if (status !== gl.FRAMEBUFFER_COMPLETE) {
      this.family.checkLost();
      throw new BackendUnavailableError(`webgl: ${targets > 1 ? `${targets} RGBA32F render targets are` :
        "an RGBA32F render target is"} not supported here (framebuffer status 0x${status.toString(16)})`);
    }
    return fbo;
  }

  async run(inputs: readonly TypedArray[]): Promise<TypedArray[]> {
    if (this.disposed) throw new WebDNNError("webgl: this session was disposed");
    this.family.checkLost();
    const gl = this.gl;
    const ex = this.extra;
    inputs.forEach((x, i) => upload(gl, this.textures[ex.inputs[i]!]!, toFloat32(x, this.ins[i]!.dtype)));
    gl.bindVertexArray(this.family.vao);
    for (const s of this.steps) {
      gl.useProgram(s.program);
      for (let k = 0; k < s.inputs.length; k++) {
        gl.activeTexture(gl.TEXTURE0 + k);
        gl.bindTexture(s.inputs[k]!.target, s.inputs[k]!.handle);
      }
      for (const d of s.draws) {
        gl.bindFramebuffer(gl.FRAMEBUFFER, d.fbo);
        gl.viewport(0, 0, s.width, d.rows);
        if (s.base) gl.uniform1i(s.base, d.base);
        gl.drawArrays(gl.TRIANGLES, 0, 3);
      }
    }
    const results = ex.outputs.map((t, i) => this.readBack(t, this.outs[i]!));
    this.family.checkLost();
    const err = gl.getError();
    if (err !== gl.NO_ERROR) throw new WebDNNError(`webgl: GL error 0x${err.toString(16)} while running the model`);
    return results;
  }

  private readBack(t: number, spec: TensorSpec): TypedArray {
    const gl = this.gl;
    const tex = this.textures[t]!;
    const size = spec.shape.reduce((p, d) => p * d, 1);
    const out = allocate(spec.dtype, size);
    const perLayer = 4 * tex.stride; // elements per layer
    for (let l = 0; l * perLayer < size; l++) {
      const n = Math.min(perLayer, size - l * perLayer);
      const rows = Math.ceil(texelsFor(n) / tex.width);
      const px = new Float32Array(tex.width * rows * 4);
      gl.bindFramebuffer(gl.FRAMEBUFFER, this.framebuffer(t, l));
      gl.readPixels(0, 0, tex.width, rows, gl.RGBA, gl.FLOAT, px);
      fromTexels(px, n, out, spec.dtype, l * perLayer);
    }
    return out;
  }

  /** Frees this size's textures and framebuffers and its hold on the family's programs; a
   *  fixed-shape model's session also frees its family (weights, programs, the context). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const gl = this.gl;
    // after a context loss every object is already gone (delete* would be no-ops)
    if (!gl.isContextLost()) {
      gl.bindFramebuffer(gl.FRAMEBUFFER, null);
      for (const fb of this.fbos.values()) gl.deleteFramebuffer(fb);
      for (const t of this.own) gl.deleteTexture(t.handle);
    }
    for (const e of this.entries) this.family.release(e);
    this.fbos.clear();
    this.textures = [];
    this.own = [];
    this.entries = [];
    this.steps = [];
    this.family.sessions.delete(this);
    if (this.family.single) this.family.dispose();
  }
}

let probe: Promise<string | null> | null = null;

/** Why webgl cannot run here (null: it can). */
function unavailableReason(options?: Record<string, unknown>): Promise<string | null> {
  const attempt = (): string | null => {
    try {
      const c = createContext(options);
      if (typeof c === "string") return c;
      if (c.owned) c.gl.getExtension("WEBGL_lose_context")?.loseContext();
      return null;
    } catch (e) {
      return `no WebGL2 context could be created: ${e instanceof Error ? e.message : String(e)}`;
    }
  };
  if (options?.["canvas"] !== undefined) return Promise.resolve(attempt());
  probe ??= Promise.resolve(attempt());
  return probe;
}

export const webglBackend: Backend = {
  name: "webgl",
  unavailableReason,
  isAvailable: async (options) => (await unavailableReason(options)) === null,
  createSession: async (desc, weights, options) => {
    const c = createContext(options);
    if (typeof c === "string") throw new BackendUnavailableError(`webgl: ${c}`);
    const family = new WebGLFamily(c, weights, true);
    try {
      return family.session(desc);
    } catch (e) {
      family.dispose(); // the weight textures, programs and (if the backend made it) the context
      throw e;
    }
  },
  // a model with symbolic dims: one context and one upload of the weights for every size,
  // programs shared where a size's pass source is another's
  createFamily: async (_first, weights, options) => {
    const c = createContext(options);
    if (typeof c === "string") throw new BackendUnavailableError(`webgl: ${c}`);
    return new WebGLFamily(c, weights, false);
  },
};
