"""Shared fixtures: every test gets its own landing/ and warehouse/ folders on disk."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from pipeline.settings import Settings, load_settings

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith("PIPELINE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PIPELINE_PSEUDONYM_KEY_FILE", str(tmp_path / "secrets" / "pseudonym.key"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    landing = tmp_path / "landing"
    landing.mkdir()
    return load_settings(landing=landing, warehouse=tmp_path / "warehouse")


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        text = text.encode()
    path.write_bytes(text)
    return path


def wait_for(predicate, timeout: float = 120.0, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy (returned) or fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def read_ledger(settings: Settings) -> list[dict]:
    """The ledger rows in arrival order, read in-process ([] until the schema exists)."""
    import duckdb

    if not settings.warehouse_db.exists():
        return []
    with duckdb.connect(str(settings.warehouse_db)) as con:
        if not con.execute("select count(*) from duckdb_tables() where schema_name = 'meta' "
                           "and table_name = 'batches'").fetchone()[0]:
            return []  # the file exists, the schema is not created yet
        cur = con.execute("select * from meta.batches order by seq")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]
