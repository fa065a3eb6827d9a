# `make run`: a working server with the embedded defaults. `make demo`: the same with a live
# auction seeded and bidding. `make test`: the whole suite.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip

.PHONY: run demo test redis chromium bench clean

run: $(VENV)/.runtime $(VENV)/.native
	$(PY) run.py

demo: $(VENV)/.runtime $(VENV)/.native
	$(PY) run.py --demo

test: $(VENV)/.dev $(VENV)/.native redis chromium
	$(PY) -m pytest -q $(PYTEST_ARGS)

redis:
	@scripts/ensure-redis

# The browser tests drive Debian's chromium (never a downloaded browser).
chromium:
	@scripts/ensure-chromium

bench: $(VENV)/.dev $(VENV)/.native redis
	$(PY) bench/fanout.py $(BENCH_ARGS)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.runtime: requirements.txt | $(VENV)/bin/python
	$(PIP) install -q -r requirements.txt
	touch $@

# The fan-out hub's native send loop (optional: the script says so when it cannot build it).
$(VENV)/.native: server/_fanout.c scripts/build-native | $(VENV)/bin/python
	@scripts/build-native $(PY)
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(PIP) install -q -r requirements-dev.txt
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache server/_fanout*.so
