"""Static guards on the runtime source: nothing may compile JavaScript at run time (strict CSP)."""

from __future__ import annotations

import pathlib
import re

from webdnn.browser.paths import REPO_ROOT

FORBIDDEN = re.compile(
    r"\beval\s*\(|\bnew\s+Function\b|(?<![\w.])Function\s*\(|setTimeout\s*\(\s*['\"`]|importScripts\s*\("
)


def test_runtime_never_compiles_javascript() -> None:
    root = pathlib.Path(REPO_ROOT) / "runtime"
    files = [p for d in ("src", "harness") for p in (root / d).rglob("*.ts")]
    assert files
    hits = [f"{p.relative_to(root)}:{i}: {line.strip()}" for p in files
            for i, line in enumerate(p.read_text().splitlines(), 1) if FORBIDDEN.search(line)]
    assert hits == [], "runtime code must run under script-src 'self' 'wasm-unsafe-eval':\n" + "\n".join(hits)
