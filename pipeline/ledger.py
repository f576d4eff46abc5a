"""The batch ledger: one row per landed file, the source of truth for exactly-once processing.

Batch identity is the file's content hash, so the same bytes landing twice (under any
name) are recognised. Status values: ``queued``, ``running``, ``done``, ``failed``,
``rejected`` (the file as a whole was unusable), ``duplicate`` (content already seen).
``stage`` records how far a batch got: ``registered``, ``ingested``, ``published``,
``transformed``, ``redacted``, ``exported``.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import duckdb

STATUSES = ("queued", "running", "done", "failed", "rejected", "duplicate")
STAGES = ("registered", "ingested", "published", "transformed", "redacted", "exported")
#: Statuses after which the same content is a duplicate rather than a retry.
_SETTLED = ("queued", "running", "done")

LEDGER_FIELDS = (
    "batch_id", "seq", "file", "dataset", "sha256", "size_bytes", "status", "stage",
    "rows_read", "rows_loaded", "rows_quarantined", "extra_columns", "error_code", "error",
    "duplicate_of", "landed_at", "started_at", "finished_at", "updated_at",
)


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


def register(
    con: duckdb.DuckDBPyConnection,
    *,
    file: str,
    sha256: str,
    size_bytes: int,
    dataset: str | None,
    landed_at: dt.datetime | None = None,
) -> Registration:
    """Record a landed file. Same content already queued/running/done ⇒ a ``duplicate`` row.

    Content that previously failed or was rejected is a retry: the existing row is re-queued.
    """
    base_id = batch_id_for(sha256)
    landed_at = landed_at or now()
    existing = con.execute(
        "select batch_id, status from meta.batches where batch_id = ?", [base_id]
    ).fetchone()
    if existing is None:
        con.execute(
            """insert into meta.batches (batch_id, seq, file, dataset, sha256, size_bytes, status, stage,
                   landed_at, updated_at)
               values (?, nextval('meta.batch_seq'), ?, ?, ?, ?, 'queued', 'registered', ?, ?)""",
            [base_id, file, dataset, sha256, size_bytes, landed_at, now()],
        )
        return Registration(base_id, False, None, False)
    if existing[1] in _SETTLED:
        if existing[1] != "done":
            # Same content again while the first copy is still in flight: it is the same batch.
            return Registration(base_id, False, None, False)
        n = con.execute(
            "select count(*) from meta.batches where duplicate_of = ?", [base_id]
        ).fetchone()[0]
        dup_id = f"{base_id}-dup{n + 1}"
        con.execute(
            """insert into meta.batches (batch_id, seq, file, dataset, sha256, size_bytes, status, stage,
                   duplicate_of, landed_at, finished_at, updated_at)
               values (?, nextval('meta.batch_seq'), ?, ?, ?, ?, 'duplicate', null, ?, ?, ?, ?)""",
            [dup_id, file, dataset, sha256, size_bytes, base_id, landed_at, now(), now()],
        )
        return Registration(dup_id, True, base_id, False)
    # failed or rejected before: retry under the same id, keeping its arrival position fresh.
    con.execute(
        """update meta.batches set status = 'queued', stage = 'registered', file = ?, dataset = ?,
               seq = nextval('meta.batch_seq'), error_code = null, error = null,
               rows_read = null, rows_loaded = null, rows_quarantined = null,
               landed_at = ?, started_at = null, finished_at = null, updated_at = ?
           where batch_id = ?""",
        [file, dataset, landed_at, now(), base_id],
    )
    return Registration(base_id, False, None, True)


def update(con: duckdb.DuckDBPyConnection, batch_id: str, **fields: Any) -> None:
    """Set ledger fields of one batch (and ``updated_at``)."""
    unknown = set(fields) - set(LEDGER_FIELDS)
    if unknown:
        raise ValueError(f"unknown ledger fields: {sorted(unknown)}")
    fields["updated_at"] = now()
    assignments = ", ".join(f"{name} = ?" for name in fields)
    con.execute(f"update meta.batches set {assignments} where batch_id = ?", [*fields.values(), batch_id])


def get(con: duckdb.DuckDBPyConnection, batch_id: str) -> dict[str, Any] | None:
    cur = con.execute(f"select {', '.join(LEDGER_FIELDS)} from meta.batches where batch_id = ?", [batch_id])
    row = cur.fetchone()
    return dict(zip(LEDGER_FIELDS, row)) if row else None


def find_by_sha(con: duckdb.DuckDBPyConnection, sha256: str) -> dict[str, Any] | None:
    return get(con, batch_id_for(sha256))


def all_batches(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    cur = con.execute(f"select {', '.join(LEDGER_FIELDS)} from meta.batches order by seq")
    return [dict(zip(LEDGER_FIELDS, row)) for row in cur.fetchall()]


def stage_reached(record: dict[str, Any] | None, stage: str) -> bool:
    """True when the batch got at least as far as ``stage``."""
    if not record or record.get("stage") not in STAGES:
        return False
    return STAGES.index(record["stage"]) >= STAGES.index(stage)


def find_by_file(con: duckdb.DuckDBPyConnection, file: str) -> dict[str, Any] | None:
    """Latest non-duplicate batch recorded for a file name."""
    cur = con.execute(
        f"select {', '.join(LEDGER_FIELDS)} from meta.batches "
        "where file = ? and status <> 'duplicate' order by seq desc limit 1", [file])
    row = cur.fetchone()
    return dict(zip(LEDGER_FIELDS, row)) if row else None


# --------------------------------------------------------------------------- coalescing
# The transform, redact and export stages work on everything published so far, not on one
# batch. A watermark per stage records the highest batch ``seq`` its last successful run
# covered; a batch at or below it needs no run of its own (a burst costs one dbt build).
_UPSTREAM = {"transformed": None, "redacted": "transformed", "exported": "redacted"}


def watermark(con: duckdb.DuckDBPyConnection, stage: str) -> int:
    row = con.execute("select max(seq) from meta.watermarks where stage = ?", [stage]).fetchone()
    return row[0] or 0


def covered_by_run(con: duckdb.DuckDBPyConnection, stage: str) -> int:
    """The seq a run of ``stage`` starting now will cover."""
    upstream = _UPSTREAM[stage]
    if upstream is not None:
        return watermark(con, upstream)
    row = con.execute(
        "select max(seq) from meta.batches where stage in ('published', 'transformed', 'redacted', 'exported')"
    ).fetchone()
    return row[0] or 0


def set_watermark(con: duckdb.DuckDBPyConnection, stage: str, seq: int) -> None:
    con.execute("delete from meta.watermarks where stage = ?", [stage])
    con.execute("insert into meta.watermarks values (?, ?, ?)", [stage, seq, now()])
