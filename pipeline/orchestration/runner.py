"""Drive the Luigi chain over waiting files: the one entry point of ``run``, ``watch`` and ``demo``.

Which tasks make up a run is :func:`pipeline.orchestration.tasks.pending_tasks` (every
unfinished batch, then one ``ProcessFile`` per waiting file); how they are batched is the
task graph's (see :mod:`pipeline.orchestration.tasks`): all files are ingested and audited
first, then one dbt build, one redaction and one export cover them all. One ``luigi.build``
call per run, whoever calls it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import luigi
import structlog

from pipeline.orchestration.tasks import ProcessFile, pending_tasks, resolve_batch
from pipeline.settings import Settings
from pipeline.store import db, landing, ledger

log = structlog.get_logger()


@dataclass
class BatchOutcome:
    file: str
    batch_id: str | None
    status: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return ledger.succeeded(self.status)


def build(tasks: list[luigi.Task], *, scheduler_url: str | None = None, own_signals: bool = True) -> bool:
    """One ``luigi.build`` with the pipeline's worker settings.

    ``own_signals=False`` when the caller (the watcher service) handles SIGTERM/SIGINT itself:
    Luigi's worker must then not install its own handler.
    """
    if not own_signals:
        luigi.configuration.get_config().set("worker", "no_install_shutdown_handler", "true")
    kwargs = {"scheduler_url": scheduler_url} if scheduler_url else {"local_scheduler": True}
    return luigi.build(tasks, workers=1, detailed_summary=False, log_level="WARNING", **kwargs)


def _outcome(con, path: Path, batch_id: str | None) -> BatchOutcome:
    """What the ledger says about the batch of one file after the run."""
    if batch_id is None:
        return BatchOutcome(path.name, None, ledger.FAILED, "the file could not be read (see the log)")
    record = ledger.get(con, batch_id)
    dup = ledger.latest_duplicate(con, batch_id, path.name)
    if dup and not path.exists() and ledger.is_done(record):
        return BatchOutcome(path.name, dup, ledger.DUPLICATE)
    if record is None:
        return BatchOutcome(path.name, batch_id, ledger.FAILED, "the batch never reached the ledger")
    return BatchOutcome(path.name, batch_id, record["status"], record["error"])


def run(
    settings: Settings, files: list[Path] | None = None, *, scheduler_url: str | None = None, own_signals: bool = True
) -> list[BatchOutcome]:
    """Process ``files`` (default: all waiting in landing/) and resume unfinished batches, in one
    Luigi run; returns one outcome per file."""
    files = [Path(f).resolve() for f in (landing.discover(settings) if files is None else files)]
    common = {"landing": str(settings.landing), "warehouse": str(settings.warehouse)}
    tasks = pending_tasks(settings, files, **common)
    if tasks:
        build(tasks, scheduler_url=scheduler_url, own_signals=own_signals)
    by_file = {Path(t.path): t.batch_id for t in tasks if isinstance(t, ProcessFile)}
    if not files:
        return []
    with db.connect(settings) as con:
        outcomes = [_outcome(con, path, by_file.get(path)) for path in files]
    for outcome in outcomes:
        log.info(
            "batch.finished", file=outcome.file, batch_id=outcome.batch_id, status=outcome.status, error=outcome.error
        )
    structlog.contextvars.clear_contextvars()
    return outcomes


__all__ = ["BatchOutcome", "build", "resolve_batch", "run"]
