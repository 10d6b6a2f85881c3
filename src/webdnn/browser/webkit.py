"""WebKit (WebKitGTK's MiniBrowser, the engine of Safari) driven over W3C WebDriver by Debian's
WebKitWebDriver (package webkit2gtk-driver). MiniBrowser has no headless mode: it runs on a private
Xvfb display that this session starts and stops.

Pages: one window, navigated in turn (WebDriver classic has no per-page events, so uncaught page
errors surface as the failure of the script that waits on them).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any

from webdnn.browser.page import PageError, ScriptPage
from webdnn.browser.xvfb import start_xvfb
from webdnn.errors import WebDNNError

MINIBROWSER_DIRS = ["/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1", "/usr/lib/aarch64-linux-gnu/webkit2gtk-4.1",
                    "/usr/libexec/webkit2gtk-4.1"]


def find_webkit() -> tuple[str, str]:
    """(WebKitWebDriver, MiniBrowser)."""
    driver = os.environ.get("WEBDNN_WEBKIT_DRIVER") or shutil.which("WebKitWebDriver")
    browser = os.environ.get("WEBDNN_WEBKIT_BROWSER") or next(
        (os.path.join(d, "MiniBrowser") for d in MINIBROWSER_DIRS if os.path.exists(os.path.join(d, "MiniBrowser"))),
        None)
    if not driver or not browser:
        raise WebDNNError("no WebKitGTK found: install it (`apt-get install -y webkit2gtk-driver xvfb`) or set "
                          "WEBDNN_WEBKIT_DRIVER and WEBDNN_WEBKIT_BROWSER")
    return driver, browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WebKitSession:
    def __init__(self) -> None:
        driver, browser = find_webkit()
        self._procs: list[subprocess.Popen[bytes]] = []
        self._display = start_xvfb(self._procs)
        env = {**os.environ, "DISPLAY": self._display}
        port = _free_port()
        self._procs.append(subprocess.Popen([driver, f"--port={port}"], env=env, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL))
        self._base = f"http://127.0.0.1:{port}"
        end = time.monotonic() + 30
        while True:
            try:
                self._http("GET", "/status")
                break
            except WebDNNError:
                if time.monotonic() > end:
                    self.close()
                    raise WebDNNError("WebKitWebDriver did not start") from None
                time.sleep(0.1)
        caps = {"webkitgtk:browserOptions": {"binary": browser, "args": [
            "--automation", "--enable-webgl=true", "--enable-write-console-messages-to-stdout=true"]}}
        try:
            r = self._http("POST", "/session", {"capabilities": {"alwaysMatch": caps}})
        except WebDNNError:
            self.close()
            raise
        self._sid = r["sessionId"]
        self.version = str(r.get("capabilities", {}).get("browserVersion", "WebKitGTK"))
        self._http("POST", f"/session/{self._sid}/timeouts", {"script": 600_000, "pageLoad": 120_000})

    def _http(self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 60) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self._base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return json.loads(resp.read() or b"{}").get("value")
        except urllib.error.HTTPError as e:
            try:
                v = json.loads(e.read()).get("value", {})
            except ValueError:
                v = {}
            if v.get("error") == "javascript error":
                raise PageError(str(v.get("message"))) from None
            raise WebDNNError(f"WebKitWebDriver {method} {path}: {v.get('error')}: {v.get('message')}") from None
        except (urllib.error.URLError, OSError) as e:
            raise WebDNNError(f"WebKitWebDriver {method} {path}: {e}") from None

    def new_page(self) -> WebKitPage:
        return WebKitPage(self)

    def close(self) -> None:
        try:
            if getattr(self, "_sid", None):
                self._http("DELETE", f"/session/{self._sid}", timeout=20)
        except WebDNNError:
            pass
        finally:
            for p in reversed(self._procs):
                p.terminate()
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()


class WebKitPage(ScriptPage):
    def __init__(self, session: WebKitSession) -> None:
        super().__init__()
        self.session = session

    def goto(self, url: str) -> None:
        self.session._http("POST", f"/session/{self.session._sid}/url", {"url": url}, timeout=180)

    def _eval_string(self, expression: str, timeout_s: float) -> str:
        script = ("const done = arguments[arguments.length - 1]; "
                  f"({expression}).then((r) => done({{ok: r}}), (e) => done({{error: String(e && e.stack ? "
                  "e.message : e)}));")
        r = self.session._http("POST", f"/session/{self.session._sid}/execute/async", {"script": script, "args": []},
                               timeout=timeout_s + 30)
        if not isinstance(r, dict) or "error" in r:
            raise PageError(str(r.get("error") if isinstance(r, dict) else r))
        return str(r["ok"])

    def close(self, **_playwright_options: Any) -> None:
        self.session._http("POST", f"/session/{self.session._sid}/url", {"url": "about:blank"})
