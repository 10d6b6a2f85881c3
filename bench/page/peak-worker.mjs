// One worker of the WebAssembly SIMD peak probe (bench/tools/build-peak.mjs builds the module).
// {cmd: "init", url} -> compiles, instantiates and warms every function up (so V8 tiers it up);
// {cmd: "run", fn, n} -> calls exports[fn](n) and reports the elapsed milliseconds.
let exports = null;

self.onmessage = async (e) => {
  const msg = e.data;
  try {
    if (msg.cmd === "init") {
      const { instance } = await WebAssembly.instantiateStreaming(fetch(msg.url));
      exports = instance.exports;
      for (let round = 0; round < 20; round++) {
        for (const [name, f] of Object.entries(exports)) if (typeof f === "function") f(2000);
        await new Promise((r) => setTimeout(r, 1));
      }
      self.postMessage({ ok: true, unroll: exports.unroll.value });
    } else if (msg.cmd === "run") {
      const t0 = performance.now();
      const value = exports[msg.fn](msg.n);
      self.postMessage({ ok: true, ms: performance.now() - t0, value });
    }
  } catch (err) {
    self.postMessage({ ok: false, error: String(err && err.stack ? err.stack : err) });
  }
};
