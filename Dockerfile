# One image for both services (luigid and the watcher); same pinned requirements as .venv.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DO_NOT_TRACK=1 \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false

WORKDIR /app
COPY requirements.lock requirements-soda.lock docker/requirements-postgres.txt ./
RUN pip install --no-cache-dir -r requirements.lock -r requirements-postgres.txt
# Soda's two packages without their dependencies, as `make setup` does: soda-core-duckdb 3.5.6
# declares duckdb<1.1, which would stop pip from installing the pinned DuckDB 1.4; everything
# they need is pinned in requirements.lock (see requirements-soda.lock).
RUN pip install --no-cache-dir --no-deps -r requirements-soda.lock

COPY pyproject.toml luigi.cfg README.md ./
COPY pipeline/ pipeline/
COPY dbt/ dbt/
COPY soda/ soda/
COPY docker/ docker/
RUN pip install --no-cache-dir --no-deps -e . \
 && useradd --create-home --uid 1000 pipeline \
 && mkdir -p /app/landing /app/warehouse /state /secrets \
 && chown -R pipeline /app/landing /app/warehouse /state /secrets
USER pipeline
