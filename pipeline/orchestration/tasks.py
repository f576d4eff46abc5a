"""Luigi tasks: one per stage, thin ``run()`` methods over the stage modules.

    ProcessFile(path)                     complete once its batch is exported and the file left landing/
      ├─ QualityGate(batch_id, path)      per batch: Soda scan of the audit rows, then publish to raw
      │    └─ Ingest(batch_id, path)      per batch: validate, load to audit, quarantine, archive
      │         └─ LandedFile(path)
      └─ ExportAnalysis(batch_id)         reads share.duckdb → warehouse/exports/
           └─ Redact(batch_id)            reads the marts → share.duckdb
                └─ DbtBuild(batch_id)     reads raw (what the gates published) → staging, marts
                     └─ QualityGate(batch_id) of every batch in the run

Every edge carries data: the downstream task reads what the upstream wrote.

**The batching policy** (one, for ``pipeline run``, ``pipeline watch`` and ``luigi --module``):
the per-batch stages have a higher ``priority``, so the scheduler ingests and audits every
waiting file first; the warehouse-wide stages take ``batch_id`` with a ``batch_method``, so
Luigi's scheduler hands the pending ones to a worker as *one* task over all their batches
(Luigi's "batching multiple parameter values into a single run") — a burst of files costs one
dbt build, one redaction and one export.

Every task writes one marker ``warehouse/state/<batch_id>/<stage>.json`` atomically (through
``target.open('w')``) after its stage committed, and is complete only when the marker exists
and the ledger shows the stage reached, so a re-run skips finished stages and resumes at the
one that failed. Tasks that open the warehouse hold the resource ``warehouse: 1``.

Run by hand (after ``make demo``, whose files are archived; drop a file first)::

    luigi --module pipeline.orchestration.tasks ProcessLanding --local-scheduler
    luigi --module pipeline.orchestration.tasks ProcessFile --path landing/<file>.csv --local-scheduler
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import luigi
import structlog

from pipeline import logs
from pipeline.errors import BatchWithheld, FileChanged, FileRejected, PipelineError, QualityGateFailed
from pipeline.orchestration import alerts
from pipeline.privacy import names
from pipeline.privacy.patterns import redact_identifiers_python
from pipeline.settings import Settings, load_settings
from pipeline.stages import export, ingest, profile, publish, quality, redact, transform
from pipeline.store import db, history, landing, ledger
from pipeline.store.files import sha256_of

log = structlog.get_logger()

#: Per-batch stages run before any warehouse-wide stage (see the batching policy above).
AUDIT_PRIORITY = 100


def _configure_luigi_cli_logging() -> None:
    """``luigi --module pipeline.orchestration.tasks …``: our log stream, with Luigi's execution summary.

    luigi.cfg says ``no_configure_logging`` (structlog owns logging), so under Luigi's own command
    nothing would configure logging and its INFO summary ("Scheduled 5 tasks of which…") would be
    lost. ``pipeline`` commands configure logging themselves (and keep Luigi's chatter at WARNING).
    """
    if Path(sys.argv[0]).name.startswith("luigi") and not logs.is_configured():
        logs.configure("INFO", luigi_level="INFO")


_configure_luigi_cli_logging()


#: A capitalised word of a status line, looked up in the name lists.
_STATUS_WORD = re.compile(r"[A-Z][a-z'’]+(?:-[A-Za-z'’]+)*")


def status_text(text: str) -> str:
    """A status message for the visualizer: one line, personal data redacted, bounded.

    Status lines are our own words around file names, counts and error reasons, so they get the
    identifier patterns and a plain lookup of every capitalised word in the name lists, not the
    share layer's name passes: those take seconds to compile in Python's ``re`` (measured: 3.4 s
    of a 100-row ``pipeline run``), and the first status line of a run is set before any work.
    """
    line = redact_identifiers_python(" ".join(str(text).split()))
    known = _status_names()
    return _STATUS_WORD.sub(lambda m: "[NAME]" if m.group(0).lower() in known else m.group(0), line)[:300]


@functools.cache
def _status_names() -> frozenset[str]:
    """Given and family names that are not English words (so "Done", "Failed" stay)."""
    return frozenset(names.lower_surnames())


def join_batch_ids(values) -> str:
    """``batch_method`` of the warehouse-wide stages: one run over all pending batches."""
    return ",".join(sorted({part for value in values for part in str(value).split(",") if part}))


def failure_reason(exc: BaseException) -> str:
    """The first line of the error that explains a failure.

    A DuckDB commit that fails (disk full, I/O error) has already ended its transaction, so a
    ``rollback`` in the caller's clean-up raises "no transaction is active" and hides why the
    commit failed: report the error it was handling instead.
    """
    while "cannot rollback - no transaction is active" in str(exc) and exc.__context__ is not None:
        exc = exc.__context__
    return str(exc).splitlines()[0][:500] if str(exc) else type(exc).__name__


class _Task(luigi.Task):
    """Common parameters: where the landing folder and the warehouse are (not part of identity)."""

    landing = luigi.Parameter(default="", significant=False, description="landing folder (default: settings)")
    warehouse = luigi.Parameter(default="", significant=False, description="warehouse folder (default: settings)")

    @functools.cached_property
    def settings(self) -> Settings:
        """Built once per task from its parameters (CLI flags > environment > luigi.cfg)."""
        return load_settings(landing=self.landing or None, warehouse=self.warehouse or None)

    def _common(self) -> dict[str, str]:
        return {"landing": self.landing, "warehouse": self.warehouse}


#: Stages this process ran to success in the current Luigi build, by (warehouse, stage, batch ids):
#: Luigi asks ``complete()`` again after each ``run`` and for each task depending on it, and each
#: ask opened the warehouse (19 of a drop's 43 connections, ~34 ms each). Cleared at the start of
#: every build (:func:`forget_finished`), so a batch whose ledger a ``retry`` resets later runs again.
_FINISHED: set[tuple[str, str, str]] = set()


#: ``file``, ``dataset`` and ``seq`` of the batches this build looked up for its log lines (fixed
#: once a batch is registered): each stage's log context opened the warehouse for them (7 of a
#: drop's connections). Cleared with :data:`_FINISHED`.
_NAMED: dict[tuple[str, str], dict[str, Any]] = {}


def forget_finished() -> None:
    _FINISHED.clear()
    _NAMED.clear()


def _batch_names(settings: Settings, batch_ids: list[str]) -> list[dict[str, Any]]:
    """The ledger's ``file``/``dataset``/``seq`` of each registered batch of ``batch_ids`` (in order)."""
    db_key = str(settings.warehouse_db)
    missing = [b for b in batch_ids if (db_key, b) not in _NAMED]
    if missing:
        with db.connect(settings) as con:
            for batch_id in missing:
                record = ledger.get(con, batch_id)
                if record is not None:  # not cached while unregistered: a later stage asks again
                    _NAMED[(db_key, batch_id)] = {k: record[k] for k in ("file", "dataset", "seq")}
    return [_NAMED[(db_key, b)] for b in batch_ids if (db_key, b) in _NAMED]


class _Stage(_Task):
    """A stage over one or more batches; subclasses implement ``do() -> dict`` (the marker's content)."""

    stage_name = "stage"
    ledger_stage = "registered"  # the ledger stage this task's success guarantees
    resources = {"warehouse": 1}
    progress = 0

    @property
    def batch_ids(self) -> list[str]:
        return [b for b in self.batch_id.split(",") if b]

    def output(self) -> list[luigi.LocalTarget]:
        return [luigi.LocalTarget(str(self.settings.state_dir / b / f"{self.stage_name}.json")) for b in self.batch_ids]

    def _finished_key(self) -> tuple[str, str, str]:
        return (str(self.settings.warehouse_db), self.stage_name, self.batch_id)

    def complete(self) -> bool:
        """The marker alone is not enough: a retried batch (ledger stage reset) must run again."""
        if not all(target.exists() for target in self.output()):
            return False
        if self._finished_key() in _FINISHED:  # this build just ran it: marker written, ledger advanced
            return True
        with db.connect(self.settings) as con:
            return all(self.reached(ledger.get(con, b)) for b in self.batch_ids)

    def reached(self, record: dict[str, Any] | None) -> bool:
        """Whether the ledger shows the batch got through this stage."""
        return ledger.stage_reached(record, self.ledger_stage)

    def _log_context(self) -> dict[str, str]:
        """Extra fields for every log line of this stage (the per-batch stages bind their own)."""
        return {}

    def do(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def record_success(self) -> None:
        """Advance the ledger of every batch this run covered (per-batch stages do it in their commit)."""

    def run(self) -> None:
        """Run the stage under the inter-process writer lock, unless another process just did it.

        Completeness is checked again once the lock is held: two ``run``/``watch`` processes that
        scheduled the same batch run each stage once, the second finding it done.
        """
        # A fresh context per stage: a warehouse-wide stage names the files of all its batches,
        # not the file of the last ingest.
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(batch_id=self.batch_id, stage=self.stage_name, **self._log_context())
        with db.writer_lock(self.settings):
            if self.complete():
                log.info(f"{self.stage_name}.already_done", detail="another pipeline process finished it")
                return
            self._run_stage()
        _FINISHED.add(self._finished_key())

    #: Progress (percent of this task) once the stage's own work is done and its marker is next.
    WORK_DONE = 90

    def progress_update(self, percent: float, message: str) -> None:
        """Progress and status message in the visualizer while the stage works (redacted, one line)."""
        with contextlib.suppress(Exception):  # the visualizer is informative: never fail a stage over it
            self.set_progress_percentage(max(0, min(100, round(percent))))
            self.set_status_message(status_text(f"{self.stage_name}: {message}"))

    def _run_stage(self) -> None:
        log.info(f"{self.stage_name}.start", batches=len(self.batch_ids))
        self.progress_update(1, f"starting ({len(self.batch_ids)} batch(es): {self.batch_id[:200]})")
        started = time.perf_counter()
        try:
            summary = self.do()
            self.record_success()
            summary = {
                "batch_ids": self.batch_ids,
                "stage": self.stage_name,
                "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(),
                "stage_seconds": round(time.perf_counter() - started, 3),
                **summary,
            }
            # Inside the try: a marker that cannot be written (disk full) fails the batch with
            # that reason in the ledger instead of leaving it unfinished without one.
            for target in self.output():
                with target.open("w") as out:
                    json.dump(summary, out, indent=2, default=str)
        except BaseException as exc:
            self._record_failure(exc)
            with contextlib.suppress(Exception):
                self.set_status_message(status_text(f"{self.stage_name}: failed: {failure_reason(exc)}"))
            raise
        self.progress_update(100, f"done in {summary['stage_seconds']:g}s: {self.done_text(summary)}")

    def done_text(self, summary: dict[str, Any]) -> str:
        """The counts of a finished stage, for its last status message."""
        return f"{len(self.batch_ids)} batch(es)"

    def _record_failure(self, exc: BaseException) -> None:
        """Record a stage failure in the ledger; never masks the original error."""
        if isinstance(exc, (FileRejected, FileChanged, BatchWithheld)):
            return  # recorded already: rejected or withheld with its own code, or queued again
        try:
            with db.connect(self.settings) as con:
                for batch_id in self.batch_ids:
                    ledger.fail(con, batch_id, f"{self.stage_name}_failed", failure_reason(exc))
        except Exception:  # pragma: no cover - best effort
            log.exception("ledger.fail_failed", batch_id=self.batch_id)


class LandedFile(luigi.ExternalTask):
    """A file dropped into landing/."""

    path = luigi.Parameter()

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(self.path)


class Ingest(_Stage):
    """Validate the file, load good rows to ``audit``, quarantine bad ones, archive the file."""

    batch_id = luigi.Parameter(description="batch id (b + first 16 hex digits of the file's sha256)")
    path = luigi.Parameter(
        default="",
        significant=False,
        description="the landed file (default: where the ledger says the batch's file is)",
    )
    stage_name = "ingest"
    ledger_stage = "ingested"
    priority = AUDIT_PRIORITY
    progress = 20

    def _log_context(self) -> dict[str, str]:
        """``file`` and ``dataset`` of the batch, on every log line of its ingest and gate."""
        records = _batch_names(self.settings, [self.batch_id])
        return {"file": records[0]["file"], "dataset": records[0]["dataset"]} if records else {}

    def requires(self):
        # Once ingested, the file lives in archive/: a resumed chain must not wait for it in landing/.
        return LandedFile(self.path) if self.path and Path(self.path).exists() else []

    def _file(self) -> Path:
        if self.path:
            return Path(self.path)
        with db.connect(self.settings) as con:
            record = ledger.get(con, self.batch_id)
        if record is None:
            raise PipelineError(f"batch {self.batch_id} is not in the ledger and no file was given")
        return landing.batch_file(self.settings, record)

    def do(self) -> dict[str, Any]:
        path = self._file()
        if not path.exists():
            with db.connect(self.settings) as con:
                ingested = ledger.stage_reached(ledger.get(con, self.batch_id), self.ledger_stage)
            if ingested:  # its rows are loaded; finishing the stage (archive, quarantine file) needs the file
                raise PipelineError(
                    f"{path} is gone; batch {self.batch_id} was ingested from it: restore the file there"
                )
            raise PipelineError(f"{path} is gone and batch {self.batch_id} was never ingested")
        # The file must still be the one this batch id was derived from: one rewritten since it
        # was queued is taken again under its new content (FileChanged), never half-loaded.
        self.progress_update(5, f"reading and validating {landing.display_name(path.name)} ({_size(path)})")
        result = ingest.ingest_file(self.settings, path, expected_batch_id=self.batch_id)
        self.progress_update(
            self.WORK_DONE,
            f"{result.status}: {result.rows_read:,} rows read, {result.rows_loaded:,} validated and loaded, "
            f"{result.rows_quarantined:,} quarantined",
        )
        if result.status == "rejected":
            raise FileRejected(result.error_code or "rejected", result.error or "file rejected")
        return {
            "status": result.status,
            "rows_read": result.rows_read,
            "rows_loaded": result.rows_loaded,
            "rows_quarantined": result.rows_quarantined,
            "reasons": result.reasons,
            "archived_to": str(result.archived_to) if result.archived_to else None,
        }

    def done_text(self, summary: dict[str, Any]) -> str:
        return (
            f"{summary.get('rows_read', 0):,} rows read, {summary.get('rows_loaded', 0):,} loaded, "
            f"{summary.get('rows_quarantined', 0):,} quarantined"
        )


class QualityGate(Ingest):
    """Soda scan of the audited batch; publish to ``raw`` only when it passes."""

    stage_name = "quality_gate"
    ledger_stage = "published"
    progress = 40

    def requires(self):
        return self.clone(Ingest)

    def do(self) -> dict[str, Any]:
        with db.connect(self.settings) as con:
            record = ledger.get(con, self.batch_id)
        if ledger.stage_reached(record, "published"):
            # The one "already published" decision: killed after the publish commit, before this
            # marker. A new scan would find an empty audit batch and withhold published data.
            return {
                "passed": True,
                "already_published": True,
                "rows_published": publish.published_rows(self.settings, self.batch_id, record["dataset"]),
            }
        self.progress_update(
            10,
            f"Soda scan of {record['rows_loaded'] or 0:,} {record['dataset']} rows with soda/{record['dataset']}.yml",
        )
        result = quality.run_gate(self.settings, self.batch_id, record["dataset"], now=record["landed_at"])
        self.progress_update(
            70,
            f"{len(result.checks)} checks: {len(result.checks) - len(result.failed) - len(result.warned)} passed, "
            f"{len(result.warned)} warned, {len(result.failed)} failed" + ("" if result.passed else "; withholding"),
        )
        if not result.passed and not result.failed:
            # The scan itself broke (not the data): keep the batch, a re-run resumes here.
            quality.raise_for_result(result)
        comparison = self._profile(record, result)
        if not result.passed:
            try:
                quality.raise_for_result(result)
            except QualityGateFailed as exc:
                publish.withhold(self.settings, self.batch_id, "quality_gate_failed", str(exc))
                raise BatchWithheld("quality_gate_failed", str(exc)) from None
        if comparison.findings and self.settings.drift_action == "withhold":
            message = (
                f"{record['dataset']} batch {self.batch_id} drifted from its last {comparison.baseline_batches} "
                f"batches (drift_action = withhold): {comparison.reason()}. Report: {result.report_md}"
            )
            publish.withhold(self.settings, self.batch_id, "drift_found", message)
            raise BatchWithheld("drift_found", message)
        published = publish.publish(self.settings, self.batch_id, record["dataset"])
        self.progress_update(self.WORK_DONE, f"published {published:,} rows to raw.{record['dataset']}")
        self._alert_after_gate(record, result, comparison)
        return {
            "passed": True,
            "warned": result.warned,
            "drift": [f"{f['column_name']}.{f['metric']}" for f in comparison.findings],
            "rows_published": published,
            "report": str(result.report_md),
        }

    def _profile(self, record: dict[str, Any], result: quality.GateResult) -> profile.Comparison:
        """Profile the audited batch, compare it with its baseline (unless the gate failed it), keep both.

        The rows are still in ``audit`` here, whatever the gate decides next.
        """
        settings = self.settings
        with db.connect(settings) as con:
            rows = profile.profile_batch(con, record)
            comparison = profile.Comparison([], 0)
            if not result.failed:
                ids = ledger.recent_published(con, record["dataset"], record["seq"], settings.drift_history)
                comparison = profile.compare(con, settings, rows, record, ids, history.profiles(con, ids))
            if result.failed or (comparison.findings and settings.drift_action == "withhold"):
                outcome = "withheld"
            else:
                outcome = "warned" if result.warned or comparison.findings else "passed"
            rows.append(profile.gate_outcome(outcome))
            history.record(
                con,
                batch_id=self.batch_id,
                dataset=record["dataset"],
                seq=record["seq"],
                profile=rows,
                findings=comparison.findings,
                at=ledger.now(),
            )
            history.write_history(con, settings.reports_dir, settings.quality_history_batches)
        quality.attach_drift(
            settings,
            result,
            {
                "action": settings.drift_action,
                "baseline_batches": comparison.baseline_batches,
                "min_batches": settings.drift_min_batches,
                "compared": not result.failed,
                "findings": comparison.findings,
                "lines": [profile.finding_text(f) for f in comparison.findings],
            },
        )
        return comparison

    def _alert_after_gate(self, record: dict[str, Any], result: quality.GateResult, comparison) -> None:
        """A published batch whose quarantine share warned, or whose profile drifted: one alert each."""
        common = {"batch_id": self.batch_id, "dataset": record["dataset"], "file": record["file"]}
        check = quality.quarantine_warning(result)
        if check is not None:
            alerts.send(
                self.settings,
                alerts.Alert(
                    cause="quarantine_warn",
                    reason=f"{check['name']}: {check['value_text']} ({check['threshold_text']})",
                    subject=record["dataset"],
                    details={"value": check["value"], "report": str(result.report_md)},
                    **common,
                ),
            )
        if comparison.findings:
            metrics = sorted(f"{f['column_name']}.{f['metric']}" for f in comparison.findings)
            alerts.send(
                self.settings,
                alerts.Alert(
                    cause="drift_found",
                    reason=comparison.reason(),
                    subject=f"{record['dataset']}:{','.join(metrics)}",
                    details={"findings": comparison.findings, "report": str(result.report_md)},
                    **common,
                ),
            )

    def done_text(self, summary: dict[str, Any]) -> str:
        warned = summary.get("warned") or []
        return f"passed, {summary.get('rows_published', 0):,} rows published" + (
            f", {len(warned)} warning(s)" if warned else ""
        )


class _WarehouseStage(_Stage):
    """A stage over everything published so far: one run covers every batch handed to it."""

    batch_id = luigi.Parameter(
        batch_method=join_batch_ids, description="batch id, or comma-separated ids when Luigi batches them"
    )
    upstream: type[_WarehouseStage] | None = None

    def requires(self):
        if self.upstream is None:
            return [QualityGate(batch_id=b, **self._common()) for b in self.batch_ids]
        return self.clone(self.upstream)

    def record_success(self) -> None:
        with db.connect(self.settings) as con:
            for batch_id in self.batch_ids:
                ledger.advance(con, batch_id, self.ledger_stage)

    def _log_context(self) -> dict[str, str]:
        """``file``: the files of the run's batches in arrival order, comma-separated."""
        records = _batch_names(self.settings, self.batch_ids)
        return {"file": ",".join(r["file"] for r in sorted(records, key=lambda r: r["seq"]))}


class DbtBuild(_WarehouseStage):
    """``dbt build``: staging and marts over everything published, with tests."""

    stage_name = "dbt_build"
    ledger_stage = "transformed"
    progress = 60

    def do(self) -> dict[str, Any]:
        db.wait_until_unlocked(self.settings)  # dbt-duckdb itself fails at once on a locked file
        self.progress_update(2, "dbt build starting")
        result = transform.build(self.settings, on_event=self._dbt_event)
        return {
            "models_ok": result.models_ok,
            "tests_passed": result.tests_passed,
            "tests_warned": result.tests_warned,
            "duration_s": round(result.duration_s, 3),
        }

    def _dbt_event(self, event: Any) -> None:
        """dbtRunner callback: each finished node moves the bar ("12 of 31 nodes: model int_chats_localized ok")."""
        with contextlib.suppress(Exception):
            name = event.info.name
            if name not in ("LogModelResult", "LogTestResult", "LogSeedResult", "LogSnapshotResult"):
                return
            data = event.data
            # Nodes finish out of order (dbt runs several at once): count them, not their index.
            self._finished_nodes = getattr(self, "_finished_nodes", 0) + 1
            index, total = self._finished_nodes, int(getattr(data, "num_models", 0) or data.total)
            node = getattr(getattr(data, "node_info", None), "node_name", "") or getattr(data, "name", "")
            kind = "model" if name == "LogModelResult" else "test" if name == "LogTestResult" else "node"
            self.progress_update(
                2 + 88 * index / max(total, 1),
                f"{index} of {total} models and tests built: {kind} {node} {data.status}",
            )

    def done_text(self, summary: dict[str, Any]) -> str:
        return (
            f"{summary.get('models_ok', 0)} models built, {summary.get('tests_passed', 0)} tests passed, "
            f"{summary.get('tests_warned', 0)} warned"
        )


class Redact(_WarehouseStage):
    """Build the shareable, PII-free layer ``warehouse/share.duckdb`` from the marts and staging."""

    upstream = DbtBuild
    stage_name = "redact"
    ledger_stage = "redacted"
    progress = 80

    def do(self) -> dict[str, Any]:
        self.progress_update(5, "redacting the marts and staging into share.duckdb")
        return redact.build_share(self.settings)

    def done_text(self, summary: dict[str, Any]) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in summary.items() if isinstance(v, int) and not isinstance(v, bool))
        return f"share.duckdb rebuilt ({counts[:200]})" if counts else "share.duckdb rebuilt"


class ExportAnalysis(_WarehouseStage):
    """Analysis tables, JSON, Markdown report and heatmap under ``warehouse/exports/``, from the share layer."""

    upstream = Redact
    stage_name = "export"
    ledger_stage = "exported"
    progress = 100

    def do(self) -> dict[str, Any]:
        self.progress_update(5, "writing analysis.json, CSVs, report.md and the plots")
        return export.export_analysis(self.settings)

    def done_text(self, summary: dict[str, Any]) -> str:
        return f"exports for {summary.get('batches', 0)} batch(es) in {summary.get('export', '')}"

    def _run_stage(self) -> None:
        super()._run_stage()
        # ``done`` is recorded after the markers, and complete() needs both: a crash between the
        # two leaves the batch unfinished, so it is resumed instead of done without its marker.
        with db.connect(self.settings) as con:
            for batch_id in self.batch_ids:
                ledger.done(con, batch_id)

    def reached(self, record: dict[str, Any] | None) -> bool:
        return super().reached(record) and ledger.is_done(record)


def _size(path: Path) -> str:
    try:
        size = path.stat().st_size
    except OSError:
        return "size unknown"
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size:,} bytes"


