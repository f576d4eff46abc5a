"""Luigi tasks: one per stage, thin ``run()`` methods over the stage modules.

    ProcessFile(path)
      └─ ExportAnalysis(batch_id) ─ Redact ─ DbtBuild ─ QualityGate ─ Ingest(batch_id, path)

Every task writes one marker ``warehouse/state/<batch_id>/<stage>.json`` atomically
(through ``target.open('w')``) after its stage committed, so a re-run skips finished
stages and resumes at the one that failed. Tasks that open the warehouse hold the
resource ``warehouse: 1``: DuckDB allows one writing process per file.

Run by hand::

    luigi --module pipeline.tasks ProcessFile --path landing/de_test_chats.csv --local-scheduler
"""
from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import luigi
import structlog

from pipeline import db, ledger
from pipeline.errors import FileRejected, PipelineError, QualityGateFailed
from pipeline.settings import Settings, load_settings

log = structlog.get_logger()


def _settings(task: "_PathsMixin") -> Settings:
    return load_settings(landing=task.landing or None, warehouse=task.warehouse or None)


class _PathsMixin:
    landing = luigi.Parameter(default="", significant=False, description="landing folder (default: settings)")
    warehouse = luigi.Parameter(default="", significant=False, description="warehouse folder (default: settings)")


def _reason(exc: BaseException) -> str:
    """The first line of the error that explains a failure.

    A DuckDB commit that fails (disk full, I/O error) has already ended its transaction, so a
    ``rollback`` in the caller's clean-up raises "no transaction is active" and hides why the
    commit failed: report the error it was handling instead.
    """
    while "cannot rollback - no transaction is active" in str(exc) and exc.__context__ is not None:
        exc = exc.__context__
    return str(exc).splitlines()[0][:500] if str(exc) else type(exc).__name__


def _fail_batch(settings: Settings, batch_id: str, stage_name: str, exc: BaseException) -> None:
    """Record a stage failure in the ledger; never masks the original error."""
    if isinstance(exc, FileRejected):
        return  # ingest already recorded the batch as rejected, with its reason
    try:
        with db.connect(settings) as con:
            ledger.update(con, batch_id, status="failed", error_code=f"{stage_name}_failed",
                          error=_reason(exc), finished_at=ledger.now())
    except Exception:  # pragma: no cover - best effort
        log.exception("ledger.update_failed", batch_id=batch_id)


class BatchStage(_PathsMixin, luigi.Task):
    """A stage of one batch; subclasses implement ``do(settings) -> dict`` (the marker's content)."""

    batch_id = luigi.Parameter(description="batch id (b + first 16 hex digits of the file's sha256)")
    path = luigi.Parameter(significant=False, description="the landed (or archived) file of the batch")
    upstream: type[BatchStage] | None = None  # the stage this one follows
    stage_name = "stage"
    ledger_stage = "registered"  # the ledger stage this task's success guarantees
    resources = {"warehouse": 1}
    progress = 0

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(str(_settings(self).state_dir / self.batch_id / f"{self.stage_name}.json"))

    def requires(self):
        return self.clone(self.upstream) if self.upstream else []

    def complete(self) -> bool:
        """The marker alone is not enough: a retried batch (ledger stage reset) must run again."""
        if not self.output().exists():
            return False
        with db.connect(_settings(self)) as con:
            return self.reached(ledger.get(con, self.batch_id))

    def reached(self, record: dict[str, Any] | None) -> bool:
        """Whether the ledger shows the batch got through this stage."""
        return ledger.stage_reached(record, self.ledger_stage)

    def do(self, settings: Settings) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def run(self) -> None:
        settings = _settings(self)
        structlog.contextvars.bind_contextvars(batch_id=self.batch_id, stage=self.stage_name)
        log.info(f"{self.stage_name}.start")
        self.set_status_message(f"{self.stage_name}: running")
        started = time.perf_counter()
        try:
            summary = self.do(settings)
            summary = {"batch_id": self.batch_id, "stage": self.stage_name,
                       "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(),
                       "stage_seconds": round(time.perf_counter() - started, 3), **summary}
            # Inside the try: a marker that cannot be written (disk full) fails the batch with
            # that reason in the ledger instead of leaving it "running" without one.
            with self.output().open("w") as out:
                json.dump(summary, out, indent=2, default=str)
        except BaseException as exc:
            _fail_batch(settings, self.batch_id, self.stage_name, exc)
            self.set_status_message(f"{self.stage_name}: failed: {exc}")
            raise
        self.set_progress_percentage(self.progress)
        self.set_status_message(f"{self.stage_name}: done")


