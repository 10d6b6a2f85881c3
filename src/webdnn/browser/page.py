"""What the model runner needs of a browser page, for the engines Playwright does not drive (Firefox over
WebDriver BiDi, WebKitGTK over WebDriver): the subset of Playwright's Page API that driver.py uses, so one
code path runs models in every engine.

Arguments and results cross as JSON (the harness's arguments and results are plain data; outputs come
back through the local server's upload endpoint, not through the driver).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any


class PageError(Exception):
    """A script on the page threw (or its promise rejected); the message is the page's."""


class ScriptPage:
    """A page whose engine can evaluate an async JavaScript expression and return a string."""

    def __init__(self) -> None:
        self._handlers: list[Callable[[str], None]] = []

    # --- what each engine provides ----------------------------------------------------------------
    def _eval_string(self, expression: str, timeout_s: float) -> str:
        """Evaluate `expression` (a promise of a string) on the page; PageError if it throws."""
        raise NotImplementedError

    def goto(self, url: str) -> None:
        raise NotImplementedError

    def close(self, **_playwright_options: Any) -> None:
        raise NotImplementedError

    # --- the Playwright-shaped part -----------------------------------------------------------------
    def on(self, event: str, handler: Callable[[str], None]) -> None:
        if event == "pageerror":
            self._handlers.append(handler)

    def _page_error(self, text: str) -> None:
        for h in self._handlers:
            h(text)

    def evaluate(self, function: str, arg: Any = None, timeout_s: float = 600.0) -> Any:
        """`function` (JavaScript source of a function of one argument, maybe async) applied to `arg`; its
        result as JSON data (undefined -> None)."""
        expression = (
            f"(async () => {{ const r = await ({function})(JSON.parse({json.dumps(json.dumps(arg))})); "
            "return r === undefined ? 'null' : JSON.stringify(r); })()"
        )
        return json.loads(self._eval_string(expression, timeout_s))

    def wait_for_function(self, expression: str, timeout: float = 30_000) -> None:
        """Poll until `expression` is truthy (timeout in ms, as Playwright's)."""
        end = time.monotonic() + timeout / 1000
        while True:
            if self.evaluate(f"() => !!({expression})", None, 30.0):
                return
            if time.monotonic() > end:
                raise TimeoutError(f"waiting for `{expression}` timed out after {timeout / 1000:.0f} s")
            time.sleep(0.05)
