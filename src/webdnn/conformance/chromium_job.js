// One conformance job on the harness page (evaluated by chromium_batch.py). Starts the
// job and returns at once; when the job ends the page POSTs to `done` one JSON line
// ({result: {backend, loadMs, runMs, outputs: [{name, dtype, dims, byteLength}]}} or
// {error}) followed by the outputs' raw bytes. Small model files and inputs come inline
// (base64) and reach the runtime through load()'s `fetch` option; the rest over HTTP.
({ model, files, inputs, backendOrder, done }) => {
  const W = globalThis.__webdnn.WebDNN;
  const ARRAYS = {
    float32: Float32Array, float64: Float64Array, int64: BigInt64Array, int32: Int32Array, int16: Int16Array,
    int8: Int8Array, uint8: Uint8Array, bool: Uint8Array, float16: Uint16Array,
  };
  const decode = (b64) => {
    const s = atob(b64);
    const a = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) a[i] = s.charCodeAt(i);
    return a;
  };
  const fetchInline = async (url, init) => {
    const path = new URL(url, location.href).pathname;
    const rel = path.startsWith(model) ? path.slice(model.length) : null;
    return rel !== null && rel in files ? new Response(decode(files[rel])) : fetch(url, init);
  };
  const run = async () => {
    const t0 = performance.now();
    const runner = await W.load(model, { backendOrder, fetch: fetchInline });
    const loadMs = performance.now() - t0;
    try {
      const feeds = {};
      for (const x of inputs) {
        const bytes = x.data !== undefined ? decode(x.data) : new Uint8Array(await (await fetch(x.url)).arrayBuffer());
        feeds[x.name] = new ARRAYS[x.dtype](bytes.buffer, 0, bytes.byteLength / ARRAYS[x.dtype].BYTES_PER_ELEMENT);
      }
      const t1 = performance.now();
      const outs = await runner.run(feeds);
      const runMs = performance.now() - t1;
      const meta = [];
      const parts = [];
      for (const [name, t] of Object.entries(outs)) {
        meta.push({ name, dtype: t.dtype, dims: t.dims, byteLength: t.data.byteLength });
        parts.push(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
      }
      return [JSON.stringify({ result: { backend: runner.backend, loadMs, runMs, outputs: meta } }), ...parts];
    } finally {
      runner.dispose();
    }
  };
  // Start in a new task: evaluate() answers only after the microtasks run, and with inline
  // files the whole job can be microtasks; a hanging kernel would then hang evaluate().
  setTimeout(() => run()
    .catch((e) => [JSON.stringify({ error: e && e.stack ? String(e.stack) : String(e) })])
    .then((parts) => fetch(done, { method: "POST", body: new Blob([parts[0], "\n", ...parts.slice(1)]) })), 0);
}
