"""Profile of one audited batch, and the drift of that profile against recent batches.

Runs inside the quality gate, after the Soda scan and before the batch is published or withheld
(its rows are still in ``audit``). Offline by design: Soda Core's anomaly and change-over-time
checks need Soda Cloud, so the comparison is done here.

- **Profile** (``meta.batch_profile`` through :mod:`pipeline.store.history`): DuckDB's
  ``SUMMARIZE`` over the batch's columns plus a few derived ones (resolution hours, message
  length, timestamps as epoch seconds so they get quantiles) gives null shares, distinct counts,
  min/max/quantiles; batch-wide metrics come from the ledger record and ``meta.quarantine``
  (rows, quarantine share by reason), the share of customer-initiated chats, the arrival lag
  (landed time vs newest ``created_at``) and the top categories' shares. Text columns keep only
  their null share and distinct count: a min/max of free text would copy a message.
- **Drift**: each scalar metric in :data:`DRIFT_METRICS` against the median and MAD of the same
  metric over the last ``drift_history`` published batches of the dataset (robust z-score,
  0.6745·(x − median)/MAD, Iglewicz and Hoaglin), once ``drift_min_batches`` of them exist; the
  chats' category distribution by population stability index against the pooled counts of those
  batches (their published rows in ``raw``).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

import duckdb

from pipeline.settings import Settings

#: Derived columns carry this suffix when they are a timestamp in epoch seconds (for its quantiles).
_EPOCH = "::epoch"
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL")
#: How many of the most frequent categories the profile keeps (the rest is ``share:(other)``).
TOP_CATEGORIES = 10
#: How many categories the distribution test keeps apart (by baseline frequency; the rest pooled).
PSI_BUCKETS = 20
#: Shares below this count as this in the PSI (an empty bucket would make it infinite).
PSI_FLOOR = 1e-4
#: Smallest MAD used: a metric that never varied would otherwise flag any change at all.
#: Shares (0–1): 2 percentage points; other metrics: 10 % of the baseline median (a median of
#: heavy-tailed resolution times moves by that much between clean batches of 1,000 chats).
MAD_FLOOR_SHARE = 0.02
MAD_FLOOR_RELATIVE = 0.10

_SELECT = {
    "chats": """
        select id, chat_category_id, created_at, epoch(created_at) as "created_at::epoch",
            is_customer_initiated, resolved_at, epoch(resolved_at) as "resolved_at::epoch",
            date_diff('millisecond', created_at, resolved_at) / 3600000.0 as resolution_hours,
            message, length(message) as message_length
        from audit.chats where _batch_id = {batch}""",
    "categories": """
        select id, parent_id, disabled from audit.categories where _batch_id = {batch}""",
}

#: The scalar metrics compared with the baseline, per dataset: ``(column, metric)``. Row counts and
#: quarantine shares are left out on purpose: the gate's own thresholds (row-count swing,
#: quarantine warn/fail) judge them, and each threshold lives in one place.
DRIFT_METRICS = {
    "chats": [
        ("chat_category_id", "null_share"),
        ("is_customer_initiated", "null_share"),
        ("resolved_at", "null_share"),
        ("message", "null_share"),
        ("_batch", "customer_initiated_share"),
        ("_batch", "arrival_lag_hours"),
        ("resolution_hours", "q50"),
        ("message_length", "q50"),
    ],
    "categories": [
        ("parent_id", "null_share"),
        ("disabled", "null_share"),
        ("_batch", "disabled_share"),
    ],
}


@dataclass(frozen=True)
class Comparison:
    """What a batch was compared with, and what was found."""

    findings: list[dict[str, Any]]
    baseline_batches: int

    def reason(self) -> str:
        """One line naming every finding with its value, baseline and threshold."""
        return "; ".join(finding_text(f) for f in self.findings)


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _metric(column: str, metric: str, value: Any = None, text: Any = None) -> dict[str, Any]:
    return {
        "column_name": column,
        "metric": metric,
        "value": None if value is None else float(value),
        "value_text": None if text is None else str(text),
    }


def _summarize(con: duckdb.DuckDBPyConnection, dataset: str, batch_id: str) -> list[dict[str, Any]]:
    """SUMMARIZE's numbers per column, as profile rows (text columns: null share and distinct count only)."""
    cur = con.execute("summarize " + _SELECT[dataset].format(batch=_lit(batch_id)))
    names = [d[0] for d in cur.description]
    out = []
    for row in (dict(zip(names, r)) for r in cur.fetchall()):
        column, kind = row["column_name"], row["column_type"]
        numeric = kind.startswith(_NUMERIC)
        if column.endswith(_EPOCH):  # a timestamp's min, max and quantiles, in epoch seconds and as text
            base = column.removesuffix(_EPOCH)
            for metric in ("min", "max", "q25", "q50", "q75"):
                if row[metric] is not None:
                    seconds = float(row[metric])
                    out.append(_metric(base, metric, seconds, _iso(con, seconds)))
            continue
        if row["null_percentage"] is not None:
            out.append(_metric(column, "null_share", float(row["null_percentage"]) / 100.0))
        out.append(_metric(column, "distinct", row["approx_unique"]))
        if numeric:
            for metric in ("min", "max", "avg", "q25", "q50", "q75"):
                if row[metric] is not None:
                    out.append(_metric(column, "mean" if metric == "avg" else metric, row[metric]))
    return out


