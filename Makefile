# edgekit: the two commands of the README.
#   make demo   install, then run the main job (train the cnn recipe, export, verify, benchmark, report)
#   make test   install, then run the test suite (what CI runs)
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip
TORCH   = torch==2.13.0

.PHONY: install install-dev demo test test-all typecheck bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# torch first, pinned: the package's own range admits it, so pip never pulls a second (CUDA) torch.
install: $(VENV)/bin/python
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH)
	$(PIP) install -q -e .

# the edge runtimes (OpenVINO, ExecuTorch, pnnx + ncnn) too, so their tests run rather than skip
install-dev: install
	$(PIP) install -q -e '.[dev,cpu-all]'
	$(PIP) install -q --no-deps tensorrt-stubs==10.13.0.35.1

demo: install
	$(VENV)/bin/edgekit pipeline cnn --int8 -o runs/cnn

test: install-dev
	$(PY) -m pytest -q -m "not slow" --durations=15

test-all: install-dev
	$(PY) -m pytest -q --durations=25

typecheck: install-dev
	$(PY) tools/trt_typings.py
	$(PY) -m mypy --config-file mypy-trt.ini

bench: install
	$(PY) benchmarks/bench_recipes.py

clean:
	rm -rf runs out .pytest_cache .mypy_cache .typings
