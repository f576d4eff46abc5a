"""Publish step of Write-Audit-Publish: move an audited batch from ``audit`` to ``raw``.

Runs only after the quality gate passed, in one transaction with the ledger's ``published``
stage, so a batch is in ``raw`` exactly when the ledger says so. Whether a batch still needs
publishing is decided once, by the orchestration (:class:`~pipeline.orchestration.tasks.QualityGate`).
"""

from __future__ import annotations

import structlog

from pipeline.settings import Settings
from pipeline.store import db, landing, ledger

log = structlog.get_logger()


def published_rows(settings: Settings, batch_id: str, dataset: str) -> int:
    """Rows of the batch in ``raw.<dataset>``."""
    with db.connect(settings) as con:
        return con.execute(f"select count(*) from raw.{dataset} where _batch_id = ?", [batch_id]).fetchone()[0]


def publish(settings: Settings, batch_id: str, dataset: str) -> int:
    """Append the batch's audited rows to ``raw.<dataset>``; returns the number of rows published."""
    with db.connect(settings) as con, db.transaction(con):
        con.execute(f"delete from raw.{dataset} where _batch_id = ?", [batch_id])
        con.execute(f"insert into raw.{dataset} select * from audit.{dataset} where _batch_id = ?", [batch_id])
        n = con.execute(f"select count(*) from raw.{dataset} where _batch_id = ?", [batch_id]).fetchone()[0]
        con.execute(f"delete from audit.{dataset} where _batch_id = ?", [batch_id])
        ledger.advance(con, batch_id, "published")
    log.info("publish.done", rows_published=n)
    return n


def withhold(settings: Settings, batch_id: str, code: str, message: str) -> None:
    """A batch the gate failed: drop its unpublished rows and move its file to failed/.

    The ledger stage goes back to ``registered``, so dropping the same content again is a
    full retry; ``failed/<name>.error.json`` says why. Published data is untouched.
    """
    with db.connect(settings) as con:
        record = ledger.get(con, batch_id)
        with db.transaction(con):
            con.execute(f"delete from audit.{record['dataset']} where _batch_id = ?", [batch_id])
            ledger.withhold(con, batch_id, code, message)
    landing.withdraw(settings, record, code, message)
    log.warning("publish.withheld", error_code=code, error=message)
