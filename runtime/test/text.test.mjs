// WebDNN.text on a small hand-made vocabulary: the greedy longest-match WordPiece, [UNK] rules, basic
// tokenization (accents, punctuation, CJK, control characters), truncation/padding, the int64 batch, mean
// pooling and cosine similarity, and the argument checks. (tests/test_text_tokenizer.py checks the same
// tokenizer against Hugging Face `tokenizers` on MiniLM's real vocabulary.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "webdnn-text-test-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));
const outfile = join(tmp, "webdnn.mjs");
await build({ entryPoints: [join(here, "..", "src", "index.ts")], bundle: true, format: "esm", platform: "node", outfile, logLevel: "error" });
const { text, InputError } = await import(pathToFileURL(outfile).href);

const VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "unaff", "play", "##ing", "!", ",",
  "cafe", "我", "爱", "a", "##a", "hello", "."];
const tok = new text.WordPieceTokenizer(VOCAB);

test("greedy longest match, not the fewest pieces", () => {
  // "unaff" is in the vocabulary: the longest first piece wins, then "##able"
  assert.deepEqual(tok.wordPiece("unaffable"), ["unaff", "##able"]);
  assert.deepEqual(tok.wordPiece("playing"), ["play", "##ing"]);
  assert.deepEqual(tok.wordPiece("aaa"), ["a", "##a", "##a"]);
  assert.deepEqual(tok.wordPiece("playx"), ["[UNK]"]); // one unmatched rest makes the whole word unknown
  assert.deepEqual(tok.wordPiece("a".repeat(101)), ["[UNK]"]);
});

test("basic tokenization: lower case, accents, punctuation, CJK, control characters", () => {
  assert.deepEqual(tok.basicTokenize("HÉLLO,Café!\u0007 我爱x\tplay."), ["hello", ",", "cafe", "!", "我", "爱", "x", "play", "."]);
  assert.deepEqual(tok.tokenize("Unaffable playing!!"), ["unaff", "##able", "play", "##ing", "!", "!"]);
  const cased = new text.WordPieceTokenizer(VOCAB, { lowercase: false });
  assert.deepEqual(cased.basicTokenize("Café"), ["Café"]);
});

test("encode: [CLS] [SEP], truncation and padding, attention mask", () => {
  const e = tok.encode("hello, cafe!", { length: 8 });
  assert.deepEqual(e.tokens, ["[CLS]", "hello", ",", "cafe", "!", "[SEP]", "[PAD]", "[PAD]"]);
  assert.deepEqual(e.ids, [2, 17, 11, 12, 10, 3, 0, 0]);
  assert.deepEqual(e.attentionMask, [1, 1, 1, 1, 1, 1, 0, 0]);
  assert.equal(e.length, 6);
  assert.equal(e.truncated, false);
  const t = tok.encode("hello, cafe!", { length: 4 });
  assert.deepEqual(t.tokens, ["[CLS]", "hello", ",", "[SEP]"]);
  assert.equal(t.truncated, true);
  assert.deepEqual(tok.encode("").tokens, ["[CLS]", "[SEP]"]);
  assert.deepEqual(tok.encode("zzz qq", { maxLength: 10 }).ids, [2, 1, 1, 3]);
  assert.throws(() => tok.encode("x", { length: 1 }), InputError);
});

test("encodeBatch: int64 row-major inputs", () => {
  const b = tok.encodeBatch(["hello", "play cafe"], 5);
  assert.ok(b.input_ids instanceof BigInt64Array);
  assert.deepEqual(Array.from(b.input_ids, Number), [2, 17, 3, 0, 0, 2, 8, 12, 3, 0]);
  assert.deepEqual(Array.from(b.attention_mask, Number), [1, 1, 1, 0, 0, 1, 1, 1, 1, 0]);
  assert.deepEqual(Array.from(b.token_type_ids, Number), new Array(10).fill(0));
});

test("vocab.txt text, missing special tokens", () => {
  const t = text.WordPieceTokenizer.fromVocabText(VOCAB.join("\r\n") + "\n");
  assert.equal(t.vocab.get("hello"), 17);
  assert.throws(() => new text.WordPieceTokenizer(["[PAD]", "[CLS]", "[SEP]"]), /no \[UNK\]/);
});

test("meanPool under the mask, normalized; cosine similarity", () => {
  // 3 tokens x 2 hidden; the last is padding and must not count
  const h = new Float32Array([3, 0, 3, 8, 100, 100]);
  const p = text.meanPool(h, [1, 1, 0]);
  assert.ok(Math.abs(p[0] - 0.6) < 1e-7 && Math.abs(p[1] - 0.8) < 1e-7);
  assert.deepEqual(Array.from(text.meanPool(h, new BigInt64Array([1n, 1n, 0n]), false)), [3, 4]);
  assert.ok(Math.abs(text.cosineSimilarity([1, 0], [1, 1]) - Math.SQRT1_2) < 1e-12);
  assert.throws(() => text.cosineSimilarity([1], [1, 2]), InputError);
  assert.throws(() => text.meanPool(new Float32Array(5), [1, 1]), InputError);
});
