"""The quality gate's report: what each Soda check measured, against which threshold, per batch.

Written as ``warehouse/reports/soda/<batch_id>.json`` and ``.md``. The report carries check
names, outcomes, measured values and thresholds only — never row values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.settings import Settings
from pipeline.store.files import atomic_write_text

#: Diagnostics kept in the report. Everything else Soda returns is dropped, in particular the
#: failed-rows "blocks" (sample references) and query texts: the report carries names, outcomes,
#: counts and thresholds only, never row values such as chat messages.
_KEPT_DIAGNOSTICS = (
    "value",
    "fail",
    "warn",
    "missing_column_names",
    "column_type_mismatches",
    "column_index_mismatches",
    "present_column_names",
    "column_additions",
    "column_deletions",
    "column_type_changes",
)


_OPS = {"greaterThan": ">", "greaterThanOrEqual": ">=", "lessThan": "<", "lessThanOrEqual": "<=", "equal": "="}


def unit_of(name: str | None) -> str:
    """The unit a check measures in, from its name (every check is named; see soda/*.yml)."""
    text = name or ""
    if "%" in text:
        return "%"
    if "schema" in text:
        return ""
    if "recent relative to NOW" in text:
        return "days"
    return "rows"


def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def _with_unit(value: Any, unit: str) -> str:
    return f"{_num(value)} {unit}" if unit else _num(value)


def condition_text(bounds: dict, unit: str) -> str:
    """Soda's threshold dict (when the check warns or fails) as text: ``> 5 %``, ``≠ 0 rows``, ``outside -1..1500 days``."""
    low, high = (
        bounds.get("lessThan", bounds.get("lessThanOrEqual")),
        bounds.get("greaterThan", bounds.get("greaterThanOrEqual")),
    )
    if low is not None and high is not None:
        if low == high:
            return f"≠ {_with_unit(low, unit)}"
        if low < high:
            return f"outside {_num(low)}..{_with_unit(high, unit)}"
    return " and ".join(f"{_OPS.get(op, op)} {_with_unit(v, unit)}" for op, v in bounds.items())


def threshold_text(name: str | None, thresholds: dict, unit: str) -> str:
    """When the check warns and when it fails, with the unit; Soda's defaults where the check states none."""
    if "schema" in (name or ""):
        return "fail on a missing column or a wrong type"
    if not thresholds:
        return f"fail > 0 {unit}".strip()  # failed rows checks: any failing row fails
    return ", ".join(
        f"{level} {condition_text(thresholds[level], unit)}" for level in ("warn", "fail") if level in thresholds
    )


def check_summary(check: dict) -> dict:
    diagnostics = check.get("diagnostics") or {}
    kept = {key: diagnostics[key] for key in _KEPT_DIAGNOSTICS if diagnostics.get(key) not in (None, [], {})}
    value = kept.pop("value", None)
    thresholds = {key: kept.pop(key) for key in ("fail", "warn") if key in kept}
    if value is None and "valueSeries" in diagnostics:  # schema check: count column problems
        problems = len(kept.get("missing_column_names", [])) + len(kept.get("column_type_mismatches", {}))
        value = problems
        value_text = (
            "ok"
            if not problems
            else "; ".join(
                filter(
                    None,
                    [
                        f"missing {', '.join(kept['missing_column_names'])}"
                        if kept.get("missing_column_names")
                        else "",
                        "wrong type "
                        + ", ".join(
                            f"{col} ({info.get('actual_type')}, expected {info.get('expected_type')})"
                            if isinstance(info, dict)
                            else f"{col} ({info})"
                            for col, info in kept.get("column_type_mismatches", {}).items()
                        )
                        if kept.get("column_type_mismatches")
                        else "",
                    ],
                )
            )
        )
    else:
        value_text = "n/a" if value is None else _with_unit(value, unit_of(check.get("name")))
    unit = unit_of(check.get("name"))
    return {
        "name": check.get("name"),
        "dataset": check.get("table"),
        "column": check.get("column"),
        "outcome": check.get("outcome"),
        "value": value,
        "value_text": value_text,
        "thresholds": thresholds,
        "unit": unit,
        "threshold_text": threshold_text(check.get("name"), thresholds, unit),
        "diagnostics": kept,
    }


def error_text(entry: Any) -> str:
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


def render_markdown(report: dict) -> str:
    s = report["summary"]
    lines = [
        f"# Quality gate: {report['dataset']} batch `{report['batch_id']}`",
        "",
        f"**{'PASSED' if report['passed'] else 'FAILED'}**: {s['passed']} passed, {s['warned']} warned, "
        f"{s['failed']} failed, {s['errors']} scan errors in {report['duration_s']}s "
        f"(NOW = {report['variables'].get('NOW')}).",
        "",
        "| Check | Outcome | Measured value | Threshold |",
        "| --- | --- | --- | --- |",
    ]
    order = {"fail": 0, "warn": 1, "pass": 2}
    for check in sorted(report["checks"], key=lambda c: (order.get(c["outcome"], 3), c["name"] or "")):
        lines.append(
            f"| {_md_cell(check['name'])} | {_md_cell(check['outcome'])} | {_md_cell(check['value_text'])} "
            f"| {_md_cell(check.get('threshold_text', ''))} |"
        )
    variables = report.get("variables") or {}
    settings_used = [f"`{k}` = {v}" for k, v in sorted(variables.items()) if k not in ("BATCH_ID", "NOW")]
    if settings_used:
        lines += ["", "Scan variables (thresholds from luigi.cfg `[pipeline]`): " + ", ".join(settings_used) + "."]
    drift = report.get("drift")
    if drift is not None:
        lines += ["", "## Drift against recent batches", ""]
        if not drift.get("compared", True):
            lines.append("Not compared: the batch failed its checks, so its profile is not a baseline candidate.")
        elif drift["baseline_batches"] < drift.get("min_batches", 0):
            lines.append(
                f"Not compared yet: {drift['baseline_batches']} earlier published batch(es), "
                f"{drift['min_batches']} needed (setting `drift_min_batches`)."
            )
        elif not drift["lines"]:
            lines.append(f"No drift against the last {drift['baseline_batches']} published batches.")
        else:
            lines.append(f"Against the last {drift['baseline_batches']} published batches (action: {drift['action']}):")
            lines += [""] + [f"- {_md_cell(line)}" for line in drift["lines"]]
    if report["errors"]:
        lines += ["", "## Scan errors", ""] + [f"- {_md_cell(error)}" for error in report["errors"]]
    return "\n".join(lines) + "\n"


def write_reports(settings: Settings, report: dict) -> tuple[Path, Path]:
    """Write the JSON and the Markdown report of one scan; returns their paths."""
    out_dir = settings.reports_dir / "soda"
    out_dir.mkdir(parents=True, exist_ok=True)
    name = report.get("report_name") or report["batch_id"]
    report_json = out_dir / f"{name}.json"
    report_md = out_dir / f"{name}.md"
    atomic_write_text(report_json, json.dumps(report, indent=2, default=str) + "\n")
    atomic_write_text(report_md, render_markdown(report))
    return report_json, report_md
