// Benchmark page, driven by webdnn.bench (src/webdnn/bench/page.py). One job per page: the
// driver opens a fresh page in the same Chromium session, calls startJob(job, done) and waits
// for the page to POST {result} or {error} to `done`. Outputs go back as raw bytes.
//
// Every runtime is timed the same way: the inputs are fetched first; t0 is taken before the
// runtime's code is imported, so the cold start (t0 -> first output) covers fetching and compiling
// the runtime (JS and wasm), fetching the model and preparing it, and the first run. Whether the
// files come from the HTTP cache is the driver's business (it clears the cache for the uncached
// page). Then, when job.repeat > 0: `warmup` runs (one only when the first run took over
// `slowMs`), then timed runs (each includes getting the output data back to JS) until `repeat`
// runs are done, or, past `budgetMs`, at least `minRuns`.
const NM = "/bench/node_modules/";

const ARRAYS = {
  float32: Float32Array, float64: Float64Array, int64: BigInt64Array, int32: Int32Array,
  int8: Int8Array, uint8: Uint8Array, bool: Uint8Array,
};

function loadScript(url) {
  return new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = url;
    s.onload = () => resolve();
    s.onerror = () => reject(new Error(`could not load ${url}`));
    document.head.appendChild(s);
  });
}

async function fetchOk(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res;
}

async function fetchInputs(refs) {
  const out = [];
  for (const r of refs) out.push({ ...r, data: new ARRAYS[r.dtype](await (await fetchOk(r.url)).arrayBuffer()) });
  return out;
}

async function timeRuns(job, runOnce, firstRunMs) {
  const warmup = firstRunMs > job.slowMs ? Math.min(1, job.warmup) : job.warmup;
  for (let i = 0; i < warmup; i++) await runOnce();
  const times = [];
  const start = performance.now();
  while (times.length < job.repeat) {
    if (times.length >= job.minRuns && performance.now() - start > job.budgetMs) break;
    const t = performance.now();
    await runOnce();
    times.push(performance.now() - t);
  }
  return times;
}

async function upload(prefix, outputs) {
  const refs = [];
  for (const o of outputs) {
    const key = `${prefix}${refs.length}`;
    const d = o.data;
    const res = await fetch(key, { method: "POST", body: new Uint8Array(d.buffer, d.byteOffset, d.byteLength) });
    if (!res.ok) throw new Error(`upload of ${o.name} failed: HTTP ${res.status}`);
    refs.push({ name: o.name, dtype: o.dtype, dims: o.dims, upload: key });
  }
  return refs;
}

// What the page fetched since `since` (resource timing of this page; workers' fetches are not in
// it): bytes of bodies, and of those, the bytes that came from the HTTP cache (transferSize 0).
function fetchedSince(since) {
  let bodyBytes = 0;
  let cachedBytes = 0;
  let resources = 0;
  for (const e of performance.getEntriesByType("resource")) {
    if (e.startTime < since || e.name.includes("/upload/")) continue;
    resources++;
    bodyBytes += e.encodedBodySize;
    if (e.transferSize === 0) cachedBytes += e.encodedBodySize;
  }
  return { resources, bodyBytes, cachedBytes };
}

// A model job: open(job, inputs) loads the runtime and the model and runs it once, and returns
// { t0, loadMs, coldMs, run, outputs, threads, version, dispose, ...extra }.
async function runModelJob(job, open) {
  performance.setResourceTimingBufferSize(100000);
  const inputs = await fetchInputs(job.inputs);
  const h = await open(job, inputs);
  const fetched = fetchedSince(h.t0);
  let times = [];
  let outputs = [];
  if (job.repeat > 0) {
    times = await timeRuns(job, h.run, h.coldMs - h.loadMs);
    outputs = await h.outputs();
  }
  // Memory is measured by the driver (the renderer's peak RSS). performance.memory counts the JS
  // heap only; performance.measureUserAgentSpecificMemory() was tried and left out: in Chromium 156
  // it does not count a non-shared WebAssembly.Memory, and with workers alive it waits for their
  // next GC (no answer within seconds).
  const m = performance.memory;
  const { run: _r, outputs: _o, dispose, t0: _t, ...rest } = h;
  await dispose();
  return { ...rest, times, outputs, fetched, js_heap_used_bytes: m ? m.usedJSHeapSize : null };
}