def coalesced(settings: Settings, batch_id: str, stage_name: str, work) -> dict[str, Any]:
    """Run a whole-warehouse stage unless a run since this batch was published already covered it."""
    with db.connect(settings) as con:
        seq = ledger.get(con, batch_id)["seq"]
        done_through = ledger.watermark(con, stage_name)
        through = ledger.covered_by_run(con, stage_name)
    if done_through >= seq:
        summary: dict[str, Any] = {"coalesced": True, "covered_by_run_through_seq": done_through}
        log.info(f"{stage_name}.coalesced", covered_through_seq=done_through)
    else:
        summary = work()
    with db.connect(settings) as con:
        if done_through < seq:
            ledger.set_watermark(con, stage_name, through)
        ledger.update(con, batch_id, stage=stage_name)
    return summary


class LandedFile(luigi.ExternalTask):
    """A file dropped into landing/ (or already archived after ingest)."""

    path = luigi.Parameter()

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(self.path)


class Ingest(BatchStage):
    """Validate the file, load good rows to ``audit``, quarantine bad ones, archive the file."""

    stage_name = "ingest"
    ledger_stage = "ingested"
    progress = 20

    def requires(self):
        # Once ingested, the file lives in archive/: a resumed chain must not wait for it in landing/.
        return LandedFile(self.path) if Path(self.path).exists() else []

    def do(self, settings: Settings) -> dict[str, Any]:
        from pipeline.ingest import ingest_file

        path = Path(self.path)
        with db.connect(settings) as con:
            record = ledger.get(con, self.batch_id)
        if ledger.stage_reached(record, "ingested") and not (path.exists() and path.parent == settings.landing):
            # Resumed after the load committed and the file was archived: nothing to load. (Handing
            # the archived copy to ingest_file would re-register a batch that failed in a later
            # stage as a retry, with a new arrival seq.)
            return {"status": "already_ingested", "rows_read": record["rows_read"],
                    "rows_loaded": record["rows_loaded"], "rows_quarantined": record["rows_quarantined"]}
        if not path.exists():
            raise PipelineError(f"{self.path} is gone and batch {self.batch_id} was never ingested")
        result = ingest_file(settings, path)
        if result.status == "rejected":
            raise FileRejected(result.error_code or "rejected", result.error or "file rejected")
        return {"status": result.status, "rows_read": result.rows_read, "rows_loaded": result.rows_loaded,
                "rows_quarantined": result.rows_quarantined, "reasons": result.reasons,
                "archived_to": str(result.archived_to) if result.archived_to else None}


class QualityGate(BatchStage):
    """Soda scan of the audited batch; publish to ``raw`` only when it passes."""

    upstream = Ingest
    stage_name = "quality_gate"
    ledger_stage = "published"
    progress = 40

    def do(self, settings: Settings) -> dict[str, Any]:
        from pipeline import publish, quality

        with db.connect(settings, read_only=False) as con:
            record = ledger.get(con, self.batch_id)
        if ledger.stage_reached(record, "published"):
            # Killed after the publish commit, before this marker: the audit rows are in raw now,
            # and a new scan would find an empty batch and withhold data already published.
            return {"passed": True, "already_published": True,
                    "rows_published": publish.publish(settings, self.batch_id)}
        result = quality.run_gate(settings, self.batch_id, record["dataset"], now=record["landed_at"])
        if not result.passed:
            try:
                quality.raise_for_result(result)
            except QualityGateFailed as exc:
                if not result.failed:
                    raise  # the scan itself broke (not the data): keep the batch, a re-run resumes here
                publish.withhold(settings, self.batch_id, "quality_gate_failed", str(exc))
                raise
        published = publish.publish(settings, self.batch_id)
        return {"passed": True, "warned": result.warned, "rows_published": published,
                "report": str(result.report_md)}


