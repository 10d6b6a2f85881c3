/** Text helpers for apps (exported as `WebDNN.text`): a BERT WordPiece tokenizer that reads a model's own
 *  vocab.txt and gives the int64 `input_ids` / `attention_mask` / `token_type_ids` a converted BERT expects.
 *
 *  As Hugging Face's BertTokenizer / `tokenizers` BertNormalizer + BertPreTokenizer + WordPiece (uncased):
 *  control characters dropped, whitespace normalized, CJK ideographs split into single-character words,
 *  lower-casing and accent stripping (NFD, combining marks removed), punctuation split off, then greedy
 *  longest-match WordPiece ("##" continuations; a word with no match, or longer than 100 characters, is
 *  [UNK]); [CLS] ... [SEP], truncated and padded to the length the model runs at. */
import { fetchCached } from "./cache.js";
import { InputError } from "./errors.js";

export interface WordPieceOptions {
  /** lower-case and strip accents (uncased models); default true */
  lowercase?: boolean;
  /** words longer than this (in characters) become [UNK]; default 100 */
  maxInputCharsPerWord?: number;
  unkToken?: string;
  clsToken?: string;
  sepToken?: string;
  padToken?: string;
}

export interface EncodeOptions {
  /** the sequence length the model was converted at: truncate ([SEP] kept last) and pad to it */
  length?: number;
  /** truncate to at most this many tokens without padding (ignored when `length` is given) */
  maxLength?: number;
}

export interface Encoding {
  /** the word pieces, with [CLS], [SEP] and padding */
  tokens: string[];
  ids: number[];
  /** 1 for real tokens, 0 for padding */
  attentionMask: number[];
  /** number of real tokens ([CLS] and [SEP] included) */
  length: number;
  /** true when the text had more tokens than fit */
  truncated: boolean;
}

export interface BertInputs {
  input_ids: BigInt64Array;
  attention_mask: BigInt64Array;
  token_type_ids: BigInt64Array;
}

const CJK_RANGES: ReadonlyArray<readonly [number, number]> = [
  [0x4e00, 0x9fff], [0x3400, 0x4dbf], [0x20000, 0x2a6df], [0x2a700, 0x2b73f],
  [0x2b740, 0x2b81f], [0x2b820, 0x2ceaf], [0xf900, 0xfaff], [0x2f800, 0x2fa1f],
];
const CONTROL = /^\p{C}$/u;
const SPACE = /^[\t\n\r \p{Zs}]$/u;
const PUNCT = /^\p{P}$/u;
const MARK = /\p{Mn}/gu;

/** A CJK Unified Ideograph (the ranges BERT puts spaces around; not Hangul, Hiragana or Katakana). */
export function isCJK(cp: number): boolean {
  return CJK_RANGES.some(([lo, hi]) => cp >= lo && cp <= hi);
}

/** BERT's punctuation: every ASCII non-letter/digit/space printable character, and Unicode category P*. */
export function isPunctuation(ch: string): boolean {
  const cp = ch.codePointAt(0)!;
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126)) return true;
  return PUNCT.test(ch);
}

export class WordPieceTokenizer {
  readonly vocab: ReadonlyMap<string, number>;
  readonly lowercase: boolean;
  readonly maxInputCharsPerWord: number;
  readonly unkToken: string;
  readonly clsToken: string;
  readonly sepToken: string;
  readonly padToken: string;

  /** @param vocab the tokens in id order (the lines of vocab.txt) */
  constructor(vocab: readonly string[], options: WordPieceOptions = {}) {
    const map = new Map<string, number>();
    vocab.forEach((w, i) => { if (w !== "" && !map.has(w)) map.set(w, i); });
    this.vocab = map;
    this.lowercase = options.lowercase ?? true;
    this.maxInputCharsPerWord = options.maxInputCharsPerWord ?? 100;
    this.unkToken = options.unkToken ?? "[UNK]";
    this.clsToken = options.clsToken ?? "[CLS]";
    this.sepToken = options.sepToken ?? "[SEP]";
    this.padToken = options.padToken ?? "[PAD]";
    for (const t of [this.unkToken, this.clsToken, this.sepToken, this.padToken]) {
      if (!map.has(t)) throw new InputError(`WordPiece vocabulary has no ${t} token`);
    }
  }

  /** From the text of a vocab.txt (one token a line, the line number is the id). */
  static fromVocabText(text: string, options?: WordPieceOptions): WordPieceTokenizer {
    const lines = text.split("\n").map((l) => l.replace(/\r$/, ""));
    return new WordPieceTokenizer(lines, options);
  }

  /** Fetches a vocab.txt (with `cache`: the name of a Cache API cache, kept there for offline visits and
   *  revalidated otherwise: fetchCached). */
  static async load(url: string | URL, options: WordPieceOptions & { cache?: string } = {}): Promise<WordPieceTokenizer> {
    const href = new URL(url, globalThis.location?.href).href;
    const res = options.cache ? await fetchCached(href, options.cache) : await fetch(href);
    if (!res.ok) throw new InputError(`cannot fetch the vocabulary ${href}: HTTP ${res.status}`);
    return WordPieceTokenizer.fromVocabText(await res.text(), options);
  }

