"""Quality gate: a Soda Core scan of one batch's rows in the audit schema (Write-Audit-Publish).

The checks live in ``soda/<dataset>.yml`` and the data source in ``soda/configuration.yml``;
this module only runs them against the real warehouse file, writes a JSON and a Markdown
report per batch and says pass/fail. Whether a failure stops the batch is the caller's call
(:func:`raise_for_result` turns it into :class:`~pipeline.errors.QualityGateFailed`).

Soda opens its own DuckDB connection to the warehouse file, with the same (empty) connect-time
configuration as the pipeline's connections, so it may share the process's DuckDB instance.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import structlog
import yaml

from pipeline.contract import DATASET_COLUMNS
from pipeline.errors import ConfigError, QualityGateFailed
from pipeline.settings import Settings
from pipeline.stages.quality_report import check_summary, condition_text, error_text, write_reports
from pipeline.store import db
from pipeline.store.files import atomic_write_text

log = structlog.get_logger()

#: Name of the data source in soda/configuration.yml and in the checks' `-d` option.
DATA_SOURCE = "warehouse"
#: Variables the checks files read. Soda resolves ${NAME} from environment variables FIRST,
#: so a same-named environment variable would silently replace the value passed here.
SCAN_VARIABLES = (
    "BATCH_ID",
    "NOW",
    "LAYER",
    "FRESHNESS_WARN_DAYS",
    "QUARANTINE_WARN_PCT",
    "QUARANTINE_FAIL_PCT",
    "ROW_COUNT_SWING_WARN_PCT",
    "ROW_COUNT_HISTORY",
)
#: Where a batch's rows are: ``audit`` while in flight, ``raw`` once published.
LAYERS = ("audit", "raw")


def threshold_variables(settings: Settings) -> dict[str, str]:
    """The gate's thresholds as scan variables: one place (settings / luigi.cfg), read by the checks files."""
    return {
        "FRESHNESS_WARN_DAYS": f"{settings.freshness_warn_days:g}",
        "QUARANTINE_WARN_PCT": f"{settings.quarantine_warn_pct:g}",
        "QUARANTINE_FAIL_PCT": f"{settings.quarantine_fail_pct:g}",
        "ROW_COUNT_SWING_WARN_PCT": f"{settings.row_count_swing_warn_pct:g}",
        "ROW_COUNT_HISTORY": str(settings.row_count_history),
    }


#: Batch ids are pasted into SQL by Soda's templating; allow only characters that cannot quote.
_BATCH_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


@dataclass(frozen=True)
class GateResult:
    passed: bool
    checks: list[dict]
    failed: list[str]
    warned: list[str]
    report_json: Path
    report_md: Path
    errors: list[str] = field(default_factory=list)
    batch_id: str = ""
    dataset: str = ""
    duration_s: float = 0.0


# --- Soda's anonymous usage statistics ---------------------------------------------------------


def soda_config_path() -> Path:
    """The user's global Soda config (the first place Soda Core v3 looks; never written by the pipeline).

    ``soda.common.config_helper.ConfigHelper.LOAD_PATHS`` tries ``~/.soda/config.yml``, then
    ``./.soda/config.yml``, then ``/tmp/.soda/config.yml``, and uses the first that exists; when
    none does it creates the home one with ``send_anonymous_usage_stats: true``. It is read once,
    when ``soda.scan`` is first imported.
    """
    return Path.home() / ".soda" / "config.yml"


#: The pipeline's own Soda config, with telemetry off and a fixed, anonymous cookie id (Soda
#: writes the file when a key is missing; with both present it never writes).
PIPELINE_SODA_CONFIG = {"send_anonymous_usage_stats": False, "user_cookie_id": "00000000-0000-0000-0000-000000000000"}


def pipeline_soda_config() -> Path:
    """The config the pipeline's scans read instead of the user's: a private file under the temp dir.

    Not under the warehouse (a scan of a missing warehouse must not create its folder) and not
    under HOME (the user's global Soda config is theirs).
    """
    folder = Path(tempfile.gettempdir()) / f"pipeline-soda-{os.getuid()}"
    path = folder / "config.yml"
    try:
        current = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, yaml.YAMLError):
        current = None
    if current != PIPELINE_SODA_CONFIG:
        folder.mkdir(mode=0o700, exist_ok=True)
        if folder.is_symlink() or folder.stat().st_uid != os.getuid():
            raise ConfigError(f"{folder} is not a folder of this user; remove it")
        atomic_write_text(path, yaml.safe_dump(PIPELINE_SODA_CONFIG, sort_keys=False))
    return path


