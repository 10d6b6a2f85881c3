"""`npm install webdnn` in an app: runtime/'s `npm pack` tarball installed into throwaway apps that build with
Vite, webpack and esbuild, and into a plain ES-module page (an import map, no build), each served with
COOP/COEP and run in headless Chromium on wasm with 2 threads and on fallback, against onnxruntime; and from
a Node script. The bundlers come from tests/npm_apps (`make npm-apps`: npm ci there)."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.zoo_cases import assert_matches
from webdnn import zoo
from webdnn.browser.paths import REPO_ROOT
from webdnn.browser.server import StaticServer
from webdnn.convert import convert
from webdnn.verify import reference_outputs

pytestmark = [pytest.mark.slow, pytest.mark.browser]
APPS = Path(REPO_ROOT) / "tests" / "npm_apps"
TOOLS = APPS / "node_modules"
ESBUILD = Path(REPO_ROOT) / "runtime" / "node_modules" / "esbuild" / "bin" / "esbuild"
# The files a page downloads from the package, gzipped, must stay small (issue: distribution, <= 300 KB).
MAX_PAGE_GZIP = 300_000


def _sh(args: list[str], cwd: Path) -> str:
    p = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, f"{' '.join(args)}:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}"
    return p.stdout


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The packed runtime, a model converted for wasm and fallback, an input and onnxruntime's output."""
    if not (TOOLS / "vite").is_dir() or not (TOOLS / "webpack").is_dir():
        pytest.skip("the bundlers are not installed: run `make npm-apps` (npm ci in tests/npm_apps)")
    d = tmp_path_factory.mktemp("npm")
    out = json.loads(_sh(["npm", "pack", "--json", "--pack-destination", str(d)], Path(REPO_ROOT) / "runtime"))
    tarball = d / out[0]["filename"]
    model = zoo.build("squeezenet1_1", seed=0, opset=17)
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    convert(model, d / "model", ["wasm", "fallback"], {"input": x.shape})
    return {"tarball": tarball, "files": {f["path"] for f in out[0]["files"]}, "model": d / "model", "x": x,
            "ref": reference_outputs(model, {"input": x})}


def _app(tmp: Path, packed: dict[str, Any]) -> Path:
    """A fresh app directory with the tarball installed as a dependency (offline: it has no dependencies)."""
    app = tmp / "app"
    shutil.copytree(APPS / "src", app / "src")
    shutil.copy(APPS / "index.html", app)
    (app / "package.json").write_text(json.dumps({"name": "app", "private": True, "type": "module"}))
    _sh(["npm", "install", "--offline", "--no-audit", "--no-fund", "--loglevel=error", str(packed["tarball"])], app)
    assert (app / "node_modules" / "webdnn" / "dist" / "webdnn.mjs").is_file()
    return app


def _run_page(browser: Any, root: Path, page_path: str, packed: dict[str, Any]) -> None:
    """Serve `root` at / (the model at /model/) and run the app on wasm (2 threads) and fallback."""
    with StaticServer({"/model/": str(packed["model"]), "/": str(root)}) as srv:
        page = browser.new_page()
        try:
            page.goto(srv.url + page_path)
            page.wait_for_function("window.appReady === true", timeout=30_000)
            for backend in ("wasm", "fallback"):
                r = page.evaluate("([b, x]) => window.go(b, x)", [backend, packed["x"].reshape(-1).tolist()])
                assert r["backend"] == backend and r["isolated"] is True
                if backend == "wasm":
                    assert r["threads"] == 2, r["threads"]
                got = np.array(r["y"], np.float32).reshape(packed["ref"]["output"].shape)
                assert_matches(packed["ref"], {"output": got}, f"{page_path} {backend}: ")
        finally:
            page.close()


def test_package_contents_and_size(packed: dict[str, Any]) -> None:
    files = packed["files"]
    for f in ("dist/webdnn.mjs", "dist/webdnn.js", "dist/webdnn-wasm-worker.js", "dist/types/index.d.ts",
              *(f"dist/webdnn-kernels-{v}.wasm" for v in ("simd128", "simd128-mt", "relaxed", "relaxed-mt"))):
        assert f in files, f
    # a page downloads the minified module, the worker and one kernel variant
    downloaded = ("dist/webdnn.min.mjs", "dist/webdnn-wasm-worker.js", "dist/webdnn-kernels-relaxed-mt.wasm")
    with tarfile.open(packed["tarball"]) as t:
        members = {m.name.removeprefix("package/"): m for m in t.getmembers()}
        page = sum(len(gzip.compress(t.extractfile(members[f]).read())) for f in downloaded)  # type: ignore[union-attr]
    assert page <= MAX_PAGE_GZIP, page


