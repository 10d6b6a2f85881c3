"""A private virtual X display (Xvfb) for a browser that needs one: WebKitGTK's MiniBrowser has no
headless mode, and headless Firefox has no WebGL, which it gets on a display through Mesa's llvmpipe."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time

from webdnn.errors import WebDNNError


def start_xvfb(procs: list[subprocess.Popen[bytes]]) -> str:
    """Start Xvfb on a display number it picks itself (-displayfd: no race with another session starting
    one); appends the process to `procs` (the caller stops it) and returns the DISPLAY value."""
    if not shutil.which("Xvfb"):
        raise WebDNNError("this browser needs a display: install Xvfb (`apt-get install -y xvfb`)")
    r, w = os.pipe()
    try:
        p = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(w,))
        os.close(w)
        w = -1
        procs.append(p)
        got = b""
        end = time.monotonic() + 30
        while not got.endswith(b"\n") and time.monotonic() < end and p.poll() is None:
            ready, _, _ = select.select([r], [], [], 0.5)
            if ready:
                chunk = os.read(r, 64)
                if not chunk:
                    break
                got += chunk
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
    if not got.strip().isdigit():
        raise WebDNNError("Xvfb did not start (no display number reported)")
    return f":{got.strip().decode()}"
