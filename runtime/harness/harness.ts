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

async function fetchInputs(refs: InputRef[]): Promise<Record<string, WebDNN.InputValue>> {
  const inputs: Record<string, WebDNN.InputValue> = {};
  for (const inp of refs) {
    const res = await fetch(inp.url);
    if (!res.ok) throw new Error(`input ${inp.url}: HTTP ${res.status}`);
    const data = ARRAYS[inp.dtype]!(await res.arrayBuffer());
    inputs[inp.name] = inp.dims ? { data, dims: inp.dims } : data; // dims: the runtime checks them against the model
  }
  return inputs;
}

async function upload(outs: Record<string, WebDNN.Tensor>, prefix: string) {
  const outputs: { name: string; dtype: string; dims: number[]; upload: string }[] = [];
  for (const [name, t] of Object.entries(outs)) {
    const key = `${prefix}${outputs.length}`;
    const bytes = new Uint8Array(t.data.byteLength); // a copy on a plain ArrayBuffer (fetch bodies need one)
    bytes.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    const res = await fetch(key, { method: "POST", body: bytes });
    if (!res.ok) throw new Error(`upload of output ${name} failed: HTTP ${res.status}`);
    outputs.push({ name, dtype: t.dtype, dims: t.dims, upload: key });
  }
  return outputs;
}

/** A model with symbolic dims at several input sizes in one load: each set in turn (first run,
 *  then `repeat` timed runs), then `alternate` rounds of the sets in turn, each run timed. */
async function runSizes(args: Omit<RunArgs, "inputs" | "warmup"> & { sets: InputRef[][]; alternate: number }) {
  const runner = await WebDNN.load(args.model, { backendOrder: args.backendOrder, backendOptions: args.backendOptions });
  const all = [];
  for (const refs of args.sets) all.push(await fetchInputs(refs));
  const sets: { firstRunMs: number; times: number[]; alternateTimes: number[]; outputs: unknown[] }[] = [];
  for (const [k, inputs] of all.entries()) {
    const t1 = performance.now();
    let outs = await runner.run(inputs);
    const firstRunMs = performance.now() - t1;
    const times: number[] = [];
    for (let i = 0; i < args.repeat; i++) {
      const s = performance.now();
      outs = await runner.run(inputs);
      times.push(performance.now() - s);
    }
    sets.push({ firstRunMs, times, alternateTimes: [], outputs: await upload(outs, `${args.uploadPrefix}s${k}_`) });
  }
  for (let r = 0; r < args.alternate; r++) {
    for (const [k, inputs] of all.entries()) {
      const s = performance.now();
      await runner.run(inputs);
      sets[k]!.alternateTimes.push(performance.now() - s);
    }
  }
  const backend = runner.backend;
  const backendInfo = runner.backendInfo;
  runner.dispose();
  return { backend, backendInfo, sets };
}

async function runModel(args: RunArgs) {
  const t0 = performance.now();
  const progress: { phase: string; loadedBytes: number; totalBytes: number }[] = [];
  const runner = await WebDNN.load(args.model, {
    backendOrder: args.backendOrder,
    backendOptions: args.backendOptions,
    onProgress: (p) => progress.push({ phase: p.phase, loadedBytes: p.loadedBytes, totalBytes: p.totalBytes }),
  });
  const loadMs = performance.now() - t0;
  const inputs = await fetchInputs(args.inputs);
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
  const outputs = await upload(outs, args.uploadPrefix);
  const backend = runner.backend;
  const backendInfo = runner.backendInfo;
  runner.dispose();
  return { backend, backendInfo, loadMs, firstRunMs, times, outputs, progress, crossOriginIsolated: globalThis.crossOriginIsolated === true };
}

const violations: string[] = [];
document.addEventListener("securitypolicyviolation", (e) => violations.push(`${e.violatedDirective}: ${e.blockedURI}`));

(globalThis as Record<string, unknown>).__webdnn = { runModel, runSizes, violations, WebDNN };
document.title = "webdnn-harness-ready";
