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

// ---- TensorFlow.js (tf.layers model built from the spec webdnn.bench.tfjs writes) ----------
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

function buildLayersModel(tf, spec, weights) {
  const w = (ref) => tf.tensor(new Float32Array(weights, ref.offset, ref.size), ref.shape);
  const values = {};
  const input = tf.input({ shape: spec.input.shape.slice(1), name: "input" });
  values[spec.input.name] = input;
  const act = (a) => (a === "relu" ? "relu" : "linear");
  let n = 0;
  const name = (op) => `${op.toLowerCase()}_${n++}`;
  const pad = (x, p) => (p.some((v) => v !== 0)
    ? tf.layers.zeroPadding2d({ padding: [[p[0], p[2]], [p[1], p[3]]], name: name("pad") }).apply(x) : x);
  const relu6 = (x, a) => (a === "relu6" ? tf.layers.reLU({ maxValue: 6, name: name("relu6") }).apply(x) : x);
  for (const op of spec.ops) {
    const x = values[op.inputs[0]];
    let y;
    if (op.op === "conv" || op.op === "depthwise") {
      const common = {
        kernelSize: op.kernel, strides: op.strides, dilationRate: op.dilations, padding: "valid",
        activation: act(op.activation), useBias: true, name: name(op.op),
      };
      if (op.op === "conv") {
        y = tf.layers.conv2d({ ...common, filters: op.filters, kernelInitializer: "zeros",
          weights: [w(op.weight), w(op.bias)] }).apply(pad(x, op.pads));
      } else {
        y = tf.layers.depthwiseConv2d({ ...common, depthMultiplier: 1, depthwiseInitializer: "zeros",
          weights: [w(op.weight), w(op.bias)] }).apply(pad(x, op.pads));
      }
      y = relu6(y, op.activation);
    } else if (op.op === "maxpool" || op.op === "avgpool") {
      const cfg = { poolSize: op.kernel, strides: op.strides, padding: "valid", name: name(op.op) };
      y = (op.op === "maxpool" ? tf.layers.maxPooling2d(cfg) : tf.layers.averagePooling2d(cfg)).apply(pad(x, op.pads));
    } else if (op.op === "gap") {
      y = tf.layers.globalAveragePooling2d({ name: name("gap") }).apply(x);
    } else if (op.op === "add") {
      y = tf.layers.add({ name: name("add") }).apply(op.inputs.map((i) => values[i]));
    } else if (op.op === "concat") {
      y = tf.layers.concatenate({ axis: -1, name: name("concat") }).apply(op.inputs.map((i) => values[i]));
    } else if (op.op === "relu") {
      y = tf.layers.reLU({ name: name("relu") }).apply(x);
    } else if (op.op === "flatten") {
      y = tf.layers.flatten({ name: name("flatten") }).apply(x);
    } else if (op.op === "dense") {
      y = tf.layers.dense({ units: op.units, activation: act(op.activation), kernelInitializer: "zeros",
        weights: [w(op.weight), w(op.bias)], name: name("dense") }).apply(x);
      y = relu6(y, op.activation);
    } else {
      throw new Error(`TF.js spec: unknown op ${op.op}`);
    }
    values[op.output] = y;
  }
  return tf.model({ inputs: input, outputs: values[spec.output.name] });
}

async function openTfjs(job, inputs) {
  const t0 = performance.now();
  const [tf, spec, weights] = await Promise.all([
    loadTf(job.backend, job.threads),
    fetchOk(job.spec).then((r) => r.json()),
    fetchOk(job.weights).then((r) => r.arrayBuffer()),
  ]);
  const model = buildLayersModel(tf, spec, weights);
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
    outputs: async () => [{ name: spec.output.name, dtype: "float32", dims: spec.output.shape, data }],
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
