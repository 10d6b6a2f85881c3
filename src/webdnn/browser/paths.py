"""Where the built runtime lives: runtime/dist in a checkout of the repository (built by `npm run build`), or
webdnn/_runtime/ inside an installed wheel (staged by tools/build_wheel.py, `make dist`)."""

from __future__ import annotations

import os

from webdnn.errors import WebDNNError

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
PACKAGED = os.path.join(os.path.dirname(os.path.dirname(__file__)), "_runtime")  # in an installed wheel


def _runtime_root() -> str:
    """runtime/ of the checkout when it has a built runtime, else the wheel's _runtime/ (same layout)."""
    repo = os.path.join(REPO_ROOT, "runtime")
    if os.path.isfile(os.path.join(repo, "dist", "webdnn.mjs")) or not os.path.isdir(PACKAGED):
        return repo
    return PACKAGED


def runtime_dist() -> str:
    d = os.environ.get("WEBDNN_RUNTIME_DIST") or os.path.join(_runtime_root(), "dist")
    if not os.path.isfile(os.path.join(d, "webdnn.mjs")):
        raise WebDNNError(
            f"the WebDNN runtime is not built ({d}/webdnn.mjs missing): run `make runtime` "
            "(or `cd runtime && npm ci && npm run build`), or set WEBDNN_RUNTIME_DIST"
        )
    return d


def runtime_tool(name: str) -> str:
    return os.path.join(_runtime_root(), "tools", name)
