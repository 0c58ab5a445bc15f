# AVS Studio: `make run` starts the platform on embedded defaults, `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NPM_STAMP := frontend/node_modules/.installed

.PHONY: run test install frontend labelstudio lint bench-ingest bench-sam bench-tti bench-training bench-labelstudio bench-workers bench-scale bench-propagation clean prereqs screenshots

# Checked before anything is built: one line per missing tool, with its install command.
prereqs:
	@PYTHON="$(PYTHON)" VENV="$(VENV)" $(SHELL) scripts/check_prereqs.sh $(PREREQ_FLAGS)

$(STAMP): requirements/base.txt requirements/ml.txt requirements/dev.txt requirements/labelstudio.txt | prereqs
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/dev.txt
	$(PY) -m pip install --quiet --no-deps -r requirements/labelstudio.txt  # why --no-deps: see the file
	touch $(STAMP)

# A real Label Studio server for the bridge's integration tests, in its own venv (its pins never touch $(VENV)).
LS_VENV := var/labelstudio
LS_STAMP := $(LS_VENV)/.installed-1.23.2
$(LS_STAMP): | prereqs
	test -x $(LS_VENV)/bin/python || $(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LS_VENV)/bin/python -m pip install --quiet label-studio==1.23.2
	touch $(LS_STAMP)

labelstudio: $(LS_STAMP)

$(NPM_STAMP): frontend/package.json frontend/package-lock.json | prereqs
	cd frontend && npm ci --no-audit --no-fund
	touch $(NPM_STAMP)

install: $(STAMP) $(NPM_STAMP)

# TypeScript types are generated from the server's OpenAPI schema, then the bundle is built.
frontend: install
	mkdir -p var
	$(PY) manage.py spectacular --format openapi-json --file var/openapi.json
	cd frontend && npm run --silent gen:api && npm run --silent build

run: prereqs frontend
	$(PY) -m server.run

# The browser tests drive Chromium.
test bench-tti screenshots: PREREQ_FLAGS = --browser
test: prereqs frontend $(LS_STAMP)
	$(PY) -m ruff check server ml_backend tests benchmarks scripts
	$(PY) frontend/scripts/rle_parity.py var/rle-parity.json
	cd frontend && npm test --silent
	$(PY) -m pytest

# The README's screenshots (docs/screenshots/), from the demo seeded into a throwaway var/screenshots/.
screenshots: prereqs frontend
	$(PY) scripts/screenshots.py --out docs/screenshots

bench-ingest: $(STAMP)
	$(PY) benchmarks/ingest.py

bench-sam: $(STAMP)
	$(PY) benchmarks/sam_click.py

bench-tti: frontend
	$(PY) benchmarks/annotator_tti.py

bench-training: $(STAMP)
	$(PY) benchmarks/training.py

bench-labelstudio: $(STAMP) $(LS_STAMP)
	$(PY) benchmarks/labelstudio.py

# Needs PostgreSQL (127.0.0.1:5432, a throwaway database) and Redis (a database of its own, emptied).
bench-workers: $(STAMP)
	$(PY) benchmarks/workers.py

# Needs PostgreSQL (127.0.0.1:5432): 100 000 clips seeded into a throwaway database (avs_bench_scale), then dropped.
bench-scale: $(STAMP)
	$(PY) benchmarks/scale.py

bench-propagation: $(STAMP)
	$(PY) benchmarks/propagation.py

clean:
	rm -rf var/e2e var/bench var/screenshots frontend/dist
