# `make test` and `make run` work from a fresh clone: they create .venv, install torch 2.13.0
# first (the CPU build on these machines; anything else pulls GBs of CUDA), then the project.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: test run install chromium bench eval clean-index

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3.11 -m venv $(VENV) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed

# Debian's Chromium for the browser test (Playwright's own browser download fails offline).
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; } || echo "chromium not installed: the browser test will be skipped"

test: install chromium
	$(PY) -m pytest -q

run: install
	$(PY) app.py

bench: install
	$(PY) eval/bench.py

eval: install
	$(PY) eval/evaluate.py

clean-index:
	rm -rf index/current index/.build-*
