SHELL := /bin/bash
HOST ?= 127.0.0.1
PORT ?= 8000
VENV := .venv
VENV52 := .venv-django52
PY := $(VENV)/bin/python

.PHONY: run test lint venv venv52 clean

$(VENV)/.installed: pyproject.toml
	@PYTHON=$$(scripts/find-python) && echo "using $$PYTHON" && \
	  { [ -x $(PY) ] || $$PYTHON -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

venv: $(VENV)/.installed

$(VENV52)/.installed: pyproject.toml
	@PYTHON=$$(scripts/find-python311) && { [ -x $(VENV52)/bin/python ] || $$PYTHON -m venv $(VENV52); }
	$(VENV52)/bin/python -m pip install -q --upgrade pip
	$(VENV52)/bin/python -m pip install -q -e '.[test]' 'django>=5.2,<5.3'
	@touch $@

venv52: $(VENV52)/.installed

run: venv
	DEBUG=1 $(PY) manage.py migrate --noinput
	DEBUG=1 $(PY) manage.py seed_demo
	@echo "Serving on http://$(HOST):$(PORT)/ (Ctrl-C stops)"
	DEBUG=1 exec $(PY) -m sse.daphne -b $(HOST) -p $(PORT) project.asgi:application

lint: venv
	$(VENV)/bin/ruff check .

test: venv venv52
	scripts/system-packages
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest
	$(VENV52)/bin/pytest -p no:cacheprovider tests/sse

clean:
	rm -rf $(VENV) $(VENV52) db.sqlite3* staticfiles
