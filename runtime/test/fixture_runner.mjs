// Shared by the fallback-kernel tests: bundle one kernel family on its own, and run the
// fixture cases (canonical attrs and inputs a converted model would pass, onnxruntime's outputs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const kernelsDir = join(here, "..", "src", "backends", "fallback", "kernels");

/** Import `<family>.ts` + registry.ts (not index.ts, which pulls in every family) plus `extraExports` lines. */
export async function bundleFamily(family, extraExports = []) {
  const tmp = mkdtempSync(join(tmpdir(), `webdnn-${family}-test-`));
  const outfile = join(tmp, "bundle.mjs");
  try {
    await build({
      stdin: {
        contents: [`import "./${family}.ts";`, 'export { getKernel, supportedOps } from "./registry.ts";', ...extraExports].join("\n"),
        resolveDir: kernelsDir,
        loader: "ts",
      },
      bundle: true,
      format: "esm",
      platform: "neutral",
      outfile,
      logLevel: "error",
    });
    return await import(pathToFileURL(outfile).href);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const ARRAYS = {
  float32: Float32Array, float64: Float64Array, float16: Uint16Array, int64: BigInt64Array, int32: Int32Array,
  int16: Int16Array, int8: Int8Array, uint8: Uint8Array, bool: Uint8Array,
};

function view(t) {
  const data = t.dtype === "int64"
    ? BigInt64Array.from(t.data, (v) => BigInt(v))
    : ARRAYS[t.dtype].from(t.data, (v) => Number(v)); // "NaN"/"Infinity" strings become numbers
  return { dtype: t.dtype, shape: t.shape, size: data.length, data };
}

/** An output view pre-filled with junk, so a kernel that skips an element is caught. */
function junkView(t) {
  const size = t.shape.reduce((p, d) => p * d, 1);
  const data = new ARRAYS[t.dtype](size);
  data.fill(t.dtype === "int64" ? 0x5a5an : t.dtype.startsWith("float") && t.dtype !== "float16" ? NaN : 0x5a);
  return { dtype: t.dtype, shape: t.shape, size, data };
}

function assertTensor(got, want, tol, name, halfToFloat) {
  const decode = (dtype, arr) => (dtype === "float16" ? Array.from(arr, halfToFloat) : Array.from(arr));
  assert.deepEqual(got.shape, want.shape, `${name}: shape`);
  const g = decode(got.dtype, got.data);
  const e = decode(want.dtype, view(want).data);
  assert.equal(g.length, e.length, `${name}: length`);
  const exact = !got.dtype.startsWith("float");
  for (let i = 0; i < e.length; i++) {
    const a = g[i];
    const b = e[i];
    if (exact) {
      if (a !== b) assert.fail(`${name}: element ${i} is ${a}, onnxruntime says ${b}`);
      continue;
    }
    const t = got.dtype === "float16" ? 1e-3 : tol;
    const ok = Object.is(a, b) || a === b || (Number.isNaN(a) && Number.isNaN(b)) || Math.abs(a - b) <= t + t * Math.abs(b);
    if (!ok) assert.fail(`${name}: element ${i} is ${a}, onnxruntime says ${b} (|err| ${Math.abs(a - b)})`);
  }
}

/** One node:test per fixture case; each kernel runs twice on the same views (no state may leak). */
export function runFixtureCases(fixtures, getKernel, halfToFloat) {
  for (const c of fixtures.cases) {
    test(`${c.op}: ${c.name}`, () => {
      const factory = getKernel(c.op, c.attrs);
      assert.ok(factory, `no fallback kernel registered for ${c.op}`);
      const inputs = c.inputs.map((t) => (t === null ? null : view(t)));
      const outputs = c.outputs.map(junkView);
      const run = factory(inputs, outputs, c.attrs, c.op);
      run();
      c.outputs.forEach((want, k) => assertTensor(outputs[k], want, c.tol, `${c.name} output ${k}`, halfToFloat));
      outputs.forEach((o, k) => o.data.set(junkView(c.outputs[k]).data));
      run();
      c.outputs.forEach((want, k) => assertTensor(outputs[k], want, c.tol, `${c.name} output ${k} (second run)`, halfToFloat));
    });
  }
}
