// What the demo pages share: the backend picker, the model loading with its progress bar and cache (+ the clear
// button), the backend-info list (with the backends the site build skipped, from the model's about.json), the
// status message, the CSP violation watch and, for the image pages, the sample photos / file / drop input.
// A plain ES module copied to the site's root (examples/site/); each page imports it as ../page.js and keeps only
// what is particular to it. Every text is set with textContent (the site runs under a strict CSP).
import * as WebDNN from "./runtime/webdnn.mjs";

export const CACHE = "webdnn-demo-models";
export const PHOTOS = "../photos/"; // relative to a page (each page is one folder down)
export const ORDERS = { auto: ["webgpu", "wasm", "webgl", "fallback"], webgpu: ["webgpu"], wasm: ["wasm"], webgl: ["webgl"], fallback: ["fallback"] };

export const $ = (id) => document.getElementById(id);
export const params = new URLSearchParams(location.search);
const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;
const text = (e) => (e instanceof Error ? e.message : String(e));

export function say(msg, error = false) {
  const message = $("message");
  message.textContent = msg;
  message.className = error ? "error" : "";
}
export function setState(state) { document.body.dataset.state = state; }

// Every CSP violation is shown (the page must not cause any) and kept for the tests.
const violations = [];
globalThis.__cspViolations = violations;
document.addEventListener("securitypolicyviolation", (e) => {
  violations.push(`${e.violatedDirective}: ${e.blockedURI}`);
  say(`Content-Security-Policy violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline code"}`, true);
});

// A JSON file of the model, kept in the model's cache too (revalidated with the server on each visit, so it follows
// a model converted again; offline, the cached copy). Not found: null, or an Error with missing(status, url)'s
// message when missing is given.
export async function fetchCachedJSON(url, missing = null) {
  const abs = new URL(url, location.href).href;
  const res = await WebDNN.fetchCached(abs, CACHE);
  if (!res.ok) {
    if (missing) throw new Error(missing(res.status, abs));
    return null;
  }
  return res.json();
}

// The model's about.json (the shape it was converted at, the backends skipped), fetched once: load() gives it
// (or throws `missing`), load.clear() forgets it (after the cache was cleared); onLoad(about) on each fetch.
export function aboutLoader(model, missing, onLoad = () => {}) {
  let about = null;
  const load = async () => {
    if (about) return about;
    about = await fetchCachedJSON(model + "about.json");
    if (!about) throw new Error(missing);
    onLoad(about);
    return about;
  };
  load.current = () => about;
  load.clear = () => { about = null; };
  return load;
}

// The model for the picked backend, loaded once per pick: get() gives the Promise of its runner, reset() disposes
// of it (a new pick). getAbout: the about.json loader (its skipped backends are explained), or null (none).
export function modelLoader(model, { getAbout = null, onLoaded = () => {} } = {}) {
  let runner = null, loading = null;
  return {
    get runner() { return runner; },
    get() {
      if (!loading) {
        loading = loadModel(model, $("backend").value, getAbout).then((r) => {
          runner = r;
          onLoaded(r);
          showBackendInfo(r, getAbout?.current());
          return r;
        }, (e) => { loading = null; throw e; });
      }
      return loading;
    },
    reset() {
      if (runner) runner.dispose();
      runner = null;
      loading = null;
    },
  };
}

// WebDNN.load with the progress bar (#progress, #bytes) and the error message when it fails.
export async function loadModel(model, choice, getAbout = null) {
  const bar = $("progress"), bytesText = $("bytes");
  setState("loading");
  bar.value = 0;
  bytesText.textContent = "loading the model…";
  const t0 = performance.now();
  let cached = 0, total = 0;
  try {
    const info = getAbout ? await getAbout() : null;
    const r = await WebDNN.load(model, {
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
      if (e instanceof WebDNN.BackendUnavailableError && info) {
        const why = Object.entries(info.skipped ?? {}).map(([b, reason]) => `${b} cannot run this model (${reason.split(". Supported operators")[0]})`);
        if (why.length) e.message += `; at conversion: ${why.join("; ")}`;
      }
      throw e;
    });
    bar.value = 1;
    bytesText.textContent = `${mb(total)} ${cached >= total && total > 0 ? "from the cache" : cached > 0 ? `(${mb(cached)} from the cache)` : "downloaded"}, ` +
      `ready in ${(performance.now() - t0).toFixed(0)} ms`;
    bytesText.dataset.cachedBytes = String(cached);
    return r;
  } catch (e) {
    bytesText.textContent = "model not loaded";
    setState("error");
    if (e instanceof WebDNN.BackendUnavailableError) {
      const which = choice === "auto" ? "No backend can" : `The ${choice} backend cannot`;
      say(`${which} run the model in this browser: ${e.message}. Pick another backend${choice === "auto" ? "" : " or auto"}.`, true);
    } else {
      say(`Could not load the model: ${text(e)}`, true);
    }
    throw e;
  }
}

