"""Publish step of Write-Audit-Publish: move an audited batch from ``audit`` to ``raw``.

Runs only after the quality gate passed. One transaction, idempotent: re-running it
for a batch that is already published changes nothing.
"""
from __future__ import annotations

import contextlib

import duckdb
import structlog

from pipeline import db, ledger
from pipeline.settings import Settings

log = structlog.get_logger()


def publish(settings: Settings, batch_id: str) -> int:
    """Append the batch's audited rows to ``raw.<dataset>``; returns the number of rows published."""
    with db.connect(settings) as con:
        record = ledger.get(con, batch_id)
        if record is None:
            raise KeyError(f"batch {batch_id} is not in the ledger")
        if ledger.stage_reached(record, "published"):
            return con.execute(
                f"select count(*) from raw.{record['dataset']} where _batch_id = ?", [batch_id]
            ).fetchone()[0]
        dataset = record["dataset"]
        con.execute("begin transaction")
        try:
            con.execute(f"delete from raw.{dataset} where _batch_id = ?", [batch_id])
            con.execute(f"insert into raw.{dataset} select * from audit.{dataset} where _batch_id = ?", [batch_id])
            n = con.execute(f"select count(*) from raw.{dataset} where _batch_id = ?", [batch_id]).fetchone()[0]
            con.execute(f"delete from audit.{dataset} where _batch_id = ?", [batch_id])
            ledger.update(con, batch_id, stage="published")
            con.execute("commit")
        except BaseException:
            # A commit that failed (e.g. disk full) has already ended the transaction: a rollback
            # error then must not replace the error that says why.
            with contextlib.suppress(duckdb.TransactionException):
                con.execute("rollback")
            raise
    log.info("publish.done", rows_published=n)
    return n


def withhold(settings: Settings, batch_id: str, code: str, message: str) -> None:
    """A batch the gate failed: drop its unpublished rows and move its file to failed/.

    The ledger stage goes back to ``registered``, so dropping the same content again is a
    full retry; ``failed/<name>.error.json`` says why. Published data is untouched.
    """
    from pipeline.ingest import archive_name, reject_file

    with db.connect(settings) as con:
        record = ledger.get(con, batch_id)
        con.execute("begin transaction")
        con.execute(f"delete from audit.{record['dataset']} where _batch_id = ?", [batch_id])
        ledger.update(con, batch_id, stage="registered", status="failed", error_code=code,
                      error=message[:500], finished_at=ledger.now())
        con.execute("commit")
    archived = settings.archive_dir / archive_name(record)
    if archived.exists():
        reject_file(settings, archived.rename(archived.with_name(record["file"])), code, message, batch_id)
    log.warning("publish.withheld", error_code=code, error=message)
