"""`webdnn init DIR`: a starter app a new user can open in a browser a minute after installing.

DIR gets index.html and app.js (a page that loads the model with each backend it was converted for, runs
it on a made-up input and shows the time and the first output values), the runtime (webdnn/: the ES
module, the wasm worker and kernels) and the converted model (model/). `webdnn serve DIR` then serves it
with the headers the threaded wasm backend needs. The model is the user's (`--model`, any format convert
reads) or a seeded test SqueezeNet. DIR must be new or empty: nothing of the user's is overwritten.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence

from webdnn.browser.paths import runtime_dist
from webdnn.errors import ConversionError

RUNTIME_FILES = ("webdnn.mjs", "webdnn-wasm-worker.js", "webdnn-kernels-simd128.wasm", "webdnn-kernels-simd128-mt.wasm",
                 "webdnn-kernels-relaxed.wasm", "webdnn-kernels-relaxed-mt.wasm")

INDEX_HTML = """<!doctype html>
<meta charset="utf-8">
<title>WebDNN starter</title>
<style>body { font: 15px system-ui, sans-serif; margin: 2em; } pre { background: #f4f4f4; padding: 1em; }</style>
<h1>WebDNN starter</h1>
<p>The model in <code>model/</code>, run once with each backend it was converted for, on a made-up input
(<code>app.js</code>: replace it with yours).</p>
<pre id="log"></pre>
<script type="module" src="./app.js"></script>
"""

APP_JS = """// Loads ./model/ with each backend it was converted for, runs it on a made-up input (x[i] = sin(i) / 2, or
// i % 2 for integer inputs) and shows the time and the first values of each output. window.results holds them.
import * as WebDNN from "./webdnn/webdnn.mjs";

const log = (line) => { document.getElementById("log").textContent += line + "\\n"; };
const ARRAYS = { float32: Float32Array, float64: Float64Array, int32: Int32Array, int16: Int16Array, int8: Int8Array,
  uint8: Uint8Array, bool: Uint8Array, float16: Uint16Array };

function input(spec) {
  const dims = spec.shape.map((d) => (typeof d === "number" ? d : 1));  // a symbolic dim: run at 1
  const n = dims.reduce((a, b) => a * b, 1);
  if (spec.dtype === "int64") return { data: BigInt64Array.from({ length: n }, (_, i) => BigInt(i % 2)), dims };
  const Array_ = ARRAYS[spec.dtype] ?? Float32Array;
  const float = spec.dtype === "float32" || spec.dtype === "float64";
  return { data: Array_.from({ length: n }, (_, i) => (float ? Math.sin(i) / 2 : i % 2)), dims };
}

const manifest = await (await fetch("./model/manifest.json")).json();
log(`model '${manifest.name}': inputs ${manifest.inputs.map((x) => `${x.name} ${x.dtype} [${x.shape}]`).join(", ")}`);
log(`cross-origin isolated (threads for wasm): ${globalThis.crossOriginIsolated}`);
window.results = {};
for (const backend of ["webgpu", "wasm", "webgl", "fallback"].filter((b) => b in manifest.backends)) {
  try {
    const runner = await WebDNN.load("./model/", { backendOrder: [backend] });
    const inputs = Object.fromEntries(manifest.inputs.map((x) => [x.name, input(x)]));
    await runner.run(inputs);  // the first run prepares; time the second
    const t0 = performance.now();
    const out = await runner.run(inputs);
    const ms = performance.now() - t0;
    const first = (v, n) => Array.from(v.data.slice(0, n), Number);
    window.results[backend] = Object.fromEntries(Object.entries(out).map(([k, v]) => [k, first(v, 10)]));
    for (const [name, v] of Object.entries(out)) {
      const values = first(v, 5).map((x) => x.toFixed(4)).join(" ");
      log(`${backend}: ${ms.toFixed(1)} ms; ${name} [${v.dims}] ${values} ...`);
    }
    runner.dispose();
  } catch (e) {
    window.results[backend] = { error: String(e.message ?? e) };
    log(`${backend}: not available here (${e.message ?? e})`);
  }
}
log("done");
window.done = true;
"""


def init_app(directory: str, model: str | None = None, backends: Sequence[str] | None = None,
             say: Callable[[str], None] = lambda _m: None) -> str:
    """Write the starter app into `directory` (new or empty); returns its absolute path."""
    from webdnn.convert import convert

    directory = os.path.abspath(directory)
    if os.path.exists(directory) and (not os.path.isdir(directory) or os.listdir(directory)):
        raise ConversionError(f"{directory} exists and is not an empty directory; `webdnn init` writes a new app "
                              "into a new or empty directory only")
    dist = runtime_dist()
    created = not os.path.exists(directory)
    os.makedirs(directory, exist_ok=True)
    try:
        if model is None:
            from webdnn import zoo

            say("building a seeded test SqueezeNet (use --model for your own model)")
            source = zoo.build("squeezenet1_1", seed=0, opset=17)
            convert(source, os.path.join(directory, "model"), list(backends) if backends else None, progress=say)
        else:
            convert(model, os.path.join(directory, "model"), list(backends) if backends else None, progress=say)
        os.makedirs(os.path.join(directory, "webdnn"))
        for f in RUNTIME_FILES:
            shutil.copy2(os.path.join(dist, f), os.path.join(directory, "webdnn", f))
        for name, text in (("index.html", INDEX_HTML), ("app.js", APP_JS)):
            with open(os.path.join(directory, name), "w") as fh:
                fh.write(text)
    except BaseException:  # no half-written app: remove what this call wrote
        if created:
            shutil.rmtree(directory, ignore_errors=True)
        else:
            for entry in os.listdir(directory):
                p = os.path.join(directory, entry)
                shutil.rmtree(p, ignore_errors=True) if os.path.isdir(p) else os.remove(p)
        raise
    return directory
