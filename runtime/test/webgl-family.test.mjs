// The webgl backend's size family (Backend.createFamily), in Node on a recording stand-in for
// WebGL2 (Node has none; the shaders' results are checked in Chromium by the Python tests): a
// model with symbolic dims makes one context and uploads each weight texture once for all its
// sizes; a size seen again reuses its session; a pass whose source does not depend on the size is
// compiled once and read from the same weight texture by every size; an evicted size frees only
// its own textures and framebuffers; dispose() frees everything and releases the context; after a
// context loss every size fails with the reload error. A fixed-shape model's session is unchanged.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { crc32 } from "node:zlib";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "webdnn-webgl-family-test-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));
const outfile = join(tmp, "webdnn.mjs");
await build({
  entryPoints: [join(here, "..", "src", "index.ts")],
  bundle: true, format: "esm", platform: "node", outfile, logLevel: "error",
});
const { load } = await import(pathToFileURL(outfile).href);

// --- a recording WebGL2 -------------------------------------------------------------------
/** Every context made, in order. Each records its live objects by kind, the uploads into each
 *  texture, the programs linked (by fragment source) and each draw (program, bound textures). */
const contexts = [];

class FakeGL {
  constructor(canvas) {
    this.canvas = canvas;
    this.lost = false;
    this.live = { Texture: new Set(), Framebuffer: new Set(), Program: new Set(), Shader: new Set(), VertexArray: new Set() };
    this.uploads = new Map(); // texture -> texSubImage calls
    this.linked = []; // fragment sources, in link order
    this.draws = []; // { program, textures: [handle by unit] }
    this.units = [];
    this.unit = 0;
    this.program = null;
    this.serial = 0;
    for (const kind of Object.keys(this.live)) {
      this["create" + kind] = (...a) => {
        const o = { kind, id: ++this.serial, ...(kind === "Shader" ? { type: a[0], source: "" } : {}), attached: [] };
        this.live[kind].add(o);
        return o;
      };
      this["delete" + kind] = (o) => { if (o) this.live[kind].delete(o); };
    }
    return new Proxy(this, {
      // GL enums: their own names (unique, and compared only with each other)
      get: (t, p) => (p in t ? t[p] : typeof p === "string" && /^[A-Z][A-Z0-9_]*$/.test(p) ? p : undefined),
    });
  }
  getExtension(name) {
    if (name === "EXT_color_buffer_float") return {};
    if (name === "WEBGL_lose_context") return { loseContext: () => this.lose() };
    return null;
  }
  lose() {
    if (this.lost) return;
    this.lost = true;
    const ev = new Event("webglcontextlost", { cancelable: true });
    this.canvas.dispatchEvent(ev);
  }
  isContextLost() { return this.lost; }
  getParameter(p) { return { MAX_TEXTURE_SIZE: 4096, MAX_ARRAY_TEXTURE_LAYERS: 256, MAX_DRAW_BUFFERS: 8, MAX_COLOR_ATTACHMENTS: 8 }[p] ?? 0; }
  getError() { return "NO_ERROR"; }
  disable() {}
  pixelStorei() {}
  bindVertexArray() {}
  bindTexture(_target, t) { if (t) this.bound = t; this.units[this.unit] = t; }
  activeTexture(u) { this.unit = Number(String(u).slice("TEXTURE0".length) || 0); }
  texStorage2D() {}
  texStorage3D() {}
  texParameteri() {}
  texSubImage2D() { this.uploads.set(this.bound, (this.uploads.get(this.bound) ?? 0) + 1); }
  texSubImage3D() { this.uploads.set(this.bound, (this.uploads.get(this.bound) ?? 0) + 1); }
  shaderSource(s, src) { s.source = src; }
  compileShader() {}
  attachShader(p, s) { p.attached.push(s); }
  linkProgram(p) { this.linked.push(p.attached.find((s) => s.type === "FRAGMENT_SHADER")?.source); }
  getProgramParameter() { return true; }
  getShaderInfoLog() { return ""; }
  getProgramInfoLog() { return ""; }
  useProgram(p) { this.program = p; }
  getUniformLocation(_p, name) { return { name }; }
  uniform1i() {}
  bindFramebuffer() {}
  framebufferTexture2D() {}
  framebufferTextureLayer() {}
  drawBuffers() {}
  checkFramebufferStatus() { return "FRAMEBUFFER_COMPLETE"; }
  viewport() {}
  drawArrays() { this.draws.push({ program: this.program, textures: this.units.slice(0, 2) }); }
  readPixels() {}
}

