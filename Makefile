# `make test` and `make run` work from a fresh clone: they create .venv, install torch 2.13.0
# first (the CPU build on these machines; anything else pulls GBs of CUDA), then the project.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: test run install chromium ocr-libs bench eval clean-index

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

# OpenCV (under the OCR of scanned PDF pages, rapidocr-onnxruntime) loads libGL and GLib; without them OCR is off.
ocr-libs:
	@ldconfig -p | grep -q libGL.so.1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libgl1 libglib2.0-0 >/dev/null; } || echo "libgl1 not installed: OCR of scanned PDFs is off and its test skipped"

test: install chromium ocr-libs
	$(PY) -m pytest -q

run: install
	$(PY) app.py

bench: install
	$(PY) eval/bench.py

eval: install
	$(PY) eval/evaluate.py

clean-index:
	rm -rf index/current index/.build-*