def ensure_soda_telemetry_off(path: Path | None = None) -> Path:
    """Make Soda's config file say ``send_anonymous_usage_stats: false``, keeping its other keys."""
    path = path or soda_config_path()
    config: dict = {}
    if path.is_file():
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            loaded = None
        if isinstance(loaded, dict):
            config = loaded
            if config.get("send_anonymous_usage_stats") is False:
                return path
    config["send_anonymous_usage_stats"] = False
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, yaml.safe_dump(config, sort_keys=False))
    return path


def _import_scan(settings: Settings):
    """Import Soda with its telemetry off, without reading or writing the user's ``~/.soda``.

    Soda's config singleton (``ConfigHelper``) is created first with the pipeline's own file put
    in front of its load paths (its documented ``path`` argument), so that file is the one read,
    and the one written should Soda ever miss a key; ``soda.scan`` (whose import starts the
    telemetry) comes after. If Soda was imported earlier in this process with telemetry on, the
    switch is turned off on the live objects.
    """
    from soda.common.config_helper import ConfigHelper

    helper = ConfigHelper.get_instance(str(pipeline_soda_config()))
    if helper.send_anonymous_usage_stats:
        helper.config["send_anonymous_usage_stats"] = False  # the dict Soda reads the switch from
    from soda.scan import Scan
    from soda.telemetry.soda_telemetry import SodaTelemetry

    telemetry = SodaTelemetry.get_instance()
    if getattr(telemetry, "_SodaTelemetry__send", False):
        telemetry._SodaTelemetry__send = False
        log.info("quality_gate.soda_telemetry_turned_off", detail="soda was imported before the gate set its config")
    return Scan


def warm(settings: Settings) -> None:
    """Import Soda now (telemetry off), so that this process's first scan does not pay for it."""
    _import_scan(settings)


# --- the gate ----------------------------------------------------------------------------------


def configuration_yaml(settings: Settings) -> str:
    """soda/configuration.yml with the real warehouse path, read-only and DuckDB limits set."""
    config_file = settings.soda_dir / "configuration.yml"
    config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    key = f"data_source {DATA_SOURCE}"
    if not isinstance(config, dict) or not isinstance(config.get(key), dict):
        raise ValueError(f"{config_file} has no '{key}:' section")
    source = dict(config[key])
    source["path"] = str(settings.warehouse_db)
    # Same configuration as the pipeline's own connections: DuckDB refuses a read-only and a
    # read-write handle on one file within a process. The gate only reads.
    source["read_only"] = False
    # No connect-time `configuration`: DuckDB 1.1+ refuses a second connection to a file already
    # open in the process unless its connect-time config is identical ("different configuration
    # than existing connections"), and the pipeline's connections (store/db.py) and dbt-duckdb's
    # pass none and SET their limits afterwards. The threads and memory limits reach Soda's
    # connection through the instance it shares with the one `_scan` holds (:func:`_limits`).
    source.pop("configuration", None)
    return yaml.safe_dump({key: source}, sort_keys=False)


@contextlib.contextmanager
def _limits(settings: Settings) -> Iterator[None]:
    """Hold a pipeline connection (threads, memory limit set) while Soda's joins its instance.

    Without it, a scan in a process with no other connection would open the file with DuckDB's
    defaults (every core, 80 % of RAM). A missing warehouse is left for Soda to report.
    """
    if not settings.warehouse_db.exists():
        yield
        return
    con = db.open_database(
        settings.warehouse_db,
        threads=settings.duckdb_threads,
        memory_limit=settings.duckdb_memory_limit,
        lock_timeout=settings.lock_timeout_seconds,
    )
    try:
        yield
    finally:
        con.close()