class DbtBuild(BatchStage):
    """``dbt build``: staging and marts over everything published, with tests."""

    upstream = QualityGate
    stage_name = "dbt_build"
    ledger_stage = "transformed"
    progress = 60

    def do(self, settings: Settings) -> dict[str, Any]:
        from pipeline import transform

        def work() -> dict[str, Any]:
            db.wait_until_unlocked(settings)  # dbt-duckdb itself fails at once on a locked file
            result = transform.build(settings)
            return {"models_ok": result.models_ok, "tests_passed": result.tests_passed,
                    "tests_warned": result.tests_warned, "duration_s": round(result.duration_s, 3)}

        return coalesced(settings, self.batch_id, "transformed", work)


class Redact(BatchStage):
    """Build the shareable, PII-free layer ``warehouse/share.duckdb``."""

    upstream = DbtBuild
    stage_name = "redact"
    ledger_stage = "redacted"
    progress = 80

    def do(self, settings: Settings) -> dict[str, Any]:
        from pipeline import redact

        return coalesced(settings, self.batch_id, "redacted", lambda: redact.build_share(settings))


class ExportAnalysis(BatchStage):
    """Analysis tables, JSON, Markdown report and heatmap under ``warehouse/exports/``."""

    upstream = Redact
    stage_name = "export"
    ledger_stage = "exported"
    progress = 100

    def do(self, settings: Settings) -> dict[str, Any]:
        from pipeline import export

        return coalesced(settings, self.batch_id, "exported", lambda: export.export_analysis(settings))

    def run(self) -> None:
        super().run()
        # ``done`` is recorded after the marker, and complete() needs both: a crash between the
        # two leaves the batch running, so it is resumed instead of done without its marker.
        # A batch resumed after an error is done now: the error is history (it is in the log).
        with db.connect(_settings(self)) as con:
            ledger.update(con, self.batch_id, status="done", error_code=None, error=None,
                          finished_at=ledger.now())

    def reached(self, record: dict[str, Any] | None) -> bool:
        return super().reached(record) and record["status"] == "done"


def resolve_batch(settings: Settings, path: Path) -> str:
    """Batch id of a landed file: from its content, or from the ledger once it has been moved."""
    from pipeline.ingest import scan_file

    if path.exists():
        return ledger.batch_id_for(scan_file(path).sha256)
    with db.connect(settings) as con:
        record = ledger.find_by_file(con, path.name)
    if record is None:
        raise PipelineError(f"{path} does not exist and no batch was recorded for {path.name}")
    return record["batch_id"]


class ProcessFile(_PathsMixin, luigi.Task):
    """The whole chain for one landed file.

    Complete when the batch's export exists and the file has left landing/. A copy of
    already-processed content dropped again makes it incomplete; ``run()`` then records
    it as a duplicate and archives it without reloading anything.
    """

    path = luigi.Parameter(description="the landed file, e.g. landing/de_test_chats.csv")
    batch_id = luigi.Parameter(default="", significant=False,
                               description="the file's batch id if the caller already hashed it")

    def _batch_id(self) -> str:
        if not self.batch_id:
            self.batch_id = resolve_batch(_settings(self), Path(self.path))
        return self.batch_id

    def requires(self):
        return ExportAnalysis(batch_id=self._batch_id(), path=str(Path(self.path).resolve()),
                              landing=self.landing, warehouse=self.warehouse)

    def complete(self) -> bool:
        return self.requires().complete() and not Path(self.path).exists()

    def run(self) -> None:
        from pipeline.ingest import ingest_file

        if not Path(self.path).exists():  # the chain just ran and archived it
            return
        result = ingest_file(_settings(self), Path(self.path))
        self.set_status_message(f"{Path(self.path).name}: {result.status}")
