// The image recognition page: EfficientNet-Lite0 (ImageNet) on a sample photo, a file or the camera, with the
// WebDNN runtime (a plain ES module, no build step: the site is static files and runs under
// script-src 'self' 'wasm-unsafe-eval'). What the pages share (backend picker, model loading, photo input) is in
// ../page.js.
//
// URL parameters: ?backend=auto|webgpu|wasm|webgl|fallback  ?photo=<name of a sample photo>
import * as WebDNN from "../runtime/webdnn.mjs";
import {
  $, addTime, fetchCachedJSON, modelLoader, runFailed, say, selectPhoto, setupBackendPicker, setupClearCache,
  setupPhotoInput, showTime,
} from "../page.js";

const MODEL = "../models/efficientnet_lite0/";
// As webdnn.zoo.pretrained.imagenet_preprocess (the Python demo): Pillow-exact bicubic resize, centre crop.
const PREPROCESS = { resize: 256, crop: 224, interpolation: "bicubic", mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

const preview = $("preview"), video = $("video"), top5 = $("top5");

// This model has no about.json (the site build converts it for every backend): no skipped backends to explain.
const times = [];
const model = modelLoader(MODEL, { onLoaded: () => { times.length = 0; } });
let labels = null;
let current = null; // the image on show: an ImageBitmap, an <img> or the <video>
let cameraStream = null;
let busy = false;

// The class names, kept in the model's cache too (revalidated on each visit: a 304, no bytes, unless re-converted).
async function loadLabels() {
  if (!labels) labels = await fetchCachedJSON(MODEL + "labels.json", (status, url) => `could not fetch the class names (${url}): HTTP ${status}`);
  return labels;
}

function drawPreview(src) {
  const w = src.videoWidth || src.naturalWidth || src.width, h = src.videoHeight || src.naturalHeight || src.height;
  const scale = Math.min(320 / w, 320 / h, 1);
  preview.width = Math.round(w * scale);
  preview.height = Math.round(h * scale);
  preview.getContext("2d").drawImage(src, 0, 0, preview.width, preview.height);
}

function showTop5(probs) {
  const top = WebDNN.image.topK(probs, 5, labels);
  top5.replaceChildren(...top.map((e) => {
    const li = document.createElement("li");
    li.dataset.label = e.label;
    li.dataset.index = String(e.index);
    const name = Object.assign(document.createElement("span"), { textContent: e.label, className: "label" });
    const barEl = Object.assign(document.createElement("div"), { className: "bar" });
    const fill = Object.assign(document.createElement("div"), { className: "fill" });
    fill.style.width = `${(e.value * 100).toFixed(2)}%`; // CSSOM, allowed under the CSP
    barEl.append(fill);
    const p = Object.assign(document.createElement("span"), { textContent: `${(e.value * 100).toFixed(1)}%`, className: "p" });
    li.append(name, barEl, p);
    return li;
  }));
}

async function classify(src) {
  if (busy) return;
  busy = true;
  try {
    const [r] = await Promise.all([model.get(), loadLabels()]);
    const t0 = performance.now();
    const x = WebDNN.image.toTensor(src, PREPROCESS);
    const t1 = performance.now();
    const out = await r.run({ [r.inputs[0].name]: x.data });
    const t2 = performance.now();
    const logits = Object.values(out)[0].data;
    showTop5(WebDNN.image.softmax(logits));
    showTime(`inference ${(t2 - t1).toFixed(1)} ms on ${r.backend} (${addTime(times, t2 - t1)}); ` +
      `preprocessing ${(t1 - t0).toFixed(1)} ms`, t2 - t1);
  } catch (e) {
    runFailed(e, "classify the image");
  } finally {
    busy = false;
  }
}

function show(src) {
  current = src;
  drawPreview(src);
  return classify(src);
}

function stopCamera() {
  if (!cameraStream) return;
  for (const t of cameraStream.getTracks()) t.stop();
  cameraStream = null;
  video.classList.add("hidden");
  $("camera").textContent = "Use the camera";
}

async function toggleCamera() {
  if (cameraStream) { stopCamera(); return; }
  if (!navigator.mediaDevices?.getUserMedia) {
    say("No camera API here (it needs a secure context: https:// or localhost).", true);
    return;
  }
  try {
    cameraStream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
  } catch (e) {
    say(`The camera is not available: ${e instanceof Error ? e.message : String(e)}`, true);
    return;
  }
  video.srcObject = cameraStream;
  await video.play();
  video.classList.remove("hidden");
  $("camera").textContent = "Stop the camera";
  selectPhoto(null);
  current = video;
  const loop = async () => {
    if (!cameraStream) return;
    drawPreview(video);
    await classify(video);
    requestAnimationFrame(loop);
  };
  loop();
}

async function init() {
  setupBackendPicker(model, () => {
    if (current && current !== video) classify(current);
    else model.get().catch(() => {});
  });
  setupClearCache();
  $("camera").addEventListener("click", toggleCamera);
  if (!(await setupPhotoInput(show, stopCamera))) model.get().catch(() => {});
}

init();
