# The README's two commands: `make test` and `make reproduce`. Each works from nothing but Python >= 3.11.
# `make package-check` builds the wheel and runs it, installed in a fresh venv, from outside the checkout (CI).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: test reproduce install lint clean package-check

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch==2.13.0 first, pinned: a bare `torch` requirement could pull a newer, multi-GB CUDA build instead of
# the CPU build this project is tested with. setuptools>=77 in the venv: the packaging test builds the wheel
# without network (--no-build-isolation).
# The optional extras (Ray Tune for `--backend ray`, TensorBoard, the notebook runner) are installed too,
# so their tests run.
$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install -q --upgrade pip 'setuptools>=77'
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,ray,tensorboard,notebook]'
	touch $(STAMP)

install: $(STAMP)

# mypy: the type check of src/ (settings in pyproject.toml's [tool.mypy]).
lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

test: $(STAMP) lint
	$(VENV)/bin/pytest -q

package-check:
	PYTHON=$(PYTHON) .ci/package-check

reproduce: $(STAMP)
	$(VENV)/bin/dlrepro reproduce --profile quick --out results $(REPRODUCE_FLAGS)

clean:
	rm -rf $(VENV) results
