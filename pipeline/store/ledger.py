"""The batch ledger: one row per landed file, and the only writer of a batch's lifecycle.

Batch identity is the file's content hash, so the same bytes landing twice (under any name)
are recognised. Every change of a batch's status or stage goes through one of the verbs
below; no other module writes ``meta.batches`` or spells a status string::

    register ─► start ─► advance(ingested) ─► advance(published) ─► advance(transformed)
        │          │            │                                    ─► advance(redacted)
        │          ├─► reject (the file as a whole is unusable)      ─► advance(exported) ─► done
        │          └─► fail   (any stage; a re-run resumes where it stopped)
        └─► duplicate (content already done)        withhold (the gate failed: back to registered)

Status values: ``queued``, ``running``, ``done``, ``failed``, ``rejected``, ``duplicate``.
``stage`` records how far a batch got: ``registered``, ``ingested``, ``published``,
``transformed``, ``redacted``, ``exported``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from pipeline.store.files import atomic_write_text

QUEUED, RUNNING, DONE, FAILED, REJECTED, DUPLICATE = "queued", "running", "done", "failed", "rejected", "duplicate"
STATUSES = (QUEUED, RUNNING, DONE, FAILED, REJECTED, DUPLICATE)
STAGES = ("registered", "ingested", "published", "transformed", "redacted", "exported")
#: Statuses after which the same content is a duplicate rather than a retry.
_SETTLED = (QUEUED, RUNNING, DONE)
#: Outcomes a caller reports as success.
SUCCEEDED = (DONE, DUPLICATE)

LEDGER_FIELDS = (
    "batch_id",
    "seq",
    "file",
    "dataset",
    "sha256",
    "size_bytes",
    "status",
    "stage",
    "rows_read",
    "rows_loaded",
    "rows_quarantined",
    "extra_columns",
    "error_code",
    "error",
    "duplicate_of",
    "landed_at",
    "started_at",
    "finished_at",
    "updated_at",
)
_COLUMNS = ", ".join(LEDGER_FIELDS)

DDL = [
    "create schema if not exists meta",
    "create sequence if not exists meta.batch_seq start 1",
    """create table if not exists meta.batches (
        batch_id varchar not null,  -- unique by construction (register); no PK: DuckDB 1.0 rejects
                                    -- in-transaction updates of list columns on indexed tables
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
]


def batch_id_for(sha256: str) -> str:
    """Batch ids are derived from content: the first 16 hex digits of the sha256."""
    return f"b{sha256[:16]}"


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True)
class Registration:
    batch_id: str
    is_duplicate: bool
    duplicate_of: str | None
    is_retry: bool


# --------------------------------------------------------------------------- verbs
def register(con: duckdb.DuckDBPyConnection, **kwargs: Any) -> Registration:
    """Record a landed file. Same content already queued/running/done ⇒ a ``duplicate`` row.

    Content that previously failed or was rejected is a retry: the existing row is re-queued
    and keeps its arrival ``seq``. (See :func:`_register`; this wrapper refreshes the snapshot.)
    """
    registration = _register(con, **kwargs)
    _snapshot(con)
    return registration


def _register(
    con: duckdb.DuckDBPyConnection,
    *,
    file: str,
    sha256: str,
    size_bytes: int,
    dataset: str | None,
    landed_at: dt.datetime | None = None,
) -> Registration:
    """Record a landed file. Same content already queued/running/done ⇒ a ``duplicate`` row.

    Content that previously failed or was rejected is a retry: the existing row is re-queued
    and keeps its arrival ``seq``.
    """
    base_id = batch_id_for(sha256)
    landed_at = landed_at or now()
    existing = con.execute("select batch_id, status from meta.batches where batch_id = ?", [base_id]).fetchone()
    if existing is None:
        con.execute(
            """insert into meta.batches (batch_id, seq, file, dataset, sha256, size_bytes, status, stage,
                   landed_at, updated_at)
               values (?, nextval('meta.batch_seq'), ?, ?, ?, ?, ?, 'registered', ?, ?)""",
            [base_id, file, dataset, sha256, size_bytes, QUEUED, landed_at, now()],
        )
        return Registration(base_id, False, None, False)
    if existing[1] in _SETTLED:
        if existing[1] != DONE:
            # Same content again while the first copy is still in flight: it is the same batch.
            return Registration(base_id, False, None, False)
        n = con.execute("select count(*) from meta.batches where duplicate_of = ?", [base_id]).fetchone()[0]
        dup_id = f"{base_id}-dup{n + 1}"
        con.execute(
            """insert into meta.batches (batch_id, seq, file, dataset, sha256, size_bytes, status, stage,
                   duplicate_of, landed_at, finished_at, updated_at)
               values (?, nextval('meta.batch_seq'), ?, ?, ?, ?, ?, null, ?, ?, ?, ?)""",
            [dup_id, file, dataset, sha256, size_bytes, DUPLICATE, base_id, landed_at, now(), now()],
        )
        return Registration(dup_id, True, base_id, False)
    # Failed or rejected before: retry under the same id *and seq*. Version order is arrival
    # order: a retried older export must not overtake a newer one of the same chats.
    con.execute(
        """update meta.batches set status = ?, stage = 'registered', file = ?, dataset = ?,
               error_code = null, error = null,
               rows_read = null, rows_loaded = null, rows_quarantined = null,
               landed_at = ?, started_at = null, finished_at = null, updated_at = ?
           where batch_id = ?""",
        [QUEUED, file, dataset, landed_at, now(), base_id],
    )
    return Registration(base_id, False, None, True)


