"""Warehouse connections and the physical schema of the restricted warehouse.

Every read-write connection goes through :func:`connect` so that (1) DuckDB's
threads and memory are set deliberately, (2) a file locked by another process is
waited for with back-off instead of crashing, and (3) the warehouse file and its
folder are owner-only.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import structlog

from pipeline.contract import DATASET_COLUMNS, DATASETS, LINEAGE_COLUMNS
from pipeline.errors import WarehouseLocked
from pipeline.settings import Settings
from pipeline.store import ledger
from pipeline.store.files import secure_dir

log = structlog.get_logger()

SCHEMA_DDL = [
    *ledger.DDL,
    "create schema if not exists audit",
    "create schema if not exists raw",
    """create table if not exists meta.quarantine (
        batch_id varchar not null,
        dataset varchar not null,
        line_number bigint,
        reason_code varchar not null,
        reason varchar not null,
        raw_record varchar,
        quarantined_at timestamp
    )""",
]


def _table_ddl(schema: str, dataset: str) -> str:
    cols = {**DATASET_COLUMNS[dataset], **LINEAGE_COLUMNS}
    body = ",\n    ".join(f"{name} {typ}" for name, typ in cols.items())
    return f"create table if not exists {schema}.{dataset} (\n    {body}\n)"


for _schema in ("audit", "raw"):
    for _dataset in DATASETS:
        SCHEMA_DDL.append(_table_ddl(_schema, _dataset))


def sql_literal(text: str) -> str:
    """A SQL string literal: for the few statements DuckDB cannot take parameters in (SET, ATTACH, COPY)."""
    return "'" + text.replace("'", "''") + "'"


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


def _is_closing_elsewhere(exc: Exception) -> bool:
    """DuckDB 1.4+: another thread of this process is closing the file's last connection.

    While that instance shuts down a new one cannot attach the file yet ("Unique file handle
    conflict"); a moment later it can. DuckDB 1.0 let two instances open one file instead.
    """
    return "Unique file handle conflict" in str(exc)


def open_database(
    path: Path,
    *,
    read_only: bool = False,
    threads: int = 2,
    memory_limit: str = "512MB",
    lock_timeout: float = 120.0,
) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB file, waiting with exponential back-off while another process holds its lock."""
    if not read_only:
        secure_dir(path.parent)
    deadline = time.monotonic() + lock_timeout
    delay = 0.1
    warned = False
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.BinderException as exc:
            if not _is_closing_elsewhere(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)
            continue
        except duckdb.IOException as exc:
            if not _is_lock_error(exc):
                raise
            if time.monotonic() >= deadline:
                raise WarehouseLocked(
                    f"{path} is locked by another process and stayed locked for {lock_timeout:.0f}s"
                ) from exc
            if not warned:
                log.warning(
                    "warehouse.locked", path=str(path), retry_for_s=lock_timeout, detail=str(exc).splitlines()[0]
                )
                warned = True
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
    if warned:
        log.info("warehouse.lock_acquired", path=str(path))
    con.execute(f"set threads = {int(threads)}")
    con.execute(f"set memory_limit = {sql_literal(memory_limit)}")
    con.execute("set preserve_insertion_order = true")
    con.execute("set enable_progress_bar = false")
    if not read_only and path.exists():
        os.chmod(path, 0o600)
    return con


@contextlib.contextmanager
def connect(settings: Settings, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Short-lived connection to the restricted warehouse; the schema is created on first write.

    Inside the pipeline process every connection is read-write: DuckDB refuses a read-only
    and a read-write connection to one file in the same process, and the process holds the
    writer role anyway. ``read_only=True`` is for separate inspection processes (``status``).
    """
    con = open_database(
        settings.warehouse_db,
        read_only=read_only,
        threads=settings.duckdb_threads,
        memory_limit=settings.duckdb_memory_limit,
        lock_timeout=settings.lock_timeout_seconds,
    )
    try:
        if not read_only:
            con.execute(f"set temp_directory = {sql_literal(str(secure_dir(settings.tmp_dir)))}")
            for stmt in SCHEMA_DDL:
                con.execute(stmt)
        yield con
    finally:
        con.close()


def wait_until_unlocked(settings: Settings) -> None:
    """Block (with back-off and a log line) until no other process holds the warehouse lock."""
    with connect(settings):
        pass


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """``begin`` … ``commit``, rolled back on any error.

    A commit that fails (disk full, I/O error) has already ended the transaction, so the
    rollback's "no transaction is active" is suppressed: it must not replace the error that
    says why the commit failed.
    """
    con.execute("begin transaction")
    try:
        yield con
        con.execute("commit")
    except BaseException:
        with contextlib.suppress(duckdb.TransactionException):
            con.execute("rollback")
        raise


@contextlib.contextmanager
def connect_share(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """Read-only connection to the published share layer (what the export reads)."""
    con = open_database(
        settings.share_db,
        read_only=True,
        threads=settings.duckdb_threads,
        memory_limit=settings.duckdb_memory_limit,
        lock_timeout=settings.lock_timeout_seconds,
    )
    try:
        yield con
    finally:
        con.close()
