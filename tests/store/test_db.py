"""Warehouse connections: a file locked by another process is waited for, not a crash."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import replace

import duckdb
import pytest
from structlog.testing import capture_logs

from pipeline.errors import WarehouseLocked, WarehouseUnusable
from pipeline.store import db, ledger
from tests.helpers import REPO, hold_lock, write


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


WRITER = """
import sys, time
from pipeline.settings import load_settings
from pipeline.store import db
settings = load_settings(landing=sys.argv[1], warehouse=sys.argv[2])
with db.writer_lock(settings):
    print("holding", flush=True)
    time.sleep(float(sys.argv[3]))
"""


def test_the_writer_lock_makes_a_second_process_wait_its_turn(settings):
    holder = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(settings.landing), str(settings.warehouse), "2"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert holder.stdout.readline().strip() == "holding"
    started = time.monotonic()
    with capture_logs() as logs, db.writer_lock(settings):
        waited = time.monotonic() - started
    holder.wait(timeout=30)
    assert waited >= 1.0
    assert [e["event"] for e in logs] == ["warehouse.waiting_for_writer", "warehouse.writer_turn"]


def test_a_truncated_warehouse_is_explained_in_one_sentence(settings):
    settings.warehouse.mkdir(parents=True)
    settings.warehouse_db.write_bytes(b"DUCK" + b"\0" * 100)
    with pytest.raises(WarehouseUnusable, match="cannot be opened as a DuckDB database .* replay"):
        with db.connect(settings):
            pass
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", "status", "--warehouse", str(settings.warehouse)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ") and "cannot be opened as a DuckDB database" in proc.stderr


def test_a_deleted_warehouse_with_archived_batches_is_not_restarted_at_one(settings):
    write(settings.archive_dir / "00000001_b0123456789abcdef__chats.csv", "id\n")
    with pytest.raises(WarehouseUnusable, match="is missing, but .* holds 1 archived batch"):
        with db.connect(settings):
            pass
    assert not settings.warehouse_db.exists()


def test_close_race_is_retried_and_nothing_else():
    """Only DuckDB's "Unique file handle conflict" is waited out; any other error is raised at once."""
    calls = []

    def flaky(error: Exception, times: int):
        calls.append(error)
        if len(calls) <= times:
            raise error
        return "opened"

    race = duckdb.BinderException('Binder Error: Unique file handle conflict: Cannot attach "w"')
    assert db.retry_while_closing_elsewhere(5.0)(flaky, race, 3) == "opened"
    assert len(calls) == 4
    calls.clear()
    other = duckdb.BinderException("Binder Error: Catalog with name w already exists")
    with pytest.raises(duckdb.BinderException, match="already exists"):
        db.retry_while_closing_elsewhere(5.0)(flaky, other, 3)
    assert len(calls) == 1
    calls.clear()
    with pytest.raises(duckdb.BinderException, match="Unique file handle conflict"):
        db.retry_while_closing_elsewhere(0.05)(flaky, race, 10_000)  # past the timeout: raised as it came


def test_open_database_waits_out_another_thread_closing_the_file(settings):
    """DuckDB 1.4 refuses a new in-process instance while another thread closes the file's last
    connection; ``open_database`` (and ``tests.helpers.read_ledger``) must wait that out."""
    settings.warehouse.mkdir(parents=True)
    with db.open_database(settings.warehouse_db) as con:
        con.execute("create table t as select range as i from range(200000)")
    stop = threading.Event()
    failures: list[str] = []

    def open_and_close():
        while not stop.is_set():
            try:
                db.open_database(settings.warehouse_db).close()
            except Exception as exc:
                failures.append(str(exc))
                return

    other = threading.Thread(target=open_and_close)
    other.start()
    try:
        deadline = time.monotonic() + 2.0
        opened = 0
        while time.monotonic() < deadline:
            with db.open_database(settings.warehouse_db) as con:
                assert con.execute("select count(*) from t").fetchone() == (200000,)
            opened += 1
    finally:
        stop.set()
        other.join(timeout=60)
    assert failures == [] and opened > 0


def test_insert_rows_appends_every_row_in_order_across_chunks(monkeypatch):
    import datetime as dt
    import math

    monkeypatch.setattr(db, "INSERT_CHUNK", 3)
    con = duckdb.connect()
    con.execute("create table t (i bigint, x double, s varchar, b boolean, ts timestamp, d date)")
    at, day = dt.datetime(2026, 12, 4, 2, 50, 1, 123456), dt.date(2026, 12, 4)
    texts = [None, "it's", "a'; drop table t; --", "", "\\n é 😀", "nul\x00inside", "x", "y"]
    rows = [(i, None if i % 2 else i / 3, texts[i], i % 2 == 0, at, day) for i in range(8)]
    db.insert_rows(con, "t", rows)
    db.insert_rows(con, "t", [])  # nothing to add: no statement at all
    db.insert_rows(con, "t", [(9, math.inf, None, None, None, None)])
    assert con.execute("select * from t order by rowid").fetchall() == [*rows, (9, math.inf, None, None, None, None)]
    with pytest.raises(TypeError, match="cannot write a list"):
        db.insert_rows(con, "t", [(10, None, ["a"], None, None, None)])