def resolve_batch(settings: Settings, path: Path) -> str:
    """Batch id of a landed file: from its content, or from the ledger once it has been moved."""
    if path.exists():
        return ledger.batch_id_for(sha256_of(path))
    with db.connect(settings) as con:
        record = ledger.find_by_file(con, landing.display_name(path.name))
    if record is None:
        raise PipelineError(f"{path} does not exist and no batch was recorded for {path.name}")
    return record["batch_id"]


class ProcessFile(_Task):
    """The whole chain for one landed file.

    Complete when the batch's export exists and the file has left landing/. A copy of
    already-processed content dropped again makes it incomplete; ``run()`` then records
    it as a duplicate and archives it without reloading anything.
    """

    path = luigi.Parameter(description="the landed file, e.g. landing/chats_2026-11-25.csv")
    batch_id = luigi.Parameter(
        default="", significant=False, description="the file's batch id if the caller already hashed it"
    )

    @functools.cached_property
    def _batch_id(self) -> str:
        return self.batch_id or resolve_batch(self.settings, Path(self.path))

    def requires(self):
        # The gate comes first: it carries the file's path (the warehouse-wide stages reach the
        # same gate by batch id only, and Luigi keeps the first instance it is given).
        common = self._common()
        return [
            QualityGate(batch_id=self._batch_id, path=str(Path(self.path).resolve()), **common),
            ExportAnalysis(batch_id=self._batch_id, **common),
        ]

    def complete(self) -> bool:
        return self.requires()[1].complete() and not Path(self.path).exists()

    def run(self) -> None:
        with db.writer_lock(self.settings):
            if not Path(self.path).exists():  # the chain just ran and archived it
                return
            result = ingest.ingest_file(self.settings, Path(self.path))
        self.set_status_message(f"{Path(self.path).name}: {result.status}")


