"""`webdnn serve`: COOP/COEP headers, MIME types, no escape from the served directory."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_headers_and_mime_types(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "m.wasm").write_bytes(b"\x00asm\x01\x00\x00\x00")
    (tmp_path / "a.mjs").write_text("export {};")
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "webdnn.cli", "serve", str(tmp_path), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/m.wasm", timeout=1)
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        r = urllib.request.urlopen(base + "/m.wasm", timeout=5)
        assert r.headers["Content-Type"] == "application/wasm"
        assert r.headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert r.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
        assert urllib.request.urlopen(base + "/a.mjs", timeout=5).headers["Content-Type"] == "text/javascript"
        try:
            urllib.request.urlopen(base + "/../../etc/passwd", timeout=5)
            raise AssertionError("path traversal was served")
        except urllib.error.HTTPError as e:
            assert e.code == 404
    finally:
        proc.terminate()
        proc.wait(timeout=10)
