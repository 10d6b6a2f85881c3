// The image recognition page: EfficientNet-Lite0 (ImageNet) on a sample photo, a file or the camera, with the
// WebDNN runtime (a plain ES module, no build step: the site is static files and runs under
// script-src 'self' 'wasm-unsafe-eval').
//
// URL parameters: ?backend=auto|webgpu|wasm|webgl|fallback  ?photo=<name of a sample photo>
import * as WebDNN from "../runtime/webdnn.mjs";

const MODEL = "../models/efficientnet_lite0/";
const PHOTOS = "../photos/";
const CACHE = "webdnn-demo-models";
const ORDERS = { auto: ["webgpu", "wasm", "webgl", "fallback"], webgpu: ["webgpu"], wasm: ["wasm"], webgl: ["webgl"], fallback: ["fallback"] };
// As webdnn.zoo.pretrained.imagenet_preprocess (the Python demo): Pillow-exact bicubic resize, centre crop.
const PREPROCESS = { resize: 256, crop: 224, interpolation: "bicubic", mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

const $ = (id) => document.getElementById(id);
const picker = $("backend"), bar = $("progress"), bytesText = $("bytes"), message = $("message");
const preview = $("preview"), video = $("video"), top5 = $("top5"), timeText = $("time"), infoList = $("backend-info");

// Every CSP violation is shown (the page must not cause any) and kept for the tests.
const violations = [];
globalThis.__cspViolations = violations;
document.addEventListener("securitypolicyviolation", (e) => {
  violations.push(`${e.violatedDirective}: ${e.blockedURI}`);
  say(`Content-Security-Policy violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline code"}`, true);
});

function say(text, error = false) {
  message.textContent = text;
  message.className = error ? "error" : "";
}
function setState(state) { document.body.dataset.state = state; }
const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;

let labels = null;
let runner = null;
let loading = null; // the Promise of the runner being loaded for the picked backend
let current = null; // the image on show: an ImageBitmap, an <img> or the <video>
let cameraStream = null;
let busy = false;
const times = [];

// The class names, kept in the model's cache too (a second visit fetches nothing of the model).
async function loadLabels() {
  if (labels) return labels;
  const url = new URL(MODEL + "labels.json", location.href).href;
  const cache = globalThis.caches ? await caches.open(CACHE).catch(() => null) : null;
  let res = cache ? await cache.match(url) : undefined;
  if (!res) {
    res = await fetch(url);
    if (!res.ok) throw new Error(`could not fetch the class names (${url}): HTTP ${res.status}`);
    if (cache) await cache.put(url, res.clone()).catch(() => {});
  }
  labels = await res.json();
  return labels;
}

function getRunner() {
  if (!loading) loading = loadRunner(picker.value);
  return loading;
}

async function loadRunner(choice) {
  setState("loading");
  bar.value = 0;
  bytesText.textContent = "loading the model…";
  const t0 = performance.now();
  let cached = 0, total = 0;
  try {
    const r = await WebDNN.load(MODEL, {
      backendOrder: ORDERS[choice] ?? ORDERS.auto,
      cache: CACHE,
      onProgress: (p) => {
        if (p.totalBytes) {
          total = p.totalBytes;
          cached = p.cachedBytes ?? cached;
          bar.value = p.loadedBytes / p.totalBytes;
          const from = cached === 0 ? "downloaded" : cached >= p.loadedBytes ? "from the cache" : `${mb(cached)} from the cache`;
          bytesText.textContent = p.phase === "compile" ? `${mb(total)} ${from}; preparing ${p.backend}…`
            : `${mb(p.loadedBytes)} of ${mb(total)} (${p.backend}, ${from})`;
        }
      },
    });
    bar.value = 1;
    bytesText.textContent = `${mb(total)} ${cached >= total && total > 0 ? "from the cache" : cached > 0 ? `(${mb(cached)} from the cache)` : "downloaded"}, ` +
      `ready in ${(performance.now() - t0).toFixed(0)} ms`;
    bytesText.dataset.cachedBytes = String(cached);
    runner = r;
    times.length = 0;
    showBackend(r);
    return r;
  } catch (e) {
    loading = null;
    bytesText.textContent = "model not loaded";
    setState("error");
    if (e instanceof WebDNN.BackendUnavailableError) {
      const which = choice === "auto" ? "No backend" : `The ${choice} backend`;
      say(`${which} can run the model in this browser: ${e.message}. Pick another backend${choice === "auto" ? "" : " or auto"}.`, true);
    } else {
      say(`Could not load the model: ${e instanceof Error ? e.message : String(e)}`, true);
    }
    throw e;
  }
}

function showBackend(r) {
  const info = r.backendInfo;
  const items = [`backend: ${r.backend}`];
  if (info.simd !== undefined) items.push(`SIMD: ${info.simd}`);
  if (info.threads !== undefined) items.push(`threads: ${info.threads}${info.threadsNote ? ` (${info.threadsNote})` : ""}`);
  const gpu = [info.vendor, info.architecture, info.device, info.description].filter((x) => x).join(" ");
  if (r.backend.startsWith("webgpu")) items.push(`GPU adapter: ${gpu || "(not named by the browser)"}${info.fallbackAdapter ? " (a software fallback adapter)" : ""}, ${info.precision}`);
  if (info.passes !== undefined) items.push(`WebGL: ${info.passes} passes, ${info.programs} programs`);
  for (const s of info.skipped ?? []) items.push(`skipped ${s.backend}: ${s.reason}`);
  infoList.replaceChildren(...items.map((t) => Object.assign(document.createElement("li"), { textContent: t })));
  infoList.dataset.backend = r.backend;
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
    const [r] = await Promise.all([getRunner(), loadLabels()]);
    const t0 = performance.now();
    const x = WebDNN.image.toTensor(src, PREPROCESS);
    const t1 = performance.now();
    const out = await r.run({ [r.inputs[0].name]: x.data });
    const t2 = performance.now();
    const logits = Object.values(out)[0].data;
    showTop5(WebDNN.image.softmax(logits));
    times.push(t2 - t1);
    const mean = times.reduce((a, b) => a + b, 0) / times.length;
    timeText.textContent = `inference ${(t2 - t1).toFixed(1)} ms on ${r.backend} (mean of ${times.length}: ${mean.toFixed(1)} ms); ` +
      `preprocessing ${(t1 - t0).toFixed(1)} ms`;
    timeText.dataset.ms = (t2 - t1).toFixed(3);
    if (!message.classList.contains("error")) say("");
    setState("done");
  } catch (e) {
    if (!(e instanceof WebDNN.BackendUnavailableError) && document.body.dataset.state !== "error") {
      say(`Could not classify the image: ${e instanceof Error ? e.message : String(e)}`, true);
      setState("error");
    }
  } finally {
    busy = false;
  }
}