def _scan(settings: Settings, dataset: str, scan_variables: dict[str, str]) -> tuple[dict, list[str]]:
    """Run the Soda scan of ``soda/<dataset>.yml``; returns Soda's results and the scan errors."""
    checks_file = settings.soda_dir / f"{dataset}.yml"
    try:
        config_str = configuration_yaml(settings)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        return {}, [f"cannot read Soda configuration: {exc}"]
    Scan = _import_scan(settings)
    scan = Scan()
    scan.set_data_source_name(DATA_SOURCE)
    scan.set_scan_definition_name(f"{dataset}_gate")
    scan.disable_telemetry()
    # Variables first: the checks file's `variables:` section and thresholds resolve at parse time.
    scan.add_variables(scan_variables)
    scan.add_configuration_yaml_str(config_str, file_path=str(settings.soda_dir / "configuration.yml"))
    scan.add_sodacl_yaml_file(str(checks_file))
    try:
        with _limits(settings):
            scan.execute()
    finally:
        _close_connections(scan)
    return scan.get_scan_results() or {}, [error_text(entry) for entry in scan.get_error_logs()]


def run_gate(
    settings: Settings,
    batch_id: str,
    dataset: str,
    *,
    now: datetime,
    variables: dict[str, str] | None = None,
    layer: str = "audit",
    report_suffix: str = "",
) -> GateResult:
    """Scan the audit rows of ``batch_id`` with ``soda/<dataset>.yml`` and write its reports.

    (Long: argument checks, the scan, the report and its log line; the report is one literal.)

    ``now`` is the batch's landing time (freshness is measured against it; naive = UTC).
    ``variables`` adds scan variables, e.g. ``{"FRESHNESS_WARN_DAYS": "30"}`` over the
    thresholds from the settings (BATCH_ID, NOW and LAYER always come from the arguments).
    ``layer``: ``audit`` (the gate) or ``raw`` (re-scanning a published batch, see :func:`rescan`);
    ``report_suffix`` names its report apart from the gate's.
    A scan that cannot run (bad YAML, missing file, no connection, SQL error) is a failure.
    """
    if dataset not in DATASET_COLUMNS:
        raise ConfigError(f"no quality checks for dataset {dataset!r}; expected one of {sorted(DATASET_COLUMNS)}")
    if not _BATCH_ID_RE.match(batch_id or ""):
        raise ConfigError(f"batch id {batch_id!r} is not a safe identifier (letters, digits, _ . : -)")
    if layer not in LAYERS:
        raise ConfigError(f"layer must be one of {', '.join(LAYERS)}, not {layer!r}")
    now_utc = now.replace(tzinfo=timezone.utc) if now.tzinfo is None else now.astimezone(timezone.utc)
    scan_variables = {
        **threshold_variables(settings),
        **(variables or {}),
        "BATCH_ID": batch_id,
        "NOW": now_utc.isoformat(),
        "LAYER": layer,
    }
    checks_file = settings.soda_dir / f"{dataset}.yml"
    # Soda prefers environment variables over scan variables: refuse to audit the wrong rows.
    errors = [
        f"environment variable {name} is set and would override the scan variable of that name"
        for name in sorted(scan_variables)
        if name in os.environ
    ]
    started = time.perf_counter()
    results: dict = {}
    if not errors:
        results, errors = _scan(settings, dataset, scan_variables)
    duration = round(time.perf_counter() - started, 3)
    checks = [check_summary(check) for check in results.get("checks", [])]
    if not checks and not errors:
        errors.append(f"no checks were evaluated from {checks_file}")
    failed = [c["name"] for c in checks if c["outcome"] == "fail"]
    warned = [c["name"] for c in checks if c["outcome"] == "warn"]
    passed = not failed and not errors
    report = {
        "batch_id": batch_id,
        "dataset": dataset,
        "layer": layer,
        "report_name": f"{batch_id}{report_suffix}",
        "passed": passed,
        "summary": {
            "passed": sum(c["outcome"] == "pass" for c in checks),
            "warned": len(warned),
            "failed": len(failed),
            "errors": len(errors),
        },
        "duration_s": duration,
        "variables": scan_variables,
        "checks_file": str(checks_file),
        "warehouse": str(settings.warehouse_db),
        "scan_started_at": results.get("scanStartTimestamp"),
        "scan_ended_at": results.get("scanEndTimestamp"),
        "checks": checks,
        "errors": errors,
    }
    report_json, report_md = write_reports(settings, report)
    (log.info if passed else log.warning)(
        "quality_gate.done",
        batch_id=batch_id,
        dataset=dataset,
        passed=passed,
        checks_passed=report["summary"]["passed"],
        checks_warned=len(warned),
        checks_failed=len(failed),
        errors=len(errors),
        failed_checks=failed,
        warned_checks=warned,
        duration_s=duration,
        report=str(report_md),
    )
    return GateResult(
        passed=passed,
        checks=checks,
        failed=failed,
        warned=warned,
        report_json=report_json,
        report_md=report_md,
        errors=errors,
        batch_id=batch_id,
        dataset=dataset,
        duration_s=duration,
    )


