"""The webgpu tests share the session's Chromium (webdnn.browser.driver.CHROMIUM_ARGS enables WebGPU
on SwiftShader and turns off Dawn's workgroup-memory zero fill, which SwiftShader compiles slowly)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def gpu_browser(browser):  # type: ignore[no-untyped-def]
    return browser
