"""A private virtual X display (Xvfb) for a browser that needs one: WebKitGTK's MiniBrowser has no
headless mode, and headless Firefox has no WebGL, which it gets on a display through Mesa's llvmpipe."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

from webdnn.errors import WebDNNError


def start_xvfb(procs: list[subprocess.Popen[bytes]]) -> str:
    """Start Xvfb on a free display number; appends the process to `procs` (the caller stops it) and
    returns the DISPLAY value."""
    if not shutil.which("Xvfb"):
        raise WebDNNError("this browser needs a display: install Xvfb (`apt-get install -y xvfb`)")
    for n in range(99, 160):
        if os.path.exists(f"/tmp/.X11-unix/X{n}") or os.path.exists(f"/tmp/.X{n}-lock"):
            continue
        p = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 10
        while time.monotonic() < end and p.poll() is None and not os.path.exists(f"/tmp/.X11-unix/X{n}"):
            time.sleep(0.05)
        if p.poll() is None:
            procs.append(p)
            return f":{n}"
    raise WebDNNError("could not start Xvfb: no free display number in :99-:159")