globalThis.OffscreenCanvas = class extends EventTarget {
  constructor(w, h) {
    super();
    this.width = w;
    this.height = h;
  }
  getContext(kind) {
    if (kind !== "webgl2") return null;
    this.gl ??= new FakeGL(this);
    if (!contexts.includes(this.gl)) contexts.push(this.gl);
    return this.gl;
  }
};
const count = (gl) => Object.fromEntries(Object.entries(gl.live).map(([k, s]) => [k, s.size]));

// --- the models ----------------------------------------------------------------------------
const ref = (i) => ({ $dim: i });
const W = new Uint8Array(Float32Array.from([0.5, -2, 3, 0.25]).buffer);
const AFFINE = (n) => ["#version 300 es\n// y = x * w + 1 over ", n, " texels\n"];
const SUM = "#version 300 es\n// s = sum(w)\n";

/** x [n, 4] -> y = x * w + 1 [n, 4] (a pass whose source holds n), s = sum(w) [1] (one that does
 *  not); w [4] the weights. `n` null: symbolic (1 <= n <= 64); a number: a fixed-shape model. */
function writeModel(n) {
  const dyn = n === null;
  const N = dyn ? ref(0) : n;
  const bytes = dyn ? ref(1) : 16 * n;
  const desc = {
    format: "webdnn-descriptor", version: dyn ? 2 : 1, backend: "webgl", model: "family",
    ...(dyn ? {
      symbols: [{ name: "n", min: 1, max: 64 }],
      dims: ["n", ["*", 16, "n"], ["*", 2, ref(1)], ["+", ref(2), 16]],
    } : {}),
    inputs: [{ name: "x", tensor: 0 }], outputs: [{ name: "y", tensor: 2 }, { name: "s", tensor: 3 }],
    tensors: [
      { name: "x", dtype: "float32", shape: [N, 4], memory: "arena", offset: 0, byteLength: bytes },
      { name: "w", dtype: "float32", shape: [4], memory: "weights", offset: 0, byteLength: 16 },
      { name: "y", dtype: "float32", shape: [N, 4], memory: "arena", offset: bytes, byteLength: bytes },
      { name: "s", dtype: "float32", shape: [1], memory: "arena", offset: dyn ? ref(2) : 32 * n, byteLength: 4 },
    ],
    arena: dyn ? { byteLength: ref(3), alignment: 16, naiveByteLength: ref(3) } : { byteLength: 32 * n + 16, alignment: 16, naiveByteLength: 32 * n + 16 },
    weights: { byteLength: 16, alignment: 16, files: [{ path: "weights-0.bin", offset: 0, byteLength: 16, crc32: crc32(W) }] },
    kernels: [
      { op: "Affine", name: "affine", inputs: [0, 1], outputs: [2], attrs: { program: 0, textures: [0, 1, 2] } },
      { op: "Sum", name: "sum", inputs: [1], outputs: [3], attrs: { program: 1, textures: [1, 3] } },
    ],
    webgl: {
      programs: [dyn ? { $concat: AFFINE(N) } : AFFINE(n).join(""), SUM],
      textures: [{ width: N, height: 1 }, { width: 1, height: 1 }, { width: N, height: 1 }, { width: 1, height: 1 }],
      inputs: [0], outputs: [2, 3],
    },
  };
  const manifest = {
    format: "webdnn-model", version: dyn ? 2 : 1, name: "family",
    ...(dyn ? { symbols: structuredClone(desc.symbols) } : {}),
    inputs: [{ name: "x", dtype: "float32", shape: [dyn ? "n" : n, 4] }],
    outputs: [{ name: "y", dtype: "float32", shape: [dyn ? "n" : n, 4] }, { name: "s", dtype: "float32", shape: [1] }],
    backends: { webgl: { descriptor: "webgl/descriptor.json", byteLength: 16 } },
  };
  const dir = join(tmp, dyn ? "dyn" : `fixed${n}`);
  mkdirSync(join(dir, "webgl"), { recursive: true });
  writeFileSync(join(dir, "webgl", "descriptor.json"), JSON.stringify(desc));
  writeFileSync(join(dir, "webgl", "weights-0.bin"), W);
  writeFileSync(join(dir, "manifest.json"), JSON.stringify(manifest));
  return dir;
}
const dynModel = writeModel(null);
const x = (n) => ({ x: { data: new Float32Array(4 * n), dims: [n, 4] } });
const opts = (o = {}) => ({ backendOrder: ["webgl"], ...o });

/** A runner and the contexts its load() made and kept (not the availability probe's, which is
 *  released at once). */
async function loadWithContext(dir, o) {
  const before = contexts.length;
  const r = await load(dir, o);
  const kept = contexts.slice(before).filter((gl) => !gl.isContextLost());
  return { r, made: () => [...kept, ...contexts.slice(before).filter((gl) => !kept.includes(gl) && !gl.isContextLost())] };
}

