# Every target goes through .venv; `make setup` only creates/updates it and is safe to re-run.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false

BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: setup setup-bench demo test lint docs up bench drill clean

setup: $(STAMP)

# Soda's two packages come from their own lock, without dependencies: soda-core-duckdb 3.5.6
# declares duckdb<1.1 (stale; its fix is merged upstream, not released), which would stop pip from
# installing the pinned DuckDB. Everything they need is pinned in requirements.lock.
$(STAMP): requirements.lock requirements-soda.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-soda.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

# Benchmark-only packages (pandas for the reference loader), kept out of the product's dependencies.
setup-bench: $(BENCH_STAMP)

$(BENCH_STAMP): $(STAMP) requirements-bench.lock
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-bench.lock
	touch $(BENCH_STAMP)

demo: setup
	$(PY) -m pipeline demo

# ruff (lint + format) for Python, sqlfluff (Jinja templater, DuckDB dialect) for the dbt SQL.
lint: setup
	$(VENV)/bin/ruff check pipeline bench tests
	$(VENV)/bin/ruff format --check pipeline bench tests
	cd dbt && ../$(VENV)/bin/sqlfluff lint models macros tests

# The tests cover the benchmark code too, hence the bench packages.
test: setup-bench lint
	$(PY) -m pytest -q --durations=15

# luigid on 127.0.0.1:8082 (visualizer, task history in warehouse/luigi/) + the watcher, no Docker needed.
up: setup
	mkdir -p warehouse/luigi
	$(VENV)/bin/luigid --port 8082 --address 127.0.0.1 --state-path warehouse/luigi/luigi-state.pickle \
	  & echo $$! > warehouse/luigi/luigid.pid; \
	trap 'kill $$(cat warehouse/luigi/luigid.pid)' EXIT INT TERM; \
	$(PY) -m pipeline watch --scheduler-url http://127.0.0.1:8082

# ~12 min on 2 cores; `make bench BENCH_ARGS=--quick` for a tiny smoke run, `--help` for sections and sizes.
bench: setup-bench
	$(PY) -m bench $(BENCH_ARGS)

# Fault drills kept out of `make test` (~6 min on 2 cores): kill -9 at 20 seeded points, disk full
# (tmpfs; skipped with the reason when mount is not permitted), a 30 s lock, the 200 MB line,
# status through a 1M-chat run.
drill: setup-bench
	$(PY) -m pytest -q -m drill

docs: setup
	$(PY) -m pipeline docs

clean:
	rm -rf warehouse/*.duckdb* warehouse/reports warehouse/exports warehouse/state warehouse/share.duckdb