def enqueue(
    con: duckdb.DuckDBPyConnection,
    *,
    file: str,
    sha256: str,
    size_bytes: int,
    dataset: str | None,
    landed_at: dt.datetime,
) -> None:
    """Record a waiting file's arrival (``queued``) before any stage runs, if its content is new.

    The runner enqueues every waiting file in arrival order first, so ``seq`` is arrival order
    even when a file's stages fail or wait and a newer file overtakes it.
    """
    if con.execute("select 1 from meta.batches where batch_id = ?", [batch_id_for(sha256)]).fetchone() is None:
        register(con, file=file, sha256=sha256, size_bytes=size_bytes, dataset=dataset, landed_at=landed_at)


def forget(con: duckdb.DuckDBPyConnection, batch_id: str) -> None:
    """Drop an enqueued arrival whose file changed before any stage ran (nothing of it exists)."""
    con.execute(
        "delete from meta.batches where batch_id = ? and status = ? and stage = 'registered'", [batch_id, QUEUED]
    )
    _snapshot(con)


def start(con: duckdb.DuckDBPyConnection, batch_id: str) -> None:
    """Ingest has begun work on the batch."""
    _set(con, batch_id, status=RUNNING, started_at=now())


def requeue(con: duckdb.DuckDBPyConnection, batch_id: str) -> None:
    """Nothing of the batch was committed (its file changed under it): waiting again."""
    _set(con, batch_id, status=QUEUED, stage="registered", started_at=None)


def reject(con: duckdb.DuckDBPyConnection, batch_id: str, code: str, message: str) -> None:
    """The file as a whole cannot be used (no header, unknown dataset, …); nothing was loaded."""
    _set(con, batch_id, status=REJECTED, error_code=code, error=message[:500], finished_at=now())


def fail(con: duckdb.DuckDBPyConnection, batch_id: str, code: str, message: str) -> None:
    """A stage failed; the batch keeps its stage, so a re-run resumes at the one that failed."""
    _set(con, batch_id, status=FAILED, error_code=code, error=message[:500], finished_at=now())


def withhold(con: duckdb.DuckDBPyConnection, batch_id: str, code: str, message: str) -> None:
    """The gate failed the batch: back to ``registered``, so the same content again is a full retry."""
    _set(con, batch_id, stage="registered", status=FAILED, error_code=code, error=message[:500], finished_at=now())


