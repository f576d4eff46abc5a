"""Warehouse connections and the physical schema of the restricted warehouse.

Every read-write connection goes through :func:`connect` so that (1) DuckDB's
threads and memory are set deliberately, (2) a file locked by another process is
waited for with back-off instead of crashing, and (3) the warehouse file and its
folder are owner-only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import structlog
import tenacity

from pipeline.contract import DATASET_COLUMNS, DATASETS, LINEAGE_COLUMNS
from pipeline.errors import WarehouseLocked, WarehouseUnusable
from pipeline.settings import Settings
from pipeline.store import history, landing, ledger
from pipeline.store.files import secure_dir

log = structlog.get_logger()

SCHEMA_DDL = [
    *ledger.DDL,
    *history.DDL,
    "create schema if not exists audit",
    "create schema if not exists raw",
    """create table if not exists meta.quarantine (
        batch_id varchar not null,
        dataset varchar not null,
        line_number bigint,
        reason_code varchar not null,
        reason varchar not null,
        raw_record varchar,
        quarantined_at timestamp,
        fields varchar
    )""",
    # Warehouses from before the parsed fields were kept beside the raw record.
    "alter table meta.quarantine add column if not exists fields varchar",
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


def _unusable(path: Path, exc: Exception) -> WarehouseUnusable:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "Permission denied" in detail or "Read-only file system" in detail:
        return WarehouseUnusable(
            f"{path} cannot be opened for writing ({detail}); check the warehouse folder's "
            "permissions and that its file system is writable"
        )
    return WarehouseUnusable(
        f"{path} cannot be opened as a DuckDB database ({detail}); restore it from a backup, or move it "
        "aside and rebuild it from landing/archive with `python -m pipeline replay --into DIR`"
    )


def _check_history(settings: Settings) -> None:
    """A missing warehouse is only new when nothing was ever processed here.

    Starting over silently would give sequence numbers 1, 2 … again next to an archive that
    already has them, and marts built from the new files alone.
    """
    if settings.warehouse_db.exists():
        return
    archived = landing.archived_files(settings)
    if archived:
        raise WarehouseUnusable(
            f"{settings.warehouse_db} is missing, but {settings.archive_dir} holds {len(archived)} archived "
            "batch(es): restore the warehouse, or rebuild it with `python -m pipeline replay --into DIR`"
        )


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


def _is_closing_elsewhere(exc: BaseException) -> bool:
    """DuckDB 1.4+: another connection of this process to the file is still being closed.

    While that instance shuts down a new one cannot attach the file yet ("Unique file handle
    conflict"); a moment later it can. DuckDB 1.0 let two instances open one file instead.
    """
    return isinstance(exc, duckdb.Error) and "Unique file handle conflict" in str(exc)


def retry_while_closing_elsewhere(timeout: float) -> tenacity.Retrying:
    """Call again, every 10 ms for up to ``timeout`` s, while only that close race is in the way.

    Any other error, and that one past the timeout, is raised as it came.
    """
    return tenacity.Retrying(
        retry=tenacity.retry_if_exception(_is_closing_elsewhere),
        stop=tenacity.stop_after_delay(timeout),
        wait=tenacity.wait_fixed(0.01),
        reraise=True,
    )


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
            con = retry_while_closing_elsewhere(lock_timeout)(duckdb.connect, str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if not _is_lock_error(exc):
                raise _unusable(path, exc) from exc
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
        except duckdb.Error as exc:  # a truncated or foreign file: not the caller's bug, say so
            if _is_closing_elsewhere(exc):
                raise
            raise _unusable(path, exc) from exc
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
    A read-write connection holds the inter-process :func:`writer_lock` while it is open, so
    it never makes another pipeline process's dbt or Soda connection fail on DuckDB's lock.
    """
    with contextlib.ExitStack() as stack:
        if not read_only:
            stack.enter_context(writer_lock(settings))
            _check_history(settings)
        yield stack.enter_context(_open(settings, read_only=read_only))


def _open_file(settings: Settings, path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """``open_database`` with the settings' DuckDB limits and lock wait."""
    return open_database(
        path,
        read_only=read_only,
        threads=settings.duckdb_threads,
        memory_limit=settings.duckdb_memory_limit,
        lock_timeout=settings.lock_timeout_seconds,
    )


@contextlib.contextmanager
def _open(settings: Settings, *, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
    con = _open_file(settings, settings.warehouse_db, read_only=read_only)
    try:
        if not read_only:
            con.execute(f"set temp_directory = {sql_literal(str(secure_dir(settings.tmp_dir)))}")
            _ensure_schema(con, settings.warehouse_db)
        yield con
    finally:
        con.close()


def _ensure_schema(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """``create … if not exists`` for the whole schema (a few ms; cheaper than asking the catalog)."""
    for stmt in SCHEMA_DDL:
        con.execute(stmt)


def wait_until_unlocked(settings: Settings) -> None:
    """Block (with back-off and a log line) until no other process holds the warehouse lock."""
    with connect(settings):
        pass


#: Rows per INSERT of :func:`insert_rows` (bounds a statement's length).
INSERT_CHUNK = 1000


def _literal(value: Any) -> str:
    """``value`` as a DuckDB literal; a type :func:`insert_rows` does not know is an error."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{sql_literal(repr(value))}::double"  # nan and inf too
    if isinstance(value, dt.datetime):
        return f"{sql_literal(value.isoformat(sep=' '))}::{'timestamptz' if value.tzinfo else 'timestamp'}"
    if isinstance(value, dt.date):
        return f"{sql_literal(value.isoformat())}::date"
    if isinstance(value, str):
        return sql_literal(value)
    raise TypeError(f"insert_rows cannot write a {type(value).__name__} value")


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[Sequence[Any]]) -> None:
    """Append ``rows`` to ``table``: one multi-row INSERT of literals per :data:`INSERT_CHUNK` rows.

    Why not parameters: binding them costs ~1 ms a row in DuckDB's Python client (``executemany``
    runs a statement per row; one statement with 720 parameters took 96 ms, its literals 4 ms): a
    batch's ~90 profile rows cost ~90 ms of every gate. A text with a NUL character (which SQL
    text cannot carry) sends its chunk through ``executemany``."""
    for start in range(0, len(rows), INSERT_CHUNK):
        chunk = rows[start : start + INSERT_CHUNK]
        if any(isinstance(v, str) and "\x00" in v for row in chunk for v in row):
            con.executemany(f"insert into {table} values ({', '.join('?' * len(chunk[0]))})", chunk)
            continue
        values = ", ".join("(" + ", ".join(_literal(v) for v in row) + ")" for row in chunk)
        con.execute(f"insert into {table} values {values}")


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
    con = _open_file(settings, settings.share_db, read_only=True)
    try:
        yield con
    finally:
        con.close()


_held = threading.local()


@contextlib.contextmanager
def writer_lock(settings: Settings) -> Iterator[None]:
    """Hold the warehouse's inter-process writer lock (``warehouse/.writer.lock``) for one stage.

    DuckDB lets one process write a file, and dbt's and Soda's connections fail at once on a
    locked file instead of waiting; so every stage runs under this lock (``flock``), and a
    second ``run``, ``watch`` or ``luigi`` process waits its turn with a log line. Re-entrant
    within a thread. Released by the kernel when the process dies (``kill -9`` included).
    """
    depth = getattr(_held, "depth", 0)
    if depth:
        _held.depth = depth + 1
        try:
            yield
        finally:
            _held.depth -= 1
        return
    secure_dir(settings.warehouse)
    fd = os.open(settings.warehouse / ".writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        _acquire(fd, settings)
        _held.depth = 1
        try:
            yield
        finally:
            _held.depth = 0
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(fd: int, settings: Settings) -> None:
    """``flock`` with back-off; a log line when another process holds it, an error past the wait."""
    deadline = time.monotonic() + settings.writer_wait_seconds
    delay, waited = 0.05, False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise WarehouseLocked(
                    f"another pipeline process kept writing to {settings.warehouse} for longer than "
                    f"{settings.writer_wait_seconds:.0f}s (writer_wait_seconds)"
                ) from None
            if not waited:
                log.info("warehouse.waiting_for_writer", detail="another pipeline process is running a stage")
                waited = True
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
    if waited:
        log.info("warehouse.writer_turn")
