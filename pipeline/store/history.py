"""Data-quality history: the profile of every audited batch and the drift found in it.

Two tables, both one row per batch × column × metric, rewritten as a whole for a batch that is
audited again (a retry):

- ``meta.batch_profile``: what the batch looked like (``value`` for numbers, ``value_text`` for
  timestamps and words such as the gate outcome); column ``_batch`` holds batch-wide metrics;
- ``meta.drift_findings``: each metric found off its baseline, with the baseline, the score and
  the threshold it crossed.

After every change the last batches of each dataset are written to
``warehouse/reports/quality_history.json`` (atomically): the export and ``pipeline quality``
read that file, so they never need the restricted warehouse while a writer holds it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb

from pipeline.errors import PipelineError
from pipeline.store.files import atomic_write_text

DDL = [
    """create table if not exists meta.batch_profile (
        batch_id varchar not null,
        dataset varchar not null,
        seq bigint,
        column_name varchar not null,
        metric varchar not null,
        value double,
        value_text varchar,
        profiled_at timestamp
    )""",
    """create table if not exists meta.drift_findings (
        batch_id varchar not null,
        dataset varchar not null,
        seq bigint,
        column_name varchar not null,
        metric varchar not null,
        method varchar not null,
        value double,
        baseline double,
        spread double,
        score double,
        threshold double,
        baseline_batches integer,
        action varchar,
        found_at timestamp
    )""",
]

HISTORY_NAME = "quality_history.json"
#: The column name of batch-wide metrics (row counts, quarantine shares, the gate outcome).
BATCH = "_batch"

PROFILE_FIELDS = ("column_name", "metric", "value", "value_text")
FINDING_FIELDS = (
    "column_name",
    "metric",
    "method",
    "value",
    "baseline",
    "spread",
    "score",
    "threshold",
    "baseline_batches",
    "action",
)


def record(
    con: duckdb.DuckDBPyConnection,
    *,
    batch_id: str,
    dataset: str,
    seq: int,
    profile: Iterable[dict[str, Any]],
    findings: Iterable[dict[str, Any]],
    at: Any,
) -> None:
    """Replace the batch's profile and findings (one transaction: a retry never leaves two versions)."""
    from pipeline.store.db import insert_rows, transaction  # db imports this module for its DDL

    with transaction(con):
        for table in ("meta.batch_profile", "meta.drift_findings"):
            con.execute(f"delete from {table} where batch_id = ?", [batch_id])
        rows = [[batch_id, dataset, seq, *(m.get(f) for f in PROFILE_FIELDS), at] for m in profile]
        insert_rows(con, "meta.batch_profile", rows)
        rows = [[batch_id, dataset, seq, *(f.get(k) for k in FINDING_FIELDS), at] for f in findings]
        insert_rows(con, "meta.drift_findings", rows)


def profiles(con: duckdb.DuckDBPyConnection, batch_ids: list[str]) -> dict[str, dict[tuple[str, str], float]]:
    """The numeric metrics of each batch: ``{batch_id: {(column, metric): value}}``."""
    if not batch_ids:
        return {}
    out: dict[str, dict[tuple[str, str], float]] = {b: {} for b in batch_ids}
    for batch_id, column, metric, value in con.execute(
        "select batch_id, column_name, metric, value from meta.batch_profile "
        "where list_contains(?, batch_id) and value is not null",
        [batch_ids],
    ).fetchall():
        out[batch_id][(column, metric)] = value
    return out


def history(con: duckdb.DuckDBPyConnection, last: int) -> list[dict[str, Any]]:
    """The last ``last`` profiled batches of each dataset, in arrival order, with their drift flags."""
    batches = con.execute(
        """
        with profiled as (
            select distinct batch_id, dataset, seq from meta.batch_profile
        ),
        ranked as (
            select *, row_number() over (partition by dataset order by seq desc) as recency from profiled
        )
        select batch_id, dataset, seq from ranked where recency <= ? order by dataset, seq
        """,
        [last],
    ).fetchall()
    ids = [b[0] for b in batches]
    metrics: dict[str, dict[str, Any]] = {b: {} for b in ids}
    for batch_id, metric, value, text in con.execute(
        "select batch_id, metric, value, value_text from meta.batch_profile "
        "where column_name = ? and list_contains(?, batch_id)",
        [BATCH, ids],
    ).fetchall():
        metrics[batch_id][metric] = text if text is not None else value
    flags: dict[str, list[str]] = {b: [] for b in ids}
    for batch_id, column, metric in con.execute(
        "select batch_id, column_name, metric from meta.drift_findings where list_contains(?, batch_id) "
        "order by column_name, metric",
        [ids],
    ).fetchall():
        flags[batch_id].append(f"{column}.{metric}")
    out = []
    for batch_id, dataset, seq in batches:
        m = metrics[batch_id]
        out.append(
            {
                "batch_id": batch_id,
                "dataset": dataset,
                "seq": seq,
                "rows_read": _int(m.get("rows_read")),
                "rows_loaded": _int(m.get("rows_loaded")),
                "quarantine_share": m.get("quarantine_share"),
                "quarantine_share_by_reason": {
                    k.removeprefix("quarantine_share:"): v
                    for k, v in sorted(m.items())
                    if k.startswith("quarantine_share:")
                },
                "gate": m.get("gate_outcome"),
                "drift": flags[batch_id],
            }
        )
    return out


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def history_path(reports_dir: Path) -> Path:
    return reports_dir / HISTORY_NAME


def write_history(con: duckdb.DuckDBPyConnection, reports_dir: Path, last: int) -> Path:
    """Rewrite ``reports/quality_history.json`` from the tables (what the export and ``pipeline quality`` read)."""
    path = history_path(reports_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps({"last": last, "batches": history(con, last)}, indent=1, default=str) + "\n")
    return path


def read_history(reports_dir: Path, *, strict: bool = False) -> dict[str, Any]:
    """The last history written (``{"last": N, "batches": [...]}``); empty when nothing was profiled yet.

    A file that exists but cannot be read or parsed is empty too for the export (the next gate
    rewrites it from the tables), and a :class:`PipelineError` with ``strict`` (``pipeline quality``:
    "no batches yet" would be a wrong answer).
    """
    empty: dict[str, Any] = {"last": 0, "batches": []}
    path = history_path(reports_dir)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return empty
    except (OSError, ValueError) as exc:
        if strict:
            detail = exc.strerror if isinstance(exc, OSError) else f"not valid JSON ({exc})"
            raise PipelineError(
                f"{path} cannot be read: {detail}; the next batch's quality gate writes it again from the warehouse"
            ) from None
        return empty
    if isinstance(payload, dict) and isinstance(payload.get("batches"), list):
        return payload
    if strict:
        raise PipelineError(f"{path} holds no batch list; the next batch's quality gate writes it again")
    return empty