class ProcessLanding(luigi.WrapperTask):
    """Everything waiting: each file in landing/, and every batch a crash or an error left unfinished."""

    landing = luigi.Parameter(default="", description="landing folder (default: settings)")
    warehouse = luigi.Parameter(default="", description="warehouse folder (default: settings)")

    def requires(self):
        settings = load_settings(landing=self.landing or None, warehouse=self.warehouse or None)
        set_aside_unsupported(settings)
        return pending_tasks(settings, landing.discover(settings), landing=self.landing, warehouse=self.warehouse)


@_Task.event_handler(luigi.Event.FAILURE)
def alert_on_failure(task: _Task, exception: BaseException) -> None:
    """Luigi's failure event: one ``batch_failed`` or ``batch_withheld`` alert for the task's batches.

    A file that changed while it was taken is queued again, not a failure. Never raises (and
    Luigi guards its callbacks too): an alert that cannot go out never fails the batch.
    """
    if isinstance(exception, FileChanged):
        return
    stage, batch_ids = _failed_batches(task)
    if isinstance(exception, BatchWithheld):
        cause, code = "batch_withheld", exception.code
    else:
        cause = "batch_failed"
        code = exception.code if isinstance(exception, FileRejected) else f"{stage}_failed"
    alerts.task_failed(task.settings, stage, batch_ids, cause, f"{code}: {failure_reason(exception)}", code)


