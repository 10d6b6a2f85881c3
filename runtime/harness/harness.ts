// Test/benchmark harness page script, driven by the Python browser driver
// (webdnn/browser/driver.py). It loads a model, feeds inputs fetched from the
// server, times runs and POSTs the outputs back as raw little-endian bytes.

import * as WebDNN from "../src/index.js";
import type { TypedArray } from "../src/dtypes.js";

interface InputRef { name: string; url: string; dtype: WebDNN.DType; dims?: number[] }
interface RunArgs {
  model: string;
  backendOrder: string[];
  backendOptions?: Record<string, unknown>;
  inputs: InputRef[];
  warmup: number;
  repeat: number;
  uploadPrefix: string;
}

const ARRAYS: Record<string, (b: ArrayBuffer) => TypedArray> = {
  float32: (b) => new Float32Array(b), float64: (b) => new Float64Array(b), int64: (b) => new BigInt64Array(b),
  int32: (b) => new Int32Array(b), int16: (b) => new Int16Array(b), int8: (b) => new Int8Array(b),
  uint8: (b) => new Uint8Array(b), bool: (b) => new Uint8Array(b), float16: (b) => new Uint16Array(b),
};

async function runModel(args: RunArgs) {
  const t0 = performance.now();
  const progress: { phase: string; loadedBytes: number; totalBytes: number }[] = [];
  const runner = await WebDNN.load(args.model, {
    backendOrder: args.backendOrder,
    backendOptions: args.backendOptions,
    onProgress: (p) => progress.push({ phase: p.phase, loadedBytes: p.loadedBytes, totalBytes: p.totalBytes }),
  });
  const loadMs = performance.now() - t0;
  const inputs: Record<string, WebDNN.InputValue> = {};
  for (const inp of args.inputs) {
    const res = await fetch(inp.url);
    if (!res.ok) throw new Error(`input ${inp.url}: HTTP ${res.status}`);
    const data = ARRAYS[inp.dtype]!(await res.arrayBuffer());
    inputs[inp.name] = inp.dims ? { data, dims: inp.dims } : data; // dims: the runtime checks them against the model
  }
  const t1 = performance.now();
  let outs = await runner.run(inputs);
  const firstRunMs = performance.now() - t1;
  for (let i = 0; i < args.warmup; i++) outs = await runner.run(inputs);
  const times: number[] = [];
  for (let i = 0; i < args.repeat; i++) {
    const s = performance.now();
    outs = await runner.run(inputs);
    times.push(performance.now() - s);
  }
  const outputs: { name: string; dtype: string; dims: number[]; upload: string }[] = [];
  for (const [name, t] of Object.entries(outs)) {
    const key = `${args.uploadPrefix}${outputs.length}`;
    const bytes = new Uint8Array(t.data.byteLength); // a copy on a plain ArrayBuffer (fetch bodies need one)
    bytes.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    const res = await fetch(key, { method: "POST", body: bytes });
    if (!res.ok) throw new Error(`upload of output ${name} failed: HTTP ${res.status}`);
    outputs.push({ name, dtype: t.dtype, dims: t.dims, upload: key });
  }
  const backend = runner.backend;
  const backendInfo = runner.backendInfo;
  runner.dispose();
  return { backend, backendInfo, loadMs, firstRunMs, times, outputs, progress, crossOriginIsolated: globalThis.crossOriginIsolated === true };
}

const violations: string[] = [];
document.addEventListener("securitypolicyviolation", (e) => violations.push(`${e.violatedDirective}: ${e.blockedURI}`));

(globalThis as Record<string, unknown>).__webdnn = { runModel, violations, WebDNN };
document.title = "webdnn-harness-ready";
