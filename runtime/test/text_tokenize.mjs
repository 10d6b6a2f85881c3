// Tokenizes sentences with WebDNN.text.WordPieceTokenizer for tests/test_text_tokenizer.py (which compares
// them with the Python tokenizers): reads {"vocab": path of vocab.txt, "sentences": [...], "length": n} as
// JSON on stdin, prints [{tokens, ids, attentionMask, length, truncated}] as JSON.
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "webdnn-text-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));
const outfile = join(tmp, "webdnn.mjs");
await build({ entryPoints: [join(here, "..", "src", "index.ts")], bundle: true, format: "esm", platform: "node", outfile, logLevel: "error" });
const { text } = await import(pathToFileURL(outfile).href);

const req = JSON.parse(readFileSync(0, "utf8"));
const tok = text.WordPieceTokenizer.fromVocabText(readFileSync(req.vocab, "utf8"));
const out = req.sentences.map((s) => tok.encode(s, { length: req.length }));
const batch = tok.encodeBatch(req.sentences, req.length);
const flat = out.flatMap((e) => e.ids);
if (!flat.every((id, i) => BigInt(id) === batch.input_ids[i])) throw new Error("encodeBatch differs from encode");
process.stdout.write(JSON.stringify(out));