// ---- WebDNN -------------------------------------------------------------------------------
async function openWebdnn(job, inputs) {
  const feed = Object.fromEntries(inputs.map((i) => [i.name, i.data]));
  const t0 = performance.now();
  const WebDNN = await import("/runtime/webdnn.mjs");
  const options = { backendOrder: [job.backend] };
  if (job.backend === "wasm" && job.threads) options.backendOptions = { wasm: { threads: job.threads } };
  const runner = await WebDNN.load(job.model, options);
  const loadMs = performance.now() - t0;
  if (runner.backend !== job.backend) throw new Error(`asked for backend ${job.backend}, got ${runner.backend}`);
  let outs = await runner.run(feed);
  const coldMs = performance.now() - t0;
  // What the backend chose at load (wasm: {threads, simd}); a runtime without it runs one thread.
  const info = runner.backendInfo ?? null;
  const threads = job.backend === "wasm" ? (Number(info?.threads) || 1) : job.backend === "fallback" ? 1 : null;
  return {
    t0, loadMs, coldMs, threads, version: WebDNN.version, backendInfo: info,
    run: async () => { outs = await runner.run(feed); },
    outputs: async () => Object.entries(outs).map(([name, t]) => ({ name, dtype: t.dtype, dims: t.dims, data: t.data })),
    dispose: async () => runner.dispose(),
  };
}

// ---- ONNX Runtime Web ---------------------------------------------------------------------
const ORT_BUNDLE = { wasm: "ort.wasm.min.mjs", webgpu: "ort.webgpu.min.mjs", webgl: "ort.webgl.min.mjs" };

async function openOrt(job, inputs) {
  const t0 = performance.now();
  const ort = await import(`${NM}onnxruntime-web/dist/${ORT_BUNDLE[job.backend]}`);
  ort.env.wasm.wasmPaths = `${NM}onnxruntime-web/dist/`;
  ort.env.wasm.numThreads = job.threads;
  ort.env.logLevel = "error";
  const feeds = Object.fromEntries(inputs.map((i) => [i.name, new ort.Tensor(i.dtype, i.data, i.dims)]));
  const session = await ort.InferenceSession.create(job.model, {
    executionProviders: [job.backend], graphOptimizationLevel: "all",
  });
  const loadMs = performance.now() - t0;
  let outs = await session.run(feeds);
  if (job.backend !== "wasm") for (const t of Object.values(outs)) await t.getData();
  const coldMs = performance.now() - t0;
  // ORT Web runs numThreads only when the page is cross-origin isolated (SharedArrayBuffer).
  const threads = job.backend === "wasm" ? (globalThis.crossOriginIsolated ? ort.env.wasm.numThreads : 1) : null;
  return {
    t0, loadMs, coldMs, threads, version: ort.env.versions?.web ?? null,
    run: async () => {
      outs = await session.run(feeds);
      if (job.backend !== "wasm") for (const t of Object.values(outs)) await t.getData();
    },
    outputs: async () => {
      const out = [];
      for (const name of session.outputNames) {
        const t = outs[name];
        out.push({ name, dtype: t.type, dims: Array.from(t.dims), data: await t.getData() });
      }
      return out;
    },
    dispose: async () => session.release(),
  };
}

// ---- TensorFlow.js (its layers model files, written by bench/tools/tfjs-save-layers.mjs) ---------
async function loadTf(backend, threads) {
  if (!globalThis.tf) await loadScript(`${NM}@tensorflow/tfjs/dist/tf.min.js`);
  const tf = globalThis.tf;
  if (backend === "wasm") {
    if (!tf.wasm) await loadScript(`${NM}@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.min.js`);
    tf.wasm.setWasmPaths(`${NM}@tensorflow/tfjs-backend-wasm/dist/`);
    tf.wasm.setThreadsCount(threads);
  } else if (backend === "webgpu") {
    if (!tf.webgpu) await loadScript(`${NM}@tensorflow/tfjs-backend-webgpu/dist/tf-backend-webgpu.min.js`);
  }
  if (!(await tf.setBackend(backend))) throw new Error(`TF.js backend ${backend} failed to initialize`);
  await tf.ready();
  return tf;
}