@_Task.event_handler(luigi.Event.PROCESS_FAILURE)
def alert_on_process_failure(task: _Task, error_msg: str) -> None:
    """Luigi's process-failure event (the task's worker process died): one ``batch_failed`` alert."""
    stage, batch_ids = _failed_batches(task)
    code = f"{stage}_failed"
    reason = f"{code}: {(str(error_msg).strip().splitlines() or ['the task process died'])[0][:500]}"
    alerts.task_failed(task.settings, stage, batch_ids, "batch_failed", reason, code)


def _failed_batches(task: _Task) -> tuple[str, list[str]]:
    if isinstance(task, _Stage):
        return task.stage_name, task.batch_ids
    return type(task).__name__, [b for b in [getattr(task, "_batch_id", "")] if b]


#: Data files the pipeline cannot read, sitting in landing/ as if they would be taken. Anything
#: else that is not a CSV (``manifest.json``, a README) is left alone, as the contract says.
UNSUPPORTED_SUFFIXES = (
    ".tsv", ".tab", ".psv", ".xlsx", ".xlsm", ".xls", ".ods", ".parquet", ".avro", ".orc",
    ".zip", ".7z", ".rar", ".bz2", ".xz", ".zst", ".gz",
)  # fmt: skip


def is_unsupported(path: Path) -> bool:
    """A visible regular file in landing/ that looks like data in a format the pipeline does not read."""
    name = path.name.lower()
    if name.startswith(".") or name.endswith(landing.IGNORED_SUFFIXES) or landing.is_candidate(path):
        return False
    return name.endswith(UNSUPPORTED_SUFFIXES) and path.is_file() and not path.is_symlink()