def test_vite_app(tmp_path: Path, packed: dict[str, Any], browser: Any) -> None:
    app = _app(tmp_path, packed)
    _sh(["node", str(TOOLS / "vite" / "bin" / "vite.js"), "build", "--logLevel", "error"], app)
    emitted = [p.name for p in (app / "dist" / "assets").iterdir()]
    assert any(n.startswith("webdnn-kernels-simd128-") and n.endswith(".wasm") for n in emitted), emitted
    _run_page(browser, app / "dist", "/index.html", packed)


def test_webpack_app(tmp_path: Path, packed: dict[str, Any], browser: Any) -> None:
    app = _app(tmp_path, packed)
    shutil.copy(APPS / "webpack.config.cjs", app)
    _sh(["node", str(TOOLS / "webpack-cli" / "bin" / "cli.js"), "--config", "webpack.config.cjs"], app)
    (app / "dist" / "index.html").write_text("<!doctype html><script src='./main.js'></script>")
    assert any(p.suffix == ".wasm" for p in (app / "dist").iterdir())
    _run_page(browser, app / "dist", "/index.html", packed)


def test_esbuild_app_with_the_files_copied(tmp_path: Path, packed: dict[str, Any], browser: Any) -> None:
    """esbuild leaves `new URL(..., import.meta.url)` alone: the runtime then looks next to the bundle, so the
    app copies the package's .wasm files and worker there (README, "Bundlers")."""
    app = _app(tmp_path, packed)
    dist = app / "dist"
    _sh([str(ESBUILD), "src/main.js", "--bundle", "--format=esm", f"--outfile={dist / 'main.js'}"], app)
    for f in (app / "node_modules" / "webdnn" / "dist").iterdir():
        if f.suffix == ".wasm" or f.name == "webdnn-wasm-worker.js":
            shutil.copy(f, dist)
    (dist / "index.html").write_text("<!doctype html><script type='module' src='./main.js'></script>")
    _run_page(browser, dist, "/index.html", packed)


def test_plain_module_page_with_an_import_map(tmp_path: Path, packed: dict[str, Any], browser: Any) -> None:
    app = _app(tmp_path, packed)
    (app / "index.html").write_text(
        "<!doctype html><script type='importmap'>{\"imports\": {\"webdnn\": "
        "\"./node_modules/webdnn/dist/webdnn.mjs\"}}</script><script type='module' src='./src/main.js'></script>")
    _run_page(browser, app, "/index.html", packed)


@pytest.mark.parametrize("module", ["esm", "cjs"])
def test_node_script(tmp_path: Path, packed: dict[str, Any], module: str) -> None:
    app = _app(tmp_path, packed)
    np.asarray(packed["x"]).tofile(app / "x.bin")
    body = (
        f"const r = await WebDNN.load({json.dumps(str(packed['model']))}, {{ backendOrder: ['wasm'] }});\n"
        "const b = readFileSync('x.bin'); const x = new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);\n"
        "const y = Object.values(await r.run({ input: x }))[0];\n"
        "console.log(JSON.stringify({ backend: r.backend, y: Array.from(y.data) }));\n"
        "r.dispose();\n"
    )
    if module == "esm":
        script = "import * as WebDNN from 'webdnn'; import { readFileSync } from 'node:fs';\n" + body
    else:  # require() of the CommonJS build, in a .js file of a package without "type": "module"
        script = ("const WebDNN = require('webdnn'); const { readFileSync } = require('node:fs');\n"
                  "(async () => {\n" + body + "})().catch((e) => { console.error(e); process.exit(1); });\n")
    name = "run.mjs" if module == "esm" else "run.cjs"
    (app / name).write_text(script)
    r = json.loads(_sh(["node", name], app).strip().splitlines()[-1])
    assert r["backend"] == "wasm"
    got = np.array(r["y"], np.float32).reshape(packed["ref"]["output"].shape)
    assert_matches(packed["ref"], {"output": got}, "node: ")
    os.remove(app / "x.bin")
