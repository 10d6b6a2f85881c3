"""The C and TypeScript tile constants are the ones src/webdnn/backends/wasm/tiles.py generates."""

from __future__ import annotations

from webdnn.backends.wasm import tiles


def test_generated_tile_files_are_current() -> None:
    hint = "stale: run `python -m webdnn.backends.wasm.tiles`"
    assert tiles.C_HEADER.read_text() == tiles.c_header(), hint
    assert tiles.TS_MODULE.read_text() == tiles.ts_module(), hint
