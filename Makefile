# edgekit: the two commands of the README.
#   make demo   install, then run the main job (train the cnn recipe, export, verify, benchmark, report)
#   make test   install, then lint (ruff check, ruff format --check), type-check (mypy edgekit, the strict
#               TensorRT check) and run the test suite: what CI (.ci/run) runs
#   make gpu-check  on a CUDA machine: the cuda/trt tests, benchmarks/gpu_table.py and edgekit bench on three
#               recipes, everything under runs/gpu-check/ (docs/gpu.md); exits 3 with one line without CUDA
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip
TORCH   = torch==2.13.0

.PHONY: install install-dev demo lint typecheck test test-all gpu-check bench clean

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

LINTED  = edgekit tests recipes benchmarks tools

lint: install-dev
	$(PY) -m ruff check $(LINTED)
	$(PY) -m ruff format --check $(LINTED)

# mypy edgekit (pyproject's [tool.mypy]) and mypy --strict on the TensorRT code against repaired tensorrt-stubs
typecheck: install-dev
	$(PY) -m mypy edgekit
	$(PY) tools/trt_typings.py
	$(PY) -m mypy --config-file mypy-trt.ini

# EDGEKIT_TRT_MYPY_RAN: tests/trt/test_mypy_trt.py skips the strict check typecheck has just run (not run twice)
test: lint typecheck
	EDGEKIT_TRT_MYPY_RAN=1 $(PY) -m pytest -q -m "not slow" --durations=15

test-all: install-dev
	$(PY) -m pytest -q --durations=25

# GPU acceptance run (docs/gpu.md): WHEELS=dir/with/pycuda/wheels to install pycuda from a carried wheel folder
gpu-check: install
	$(PY) benchmarks/gpu_check.py $(if $(WHEELS),--wheels $(WHEELS))

bench: install
	$(PY) benchmarks/bench_recipes.py

clean:
	rm -rf runs out .pytest_cache .mypy_cache .typings