def advance(con: duckdb.DuckDBPyConnection, batch_id: str, stage: str, **counts: Any) -> None:
    """The batch got through ``stage`` (ingest also records its row counts and extra columns).

    Never moves a batch backwards: a stage re-run after a crash leaves a later stage standing.
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}")
    unknown = set(counts) - {"rows_read", "rows_loaded", "rows_quarantined", "extra_columns"}
    if unknown:
        raise ValueError(f"not counts of a stage: {sorted(unknown)}")
    if stage_reached(get(con, batch_id), stage) and not counts:
        return
    _set(con, batch_id, stage=stage, **counts)


def done(con: duckdb.DuckDBPyConnection, batch_id: str) -> None:
    """The whole chain finished; an error of an earlier attempt is history (it is in the log)."""
    _set(con, batch_id, status=DONE, error_code=None, error=None, finished_at=now())


def _set(con: duckdb.DuckDBPyConnection, batch_id: str, **fields: Any) -> None:
    fields["updated_at"] = now()
    assignments = ", ".join(f"{name} = ?" for name in fields)
    con.execute(f"update meta.batches set {assignments} where batch_id = ?", [*fields.values(), batch_id])
    _snapshot(con)


# --------------------------------------------------------------------------- snapshot for readers
#: Beside ``warehouse.duckdb``: the ledger as JSON, rewritten atomically after every change.
SNAPSHOT_NAME = "ledger.snapshot.json"


def snapshot_path(database: Path) -> Path:
    return Path(database).with_name(SNAPSHOT_NAME)


def _snapshot(con: duckdb.DuckDBPyConnection) -> None:
    """Write the ledger as JSON beside the database file, for readers while a writer works.

    DuckDB lets one process hold a read-write file and no other process even read it, so
    ``pipeline status`` would wait for the writer's whole stage. The snapshot is what it
    reads then. Written inside the writer's transaction it can run ahead of a commit that
    later rolls back; the next change (the ``fail`` that follows) rewrites it. Best effort:
    a snapshot that cannot be written (disk full) never fails the verb that changed the ledger.
    """
    with contextlib.suppress(Exception):
        row = con.execute("select path from duckdb_databases() where database_name = current_database()").fetchone()
        if not row or not row[0]:
            return  # an in-memory database: nothing to share
        payload = {"written_at": now().isoformat() + "Z", "batches": all_batches(con)}
        atomic_write_text(snapshot_path(Path(row[0])), json.dumps(payload, default=str, indent=1) + "\n")


def read_snapshot(database: Path) -> dict[str, Any] | None:
    """The last snapshot written beside ``database`` (``written_at``, ``batches``), or None."""
    try:
        payload = json.loads(snapshot_path(database).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return payload if isinstance(payload, dict) and isinstance(payload.get("batches"), list) else None


# --------------------------------------------------------------------------- questions
def stage_reached(record: dict[str, Any] | None, stage: str) -> bool:
    """True when the batch got at least as far as ``stage``."""
    if not record or record.get("stage") not in STAGES:
        return False
    return STAGES.index(record["stage"]) >= STAGES.index(stage)


def is_done(record: dict[str, Any] | None) -> bool:
    return bool(record) and record["status"] == DONE


def is_settled_failure(record: dict[str, Any] | None) -> bool:
    """A batch that ended without success in this attempt (rejected, or failed at some stage)."""
    return bool(record) and record["status"] in (FAILED, REJECTED)


def succeeded(status: str | None) -> bool:
    return status in SUCCEEDED


def _rows(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return [dict(zip(LEDGER_FIELDS, row)) for row in cur.fetchall()]


def get(con: duckdb.DuckDBPyConnection, batch_id: str) -> dict[str, Any] | None:
    rows = _rows(con.execute(f"select {_COLUMNS} from meta.batches where batch_id = ?", [batch_id]))
    return rows[0] if rows else None


def all_batches(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return _rows(con.execute(f"select {_COLUMNS} from meta.batches order by seq"))


def find_by_file(con: duckdb.DuckDBPyConnection, file: str) -> dict[str, Any] | None:
    """Latest non-duplicate batch recorded for a file name."""
    rows = _rows(
        con.execute(
            f"select {_COLUMNS} from meta.batches where file = ? and status <> ? order by seq desc limit 1",
            [file, DUPLICATE],
        )
    )
    return rows[0] if rows else None


def latest_duplicate(con: duckdb.DuckDBPyConnection, batch_id: str, file: str) -> str | None:
    """Id of the newest duplicate of ``batch_id`` recorded under the name ``file``."""
    row = con.execute(
        "select batch_id from meta.batches where duplicate_of = ? and file = ? order by seq desc limit 1",
        [batch_id, file],
    ).fetchone()
    return row[0] if row else None


def unfinished(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Batches ingested but not done (a crash or an error stopped them half-way), in arrival order.

    A batch that failed ingest or the quality gate is back at stage ``registered`` and is
    not listed: the same content dropped again is its retry.
    """
    return _rows(
        con.execute(
            f"select {_COLUMNS} from meta.batches where status in (?, ?, ?) and stage <> 'registered' order by seq",
            [QUEUED, RUNNING, FAILED],
        )
    )


#: Ledger stages of the batches whose rows are in the published raw layer (a SQL list).
PUBLISHED_STAGES = "('published', 'transformed', 'redacted', 'exported')"


def batch_ids_at(con: duckdb.DuckDBPyConnection, stage: str) -> list[str]:
    """Ids of the batches whose ledger stage is exactly ``stage`` (e.g. built by dbt, not yet redacted)."""
    return [
        r[0] for r in con.execute("select batch_id from meta.batches where stage = ? order by seq", [stage]).fetchall()
    ]


def recent_published(con: duckdb.DuckDBPyConnection, dataset: str, before_seq: int, limit: int) -> list[str]:
    """Ids of the last ``limit`` published batches of ``dataset`` that arrived before ``before_seq``, newest first.

    The baseline a batch's profile is compared with (the row-count swing check in soda/ picks its
    history the same way).
    """
    return [
        r[0]
        for r in con.execute(
            "select batch_id from meta.batches where dataset = ? and seq < ? and status <> ? "
            "and stage in ('published', 'transformed', 'redacted', 'exported') order by seq desc limit ?",
            [dataset, before_seq, DUPLICATE, limit],
        ).fetchall()
    ]