function show(src) {
  current = src;
  drawPreview(src);
  return classify(src);
}

async function loadPhoto(name, button) {
  stopCamera();
  for (const b of document.querySelectorAll("#photos button")) b.classList.toggle("selected", b === button);
  const img = new Image();
  img.src = PHOTOS + name;
  try {
    await img.decode();
  } catch {
    say(`Could not load the photo ${name}`, true);
    return;
  }
  await show(img);
}

async function loadFile(file) {
  if (!file) return;
  stopCamera();
  for (const b of document.querySelectorAll("#photos button")) b.classList.remove("selected");
  try {
    // no blob: URL (img-src 'self'): the file is decoded straight into a bitmap
    await show(await createImageBitmap(file));
  } catch (e) {
    say(`Could not read ${file.name} as an image: ${e instanceof Error ? e.message : String(e)}`, true);
  }
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
  for (const b of document.querySelectorAll("#photos button")) b.classList.remove("selected");
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
  const params = new URLSearchParams(location.search);
  if (ORDERS[params.get("backend")]) picker.value = params.get("backend");
  picker.addEventListener("change", () => {
    if (runner) runner.dispose();
    runner = null;
    loading = null;
    say("");
    if (current && current !== video) classify(current);
    else getRunner().catch(() => {});
  });
  $("clear-cache").addEventListener("click", async () => {
    const had = await WebDNN.clearCache(CACHE);
    say(had ? "Cache cleared: the model is downloaded again on the next load." : "The cache was empty.");
  });
  $("file").addEventListener("change", (e) => loadFile(e.target.files[0]));
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); loadFile(e.dataTransfer.files[0]); });
  $("camera").addEventListener("click", toggleCamera);

  let photos = [];
  try {
    const res = await fetch(PHOTOS + "photos.json");
    if (res.ok) photos = await res.json();
  } catch { /* no sample photos: files and the camera still work */ }
  const buttons = photos.map((name) => {
    const b = document.createElement("button");
    b.type = "button";
    b.title = name;
    b.dataset.photo = name;
    b.append(Object.assign(document.createElement("img"), { src: PHOTOS + name, alt: name }));
    b.addEventListener("click", () => loadPhoto(name, b));
    return b;
  });
  $("photos").replaceChildren(...buttons);
  const first = buttons.find((b) => b.dataset.photo === params.get("photo")) ?? buttons[0];
  if (first) await loadPhoto(first.dataset.photo, first);
  else getRunner().catch(() => {});
}

init();
