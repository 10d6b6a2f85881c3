"""WebGPU in Node: the runtime's webgpu backend runs there through the npm `webgpu` package
(Dawn, a devDependency of runtime/), which runtime/tools/run-node.mjs passes to the runtime
as backendOptions.webgpu.gpu. Dawn needs a Vulkan driver: on a machine with a GPU, the
system's; without one, Chromium's SwiftShader (a CPU Vulkan) serves, as in CI.
"""

from __future__ import annotations

import os

CHROMIUM_LIB = "/usr/lib/chromium"  # Debian's chromium ships libvulkan.so.1 and SwiftShader's ICD here


def swiftshader_env() -> dict[str, str] | None:
    """Environment that points Dawn at Chromium's SwiftShader Vulkan ICD (and, when the system
    has no libvulkan.so.1, at Chromium's copy of the loader); None when Chromium's files are absent."""
    icd = os.path.join(CHROMIUM_LIB, "vk_swiftshader_icd.json")
    if not os.path.exists(icd):
        return None
    ld = os.environ.get("LD_LIBRARY_PATH", "")
    return {"VK_ICD_FILENAMES": icd, "LD_LIBRARY_PATH": f"{ld}:{CHROMIUM_LIB}" if ld else CHROMIUM_LIB}


def lavapipe_env() -> dict[str, str] | None:
    """Environment that points Dawn at Mesa's lavapipe (llvmpipe) Vulkan ICD, a CPU Vulkan that,
    unlike SwiftShader, offers `shader-f16` (Mesa >= 24; Debian 12: mesa-vulkan-drivers from
    bookworm-backports, see `make system`); None when it is not installed."""
    icd_dir = "/usr/share/vulkan/icd.d"
    icds = sorted(f for f in os.listdir(icd_dir) if f.startswith("lvp_icd")) if os.path.isdir(icd_dir) else []
    if not icds:
        return None
    # lavapipe wants a runtime dir for its (unused here) window-system code; any writable one will do
    return {"VK_ICD_FILENAMES": os.path.join(icd_dir, icds[0]),
            "XDG_RUNTIME_DIR": os.environ.get("XDG_RUNTIME_DIR") or "/tmp"}
