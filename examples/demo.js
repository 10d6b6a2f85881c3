// Loads a converted model with the WebDNN runtime, runs it on a random input and
// prints the backend, timings and the top-5 outputs.
import * as WebDNN from "/runtime/webdnn.mjs";

const log = document.getElementById("log");
const bar = document.getElementById("progress");
const say = (msg) => { log.textContent += `\n${msg}`; };

document.getElementById("run").addEventListener("click", async () => {
  log.textContent = "";
  try {
    const t0 = performance.now();
    const runner = await WebDNN.load(document.getElementById("model").value, {
      onProgress: (p) => { if (p.totalBytes) bar.value = p.loadedBytes / p.totalBytes; },
    });
    say(`loaded on backend '${runner.backend}' in ${(performance.now() - t0).toFixed(0)} ms`);
    const inputs = {};
    for (const spec of runner.inputs) {
      const n = spec.shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = Math.random() * 2 - 1;
      inputs[spec.name] = data;
    }
    const t1 = performance.now();
    const outputs = await runner.run(inputs);
    say(`ran in ${(performance.now() - t1).toFixed(1)} ms`);
    for (const [name, t] of Object.entries(outputs)) {
      const top = [...t.data].map((v, i) => [v, i]).sort((a, b) => b[0] - a[0]).slice(0, 5);
      say(`${name} [${t.dims}]: top-5 ${top.map(([v, i]) => `#${i}=${v.toFixed(3)}`).join(", ")}`);
    }
    runner.dispose();
  } catch (e) {
    say(`error: ${e.message}`);
  }
});
