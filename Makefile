SHELL := /bin/bash
HOST ?= 127.0.0.1
PORT ?= 8000
VENV := .venv
VENV52 := .venv-django52
PY := $(VENV)/bin/python

.PHONY: run test test-steps lint venv venv52 clean bench cluster bench-venv screenshots

# `sse` from the repository (editable, with its extras), plus the demo's and the suite's
# own requirements: none of those are dependencies of the `sse` distribution.
DEV_REQUIREMENTS := -e '.[redis,api]' -r requirements/demo.txt -r requirements/test.txt

$(VENV)/.installed: pyproject.toml requirements/demo.txt requirements/test.txt
	@PYTHON=$$(scripts/find-python) && echo "using $$PYTHON" && \
	  { [ -x $(PY) ] || $$PYTHON -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(DEV_REQUIREMENTS)
	@touch $@

venv: $(VENV)/.installed

# Django 5.2 LTS on the oldest supported Python (3.12), where one is found.
$(VENV52)/.installed: pyproject.toml requirements/demo.txt requirements/test.txt
	@PYTHON=$$(scripts/find-python 3.12) && { [ -x $(VENV52)/bin/python ] || $$PYTHON -m venv $(VENV52); }
	$(VENV52)/bin/python -m pip install -q --upgrade pip
	$(VENV52)/bin/python -m pip install -q $(DEV_REQUIREMENTS) 'django>=5.2,<5.3'
	@touch $@

venv52: $(VENV52)/.installed

run: venv
	DEBUG=1 $(PY) manage.py migrate --noinput
	DEBUG=1 $(PY) manage.py seed_demo
	@echo "Serving on http://$(HOST):$(PORT)/ (Ctrl-C stops)"
	DEBUG=1 exec $(PY) -m sse.daphne -b $(HOST) -p $(PORT) project.asgi:application

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	# .importlinter: the demo apps use only sse's public modules; no import cycle inside sse.
	$(VENV)/bin/lint-imports

# The wall time of the whole of it (installs and lint included) is the last line printed.
test:
	@start=$$(date +%s); $(MAKE) --no-print-directory test-steps; rc=$$?; \
	  echo "make test: exit $$rc after $$(( $$(date +%s) - start )) s of wall time"; exit $$rc

test-steps: venv venv52 lint
	scripts/system-packages
	# axe-core for tests/test_pages_axe.py, esbuild and typescript for tests/bundler (package.json,
	# pinned by package-lock.json), into node_modules/.
	npm ci --no-audit --no-fund --silent
	# Two lanes side by side, each over several pytest processes: the project's suite;
	# tests/sse (the sse app alone) on both Django lines, one after the other.
	scripts/run-tests $(VENV) $(VENV52)

# Refresh docs/screenshots: every page at 1280 and 375 px (scripts/screenshots.py), then the
# browser tests' own pictures (`make test` keeps those in a tmp dir and never writes the tree).
screenshots: venv
	scripts/system-packages
	$(PY) scripts/screenshots.py --out docs/screenshots
	SSE_SCREENSHOTS=1 $(VENV)/bin/pytest -m browser tests/notifications tests/chat tests/jobs

# The benchmark's own environment: the peers never enter .venv.
VENVBENCH := .venv-bench
$(VENVBENCH)/.installed: bench/requirements.txt
	@PYTHON=$$(scripts/find-python) && { [ -x $(VENVBENCH)/bin/python ] || $$PYTHON -m venv $(VENVBENCH); }
	$(VENVBENCH)/bin/python -m pip install -q --upgrade pip
	$(VENVBENCH)/bin/python -m pip install -q -r bench/requirements.txt
	@touch $@

bench-venv: $(VENVBENCH)/.installed

# make bench [BENCH_QUICK=1] [BENCH_SYSTEMS=project,sse-starlette] [BENCH_CLUSTER=1,2] [BENCH_STORM=N]
bench: venv bench-venv
	scripts/system-packages
	$(VENVBENCH)/bin/python -m bench.run $(if $(BENCH_QUICK),--quick) \
	  $(if $(BENCH_SYSTEMS),--systems $(BENCH_SYSTEMS)) $(if $(BENCH_CLUSTER),--cluster $(BENCH_CLUSTER)) $(if $(BENCH_STORM),--storm $(BENCH_STORM))

# nginx in front of CLUSTER_PROCESSES Daphnes sharing a redis-server (Ctrl-C stops).
CLUSTER_PROCESSES ?= 2
cluster: venv
	scripts/system-packages
	DEBUG=0 $(PY) -m bench.cluster --processes $(CLUSTER_PROCESSES) $(if $(CLUSTER_PORT),--port $(CLUSTER_PORT))

clean:
	rm -rf $(VENV) $(VENV52) $(VENVBENCH) db.sqlite3* staticfiles
