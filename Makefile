# Two commands: `make run` (set up, build the index if needed, serve the chat on 127.0.0.1)
# and `make test` (set up and run every test). Both start with `make install`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 7860
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: install axe run index test test-fast lint bench clean

install: $(STAMP) axe

# torch first, pinned to the CPU build on this disk: letting pip choose pulls GBs of CUDA wheels.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# axe-core for the browser tests' accessibility checks, from npm at the version the lock pins.
# Without npm the chat still runs; those tests then skip and say why (under CI=true they fail).
AXE_DIR := tests/web/axe
axe:
	@if command -v npm >/dev/null; then \
	    test -f $(AXE_DIR)/node_modules/axe-core/axe.min.js -a $(AXE_DIR)/node_modules/axe-core/axe.min.js -nt $(AXE_DIR)/package-lock.json \
	    || npm ci --prefix $(AXE_DIR) --no-audit --no-fund --silent; \
	else echo "npm not found: the accessibility tests need it (apt-get install -y npm)"; fi

index: install
	$(BIN)/chatbot index

run: install
	$(BIN)/chatbot serve --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest

# The inner loop: every test but the `slow` ones (real serve, index and CLI processes, the browser).
# `make test` still runs everything: it is what the README and CI promise.
test-fast: install
	$(BIN)/python -m pytest -m "not slow"

# Latency, load over HTTP, cold start and memory, each against a baseline of the same run;
# writes reports/bench.json and reports/bench.md. E.g. make bench BENCH_ARGS="--durations 5 5 30".
bench: install
	$(BIN)/python scripts/bench.py $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check chatbot tests scripts
	$(BIN)/mypy chatbot

clean:
	rm -rf index/manifest.json index/builds .pytest_cache