def _iso(con: duckdb.DuckDBPyConnection, seconds: float) -> str:
    return con.execute("select strftime(make_timestamp((? * 1e6)::bigint), '%Y-%m-%d %H:%M:%S')", [seconds]).fetchone()[
        0
    ]


def _batch_metrics(
    con: duckdb.DuckDBPyConnection, record: dict[str, Any], dataset: str, batch_id: str
) -> list[dict[str, Any]]:
    """Rows and quarantine share by reason (ledger record, meta.quarantine), plus the dataset's own shares."""
    read = record.get("rows_read") or 0
    out = [
        _metric("_batch", "rows_read", read),
        _metric("_batch", "rows_loaded", record.get("rows_loaded") or 0),
        _metric("_batch", "rows_quarantined", record.get("rows_quarantined") or 0),
        _metric("_batch", "quarantine_share", (record.get("rows_quarantined") or 0) / read if read else 0.0),
    ]
    for reason, n in con.execute(
        "select reason_code, count(*) from meta.quarantine where batch_id = ? group by reason_code order by 1",
        [batch_id],
    ).fetchall():
        out.append(_metric("_batch", f"quarantine_share:{reason}", n / read if read else 0.0))
    if dataset == "chats":
        share, lag = con.execute(
            "select avg(is_customer_initiated::int), date_diff('second', max(created_at), ?::timestamp) / 3600.0 "
            "from audit.chats where _batch_id = ?",
            [record.get("landed_at"), batch_id],
        ).fetchone()
        out.append(_metric("_batch", "customer_initiated_share", share))
        out.append(_metric("_batch", "arrival_lag_hours", lag))
        out += _category_shares(con, batch_id)
    else:
        (share,) = con.execute(
            "select avg(disabled::int) from audit.categories where _batch_id = ?", [batch_id]
        ).fetchone()
        out.append(_metric("_batch", "disabled_share", share))
    return out


def _category_shares(con: duckdb.DuckDBPyConnection, batch_id: str) -> list[dict[str, Any]]:
    """The top categories' shares of the batch's chats, the rest as ``(other)``, no category as ``(none)``."""
    counts = _category_counts(con, "audit", [batch_id])
    total = sum(counts.values())
    if not total:
        return []
    named = sorted(((n, c) for c, n in counts.items() if c is not None), key=lambda x: (-x[0], x[1]))
    top = named[:TOP_CATEGORIES]
    rows = [_metric("chat_category_id", f"share:{c}", n / total) for n, c in top]
    rows.append(_metric("chat_category_id", "share:(other)", sum(n for n, _ in named[TOP_CATEGORIES:]) / total))
    rows.append(_metric("chat_category_id", "share:(none)", counts.get(None, 0) / total))
    return rows


def _category_counts(con: duckdb.DuckDBPyConnection, layer: str, batch_ids: list[str]) -> dict[str | None, int]:
    table = {"audit": "audit.chats", "raw": "raw.chats"}[layer]
    return {
        (str(c) if c is not None else None): n
        for c, n in con.execute(
            f"select chat_category_id, count(*) from {table} where list_contains(?, _batch_id) group by 1",
            [batch_ids],
        ).fetchall()
    }


def profile_batch(con: duckdb.DuckDBPyConnection, record: dict[str, Any]) -> list[dict[str, Any]]:
    """Every metric of the audited batch ``record`` (a ledger row), ready for ``store.history.record``."""
    dataset, batch_id = record["dataset"], record["batch_id"]
    return _summarize(con, dataset, batch_id) + _batch_metrics(con, record, dataset, batch_id)


def gate_outcome(outcome: str) -> dict[str, Any]:
    """The profile row of the gate's decision: ``passed``, ``warned`` (checks or drift) or ``withheld``."""
    return _metric("_batch", "gate_outcome", text=outcome)