def set_aside_unsupported(settings: Settings, *, wait: float = 0.0) -> list[Path]:
    """Move unsupported data files out of landing/ into failed/ (``unsupported_file_type``), with a log line.

    Each is logged once, as it moves; a file still being written (changed within the settle
    time or open for writing) is waited for up to ``wait`` seconds, then left for the next scan.
    """
    if not settings.landing.is_dir():
        return []
    found = [p for p in settings.landing.iterdir() if is_unsupported(p)]
    if not found:
        return []
    ready, _busy = landing.wait_until_settled(found, settings.settle_seconds, timeout=wait)
    moved = []
    for path in ready:
        name = landing.display_name(path.name)
        message = (
            f"{name} is not a CSV file: the pipeline reads comma-separated *.csv or *.csv.gz exports only "
            "(save it as CSV and drop it into landing/ again)"
        )
        try:
            dest = landing.reject(settings, path, "unsupported_file_type", message, None)
        except FileNotFoundError:
            continue
        log.warning("landing.unsupported_file", file=name, error_code="unsupported_file_type", moved_to=str(dest))
        moved.append(dest)
    return moved


def resume_tasks(settings: Settings, **common: str) -> list[ExportAnalysis]:
    """The chain of every batch that was ingested but is not done (resumed at the stage that stopped)."""
    if not settings.warehouse_db.exists():
        return []
    with db.connect(settings) as con:
        return [ExportAnalysis(batch_id=r["batch_id"], **common) for r in ledger.unfinished(con)]


