# Every target goes through .venv; `make setup` only creates/updates it and is safe to re-run.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false

.PHONY: setup demo test docs up bench drill clean

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

demo: setup
	$(PY) -m pipeline demo

test: setup
	$(PY) -m pytest -q

docs: setup
	$(PY) -m pipeline docs

clean:
	rm -rf warehouse/*.duckdb* warehouse/reports warehouse/exports warehouse/state warehouse/share.duckdb
