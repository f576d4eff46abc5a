"""Quality gate: a Soda Core scan of one batch's rows in the audit schema (Write-Audit-Publish).

The checks live in ``soda/<dataset>.yml`` and the data source in ``soda/configuration.yml``;
this module only runs them against the real warehouse file, writes a JSON and a Markdown
report per batch and says pass/fail. Whether a failure stops the batch is the caller's call
(:func:`raise_for_result` turns it into :class:`~pipeline.errors.QualityGateFailed`).

Soda opens its own, read-only DuckDB connection to the warehouse file, so the caller must not
hold a read-write connection to it in this process while the gate runs.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import structlog
import yaml

from pipeline.db import DATASET_COLUMNS
from pipeline.errors import ConfigError, QualityGateFailed
from pipeline.settings import Settings

log = structlog.get_logger()

#: Name of the data source in soda/configuration.yml and in the checks' `-d` option.
DATA_SOURCE = "warehouse"
#: Variables the checks files read. Soda resolves ${NAME} from environment variables FIRST,
#: so a same-named environment variable would silently replace the value passed here.
SCAN_VARIABLES = ("BATCH_ID", "NOW", "FRESHNESS_WARN_DAYS")
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
    """The file Soda Core v3 reads telemetry settings from.

    ``soda.common.config_helper.ConfigHelper.LOAD_PATHS`` tries ``~/.soda/config.yml``, then
    ``./.soda/config.yml``, then ``/tmp/.soda/config.yml``, and uses the first that exists; when
    none does it creates the home one with ``send_anonymous_usage_stats: true``. It is read once,
    when ``soda.scan`` is first imported.
    """
    return Path.home() / ".soda" / "config.yml"


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
    _write_atomic(path, yaml.safe_dump(config, sort_keys=False))
    return path


def _import_scan():
    """Import Soda only after its telemetry switch is off (it reads the switch at import time)."""
    ensure_soda_telemetry_off()
    from soda.common.config_helper import ConfigHelper
    from soda.scan import Scan

    if ConfigHelper.get_instance().send_anonymous_usage_stats:
        log.warning("quality_gate.soda_telemetry_on",
                    detail="soda was imported before its config could be set; restart the process to turn it off",
                    soda_config=str(soda_config_path()))
    return Scan


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
    source["configuration"] = {
        **(source.get("configuration") or {}),
        "threads": settings.duckdb_threads,
        "memory_limit": settings.duckdb_memory_limit,
    }
    return yaml.safe_dump({key: source}, sort_keys=False)


def run_gate(
    settings: Settings,
    batch_id: str,
    dataset: str,
    *,
    now: datetime,
    variables: dict[str, str] | None = None,
) -> GateResult:
    """Scan the audit rows of ``batch_id`` with ``soda/<dataset>.yml`` and write its reports.

    ``now`` is the batch's landing time (freshness is measured against it; naive = UTC).
    ``variables`` adds scan variables, e.g. ``{"FRESHNESS_WARN_DAYS": "30"}`` (BATCH_ID and NOW
    always come from the arguments).
    A scan that cannot run (bad YAML, missing file, no connection, SQL error) is a failure.
    """
    if dataset not in DATASET_COLUMNS:
        raise ConfigError(f"no quality checks for dataset {dataset!r}; expected one of {sorted(DATASET_COLUMNS)}")
    if not _BATCH_ID_RE.match(batch_id or ""):
        raise ConfigError(f"batch id {batch_id!r} is not a safe identifier (letters, digits, _ . : -)")
    now_utc = now.replace(tzinfo=timezone.utc) if now.tzinfo is None else now.astimezone(timezone.utc)
    scan_variables = {**(variables or {}), "BATCH_ID": batch_id, "NOW": now_utc.isoformat()}
    log_ = log.bind(batch_id=batch_id, dataset=dataset)

    errors: list[str] = []
    # Soda prefers environment variables over scan variables: refuse to audit the wrong rows.
    for name in sorted(scan_variables):
        if name in os.environ:
            errors.append(f"environment variable {name} is set and would override the scan variable of that name")

    Scan = _import_scan()
    checks_file = settings.soda_dir / f"{dataset}.yml"
    started = time.perf_counter()
    results: dict = {}
    if not errors:
        try:
            config_str = configuration_yaml(settings)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            errors.append(f"cannot read Soda configuration: {exc}")
        else:
            scan = Scan()
            scan.set_data_source_name(DATA_SOURCE)
            scan.set_scan_definition_name(f"{dataset}_gate")
            scan.disable_telemetry()
            # Variables first: the checks file's `variables:` section and thresholds resolve at parse time.
            scan.add_variables(scan_variables)
            scan.add_configuration_yaml_str(config_str, file_path=str(settings.soda_dir / "configuration.yml"))
            scan.add_sodacl_yaml_file(str(checks_file))
            try:
                scan.execute()
            finally:
                _close_connections(scan)
            results = scan.get_scan_results() or {}
            errors += [_error_text(entry) for entry in scan.get_error_logs()]
    duration = round(time.perf_counter() - started, 3)

    checks = [_check_summary(check) for check in results.get("checks", [])]
    if not checks and not errors:
        errors.append(f"no checks were evaluated from {checks_file}")
    failed = [c["name"] for c in checks if c["outcome"] == "fail"]
    warned = [c["name"] for c in checks if c["outcome"] == "warn"]
    passed = not failed and not errors

    report = {
        "batch_id": batch_id,
        "dataset": dataset,
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
    out_dir = settings.reports_dir / "soda"
    out_dir.mkdir(parents=True, exist_ok=True)
    report_json = out_dir / f"{batch_id}.json"
    report_md = out_dir / f"{batch_id}.md"
    _write_atomic(report_json, json.dumps(report, indent=2, default=str) + "\n")
    _write_atomic(report_md, _markdown(report))

    (log_.info if passed else log_.warning)(
        "quality_gate.done",
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


def raise_for_result(result: GateResult) -> GateResult:
    """Raise QualityGateFailed naming the failed checks (and scan errors) with their values."""
    if result.passed:
        return result
    by_name = {c["name"]: c for c in result.checks}
    parts = [f"{name} (measured {by_name[name]['value_text']})" for name in result.failed]
    parts += [f"scan error: {error}" for error in result.errors]
    raise QualityGateFailed(
        f"{result.dataset} batch {result.batch_id} failed the quality gate: "
        + "; ".join(parts)
        + f". Report: {result.report_md}"
    )


# --- report helpers ----------------------------------------------------------------------------

#: Diagnostics kept in the report. Everything else Soda returns is dropped, in particular the
#: failed-rows "blocks" (sample references) and query texts: the report carries names, outcomes,
#: counts and thresholds only, never row values such as chat messages.
_KEPT_DIAGNOSTICS = (
    "value", "fail", "warn",
    "missing_column_names", "column_type_mismatches", "column_index_mismatches",
    "present_column_names", "column_additions", "column_deletions", "column_type_changes",
)


def _check_summary(check: dict) -> dict:
    diagnostics = check.get("diagnostics") or {}
    kept = {key: diagnostics[key] for key in _KEPT_DIAGNOSTICS if diagnostics.get(key) not in (None, [], {})}
    value = kept.pop("value", None)
    thresholds = {key: kept.pop(key) for key in ("fail", "warn") if key in kept}
    if value is None and "valueSeries" in diagnostics:  # schema check: count column problems
        problems = len(kept.get("missing_column_names", [])) + len(kept.get("column_type_mismatches", {}))
        value = problems
        value_text = "ok" if not problems else "; ".join(filter(None, [
            f"missing {', '.join(kept['missing_column_names'])}" if kept.get("missing_column_names") else "",
            "wrong type " + ", ".join(
                f"{col} ({info.get('actual_type')}, expected {info.get('expected_type')})"
                if isinstance(info, dict) else f"{col} ({info})"
                for col, info in kept.get("column_type_mismatches", {}).items()
            ) if kept.get("column_type_mismatches") else "",
        ]))
    else:
        value_text = "n/a" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
    return {
        "name": check.get("name"),
        "dataset": check.get("table"),
        "column": check.get("column"),
        "outcome": check.get("outcome"),
        "value": value,
        "value_text": value_text,
        "thresholds": thresholds,
        "diagnostics": kept,
    }


def _error_text(entry: Any) -> str:
    text = str(getattr(entry, "message", entry)).strip()
    exception = getattr(entry, "exception", None)
    detail = str(exception).strip().splitlines()[0] if exception is not None and str(exception).strip() else ""
    if exception is not None and detail not in text:
        text += f": {detail or type(exception).__name__}"
    location = getattr(entry, "location", None)
    if location is not None and getattr(location, "line", None) is not None:
        text += f" ({location.file_path}, line {location.line})"
    return text


def _md_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _markdown(report: dict) -> str:
    s = report["summary"]
    lines = [
        f"# Quality gate: {report['dataset']} batch `{report['batch_id']}`",
        "",
        f"**{'PASSED' if report['passed'] else 'FAILED'}**: {s['passed']} passed, {s['warned']} warned, "
        f"{s['failed']} failed, {s['errors']} scan errors in {report['duration_s']}s "
        f"(NOW = {report['variables'].get('NOW')}).",
        "",
        "| Check | Outcome | Measured value |",
        "| --- | --- | --- |",
    ]
    order = {"fail": 0, "warn": 1, "pass": 2}
    for check in sorted(report["checks"], key=lambda c: (order.get(c["outcome"], 3), c["name"] or "")):
        lines.append(f"| {_md_cell(check['name'])} | {_md_cell(check['outcome'])} | {_md_cell(check['value_text'])} |")
    if report["errors"]:
        lines += ["", "## Scan errors", ""] + [f"- {_md_cell(error)}" for error in report["errors"]]
    return "\n".join(lines) + "\n"


def _write_atomic(path: Path, text: str) -> None:
    """Write via a temp file in the same folder + os.replace, so a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
