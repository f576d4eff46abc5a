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

from pipeline.errors import WarehouseLocked
from pipeline.settings import Settings

log = structlog.get_logger()

#: Raw layer columns shared by the audit (write) and raw (publish) schemas.
CHATS_COLUMNS = {
    "id": "UUID",
    "chat_category_id": "UUID",
    "created_at": "TIMESTAMP",  # UTC, naive
    "is_customer_initiated": "BOOLEAN",
    "resolved_at": "TIMESTAMP",  # UTC, naive
    "message": "VARCHAR",
}
CATEGORIES_COLUMNS = {
    "id": "UUID",
    "parent_id": "UUID",
    "disabled": "BOOLEAN",
}
DATASET_COLUMNS = {"chats": CHATS_COLUMNS, "categories": CATEGORIES_COLUMNS}
#: Header columns a file must have (values may still be empty where the contract allows it).
#: ``message`` is optional; a file without e.g. ``resolved_at`` would silently read as unresolved.
REQUIRED_COLUMNS = {
    "chats": ("id", "chat_category_id", "created_at", "is_customer_initiated", "resolved_at"),
    "categories": ("id", "parent_id", "disabled"),
}
#: Lineage columns every raw row carries.
LINEAGE_COLUMNS = {
    "_extra": "JSON",  # unknown extra columns of the source file, kept as {name: value}
    "_batch_id": "VARCHAR",
    "_batch_seq": "BIGINT",  # arrival order of the batch (ledger.seq)
    "_line_number": "BIGINT",  # record number in the source file, header = 1
    "_loaded_at": "TIMESTAMP",
}

SCHEMA_DDL = [
    "create schema if not exists meta",
    "create schema if not exists audit",
    "create schema if not exists raw",
    "create sequence if not exists meta.batch_seq start 1",
    """create table if not exists meta.batches (
        batch_id varchar not null,  -- unique by construction (ledger.register); no PK: DuckDB 1.0 rejects in-transaction updates of list columns on indexed tables
        seq bigint not null,
        file varchar not null,
        dataset varchar,
        sha256 varchar not null,
        size_bytes bigint,
        status varchar not null,
        stage varchar,
        rows_read bigint,
        rows_loaded bigint,
        rows_quarantined bigint,
        extra_columns varchar[],
        error_code varchar,
        error varchar,
        duplicate_of varchar,
        landed_at timestamp,
        started_at timestamp,
        finished_at timestamp,
        updated_at timestamp
    )""",
    """create table if not exists meta.watermarks (
        stage varchar not null,
        seq bigint not null,
        updated_at timestamp
    )""",
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
    for _dataset in ("categories", "chats"):
        SCHEMA_DDL.append(_table_ddl(_schema, _dataset))


def secure_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make it owner-only (0700)."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


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
        except duckdb.IOException as exc:
            if not _is_lock_error(exc):
                raise
            if time.monotonic() >= deadline:
                raise WarehouseLocked(
                    f"{path} is locked by another process and stayed locked for {lock_timeout:.0f}s"
                ) from exc
            if not warned:
                log.warning("warehouse.locked", path=str(path), retry_for_s=lock_timeout, detail=str(exc).splitlines()[0])
                warned = True
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
    if warned:
        log.info("warehouse.lock_acquired", path=str(path))
    con.execute(f"set threads = {int(threads)}")
    con.execute(f"set memory_limit = '{memory_limit}'")
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
            con.execute(f"set temp_directory = '{secure_dir(settings.tmp_dir)}'")
            for stmt in SCHEMA_DDL:
                con.execute(stmt)
        yield con
    finally:
        con.close()


def wait_until_unlocked(settings: Settings) -> None:
    """Block (with back-off and a log line) until no other process holds the warehouse lock."""
    with connect(settings):
        pass
