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

from pipeline.orchestration import tasks as tasks_module
from pipeline.orchestration.tasks import ProcessFile, pending_tasks, resolve_batch
from pipeline.privacy import patterns
from pipeline.settings import Settings
from pipeline.stages import export, quality, transform
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


def warm_up(settings: Settings) -> None:
    """Pay a long-running process's one-off costs before its first batch: dbt's import and parse
    of the project, Soda's and matplotlib's imports, the redaction's SQL and name tables (~7-9 s
    that the first batch waited for).
    A failure here is only logged: the batch that meets it reports it properly."""
    for name, warm in (
        ("dbt", lambda: transform.warm(settings)),
        ("soda", lambda: quality.warm(settings)),
        ("matplotlib", export.warm),
        ("redaction", patterns.warm),
    ):
        try:
            warm()
        except Exception as exc:  # noqa: BLE001 - never fatal: the stage reports it on its batch
            log.warning("runner.warm_up_failed", part=name, error=str(exc))


def build(tasks: list[luigi.Task], *, scheduler_url: str | None = None, own_signals: bool = True) -> bool:
    """One ``luigi.build`` with the pipeline's worker settings.

    ``own_signals=False`` when the caller (the watcher service) handles SIGTERM/SIGINT itself:
    Luigi's worker must then not install its own handler.
    """
    if not own_signals:
        luigi.configuration.get_config().set("worker", "no_install_shutdown_handler", "true")
    kwargs = {"scheduler_url": scheduler_url} if scheduler_url else {"local_scheduler": True}
    tasks_module.forget_finished()
    return luigi.build(tasks, workers=1, detailed_summary=False, log_level="WARNING", **kwargs)


def _outcome(con, path: Path, batch_id: str | None) -> BatchOutcome:
    """What the ledger says about the batch of one file after the run."""
    if batch_id is None:
        return BatchOutcome(
            landing.display_name(path.name), None, ledger.FAILED, "the file could not be read (see the log)"
        )
    record = ledger.get(con, batch_id)
    dup = ledger.latest_duplicate(con, batch_id, landing.display_name(path.name))
    if dup and not path.exists() and ledger.is_done(record):
        return BatchOutcome(landing.display_name(path.name), dup, ledger.DUPLICATE)
    if record is None:
        return BatchOutcome(
            landing.display_name(path.name), batch_id, ledger.FAILED, "the batch never reached the ledger"
        )
    return BatchOutcome(landing.display_name(path.name), batch_id, record["status"], record["error"])


#: A run waits up to this many settle times for files still being written.
SETTLE_WAIT_FACTOR = 10
#: Rounds a run makes for files that changed while they were being taken (copies in progress).
CHANGED_FILE_ROUNDS = 3


def run(
    settings: Settings,
    files: list[Path] | None = None,
    *,
    scheduler_url: str | None = None,
    own_signals: bool = True,
    settled: bool = False,
) -> list[BatchOutcome]:
    """Process ``files`` (default: all waiting in landing/) and resume unfinished batches, in one
    Luigi run; returns one outcome per file, then one per resumed batch.

    Files are taken only once complete (``settled``: the caller, the watcher, checked already):
    one still being written after :data:`SETTLE_WAIT_FACTOR` settle times is left for the next
    run. A file that changed after it was queued is taken again (up to :data:`CHANGED_FILE_ROUNDS`).
    """
    todo = [Path(f).resolve() for f in (landing.discover(settings) if files is None else files)]
    busy: list[Path] = []
    if not settled:
        todo, busy = landing.wait_until_settled(
            todo, settings.settle_seconds, timeout=SETTLE_WAIT_FACTOR * settings.settle_seconds
        )
    common = {"landing": str(settings.landing), "warehouse": str(settings.warehouse)}
    outcomes: dict[Path, BatchOutcome] = {}
    resumed: list[BatchOutcome] = []
    for round_ in range(CHANGED_FILE_ROUNDS):
        tasks = pending_tasks(settings, todo, **common)
        if not tasks:  # none of the files could be read: each still gets its outcome (set aside, not spun on)
            outcomes.update({path: _outcome(None, path, None) for path in todo})
            break
        build(tasks, scheduler_url=scheduler_url, own_signals=own_signals)
        by_file = {Path(t.path): t.batch_id for t in tasks if isinstance(t, ProcessFile)}
        with db.connect(settings) as con:
            if round_ == 0:
                resumed = [_resumed(con, t.batch_id) for t in tasks if not isinstance(t, ProcessFile)]
            for path in todo:
                outcomes[path] = _outcome(con, path, by_file.get(path))
        todo = [p for p in todo if outcomes[p].status == ledger.QUEUED and p.exists()]
        if not todo:
            break
        log.info("run.files_changed", files=[p.name for p in todo], detail="taken again")
    result = list(outcomes.values()) + [_busy(path, settings) for path in busy] + resumed
    for outcome in result:
        log.info(
            "batch.finished", file=outcome.file, batch_id=outcome.batch_id, status=outcome.status, error=outcome.error
        )
    structlog.contextvars.clear_contextvars()
    return result


def _busy(path: Path, settings: Settings) -> BatchOutcome:
    return BatchOutcome(
        landing.display_name(path.name),
        None,
        ledger.QUEUED,
        f"still being written (changed or open for writing within {SETTLE_WAIT_FACTOR * settings.settle_seconds:g}s); "
        "run again once it is complete",
    )


def _resumed(con, batch_id: str) -> BatchOutcome:
    record = ledger.get(con, batch_id)
    return BatchOutcome(record["file"], batch_id, record["status"], record["error"])


__all__ = ["BatchOutcome", "build", "resolve_batch", "run"]