# --- drift ---------------------------------------------------------------------------------------


def robust_z(value: float, baseline: list[float], *, share: bool) -> tuple[float, float, float]:
    """``(score, median, mad)``: 0.6745·(value − median)/MAD, the MAD floored (see :data:`MAD_FLOOR_SHARE`)."""
    median = statistics.median(baseline)
    mad = statistics.median(abs(x - median) for x in baseline)
    floor = MAD_FLOOR_SHARE if share else MAD_FLOOR_RELATIVE * abs(median)
    mad = max(mad, floor, 1e-12)
    return 0.6745 * (value - median) / mad, median, mad


def psi(current: dict[Any, int], baseline: dict[Any, int], buckets: int = PSI_BUCKETS) -> float:
    """Population stability index of ``current`` against ``baseline`` (counts per category).

    The ``buckets`` most frequent baseline categories are kept apart, the rest pooled as one,
    and no category (None) is a bucket of its own; shares below :data:`PSI_FLOOR` count as it.
    """
    named = sorted((c for c in baseline if c is not None), key=lambda c: (-baseline[c], c))
    kept = set(named[:buckets])

    def bucket(category: Any) -> Any:
        return category if category in kept or category is None else "(other)"

    def shares(counts: dict[Any, int]) -> dict[Any, float]:
        total = sum(counts.values()) or 1
        out: dict[Any, float] = {}
        for category, n in counts.items():
            out[bucket(category)] = out.get(bucket(category), 0.0) + n / total
        return out

    cur, base = shares(current), shares(baseline)
    total = 0.0
    for key in set(cur) | set(base):
        c, b = max(cur.get(key, 0.0), PSI_FLOOR), max(base.get(key, 0.0), PSI_FLOOR)
        total += (c - b) * math.log(c / b)
    return total


def compare(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    profile: list[dict[str, Any]],
    record: dict[str, Any],
    baseline_ids: list[str],
    baseline: dict[str, dict[tuple[str, str], float]],
) -> Comparison:
    """Findings of the batch against its baseline (nothing before ``drift_min_batches`` batches exist)."""
    if len(baseline_ids) < settings.drift_min_batches:
        return Comparison([], len(baseline_ids))
    current = {(m["column_name"], m["metric"]): m["value"] for m in profile if m["value"] is not None}
    action = settings.drift_action
    findings = []
    for key in DRIFT_METRICS[record["dataset"]]:
        history = [baseline[b][key] for b in baseline_ids if key in baseline.get(b, {})]
        if key not in current or len(history) < settings.drift_min_batches:
            continue
        score, median, mad = robust_z(current[key], history, share=key[1].endswith("share"))
        if abs(score) > settings.drift_z_threshold:
            findings.append(
                {
                    "column_name": key[0],
                    "metric": key[1],
                    "method": "robust_z",
                    "value": current[key],
                    "baseline": median,
                    "spread": mad,
                    "score": round(score, 3),
                    "threshold": settings.drift_z_threshold,
                    "baseline_batches": len(history),
                    "action": action,
                }
            )
    if record["dataset"] == "chats":
        now = _category_counts(con, "audit", [record["batch_id"]])
        before = _category_counts(con, "raw", baseline_ids)
        if sum(now.values()) and sum(before.values()):
            index = psi(now, before)
            if index > settings.drift_psi_threshold:
                findings.append(
                    {
                        "column_name": "chat_category_id",
                        "metric": "distribution",
                        "method": "psi",
                        "value": None,
                        "baseline": None,
                        "spread": None,
                        "score": round(index, 3),
                        "threshold": settings.drift_psi_threshold,
                        "baseline_batches": len(baseline_ids),
                        "action": action,
                    }
                )
    return Comparison(findings, len(baseline_ids))


def finding_text(f: dict[str, Any]) -> str:
    """``chat_category_id.distribution: PSI 1.9 > 0.25 (5 batches)`` / ``resolved_at.null_share: 0.61 vs median 0.1, z 17 > 3.5``."""
    where = f"{f['column_name']}.{f['metric']}"
    if f["method"] == "psi":
        return f"{where}: PSI {f['score']:g} > {f['threshold']:g} against {f['baseline_batches']} batches"
    return (
        f"{where}: {f['value']:.4g} against median {f['baseline']:.4g} (MAD {f['spread']:.3g}), "
        f"robust z {f['score']:g} beyond ±{f['threshold']:g} over {f['baseline_batches']} batches"
    )
