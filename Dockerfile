# One image for both services (luigid and the watcher); same pinned requirements as .venv.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DO_NOT_TRACK=1 \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false

WORKDIR /app
COPY requirements.lock docker/requirements-postgres.txt ./
RUN pip install --no-cache-dir -r requirements.lock -r requirements-postgres.txt

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
