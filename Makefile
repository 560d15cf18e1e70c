# xcelerator: `make demo` and `make test` set everything up first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export XCEL_CACHE ?= $(CURDIR)/.xcel/cache

.PHONY: setup demo test lint typecheck unit slow bench bench-peers clean realmodels fashion-mnist docs

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: a CPU wheel is on this machine's disk; an open range pulls a multi-GB CUDA build
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c .ci/constraints.txt -e '.[all,dev]'
	touch $(STAMP)

# Fashion-MNIST from Debian when its files are missing and apt is usable (else the demo says so and runs on digits)
fashion-mnist:
	@test -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz || test -n "$$XCEL_DATA" || \
	  { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	    (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q dataset-fashion-mnist) >/dev/null 2>&1; } || \
	  echo "dataset-fashion-mnist not installed (no apt or not root): the demo will run on digits"

demo: setup fashion-mnist
	mkdir -p demo-out
	$(BIN)/xcel --db demo-out/xcel.db demo --out demo-out

lint: setup
	$(BIN)/ruff check src tests benchmarks examples tools
	$(BIN)/ruff format --check src tests benchmarks examples tools

typecheck: setup
	$(BIN)/mypy src/xcelerator

# real third-party models from their PyPI wheels (cached in XCEL_CACHE; tests skip only if PyPI is unreachable)
realmodels: setup
	$(BIN)/python -m tests.realmodels || echo "real models not fetched: PyPI unreachable"

unit: setup realmodels
	$(BIN)/pytest -q -n 2

test: lint typecheck unit

# the API reference from the docstrings (pdoc) into build/api/; fails naming any broken reference
docs: setup
	$(BIN)/python tools/apidocs.py --out build/api

slow: setup
	$(BIN)/pytest -q -m slow

bench: setup
	$(BIN)/python benchmarks/profiler.py
	$(BIN)/python benchmarks/runtimes.py
	$(BIN)/python benchmarks/realshapes.py
	$(BIN)/python benchmarks/coverage.py
	$(BIN)/python benchmarks/coverage.py --fresh
	$(BIN)/python benchmarks/generate.py
	$(BIN)/python benchmarks/search.py
	$(BIN)/python benchmarks/search.py --strategies gp --seeds 3 --section search-gp
	$(BIN)/python benchmarks/scaling.py
	$(BIN)/python benchmarks/demo.py
	$(BIN)/python benchmarks/joint.py
	$(BIN)/python benchmarks/rounding.py
	$(BIN)/python benchmarks/costmodel.py
	$(BIN)/python benchmarks/report.py
	$(BIN)/python benchmarks/ray_farm.py
	$(BIN)/python benchmarks/pareto.py
	$(BIN)/python benchmarks/pareto.py --live
	$(BIN)/python benchmarks/remote.py

# the peers side by side (each in its own venv under .xcel/peers; see benchmarks/peers/run.py)
bench-peers: setup fashion-mnist
	$(BIN)/python benchmarks/peers/run.py

clean:
	rm -rf $(VENV) .xcel demo-out .pytest_cache .mypy_cache .ruff_cache
