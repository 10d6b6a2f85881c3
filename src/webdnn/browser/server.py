"""A static file server for converted models, the runtime and test pages.

Serves with Cross-Origin-Opener-Policy/Embedder-Policy so pages are cross-origin
isolated (SharedArrayBuffer, wasm threads), correct MIME types (.wasm, .mjs), and
optionally a Content-Security-Policy. POST /upload/<key> stores a body in memory:
that is how the harness page hands outputs back to the driver. Only bodies with a
Content-Length of at most `max_upload_bytes` are read (411 without one, 413 above it).
With `log_requests`,
every GET/HEAD is recorded in `requests` (what a page fetched from the network). Files are served
`Cache-Control: no-cache` unless `max_age` is given (the benchmark's cached cold start
needs files the browser may take from its HTTP cache without asking again), with an ETag, so a browser
revalidating its copy gets 304 and no body (logged as 0 bytes) unless the file was written again.
"""

from __future__ import annotations

import http.server
import mimetypes
import os
import posixpath
import threading
import urllib.parse
from collections.abc import Mapping

MIME = {
    ".wasm": "application/wasm",
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".json": "application/json",
    ".bin": "application/octet-stream",
    ".html": "text/html; charset=utf-8",
    ".map": "application/json",
}

DEFAULT_MAX_UPLOAD_BYTES = 256 * 2**20  # far above any output the harness uploads (the zoo's largest: 0.6 MiB)
STRICT_CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'"


def _etag(st: os.stat_result) -> str:
    """A file's validator, from its size and modification time (as nginx writes it): a file written again is a new
    version, so a page's conditional request for it (If-None-Match) gets the new bytes, and otherwise 304."""
    return f'"{st.st_mtime_ns:x}-{st.st_size:x}"'


def _matches(if_none_match: str | None, tag: str) -> bool:
    """Whether an If-None-Match header names `tag` (or is *): weak and strong forms compare equal for GET."""
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or tag in tags


class StaticServer:
    """Serve `mounts` ({'/prefix/': directory}) on 127.0.0.1 in a background thread."""

    def __init__(
        self,
        mounts: Mapping[str, str],
        port: int = 0,
        isolate: bool = True,
        csp: str | None = None,
        pages: Mapping[str, str] | None = None,
        max_age: int | None = None,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
        log_requests: bool = False,
    ) -> None:
        self.mounts = {p if p.endswith("/") else p + "/": os.path.abspath(d) for p, d in mounts.items()}
        self.pages = dict(pages or {})
        self.isolate = isolate
        self.csp = csp
        self.max_age = max_age  # seconds files (not pages, not uploads) may be cached; None: no-cache
        self.max_upload_bytes = max_upload_bytes  # a larger POST body is refused (413), never read
        self.uploads: dict[str, bytes] = {}
        self.log_requests = log_requests
        self.requests: list[tuple[str, str, int]] = []  # with log_requests: (method, path, body bytes) per GET/HEAD
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> StaticServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def _log(self, entry: tuple[str, str, int]) -> None:
        if self.log_requests:
            self.requests.append(entry)

    def resolve(self, path: str) -> str | None:
        """The file for a URL path, or None; never escapes a mount directory."""
        path = posixpath.normpath(urllib.parse.unquote(path.split("?", 1)[0]))
        for prefix in sorted(self.mounts, key=len, reverse=True):
            if (path + "/").startswith(prefix):
                rel = path[len(prefix) :].lstrip("/")
                root = self.mounts[prefix]
                full = os.path.realpath(os.path.join(root, rel))
                if full == root or full.startswith(root + os.sep):
                    return os.path.join(full, "index.html") if os.path.isdir(full) else full
        return None

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # small responses otherwise wait ~40 ms for a delayed ACK

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def _headers(self, ctype: str, length: int, cacheable: bool = False, body: bool = True) -> None:
                self.send_header("Content-Type", ctype)
                if body:
                    self.send_header("Content-Length", str(length))
                if cacheable and server.max_age is not None:
                    self.send_header("Cache-Control", f"max-age={server.max_age}")
                else:
                    self.send_header("Cache-Control", "no-cache")
                if server.isolate:
                    self.send_header("Cross-Origin-Opener-Policy", "same-origin")
                    self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
                    self.send_header("Cross-Origin-Resource-Policy", "same-origin")
                if server.csp and ctype.startswith("text/html"):
                    self.send_header("Content-Security-Policy", server.csp)
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?", 1)[0]
                if path in server.pages:
                    body = server.pages[path].encode()
                    self.send_response(200)
                    self._headers(MIME[".html"], len(body))
                    self.wfile.write(body)
                    return
                f = server.resolve(path)
                if f is None or not os.path.isfile(f):
                    server._log(("GET", path, 0))
                    self.send_error(404, "not found")
                    return
                ext = os.path.splitext(f)[1]
                ctype = MIME.get(ext) or mimetypes.guess_type(f)[0] or "application/octet-stream"
                st = os.stat(f)
                size, tag = st.st_size, _etag(st)
                if _matches(self.headers.get("If-None-Match"), tag):
                    # the browser's copy is current (it revalidates what it keeps: Cache-Control no-cache)
                    server._log(("GET", path, 0))
                    self.send_response(304)
                    self.send_header("ETag", tag)
                    self._headers(ctype, 0, cacheable=True, body=False)
                    return
                server._log(("GET", path, size))
                self.send_response(200)
                self.send_header("ETag", tag)
                self._headers(ctype, size, cacheable=True)
                with open(f, "rb") as fh:
                    while chunk := fh.read(1 << 20):
                        self.wfile.write(chunk)

            def do_HEAD(self) -> None:  # noqa: N802
                server._log(("HEAD", self.path.split("?", 1)[0], 0))
                f = server.resolve(self.path)
                if f is None or not os.path.isfile(f):
                    self.send_error(404, "not found")
                    return
                self.send_response(200)
                self._headers(MIME.get(os.path.splitext(f)[1], "application/octet-stream"), os.path.getsize(f))

            def do_POST(self) -> None:  # noqa: N802
                if not self.path.startswith("/upload/"):
                    self.send_error(404, "not found")
                    return
                # send_error closes the connection, so an unread body is never taken for the next request
                length = self.headers.get("Content-Length")
                if length is None or "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    self.send_error(411, "an upload needs a Content-Length")
                    return
                try:
                    n = int(length)
                    if n < 0:
                        raise ValueError
                except ValueError:
                    self.send_error(400, f"bad Content-Length {length!r}")
                    return
                if n > server.max_upload_bytes:
                    self.send_error(413, f"upload of {n} bytes is over this server's limit of "
                                    f"{server.max_upload_bytes} bytes (StaticServer max_upload_bytes)")
                    return
                data = self.rfile.read(n)
                if len(data) != n:
                    self.send_error(400, f"upload truncated: {len(data)} of {n} bytes")
                    return
                server.uploads[self.path] = data
                self.send_response(204)
                self._headers("text/plain", 0)

        return Handler
