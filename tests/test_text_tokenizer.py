"""The runtime's WordPiece tokenizer (WebDNN.text, runtime/src/text.ts) against Hugging Face `tokenizers`
(all-MiniLM-L6-v2's own tokenizer.json) and webdnn.zoo.pretrained.WordPieceTokenizer, on tricky sentences:
accents, punctuation, numbers, unknown words, CJK, emoji, control characters, long words, truncation."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from webdnn.zoo import pretrained

pytestmark = pytest.mark.node

RUNTIME = Path(__file__).resolve().parents[1] / "runtime"
LENGTH = 32
SENTENCES = [
    "This is an example sentence",
    "Each sentence is converted",
    "Héllo, Wörld! Crème brûlée à la café; naïve façade.",
    "ÅNGSTRÖM   Ñandú\tÉCOLE\nZürich",
    "Don't stop—it's 3.14159, (really) 42% of $1,000,000... #1 @home",
    "e-mail: someone@example.com, url https://webdnn.example/a?b=c&d=e",
    "Unaffable supercalifragilisticexpialidocious antidisestablishmentarianism",
    "xqzvbnmkl ZZZZzzzqqqq wwwwxxxxyyyy",
    "我爱自然语言处理。東京は日本の首都です",
    "한국어 문장과 日本語のかなカナ",
    "emoji 🙂👍 and symbols ∑ ≤ ≥ → ©",
    "a" * 120 + " short",
    "control\u0000chars\u0007 and zero\u200bwidth\u00adsoft hyphen",
    "   ",
    "",
    "word " * 40,
    "Ελληνικά και русский текст",
    "ﬁne ligatures and full-width ＡＢＣ１２３",
]


def _node_encodings(vocab: Path) -> list[dict]:
    node = shutil.which("node")
    if node is None or not (RUNTIME / "node_modules" / "esbuild").is_dir():
        pytest.skip("node and the runtime's npm packages are needed (make setup)")
    req = json.dumps({"vocab": str(vocab), "sentences": SENTENCES, "length": LENGTH})
    out = subprocess.run([node, "test/text_tokenize.mjs"], input=req, cwd=RUNTIME, capture_output=True, text=True,
                         timeout=120, check=True)
    return json.loads(out.stdout)


def _model_dir() -> Path:
    try:
        return pretrained.minilm_files()
    except pretrained.PretrainedUnavailableError as e:
        pytest.skip(str(e))


def test_tokenizer_matches_hf_tokenizers() -> None:
    tokenizers = pytest.importorskip("tokenizers")
    model_dir = _model_dir()
    hf = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    hf.enable_truncation(max_length=LENGTH)
    hf.enable_padding(length=LENGTH, pad_id=0, pad_token="[PAD]")
    got = _node_encodings(model_dir / "vocab.txt")
    for sentence, js in zip(SENTENCES, got, strict=True):
        ref = hf.encode(sentence)
        assert js["ids"] == ref.ids, (sentence, js["tokens"], ref.tokens)
        assert js["tokens"] == ref.tokens, sentence
        assert js["attentionMask"] == ref.attention_mask, sentence
        assert js["length"] == sum(ref.attention_mask), sentence
        assert js["truncated"] == bool(ref.overflowing), sentence
    # the set is tricky enough to matter: unknown words, truncation, several pieces per word all occur
    assert any("[UNK]" in e["tokens"] for e in got)
    assert any(e["truncated"] for e in got)
    assert any(t.startswith("##") for e in got for t in e["tokens"])


def test_tokenizer_matches_python_wordpiece() -> None:
    model_dir = _model_dir()
    py = pretrained.WordPieceTokenizer(model_dir / "vocab.txt", max_length=LENGTH)
    got = _node_encodings(model_dir / "vocab.txt")
    for sentence, js in zip(SENTENCES, got, strict=True):
        feeds = py.tokenize(sentence, pad_to=LENGTH)
        assert js["ids"] == feeds["input_ids"][0].tolist(), (sentence, js["tokens"])
        assert js["attentionMask"] == feeds["attention_mask"][0].tolist(), sentence
