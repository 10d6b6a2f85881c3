"""Where the built runtime lives (runtime/dist, built by `npm run build`)."""

from __future__ import annotations

import os

from webdnn.errors import WebDNNError

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def runtime_dist() -> str:
    d = os.environ.get("WEBDNN_RUNTIME_DIST") or os.path.join(REPO_ROOT, "runtime", "dist")
    if not os.path.isfile(os.path.join(d, "webdnn.mjs")):
        raise WebDNNError(
            f"the WebDNN runtime is not built ({d}/webdnn.mjs missing): run `make runtime` "
            "(or `cd runtime && npm ci && npm run build`), or set WEBDNN_RUNTIME_DIST"
        )
    return d


def runtime_tool(name: str) -> str:
    return os.path.join(REPO_ROOT, "runtime", "tools", name)
