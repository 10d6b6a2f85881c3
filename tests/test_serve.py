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


def _post(url: str, path: str, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """A raw HTTP/1.1 POST (headers as given); the status code and the whole response."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\n".encode() + head + b"\r\n" + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1]), data


def test_uploads_are_bounded_and_need_a_content_length() -> None:
    from webdnn.browser.server import DEFAULT_MAX_UPLOAD_BYTES, StaticServer

    assert DEFAULT_MAX_UPLOAD_BYTES >= 256 * 2**20  # room for any model output the harness hands back
    with StaticServer({}, max_upload_bytes=1000) as srv:
        assert _post(srv.url, "/upload/a", b"Content-Length: 1000\r\n", b"x" * 1000)[0] == 204
        assert srv.uploads["/upload/a"] == b"x" * 1000
        status, resp = _post(srv.url, "/upload/b", b"Content-Length: 1001\r\n", b"x" * 1001)
        assert status == 413 and b"over this server's limit of 1000 bytes" in resp
        assert _post(srv.url, "/upload/c", b"")[0] == 411  # no Content-Length: nothing is read
        assert _post(srv.url, "/upload/d", b"Transfer-Encoding: chunked\r\n", b"3\r\nabc\r\n0\r\n\r\n")[0] == 411
        assert _post(srv.url, "/upload/e", b"Content-Length: -5\r\n")[0] == 400
        assert set(srv.uploads) == {"/upload/a"}
    with StaticServer({}) as srv:  # the default limit: a 1 TiB claim is refused at once, not awaited
        assert _post(srv.url, "/upload/big", f"Content-Length: {2**40}\r\n".encode(), b"x" * 100)[0] == 413
        assert srv.uploads == {}
