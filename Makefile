# AVS Studio: `make run` starts the platform on embedded defaults, `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test install lint bench-ingest clean

$(STAMP): requirements/base.txt requirements/ml.txt requirements/dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/dev.txt
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m server.run

test: $(STAMP)
	$(PY) -m ruff check server ml_backend tests benchmarks
	$(PY) -m pytest

bench-ingest: $(STAMP)
	$(PY) benchmarks/ingest.py

clean:
	rm -rf var/e2e var/bench
