"""The demo site's sentence similarity page in headless Chromium, served as the static files `webdnn demo-site`
writes (here only the landing page, this page, the runtime and MiniLM: demo_site.build_similarity_site), under the
strict CSP (script-src 'self' 'wasm-unsafe-eval') and COOP/COEP.

For each backend (wasm and fallback; webgl and webgpu on SwiftShader, slow): the page, opened with that backend
picked, tokenizes its example sentences in the page (WebDNN.text, from the model's vocab.txt), runs all-MiniLM-L6-v2
converted once for any length up to 256 tokens, each sentence at its token count rounded up to a multiple of 8
(padded, attention mask), mean-pools and normalizes; the similarity matrix it shows
(and keeps in data-matrix) matches the reference to 1e-4: onnxruntime on the un-padded ONNX model (dynamic
sequence length) with the Python tokenizer, mean pooling under the mask and L2 normalization as
sentence-transformers does (in the graph: sentence_embedding). "This is an example sentence" embeds to
0.0677, 0.0635, 0.0487, ... (sentence-transformers' known answer). The heat map is drawn (cells coloured, not
blank), screenshots go to build/screenshots/similarity-<backend>.png, no CSP violation. A second visit fetches
no bytes under /models/ (model, vocab.txt, about.json cached; the manifest and side files revalidated: 304).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.e2e.demo_site_pages import (
    assert_asked_again,
    assert_only_revalidated,
    open_page,
    screenshot_std,
    site_without_backend,
)
from webdnn.browser.paths import REPO_ROOT
from webdnn.browser.server import STRICT_CSP, StaticServer
from webdnn.zoo import pretrained

SCREENSHOTS = Path(REPO_ROOT) / "build" / "screenshots"
MODEL_PREFIX = "/models/minilm/"
TOL = 1e-4
EXAMPLES = [  # the page's prefilled sentences
    "This is an example sentence",
    "Each sentence is converted",
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A monkey is playing drums.",
]
TRICKY = ["Crème brûlée à la café, naïve façade!", "xqzvbnmkl supercalifragilistic 3.14159",
          "我爱自然语言处理。", "Don't stop—it's 42% of $1,000."]
BACKENDS = ["wasm", "fallback", pytest.param("webgl", marks=pytest.mark.slow),
            pytest.param("webgpu", marks=pytest.mark.slow)]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from webdnn.demo_site import build_similarity_site

    tmp = tmp_path_factory.mktemp("demo-site-similarity")
    try:
        return build_similarity_site(str(tmp / "site"), str(tmp / "cache"))
    except pretrained.PretrainedUnavailableError as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def embed() -> Any:
    """sentences -> normalized embeddings [n, 384]: onnxruntime on the un-padded model, one sentence at a time."""
    import onnxruntime as ort

    model, tok = pretrained.build_minilm_pretrained()
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])

    def run(sentences: list[str], pad_to: int | None = None) -> np.ndarray:
        out = []
        for s in sentences:
            feeds = tok.tokenize(s, pad_to=pad_to)
            hidden, emb = sess.run(["last_hidden_state", "sentence_embedding"], feeds)
            # sentence-transformers' Pooling(mean) + Normalize, written out: the graph's output must agree
            mask = feeds["attention_mask"][0].astype(np.float64)[:, None]
            mean = (hidden[0] * mask).sum(0) / mask.sum()
            np.testing.assert_allclose(emb[0], mean / np.linalg.norm(mean), atol=1e-6)
            out.append(emb[0])
        return np.asarray(out)

    return run


@pytest.fixture
def server(site: Path) -> Iterator[StaticServer]:
    with StaticServer({"/": str(site)}, csp=STRICT_CSP, log_requests=True) as srv:
        yield srv






def _cosine(e: np.ndarray) -> np.ndarray:
    n = e / np.linalg.norm(e, axis=1, keepdims=True)
    return n @ n.T


def _run_at(n: int) -> int:
    """The length the page runs a sentence of n tokens at (its count rounded up to the multiple, at most the max)."""
    from webdnn.demo_site import SIMILARITY_MAX_LENGTH, SIMILARITY_MULTIPLE

    return min(SIMILARITY_MAX_LENGTH, -(-n // SIMILARITY_MULTIPLE) * SIMILARITY_MULTIPLE)


@pytest.mark.slow
def test_padding_to_a_multiple_of_8_does_not_change_the_embeddings(embed: Any) -> None:
    """The page's premise: each sentence padded to its token count rounded up to a multiple of 8, with the attention
    mask, embeds as the un-padded sentence."""
    tok = pretrained.WordPieceTokenizer(pretrained.minilm_files() / "vocab.txt")
    texts = EXAMPLES + TRICKY
    free = embed(texts)
    padded = np.concatenate([embed([t], pad_to=_run_at(len(tok.wordpieces(t)) + 2)) for t in texts])
    assert np.abs(free - padded).max() < TOL
    np.testing.assert_allclose(free[0, :3], [0.0677, 0.0635, 0.0487], atol=5e-5)


def test_site_has_the_similarity_page(site: Path) -> None:
    from webdnn.demo_site import SIMILARITY_MAX_LENGTH, SIMILARITY_MULTIPLE

    about = json.loads((site / "models" / "minilm" / "about.json").read_text())
    assert about["maxLength"] == SIMILARITY_MAX_LENGTH and about["multiple"] == SIMILARITY_MULTIPLE
    manifest = json.loads((site / "models" / "minilm" / "manifest.json").read_text())
    assert manifest["symbols"] == [{"name": "seq", "min": 1, "max": SIMILARITY_MAX_LENGTH}]  # converted once
    assert (site / "models" / "minilm" / "vocab.txt").read_bytes() == \
        (pretrained.minilm_files() / "vocab.txt").read_bytes()
    for backend in ("wasm", "fallback"):
        assert (site / "models" / "minilm" / backend).is_dir()
    landing = (site / "index.html").read_text()
    assert 'href="similarity/"' in landing
    html = (site / "similarity" / "index.html").read_text()
    assert "<script>" not in html and " style=" not in html and 'src="similarity.js"' in html
    assert "any length up to" in html and "multiple of" in html  # the page says how sentences are run


@pytest.mark.browser
@pytest.mark.parametrize("backend", BACKENDS)
def test_page_matrix_matches_the_reference(backend: str, server: StaticServer, embed: Any, browser: Any) -> None:
    page = browser.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    try:
        state = open_page(page, f"{server.url}/similarity/?backend={backend}")
        message = page.inner_text("#message")
        assert state == "done", f"the page failed on {backend}: {message}"
        assert page.get_attribute("#backend-info", "data-backend") == backend
        assert f"backend: {backend}" in page.inner_text("#backend-info")
        got = np.asarray(json.loads(str(page.get_attribute("#matrix", "data-matrix"))))
        emb = np.asarray(json.loads(str(page.get_attribute("#matrix", "data-embeddings"))))
        ref_emb = embed(EXAMPLES)
        want = _cosine(ref_emb)
        assert got.shape == (len(EXAMPLES), len(EXAMPLES))
        err = float(np.abs(got - want).max())
        assert err < TOL, f"{backend}: similarity matrix off by {err:.3g}"
        assert float(np.abs(emb - ref_emb).max()) < TOL
        np.testing.assert_allclose(emb[0, :3], [0.0677, 0.0635, 0.0487], atol=5e-5)
        # the numbers shown are the matrix's, the cells are coloured by it
        cells = page.query_selector_all("#matrix td")
        assert [c.inner_text() for c in cells] == [f"{v:.3f}" for v in got.reshape(-1)]
        # each sentence ran at its own length, rounded up to a multiple of 8
        tok = pretrained.WordPieceTokenizer(pretrained.minilm_files() / "vocab.txt")
        items = page.query_selector_all("#tokens li")
        counts = [len(tok.wordpieces(t)) + 2 for t in EXAMPLES]
        assert [int(str(li.get_attribute("data-tokens"))) for li in items] == counts
        assert [int(str(li.get_attribute("data-run-at"))) for li in items] == [_run_at(n) for n in counts]
        assert "ms per sentence" in page.inner_text("#time") and float(str(page.get_attribute("#time", "data-ms"))) > 0
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        png = page.screenshot(path=str(SCREENSHOTS / f"similarity-{backend}.png"), full_page=True)
        matrix_shot = page.locator("#matrix").screenshot()
        assert screenshot_std(png) > 5 and screenshot_std(matrix_shot) > 10, "the heat map was not drawn"
        assert page.evaluate("() => globalThis.__cspViolations") == []
        assert not [m for m in console if "Content Security Policy" in m], console
        assert message == ""
    finally:
        page.close()


@pytest.mark.browser
def test_typed_sentences_and_second_visit_from_cache(site: Path, server: StaticServer, embed: Any,
                                                     browser: Any) -> None:
    """Sentences typed into the page (accents, unknown words, CJK, punctuation) give the reference matrix; a second
    visit fetches no bytes under /models/; after Clear cache the model is downloaded again."""
    page = browser.new_page()
    try:
        url = f"{server.url}/similarity/?backend=wasm"
        assert open_page(page, url) == "done"
        first = [r for r in server.requests if r[1].startswith(MODEL_PREFIX)]
        assert any(p.endswith("vocab.txt") for _, p, _ in first) and sum(n for _, _, n in first) > 20 * 2**20
        page.fill("#sentences", "\n".join(TRICKY))
        page.click("#compare")
        page.wait_for_selector(f"#matrix tr:nth-child({len(TRICKY) + 1})", timeout=120_000)
        page.wait_for_selector("body[data-state=done]", timeout=120_000)
        got = np.asarray(json.loads(str(page.get_attribute("#matrix", "data-matrix"))))
        assert float(np.abs(got - _cosine(embed(TRICKY))).max()) < TOL
        tokens = page.query_selector_all("#tokens li")  # each sentence's word pieces, as the Python tokenizer
        assert len(tokens) == len(TRICKY)
        tok = pretrained.WordPieceTokenizer(pretrained.minilm_files() / "vocab.txt")
        for li, s in zip(tokens, TRICKY, strict=True):
            assert li.inner_text().startswith(" ".join(["[CLS]", *tok.wordpieces(s), "[SEP]"]))

        server.requests.clear()
        page.close()
        page = browser.new_page()
        assert open_page(page, url) == "done"
        assert_only_revalidated(server.requests, MODEL_PREFIX)
        assert "from the cache" in page.inner_text("#bytes")

        page.click("#clear-cache")
        page.wait_for_selector("#message:has-text('Cache cleared')")
        server.requests.clear()
        page.close()
        page = browser.new_page()
        assert open_page(page, url) == "done"
        assert_asked_again(server.requests, site, "minilm")
    finally:
        page.close()


@pytest.mark.browser
def test_page_says_why_a_backend_was_not_converted(site: Path, tmp_path: Path, embed: Any, browser: Any) -> None:
    """A site whose build skipped a backend for MiniLM (here webgl, taken out of the converted model and recorded in
    about.json as the site build does): picking it says so, with the reason; switching to wasm still computes the
    reference matrix."""
    small = site_without_backend(site, tmp_path / "site", ["similarity"], "minilm", "webgl",
                                 "operator Foo is not supported")
    page = browser.new_page()
    try:
        with StaticServer({"/": str(small)}, csp=STRICT_CSP) as srv:
            assert open_page(page, f"{srv.url}/similarity/?backend=webgl") == "error"
            message = page.inner_text("#message")
            assert message.startswith("The webgl backend cannot run the model"), message
            assert "operator Foo is not supported" in message, message
            assert page.get_attribute("#message", "class") == "error"
            page.select_option("#backend", "wasm")
            page.wait_for_selector("#backend-info[data-backend=wasm]", timeout=60_000)
            page.wait_for_selector("body[data-state=done]", timeout=60_000)
            assert "not converted for webgl: operator Foo is not supported" in page.inner_text("#backend-info")
            got = np.asarray(json.loads(str(page.get_attribute("#matrix", "data-matrix"))))
            assert float(np.abs(got - _cosine(embed(EXAMPLES))).max()) < TOL
            assert page.inner_text("#message") == ""
            assert page.evaluate("() => globalThis.__cspViolations") == []
    finally:
        page.close()
