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