// #backend-info: the backend, its details and the backends skipped (at load, and at conversion from about.json).
export function showBackendInfo(r, about = null) {
  const info = r.backendInfo, infoList = $("backend-info");
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

// The backend picker (?backend= picks it) and the Clear cache button; onPick after the old runner was disposed.
export function setupBackendPicker(loader, onPick) {
  const picker = $("backend");
  if (ORDERS[params.get("backend")]) picker.value = params.get("backend");
  picker.addEventListener("change", () => {
    loader.reset();
    say("");
    onPick();
  });
}
export function setupClearCache(onCleared = () => {}) {
  $("clear-cache").addEventListener("click", async () => {
    const had = await WebDNN.clearCache(CACHE);
    onCleared();
    say(had ? "Cache cleared: the model is downloaded again on the next load." : "The cache was empty.");
  });
}

// A run's end: the timing line (#time, its ms in data-ms), the message cleared unless it is an error, "done".
export function showTime(msg, ms) {
  const timeText = $("time");
  timeText.textContent = msg;
  timeText.dataset.ms = ms.toFixed(3);
  if (!$("message").classList.contains("error")) say("");
  setState("done");
}
// A run that failed (a backend that cannot load was already explained by loadModel).
export function runFailed(e, what) {
  if (!(e instanceof WebDNN.BackendUnavailableError) && document.body.dataset.state !== "error") {
    say(`Could not ${what}: ${text(e)}`, true);
    setState("error");
  }
}
// fn run one at a time: a call while it runs (a newer input) makes it run once more when it ends.
export function oneAtATime(fn) {
  let busy = false, again = false;
  const run = async () => {
    if (busy) { again = true; return; }
    busy = true;
    try {
      await fn();
    } finally {
      busy = false;
      if (again) { again = false; run(); }
    }
  };
  return run;
}
// ms added to a page's run times: "mean of N: X ms" for its timing line.
export function addTime(times, ms) {
  times.push(ms);
  return `mean of ${times.length}: ${(times.reduce((a, b) => a + b, 0) / times.length).toFixed(1)} ms`;
}

export function selectPhoto(button) {
  for (const b of document.querySelectorAll("#photos button")) b.classList.toggle("selected", b === button);
}

// The sample photos (#photos, from photos.json; ?photo= picks the first shown), the file input (#file) and the drop
// zone (#drop): show(image, name) with an <img> or an ImageBitmap; before() first. Resolves to whether a photo was
// shown (none when the site has no sample photos).
export async function setupPhotoInput(show, before = () => {}) {
  async function loadPhoto(name, button) {
    before();
    selectPhoto(button);
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
    before();
    selectPhoto(null);
    try {
      // no blob: URL (img-src 'self'): the file is decoded straight into a bitmap
      await show(await createImageBitmap(file), file.name);
    } catch (e) {
      say(`Could not read ${file.name} as an image: ${text(e)}`, true);
    }
  }
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
  if (!first) return false;
  await loadPhoto(first.dataset.photo, first);
  return true;
}

// The image-to-image pages' input: the photo resized to cover the model's width x height (about.json; Pillow's
// bicubic, as WebDNN.image.resize) and centre-cropped; null (and the error said) when it cannot be.
export async function fitToModel(src, getAbout) {
  let size;
  try {
    size = await getAbout();
  } catch (e) {
    say(text(e), true);
    setState("error");
    return null;
  }
  try {
    const { width, height } = size;
    const px = WebDNN.image.getPixels(src);
    const scale = Math.max(width / px.width, height / px.height);
    const w = Math.max(width, Math.round(px.width * scale)), h = Math.max(height, Math.round(px.height * scale));
    return WebDNN.image.centerCrop(WebDNN.image.resize(px, w, h, "bicubic"), { width, height });
  } catch (e) {
    say(`Could not read the image: ${text(e)}`, true);
    setState("error");
    return null;
  }
}

// The image-to-image pages' show(image, name): the image fitted to the model, drawn on `canvas`, then use(pixels, name).
export function fittedInput(getAbout, canvas, use) {
  return async (src, name) => {
    const pixels = await fitToModel(src, getAbout);
    if (!pixels) return;
    draw(canvas, pixels);
    await use(pixels, name);
  };
}

export function draw(canvas, img) {
  canvas.width = img.width;
  canvas.height = img.height;
  const data = img instanceof ImageData ? img : new ImageData(new Uint8ClampedArray(img.data), img.width, img.height);
  canvas.getContext("2d").putImageData(data, 0, 0);
}
