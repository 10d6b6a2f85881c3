"""Firefox (Gecko) driven over WebDriver BiDi: Debian's firefox-esr speaks it natively
(`--remote-debugging-port`), so neither geckodriver nor a patched Firefox is needed.

The session is one Firefox process with a temporary profile; each page is a tab. Page errors come from
BiDi's log.entryAdded events (uncaught exceptions and unhandled rejections).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from typing import Any

from webdnn.browser.page import PageError, ScriptPage
from webdnn.browser.websocket import WebSocket, WebSocketError
from webdnn.browser.xvfb import start_xvfb
from webdnn.errors import WebDNNError

# Profile preferences: no first-run pages or network chatter; WebGPU and WebAssembly's newer features
# where this Firefox has them behind a pref (the runtime detects what is there either way).
PREFS = {
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.aboutwelcome.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "app.update.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "dom.webgpu.enabled": True,
    "webgl.force-enabled": True,
    "gfx.webrender.software": True,
    "javascript.options.wasm_relaxed_simd": True,
    "remote.prefs.recommended": True,
}


def find_firefox() -> str:
    exe = os.environ.get("WEBDNN_FIREFOX") or shutil.which("firefox-esr") or shutil.which("firefox")
    if not exe:
        raise WebDNNError("no Firefox found: install it (`apt-get install -y firefox-esr`) or set WEBDNN_FIREFOX")
    return exe


class FirefoxSession:
    def __init__(self) -> None:
        self._profile = tempfile.mkdtemp(prefix="webdnn-firefox-")
        with open(os.path.join(self._profile, "user.js"), "w") as f:
            for k, v in PREFS.items():
                f.write(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n")
        # On a private Xvfb display where there is one (WebGL through Mesa's llvmpipe), else headless (no WebGL).
        self._xvfb: list[subprocess.Popen[bytes]] = []
        env = dict(os.environ)
        args = [find_firefox(), "--no-remote", "--remote-debugging-port", "0", "--profile", self._profile]
        if shutil.which("Xvfb") and not os.environ.get("WEBDNN_FIREFOX_HEADLESS"):
            env["DISPLAY"] = start_xvfb(self._xvfb)
            env.pop("MOZ_HEADLESS", None)
        else:
            args.append("--headless")
        self._proc = subprocess.Popen([*args, "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      text=True, env=env)
        url = self._endpoint()
        self._ws = WebSocket(url.rstrip("/") + "/session")
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._pages: dict[str, FirefoxPage] = {}
        self.command("session.new", {"capabilities": {"alwaysMatch": {"acceptInsecureCerts": True}}})
        self.command("session.subscribe", {"events": ["log.entryAdded"]})
        self.version = self._proc_version()

    def _endpoint(self) -> str:
        assert self._proc.stderr is not None
        end = time.monotonic() + 60
        seen: list[str] = []
        while time.monotonic() < end:
            line = self._proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            m = re.search(r"WebDriver BiDi listening on (ws://\S+)", line)
            if m:
                threading.Thread(target=self._drain, daemon=True).start()
                return m.group(1)
        self.close()
        raise WebDNNError("Firefox did not start its WebDriver BiDi endpoint: " + "".join(seen[-10:]).strip())

    def _drain(self) -> None:
        assert self._proc.stderr is not None
        for _ in self._proc.stderr:  # keep the pipe from filling up
            pass

    def _proc_version(self) -> str:
        try:
            out = subprocess.run([find_firefox(), "--version"], capture_output=True, text=True, timeout=30).stdout
            return out.strip()
        except (OSError, subprocess.SubprocessError):
            return "Firefox"

    def command(self, method: str, params: dict[str, Any], timeout_s: float = 600.0) -> dict[str, Any]:
        """Send a BiDi command and wait for its result (events that arrive meanwhile are dispatched)."""
        with self._lock:
            cid = next(self._ids)
            self._ws.settimeout(timeout_s)
            self._ws.send(json.dumps({"id": cid, "method": method, "params": params}))
            while True:
                try:
                    msg = json.loads(self._ws.recv())
                except (WebSocketError, OSError) as e:
                    raise WebDNNError(f"Firefox: {method} failed: {e}") from None
                if msg.get("id") == cid:
                    if msg.get("type") == "error":
                        raise WebDNNError(f"Firefox: {method}: {msg.get('error')}: {msg.get('message')}")
                    return dict(msg.get("result") or {})
                if msg.get("method") == "log.entryAdded":
                    p = msg.get("params", {})
                    page = self._pages.get(p.get("source", {}).get("context", ""))
                    if page is not None and p.get("type") == "javascript" and p.get("level") == "error":
                        page._page_error(str(p.get("text")))

    def new_page(self) -> FirefoxPage:
        ctx = self.command("browsingContext.create", {"type": "tab"})["context"]
        page = FirefoxPage(self, ctx)
        self._pages[ctx] = page
        return page

    def close(self) -> None:
        try:
            if getattr(self, "_ws", None):
                try:
                    self.command("session.end", {}, timeout_s=10)
                except WebDNNError:
                    pass
                self._ws.close()
        finally:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            for x in self._xvfb:
                x.terminate()
                x.wait(timeout=20)
            shutil.rmtree(self._profile, ignore_errors=True)


class FirefoxPage(ScriptPage):
    def __init__(self, session: FirefoxSession, context: str) -> None:
        super().__init__()
        self.session, self.context = session, context

    def goto(self, url: str) -> None:
        self.session.command("browsingContext.navigate", {"context": self.context, "url": url, "wait": "complete"})

    def _eval_string(self, expression: str, timeout_s: float) -> str:
        r = self.session.command("script.evaluate", {
            "expression": expression, "target": {"context": self.context}, "awaitPromise": True,
            "resultOwnership": "none"}, timeout_s)
        if r.get("type") == "exception":
            d = r.get("exceptionDetails", {})
            raise PageError(str(d.get("text") or d))
        value = r.get("result", {})
        if value.get("type") != "string":
            raise PageError(f"expected a string result, got {value}")
        return str(value["value"])

    def close(self, **_playwright_options: Any) -> None:
        self.session._pages.pop(self.context, None)
        self.session.command("browsingContext.close", {"context": self.context})
