# The Makefile is the interface: every target works from a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
export CDK_DISABLE_CLI_TELEMETRY := true
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: admin dev test suite lint format typecheck unit integration infra e2e packaging synth layer bench openapi clean chromium

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed node_modules/.installed

# The browser test drives Debian's Chromium (Playwright never downloads a browser here).
chromium:
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium for the browser test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

dev: $(VENV)/.installed
	$(PY) -m hitl_local

# hitl-admin without its path: make admin ARGS="--local list-tenants" (stdout: its JSON only).
ARGS ?= --help
admin:
	@test -x $(BIN)/hitl-admin || $(MAKE) --no-print-directory $(VENV)/.installed >&2
	@$(BIN)/hitl-admin $(ARGS)

# Both cores: the installs side by side, lint (seconds), then the type check beside the suite (a
# cold mypy takes minutes on one core; waiting for it left the other core idle). The suite runs on
# two workers, each taking whole files (module fixtures run once) in collection order
# (pyproject.toml: the slow folders first), not xdist's most-tests-first, which left the long e2e
# files for the end. Either failing fails `make test` (make -j waits for both).
test:
	$(MAKE) --no-print-directory -j2 install chromium
	$(MAKE) --no-print-directory lint
	$(PY) -m infra.openapi --check
	$(MAKE) --no-print-directory -j2 typecheck suite

suite: install
	$(BIN)/pytest -n 2 --dist loadfile --no-loadscope-reorder

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(VENV)/.installed
	$(BIN)/mypy

unit integration infra e2e packaging: install
	$(BIN)/pytest tests/$@

synth: install
	npx cdk synth --no-notices --quiet
	@echo "template: cdk.out/Hitl.template.json"

# The deps layer for this machine (the stack bundles the same recipe for arm64 at synth).
layer: $(VENV)/.installed
	$(PY) -m infra.layer_build build/layers/deps

openapi: $(VENV)/.installed
	$(PY) -m infra.openapi

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) node_modules cdk.out .pytest_cache .mypy_cache .ruff_cache build
