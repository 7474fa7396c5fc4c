# Herald's two entry points on a fresh machine:
#   make run    set up, start local infrastructure, the three services and demo data,
#               deliver a real email, keep the services running until Ctrl-C
#   make test   set up, start local infrastructure, run the whole test suite
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CACHE ?= $(HOME)/.cache/herald
UV := $(CACHE)/tools/bin/uv
# The interpreter itself, not a shim (pyenv's): uv rebuilds a venv whose Python is not
# exactly the one asked for, which on every `make` call would throw away the bytecode.
PYTHON ?= $(shell $$(command -v python3.11 || command -v python3) -c 'import sys; print(sys.executable)')
PYTEST_ARGS ?=
SOURCES := services shared cli client herald/__init__.py tests bench

.PHONY: help setup venv infra run test test-chaos lint test-unit asyncapi

help:
	@echo "make run   - everything up, demo data, one email delivered (Ctrl-C stops)"
	@echo "make test  - everything up, the whole test suite"
	@echo "make test-chaos - the fault-injection suite with large herds and repeated faults"
	@echo "make lint  - ruff, mypy --strict and the layer contracts (import-linter)"
	@echo "make asyncapi - regenerate docs/asyncapi.yaml"

$(UV):
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Herald needs Python 3.11"'
	$(PYTHON) -m venv $(CACHE)/tools
	$(CACHE)/tools/bin/pip install --quiet --disable-pip-version-check uv

# Bytecode is compiled once per lock (the stamp), and Herald's own on every call (0.1-0.4 s):
# where PYTHONDONTWRITEBYTECODE is set, as on these machines, Python would otherwise compile
# every module it imports, in every process, on every start (WeasyPrint alone: 5 s of CPU).
# Twice: as is, and stripped (-o 2) for the render workers (services/renderer/pool.py).
venv: $(UV)
	UV_PYTHON=$(PYTHON) UV_CACHE_DIR=$(CACHE)/uv $(UV) sync --frozen --quiet
	if [ ! .venv/.bytecode-0-2 -nt uv.lock ]; then .venv/bin/python -m compileall \
	    -q -j 0 -o 0 -o 2 .venv/lib >/dev/null && touch .venv/.bytecode-0-2; fi
	.venv/bin/python -m compileall -q -j 0 -o 0 -o 2 $(SOURCES) >/dev/null

infra:
	deploy/local/infra up

setup: venv infra

run: setup
	deploy/local/run-demo

# ruff, mypy --strict, and the layer rules as import-linter contracts (pyproject.toml).
lint: venv
	.venv/bin/ruff check $(SOURCES)
	.venv/bin/ruff format --check $(SOURCES)
	.venv/bin/mypy
	.venv/bin/lint-imports

# pytest against the local infrastructure; its exit 5 (no tests collected) is a
# failure here, never a green run.
define pytest_strict
eval "$$(deploy/local/infra env)"; \
status=0; .venv/bin/pytest $(1) || status=$$?; \
if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; \
exit $$status
endef

# The whole suite, the CI-sized chaos scenarios (tests/chaos) included: they run in a
# pytest of their own beside the rest, as do the end-to-end tests (tests/run-suite says why).
test: setup lint
	tests/run-suite $(PYTEST_ARGS)

# The fault-injection suite at full size: larger herds, every fault several times
# (tests/chaos/README.md), and the fuzzing at 10,000 cases per command model and per
# consumed topic (make test runs 1,000). HERALD_CHAOS_RUNS, _FAULTS and _SEED and
# HERALD_FUZZ_MODEL_CASES / HERALD_FUZZ_CASES override the sizes.
CHAOS_RUNS ?= 1000
CHAOS_FAULTS ?= 3
FUZZ_CASES ?= 10000
test-chaos: setup
	export HERALD_CHAOS_RUNS=$${HERALD_CHAOS_RUNS:-$(CHAOS_RUNS)} \
	    HERALD_CHAOS_FAULTS=$${HERALD_CHAOS_FAULTS:-$(CHAOS_FAULTS)} \
	    HERALD_FUZZ_MODEL_CASES=$${HERALD_FUZZ_MODEL_CASES:-$(FUZZ_CASES)} \
	    HERALD_FUZZ_CASES=$${HERALD_FUZZ_CASES:-$(FUZZ_CASES)}; \
	$(call pytest_strict,tests/chaos tests/unit/test_fuzz_commands.py tests/e2e/test_bad_input.py -s $(PYTEST_ARGS))

test-unit: venv
	.venv/bin/pytest tests/unit $(PYTEST_ARGS)

# The AsyncAPI document of Herald's topics, from the message models (a test checks it is current).
asyncapi: venv
	.venv/bin/python -m herald.shared.contract.asyncapi > docs/asyncapi.yaml.new
	mv docs/asyncapi.yaml.new docs/asyncapi.yaml