def rescan(settings: Settings, batch_id: str) -> GateResult:
    """Scan a known batch again where its rows are now: audit while in flight, raw once published.

    The report goes to ``reports/soda/<batch_id>.rescan.{json,md}``; the gate's own report stays.
    """
    from pipeline.store import db, ledger

    if not settings.warehouse_db.exists():
        raise ConfigError(f"no warehouse at {settings.warehouse_db}: nothing has been processed there yet")
    with db.connect(settings, read_only=True) as con:
        record = ledger.get(con, batch_id)
    if record is None or record["status"] == ledger.DUPLICATE:
        raise ConfigError(f"batch {batch_id} is not in the ledger (see `pipeline status`)")
    if record["dataset"] not in DATASET_COLUMNS:
        raise ConfigError(f"batch {batch_id} was never loaded ({record['status']}: {record['error']}); nothing to scan")
    if ledger.stage_reached(record, "published"):
        layer = "raw"
    elif ledger.stage_reached(record, "ingested"):
        layer = "audit"
    else:
        raise ConfigError(
            f"batch {batch_id} has no rows in the warehouse ({record['status']} at stage {record['stage']}): "
            "retry it with `pipeline retry` first"
        )
    return run_gate(
        settings, batch_id, record["dataset"], now=record["landed_at"], layer=layer, report_suffix=".rescan"
    )


def _close_connections(scan: Any) -> None:
    """Close Soda's DuckDB connection now.

    Soda Core 3.5's ``Scan._close`` only closes ``DataSourceManager.connections``, which nothing
    fills, so the read-only handle would stay open until garbage collection, and DuckDB then
    refuses the pipeline's next read-write connection to the file in this process.
    """
    for data_source in list(getattr(scan._data_source_manager, "data_sources", {}).values()):
        try:
            data_source.disconnect()
        except Exception as exc:  # closing is best effort; the scan result stands
            log.warning("quality_gate.close_failed", error=str(exc))


def quarantine_warning(result: GateResult) -> dict | None:
    """The quarantine-share check when it warned (its threshold is ``quarantine_warn_pct``), else None."""
    for check in result.checks:
        if (check["name"] or "").endswith("quarantined share of records (%)") and check["outcome"] == "warn":
            return check
    return None


def attach_drift(settings: Settings, result: GateResult, drift: dict) -> None:
    """Add the profile's drift comparison to the batch's gate report (JSON and Markdown).

    ``drift``: ``action``, ``baseline_batches``, ``findings`` (rows of ``meta.drift_findings``)
    and ``lines`` (one sentence each).
    """
    report = json.loads(result.report_json.read_text(encoding="utf-8"))
    report["drift"] = drift
    write_reports(settings, report)


def _fail_condition(check: dict) -> str:
    return condition_text(check["thresholds"]["fail"], check.get("unit", ""))


def raise_for_result(result: GateResult) -> GateResult:
    """Raise QualityGateFailed naming the failed checks (and scan errors) with their values."""
    if result.passed:
        return result
    by_name = {c["name"]: c for c in result.checks}
    parts = [
        f"{name} (measured {by_name[name]['value_text']}, fail {_fail_condition(by_name[name])})"
        if "fail" in by_name[name].get("thresholds", {})
        else f"{name} (measured {by_name[name]['value_text']})"
        for name in result.failed
    ]
    parts += [f"scan error: {error}" for error in result.errors]
    raise QualityGateFailed(
        f"{result.dataset} batch {result.batch_id} failed the quality gate: "
        + "; ".join(parts)
        + f". Report: {result.report_md}"
    )
