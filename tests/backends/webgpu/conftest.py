"""The webgpu tests share the session's Chromium (webdnn.browser.driver.CHROMIUM_ARGS enables WebGPU
on SwiftShader and turns off Dawn's workgroup-memory zero fill, which SwiftShader compiles slowly)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def gpu_browser(browser):  # type: ignore[no-untyped-def]
    return browser


@pytest.fixture(scope="module")
def gpu_page(gpu_browser):  # type: ignore[no-untyped-def]
    """One harness page of that browser for a module's runs (tests/shared_page.py): check_in_browser takes it as
    it takes the browser, without a page, a server and the runtime's load per run (0.6 s each)."""
    from tests.shared_page import shared_page

    with shared_page(gpu_browser) as page:
        yield page