def pending_tasks(settings: Settings, files: list[Path], **common: str) -> list[luigi.Task]:
    """Unfinished batches first (they arrived earlier), then one ProcessFile per file.

    Every new file is enqueued in the ledger here, in the order given (arrival order), before
    any stage runs: its ``seq`` then says when it arrived, not when its stages succeeded.
    """
    tasks: list[luigi.Task] = resume_tasks(settings, **common)
    arrivals = []
    for path in files:
        try:
            sha, st = sha256_of(path), path.stat()
        except FileNotFoundError:  # taken meanwhile by another pipeline process: follow its batch
            with contextlib.suppress(PipelineError):
                tasks.append(ProcessFile(path=str(path), batch_id=resolve_batch(settings, path), **common))
            continue
        except OSError as exc:  # unreadable (permissions): leave it, say why, go on
            log.error("landing.unreadable", file=landing.display_name(path.name), error=str(exc))
            continue
        arrivals.append((path, sha, st))
        tasks.append(ProcessFile(path=str(path), batch_id=ledger.batch_id_for(sha), **common))
    if arrivals:
        with db.connect(settings) as con:
            for path, sha, st in arrivals:
                name = landing.display_name(path.name)
                ledger.enqueue(
                    con,
                    file=name,
                    sha256=sha,
                    size_bytes=st.st_size,
                    dataset=landing.classify(name, settings),
                    landed_at=dt.datetime.fromtimestamp(st.st_mtime, dt.timezone.utc).replace(tzinfo=None),
                )
    return tasks