async function openTfjs(job, inputs) {
  const t0 = performance.now();
  const tf = await loadTf(job.backend, job.threads);
  const model = await tf.loadLayersModel(job.model);  // TF.js's own files: model.json + weights.bin
  const x = tf.tensor(inputs[0].data, inputs[0].dims);
  const loadMs = performance.now() - t0;
  const predict = async () => {
    const y = model.predict(x);
    const d = await y.data();
    y.dispose();
    return d;
  };
  let data = await predict();
  const coldMs = performance.now() - t0;
  return {
    t0, loadMs, coldMs, version: tf.version.tfjs, hardwareConcurrency: navigator.hardwareConcurrency,
    threads: job.backend === "wasm" ? tf.wasm.getThreadsCount() : null,
    run: async () => { data = await predict(); },
    outputs: async () => [{ name: model.outputNames[0], dtype: "float32",
      dims: model.outputs[0].shape.map((d) => d ?? 1), data }],
    dispose: async () => { x.dispose(); model.dispose(); },
  };
}

// ---- WebAssembly SIMD f32 peak ------------------------------------------------------------
function ask(worker, msg) {
  return new Promise((resolve, reject) => {
    worker.onmessage = (e) => (e.data.ok ? resolve(e.data) : reject(new Error(e.data.error)));
    worker.postMessage(msg);
  });
}

async function runPeak(job) {
  const workers = [];
  for (let i = 0; i < job.maxWorkers; i++) workers.push(new Worker("/bench/page/peak-worker.mjs", { type: "module" }));
  try {
    const inits = await Promise.all(workers.map((w) => ask(w, { cmd: "init", url: job.wasm })));
    const unroll = inits[0].unroll;
    const flops = (fn, n) => n * unroll * Number(fn.split("_")[1]) * 4 * 2;
    const measure = async (fn, count) => {
      // Calibrate n to ~targetMs on one worker, then best of `job.trials` with `count` workers at once.
      let n = 20000;
      for (;;) {
        const r = await ask(workers[0], { cmd: "run", fn, n });
        if (r.ms > job.targetMs / 4) { n = Math.ceil(n * job.targetMs / r.ms); break; }
        n *= 4;
      }
      let best = 0;
      for (let t = 0; t < job.trials; t++) {
        const s = performance.now();
        await Promise.all(workers.slice(0, count).map((w) => ask(w, { cmd: "run", fn, n })));
        best = Math.max(best, (count * flops(fn, n)) / ((performance.now() - s) * 1e6));
      }
      return best;
    };
    const result = { unroll, single: {}, gflops: {} };
    for (const kind of ["muladd", "fma"]) {
      let bestFn = null;
      let best = 0;
      for (const k of job.accumulators) {
        const g = await measure(`${kind}_${k}`, 1);
        result.single[`${kind}_${k}`] = g;
        if (g > best) { best = g; bestFn = `${kind}_${k}`; }
      }
      result.gflops[kind] = { 1: best, accumulators: Number(bestFn.split("_")[1]) };
      for (let c = 2; c <= job.maxWorkers; c++) result.gflops[kind][c] = await measure(bestFn, c);
    }
    return result;
  } finally {
    for (const w of workers) w.terminate();
  }
}

const OPEN = { webdnn: openWebdnn, ort: openOrt, tfjs: openTfjs };
const RUNNERS = { peak: runPeak, noop: async () => ({}) };

async function startJob(job, done) {
  let msg;
  try {
    const r = OPEN[job.kind] ? await runModelJob(job, OPEN[job.kind]) : await RUNNERS[job.kind](job);
    if (r.outputs?.length) r.outputs = await upload(job.uploadPrefix, r.outputs);
    msg = { result: { ...r, crossOriginIsolated: globalThis.crossOriginIsolated === true,
      userAgent: navigator.userAgent, hardwareConcurrency: navigator.hardwareConcurrency } };
  } catch (e) {
    msg = { error: e && e.stack ? String(e.stack) : String(e) };
  }
  await fetch(done, { method: "POST", body: JSON.stringify(msg) });
}

globalThis.__bench = { startJob };
document.title = "webdnn-bench-ready";