  /** BERT's basic tokenization: the words and punctuation marks of `text`. */
  basicTokenize(text: string): string[] {
    let clean = "";
    for (const ch of text) {
      const cp = ch.codePointAt(0)!;
      if (cp === 0 || cp === 0xfffd) continue;
      if (SPACE.test(ch)) { clean += " "; continue; }
      if (CONTROL.test(ch)) continue;
      clean += isCJK(cp) ? ` ${ch} ` : ch;
    }
    if (this.lowercase) clean = clean.normalize("NFD").replace(MARK, "").toLowerCase();
    const out: string[] = [];
    for (const word of clean.split(" ")) {
      let current = "";
      for (const ch of word) {
        if (SPACE.test(ch)) {
          if (current) out.push(current);
          current = "";
        } else if (isPunctuation(ch)) {
          if (current) out.push(current);
          out.push(ch);
          current = "";
        } else {
          current += ch;
        }
      }
      if (current) out.push(current);
    }
    return out;
  }

  /** Greedy longest-match-first WordPiece of one word. */
  wordPiece(word: string): string[] {
    const chars = Array.from(word);
    if (chars.length > this.maxInputCharsPerWord) return [this.unkToken];
    const pieces: string[] = [];
    let start = 0;
    while (start < chars.length) {
      let end = chars.length, piece: string | null = null;
      while (end > start) {
        const sub = (start > 0 ? "##" : "") + chars.slice(start, end).join("");
        if (this.vocab.has(sub)) { piece = sub; break; }
        end--;
      }
      if (piece === null) return [this.unkToken];
      pieces.push(piece);
      start = end;
    }
    return pieces;
  }

  /** The word pieces of `text` (no special tokens). */
  tokenize(text: string): string[] {
    return this.basicTokenize(text).flatMap((w) => this.wordPiece(w));
  }

  /** [CLS] pieces [SEP], truncated to `length` (or `maxLength`) and padded to `length`. */
  encode(text: string, options: EncodeOptions = {}): Encoding {
    const limit = options.length ?? options.maxLength;
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 2)) {
      throw new InputError(`sequence length must be an integer >= 2 (room for [CLS] and [SEP]), got ${limit}`);
    }
    let pieces = this.tokenize(text);
    const truncated = limit !== undefined && pieces.length > limit - 2;
    if (truncated) pieces = pieces.slice(0, limit! - 2);
    const tokens = [this.clsToken, ...pieces, this.sepToken];
    const length = tokens.length;
    if (options.length !== undefined) while (tokens.length < options.length) tokens.push(this.padToken);
    const unk = this.vocab.get(this.unkToken)!;
    return {
      tokens,
      ids: tokens.map((t) => this.vocab.get(t) ?? unk),
      attentionMask: tokens.map((_, i) => (i < length ? 1 : 0)),
      length,
      truncated,
    };
  }

  /** The model inputs for a batch of texts, int64 [texts.length, length] row-major (token_type_ids all 0). */
  encodeBatch(texts: readonly string[], length: number): BertInputs & { encodings: Encoding[] } {
    const encodings = texts.map((t) => this.encode(t, { length }));
    const n = texts.length * length;
    const ids = new BigInt64Array(n), mask = new BigInt64Array(n);
    encodings.forEach((e, b) => e.ids.forEach((id, i) => {
      ids[b * length + i] = BigInt(id);
      mask[b * length + i] = BigInt(e.attentionMask[i]);
    }));
    return { input_ids: ids, attention_mask: mask, token_type_ids: new BigInt64Array(n), encodings };
  }
}

/** Mean of the token vectors [seq, hidden] where the mask is 1, then L2-normalized (sentence-transformers'
 *  mean pooling + Normalize); `hidden` is taken from `data.length / mask.length`. */
export function meanPool(data: Float32Array, mask: ArrayLike<number | bigint>, normalize = true): Float32Array {
  const seq = mask.length, hidden = data.length / seq;
  if (!Number.isInteger(hidden)) throw new InputError(`meanPool: ${data.length} values do not split into ${seq} tokens`);
  const out = new Float64Array(hidden);
  let count = 0;
  for (let t = 0; t < seq; t++) {
    if (Number(mask[t]) === 0) continue;
    count++;
    for (let h = 0; h < hidden; h++) out[h] += data[t * hidden + h];
  }
  const res = new Float32Array(hidden);
  const denom = Math.max(count, 1e-9);
  for (let h = 0; h < hidden; h++) res[h] = out[h] / denom;
  if (normalize) {
    let s = 0;
    for (let h = 0; h < hidden; h++) s += res[h] * res[h];
    const norm = Math.max(Math.sqrt(s), 1e-12);
    for (let h = 0; h < hidden; h++) res[h] /= norm;
  }
  return res;
}

/** Cosine similarity of two vectors. */
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new InputError(`cosineSimilarity: lengths ${a.length} and ${b.length} differ`);
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
  return dot / Math.max(Math.sqrt(na) * Math.sqrt(nb), 1e-12);
}
