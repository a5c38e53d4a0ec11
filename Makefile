# The README's two commands: `make test` and `make reproduce`. Each works from nothing but Python >= 3.11.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: test reproduce install lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch==2.13.0 first: a bare `torch` requirement would pull a multi-GB CUDA build (see DEVELOPERS.md).
# The optional extras (Ray Tune for `--backend ray`, TensorBoard, the notebook runner) are installed too,
# so their tests run.
$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,ray,tensorboard,notebook]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

test: $(STAMP) lint
	$(VENV)/bin/pytest -q

reproduce: $(STAMP)
	$(VENV)/bin/dlrepro reproduce --profile quick --out results $(REPRODUCE_FLAGS)

clean:
	rm -rf $(VENV) results