test("webgl: the sizes of a model share one context, the weight textures and size-independent programs", async () => {
  const { r, made } = await loadWithContext(dynModel, opts());
  const y3 = await r.run(x(3));
  assert.deepEqual(y3.y.dims, [3, 4]);
  await r.run(x(17));
  await r.run(x(3));
  await r.run(x(17));
  const [gl, ...more] = made();
  assert.equal(more.length, 0, "one context for every size");
  const info = r.backendInfo;
  assert.equal(info.signatures, 2); // a, b, a, b: two sessions
  assert.equal(info.weightTextures, 1);
  assert.equal(info.weightUploads, 1);
  assert.equal(info.programsCompiled, 3); // the affine pass per size, the sum pass once
  assert.equal(info.sharedPrograms, 1);
  assert.equal(info.familySizes, 2);
  assert.deepEqual(gl.linked, ["#version 300 es\n// y = x * w + 1 over 3 texels\n", SUM, "#version 300 es\n// y = x * w + 1 over 17 texels\n"]);
  // the weight texture: uploaded once, read by both sizes' passes; x uploaded at each run
  const sumDraws = gl.draws.filter((d) => d.program.attached.some((s) => s.source === SUM));
  assert.equal(sumDraws.length, 4);
  const wTex = sumDraws[0].textures[0];
  assert.ok(sumDraws.every((d) => d.program === sumDraws[0].program && d.textures[0] === wTex));
  assert.equal(gl.uploads.get(wTex), 1);
  // live: a vertex array; textures x, y, s per size plus the one weight texture
  assert.deepEqual(count(gl), { Texture: 7, Framebuffer: 4, Program: 3, Shader: 4, VertexArray: 1 });
  r.dispose();
  await new Promise((res) => setTimeout(res, 0)); // the family goes a microtask after its sizes
  assert.deepEqual(count(gl), { Texture: 0, Framebuffer: 0, Program: 0, Shader: 0, VertexArray: 0 });
  assert.equal(gl.isContextLost(), true, "the backend's own context is released");
});

test("webgl: an evicted size frees its own textures only; a size made again takes its programs back", async () => {
  const canvas = new OffscreenCanvas(1, 1); // the application's: left alive at dispose
  const gl = canvas.getContext("webgl2");
  const r = await load(dynModel, opts({ shapeCacheSize: 1, backendOptions: { webgl: { canvas } } }));
  await r.run(x(3));
  const a = count(gl);
  await r.run(x(17)); // evicts size 3
  await new Promise((res) => setTimeout(res, 0));
  const b = count(gl);
  assert.deepEqual(a, { Texture: 4, Framebuffer: 2, Program: 2, Shader: 3, VertexArray: 1 });
  // size 3's x, y, s textures and framebuffers went; its affine program stays linked (idle)
  assert.deepEqual(b, { Texture: 4, Framebuffer: 2, Program: 3, Shader: 4, VertexArray: 1 });
  await r.run(x(3)); // made again: no program compiled
  assert.equal(r.backendInfo.programsCompiled, 3);
  assert.equal(r.backendInfo.sharedPrograms, 2);
  assert.equal(r.backendInfo.weightUploads, 1);
  r.dispose();
  await new Promise((res) => setTimeout(res, 0));
  assert.deepEqual(count(gl), { Texture: 0, Framebuffer: 0, Program: 0, Shader: 0, VertexArray: 0 });
  assert.equal(gl.isContextLost(), false, "the application's context is left alive");
});

test("webgl: after a context loss every size, seen or new, fails with the reload error", async () => {
  const { r, made } = await loadWithContext(dynModel, opts());
  await r.run(x(3));
  const [gl] = made();
  gl.lose();
  for (const n of [3, 9]) {
    await assert.rejects(r.run(x(n)), (e) => e.name === "WebGLContextLostError" && /context was lost/.test(e.message) &&
      /load the model again/.test(e.message));
  }
  r.dispose(); // after a loss: must not throw
});

test("webgl: a fixed-shape model keeps its one session, info and dispose", async () => {
  const { r, made } = await loadWithContext(writeModel(5), opts());
  const out = await r.run({ x: new Float32Array(20) });
  assert.deepEqual(out.y.dims, [5, 4]);
  assert.deepEqual(r.backendInfo, { textures: 4, programs: 2, passes: 2, skipped: [] });
  const [gl] = made();
  assert.deepEqual(count(gl), { Texture: 4, Framebuffer: 2, Program: 2, Shader: 3, VertexArray: 1 });
  r.dispose();
  assert.deepEqual(count(gl), { Texture: 0, Framebuffer: 0, Program: 0, Shader: 0, VertexArray: 0 });
  assert.equal(gl.isContextLost(), true);
});
