"""Warehouse connections: a file locked by another process is waited for, not a crash."""

from __future__ import annotations

import time
from dataclasses import replace

import duckdb
import pytest
from structlog.testing import capture_logs

from pipeline.errors import WarehouseLocked
from pipeline.store import db, ledger
from tests.helpers import hold_lock


def test_a_locked_warehouse_is_waited_for_with_a_log_line(settings):
    with db.connect(settings):
        pass  # create the file and schema
    holder = hold_lock(settings.warehouse_db, 3)
    started = time.monotonic()
    with capture_logs() as logs, db.connect(settings) as con:
        assert ledger.all_batches(con) == []
    waited = time.monotonic() - started
    holder.wait()
    assert waited >= 1.5, "the other process held the lock"
    events = [e["event"] for e in logs]
    assert events == ["warehouse.locked", "warehouse.lock_acquired"]


def test_a_lock_held_past_the_timeout_is_a_clear_error(settings):
    with db.connect(settings):
        pass
    holder = hold_lock(settings.warehouse_db, 10)
    try:
        with pytest.raises(WarehouseLocked, match="locked by another process and stayed locked for 1s"):
            with db.connect(replace(settings, lock_timeout_seconds=1.0)):
                pass
    finally:
        holder.kill()
        holder.wait()


def test_warehouse_file_and_folder_are_owner_only(settings):
    with db.connect(settings):
        pass
    assert settings.warehouse_db.stat().st_mode & 0o777 == 0o600
    assert settings.warehouse.stat().st_mode & 0o777 == 0o700
    duckdb.connect(str(settings.warehouse_db), read_only=True).close()
