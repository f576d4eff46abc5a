"""Analysis export: ``analysis.json``, one CSV per table, ``report.md``, ``hourly_heatmap.png``,
``resolved_per_day.png`` and ``quality_history.png``.

The marts do the computing (dbt); this module reads them from the share layer
(``share.duckdb``, written by the redaction stage), selects the top-10 lists and writes files.
Rankings of rates and means use only category groups with at least ``min_group_chats`` chats
(the marts' ``meets_min_sample``) and say how many groups they left out. The data-quality
section comes from the pipeline's own records, which carry counts and check names only: the
ledger snapshot (``warehouse/ledger.snapshot.json``), the ingest markers (quarantine reasons)
and the Soda reports (gate outcome, warnings); the quality history (rows, quarantine share by
reason, gate outcome and drift flags of the last batches per dataset) from
``warehouse/reports/quality_history.json``, which the gate rewrites. A complete set is written into a fresh version folder and then published by
swapping the ``warehouse/exports`` symlink, so a reader never sees a half-written set.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import structlog

from pipeline.errors import PipelineError
from pipeline.logs import stage
from pipeline.settings import Settings
from pipeline.store import db, history
from pipeline.store.files import share_file, shared_dir

log = structlog.get_logger()

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
KEEP_VERSIONS = 3
TOP_N = 10


def _rows(con, sql: str, params: list | None = None) -> list[dict[str, Any]]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def collect(settings: Settings) -> dict[str, Any]:
    """Read the share layer's marts and shape the analysis document (keys fixed by the contract).

    (Long: one query per section of the document, read in one connection.)
    """
    with db.connect_share(settings) as con:
        days = _rows(
            con,
            """
            select resolved_date as date, chats, is_partial_day as partial_day
            from resolved_chats_per_day order by resolved_date""",
        )
        lowest = _rows(
            con,
            """
            select resolved_date as date, chats, is_partial_day as partial_day
            from resolved_chats_per_day order by chats asc, resolved_date asc limit 1""",
        )
        highest = _rows(
            con,
            """
            select resolved_date as date, chats, is_partial_day as partial_day
            from resolved_chats_per_day order by chats desc, resolved_date asc limit 1""",
        )
        median = con.execute("select median_customer_initiated_resolved_per_day from chat_summary").fetchone()
        top = _rows(
            con,
            f"""
            select category_group_id::varchar as category_id, chats
            from category_chat_volume order by chats desc, category_group_id::varchar asc limit {TOP_N}""",
        )
        rates = _rows(
            con,
            f"""
            select category_group_id::varchar as category_id, resolution_rate_pct, total_chats, resolved_chats
            from category_resolution_rates
            where meets_min_sample
            order by resolution_rate_pct asc, category_group_id::varchar asc limit {TOP_N}""",
        )
        fastest = _rows(
            con,
            f"""
            select category_group_id::varchar as category_id, avg_resolution_hours, resolved_chats
            from category_resolution_times
            where meets_min_sample
            order by avg_resolution_hours asc, category_group_id::varchar asc limit {TOP_N}""",
        )
        sample = {
            key: dict(
                zip(
                    ("groups_ranked", "groups_excluded", "chats_excluded"),
                    con.execute(
                        f"""select count(*) filter (where meets_min_sample), count(*) filter (where not meets_min_sample),
                                   coalesce(sum({size}) filter (where not meets_min_sample), 0)
                            from {table}"""
                    ).fetchone(),
                )
            )
            for key, table, size in (
                ("lowest_resolution_rate", "category_resolution_rates", "total_chats"),
                ("fastest_resolution", "category_resolution_times", "resolved_chats"),
            )
        }
        hourly = _rows(
            con,
            """
            select weekday_name as weekday, hour, chats
            from hourly_distribution order by weekday, hour""",
        )
        batches = _rows(con, "select batch_id, dataset, file, rows_loaded from batches order by seq")
    for day in (*days, *lowest, *highest):
        day["date"] = day["date"].isoformat()
    return {
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "timezone": settings.timezone,
        "category_rollup": settings.category_rollup,
        "batches": batches,
        "resolved_per_day": {"lowest": lowest[0] if lowest else None, "highest": highest[0] if highest else None},
        "median_customer_initiated_resolved_per_day": float(median[0]) if median and median[0] is not None else None,
        "top_categories_by_chats": top,
        "lowest_resolution_rate": [{**r, "resolution_rate_pct": float(r["resolution_rate_pct"])} for r in rates],
        "fastest_resolution": [{**r, "avg_resolution_hours": float(r["avg_resolution_hours"])} for r in fastest],
        "ranking_sample": {"min_group_chats": settings.min_group_chats, **sample},
        "hourly_distribution": hourly,
        "data_quality": data_quality(settings, exported={b["batch_id"] for b in batches}),
        "quality_history": history.read_history(settings.reports_dir),
        "_resolved_days": days,  # written as CSV, not part of analysis.json
    }


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def data_quality(settings: Settings, exported: set[str]) -> list[dict[str, Any]]:
    """Per batch (arrival order): rows read, loaded and quarantined by reason, the gate's outcome and warnings.

    ``error``: why a batch is not in the export. A batch in ``exported`` has none, whatever an
    earlier attempt said (a batch resumed after a failure is still ``failed`` in the ledger until
    this export is done).

    From the ledger snapshot, the batch's ingest marker and its Soda report: counts, codes and
    check names only (never row values). Duplicates are left out (nothing of them was loaded).
    """
    from pipeline.store import ledger  # the snapshot's reader; no database connection

    snapshot = ledger.read_snapshot(settings.warehouse_db) or {"batches": []}
    out = []
    for b in snapshot["batches"]:
        if b.get("status") == ledger.DUPLICATE:
            continue
        marker = _read_json(settings.state_dir / b["batch_id"] / "ingest.json") or {}
        report = _read_json(settings.reports_dir / "soda" / f"{b['batch_id']}.json")
        if report is None:
            gate = "not scanned"
        else:
            gate = "passed" if report.get("passed") else "failed (withheld)"
        checks = (report or {}).get("checks") or []
        out.append(
            {
                "batch_id": b["batch_id"],
                "file": b.get("file"),
                "dataset": b.get("dataset"),
                "rows_read": b.get("rows_read"),
                "rows_loaded": b.get("rows_loaded"),
                "rows_quarantined": b.get("rows_quarantined"),
                "quarantine_reasons": marker.get("reasons") or {},
                "gate": gate,
                "warnings": [c["name"] for c in checks if c.get("outcome") == "warn"],
                "failed_checks": [c["name"] for c in checks if c.get("outcome") == "fail"],
                "error": b.get("error_code")
                if b.get("status") in (ledger.FAILED, ledger.REJECTED) and b["batch_id"] not in exported
                else None,
            }
        )
    return out


def _write_csv(path: Path, rows: list[dict[str, Any]], fields: list[str]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def _md_table(rows: list[dict[str, Any]], fields: list[str]) -> str:
    if not rows:
        return "_no rows_\n"
    lines = ["| " + " | ".join(fields) + " |", "|" + "---|" * len(fields)]
    lines += ["| " + " | ".join(str(r[f]) for f in fields) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _excluded_note(doc: dict[str, Any], key: str, what: str) -> str:
    sample = (doc.get("ranking_sample") or {}).get(key)
    if not sample:
        return ""
    minimum = doc["ranking_sample"]["min_group_chats"]
    return (
        f"Ranked: {sample['groups_ranked']} category groups with at least {minimum} {what}; "
        f"{sample['groups_excluded']} smaller group(s) ({sample['chats_excluded']} {what}) are left out "
        "(setting `min_group_chats`).\n"
    )


def _quality_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for b in doc.get("data_quality") or []:
        reasons = ", ".join(f"{code} {n}" for code, n in sorted(b["quarantine_reasons"].items())) or "-"
        notes = [*(f"warn: {w}" for w in b["warnings"]), *(f"fail: {f}" for f in b["failed_checks"])]
        if b.get("error"):
            notes.append(f"error: {b['error']}")
        rows.append(
            {
                "batch": b["batch_id"],
                "file": b["file"],
                "dataset": b["dataset"] or "-",
                "read": _n(b["rows_read"]),
                "loaded": _n(b["rows_loaded"]),
                "quarantined": _n(b["rows_quarantined"]),
                "by reason": reasons,
                "gate": b["gate"],
                "warnings": "; ".join(notes) or "-",
            }
        )
    return rows


def _n(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "-"


QUALITY_FIELDS = ["batch", "file", "dataset", "read", "loaded", "quarantined", "by reason", "gate", "warnings"]
RATE_FIELDS = ["category_id", "resolution_rate_pct", "resolved_chats", "total_chats"]
SPEED_FIELDS = ["category_id", "avg_resolution_hours", "resolved_chats"]


def render_markdown(doc: dict[str, Any]) -> str:
    rpd = doc["resolved_per_day"]
    day_rows = [{"": k, **v} for k, v in rpd.items() if v]
    parts = [
        "# Chat volume analysis\n",
        f"Generated {doc['generated_at']} · local time {doc['timezone']} · categories rolled up to "
        f"`{doc['category_rollup']}` · {len(doc['batches'])} batch(es).\n",
        "## Resolved chats per day (local resolution date)\n",
        _md_table(day_rows, ["", "date", "chats", "partial_day"]),
        "A partial day is the first or last day the data covers.\n",
        "## Median customer-initiated chats resolved per day\n",
        f"**{doc['median_customer_initiated_resolved_per_day']}**\n",
        "## Ten most populous categories (customer-initiated, category not disabled)\n",
        _md_table(doc["top_categories_by_chats"], ["category_id", "chats"]),
        "## Ten lowest resolution rates (%)\n",
        _md_table(doc["lowest_resolution_rate"], RATE_FIELDS),
        _excluded_note(doc, "lowest_resolution_rate", "chats"),
        "## Ten fastest mean resolution times (hours)\n",
        _md_table(doc["fastest_resolution"], SPEED_FIELDS),
        _excluded_note(doc, "fastest_resolution", "resolved chats"),
        "## Resolved chats per local day\n",
        "![resolved chats per day](resolved_per_day.png)\n",
        "## Chats by local weekday and hour\n",
        "![weekday × hour heatmap](hourly_heatmap.png)\n",
        _hourly_grid_md(doc["hourly_distribution"]),
        "## Data quality\n",
        "Per batch, in arrival order: records read, loaded and quarantined (by reason code; the rows are in "
        "`landing/quarantine/<dataset>/<batch_id>.csv`), the quality gate's outcome and its warnings "
        "(`warehouse/reports/soda/<batch_id>.md`).\n",
        _md_table(_quality_rows(doc), QUALITY_FIELDS),
        "## Quality over time\n",
        "Per dataset, the last batches the gate profiled: records read, quarantine share by reason, the gate's "
        "outcome (`warned` covers warning checks and drift) and the metrics found drifting from the recent "
        "batches (`meta.batch_profile`, `meta.drift_findings`; `pipeline quality` prints the same).\n",
        "![quality over time](quality_history.png)\n",
        _md_table(history_rows(doc.get("quality_history") or {}), HISTORY_FIELDS),
    ]
    return "\n".join(parts)


HISTORY_FIELDS = ["dataset", "seq", "batch", "read", "quarantined %", "by reason (%)", "gate", "drift"]


def _pct(share: Any) -> str:
    return "-" if share is None else f"{100 * share:.2f}"


def history_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The quality history (``reports/quality_history.json``) as table rows."""
    return [
        {
            "dataset": b["dataset"],
            "seq": b["seq"],
            "batch": b["batch_id"],
            "read": _n(b["rows_read"]),
            "quarantined %": _pct(b["quarantine_share"]),
            "by reason (%)": ", ".join(f"{k} {_pct(v)}" for k, v in b["quarantine_share_by_reason"].items()) or "-",
            "gate": b["gate"] or "-",
            "drift": ", ".join(b["drift"]) or "-",
        }
        for b in doc.get("batches") or []
    ]


def render_quality_text(doc: dict[str, Any]) -> str:
    """``pipeline quality``: the same history as the report's table, aligned for a terminal."""
    batches = doc.get("batches") or []
    if not batches:
        return "no profiled batches yet (the quality gate profiles every batch it scans)\n"
    title = f"Quality over time (last {doc.get('last')} batches per dataset)"
    return f"{title}\n{'=' * len(title)}\n" + _text_table(
        history_rows(doc), HISTORY_FIELDS, numeric={"seq", "read", "quarantined %"}
    )


_GATE_COLOURS = {"passed": "#3182bd", "warned": "#fd8d3c", "withheld": "#de2d26"}


def warm() -> None:
    """Import matplotlib (Agg) now, so that this process's first export does not pay for it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401


def _bars(ax, x, heights, *, bottom=None, width: float = 0.8, color=None, label: str | None = None) -> None:
    """Bars as one polygon collection: what ``ax.bar`` draws, without one ``Rectangle`` artist per
    bar (each updates the data limits when added; ~0.5 s of an export with a few hundred days or
    batches). ``x`` are numbers (positions, or dates as ``matplotlib.dates.date2num``)."""
    import numpy as np
    from matplotlib.collections import PolyCollection

    x = np.asarray(x, dtype=float)
    top = np.asarray(heights, dtype=float)
    base = np.zeros_like(top) if bottom is None else np.asarray(bottom, dtype=float)
    left, right = x - width / 2, x + width / 2
    verts = np.stack(
        [np.column_stack(c) for c in ((left, base), (left, base + top), (right, base + top), (right, base))], axis=1
    )
    bars = PolyCollection(verts, facecolors=color, edgecolors="none", label=label)
    bars.sticky_edges.y.append(0)  # the value axis starts at zero, as with ax.bar
    ax.add_collection(bars)
    if len(x):
        ax.update_datalim(np.column_stack((np.concatenate((left, right)), np.concatenate((base, base + top)))))
    ax.autoscale_view()


#: At most this many batch labels on a quality-history axis: a label per batch is a text artist
#: each, laid out at every draw (~0.3 s of an export at 20 batches, most of the plot's time).
HISTORY_TICKS = 12


def _batch_ticks(ax, seqs: list[int]) -> None:
    """Label every k-th batch position with its arrival sequence (k keeps the count ≤ HISTORY_TICKS)."""
    step = max(1, -(-len(seqs) // HISTORY_TICKS))
    ax.set_xticks(range(0, len(seqs), step), [str(s) for s in seqs[::step]])
    ax.set_xlim(-0.6, max(len(seqs), 1) - 0.4)


def draw_quality_history(doc: dict[str, Any], path: Path) -> None:
    """Per dataset: records per batch (bar colour = gate outcome, "drift" above drifting batches) and
    the quarantine share by reason (stacked), over the last batches."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    batches = doc.get("batches") or []
    datasets = sorted({b["dataset"] for b in batches}) or ["(none)"]
    fig, axes = plt.subplots(2, len(datasets), figsize=(6 * len(datasets), 6), dpi=100, squeeze=False)
    for col, dataset in enumerate(datasets):
        rows = [b for b in batches if b["dataset"] == dataset]
        top, bottom = axes[0][col], axes[1][col]
        x = range(len(rows))
        if not rows:
            top.text(0.5, 0.5, "no profiled batches yet", ha="center", va="center", transform=top.transAxes)
        read = [b["rows_read"] or 0 for b in rows]
        _bars(top, x, read, color=[_GATE_COLOURS.get(b["gate"], "#969696") for b in rows])
        for i, b in enumerate(rows):
            if b["drift"]:
                top.annotate("drift", (i, read[i]), ha="center", va="bottom", color="#de2d26", fontsize=8)
        top.set_title(f"{dataset}: records per batch (blue passed, orange warned, red withheld)", fontsize=9)
        top.set_ylabel("records read")
        reasons = sorted({r for b in rows for r in b["quarantine_share_by_reason"]})
        base = [0.0] * len(rows)
        colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for k, reason in enumerate(reasons):
            values = [100 * (b["quarantine_share_by_reason"].get(reason) or 0) for b in rows]
            _bars(bottom, x, values, bottom=base, color=colours[k % len(colours)], label=reason)
            base = [a + v for a, v in zip(base, values)]
        if reasons:
            bottom.legend(fontsize=7)
        bottom.set_title(f"{dataset}: quarantine share by reason", fontsize=9)
        bottom.set_ylabel("% of records")
        bottom.set_xlabel("batch (arrival sequence)")
        for ax in (top, bottom):  # the same batches on both axes, quarantine or not
            _batch_ticks(ax, [b["seq"] for b in rows])
    # Fixed margins (in inches, so any number of dataset columns fits): tight_layout measured every
    # label's extent and was half of each plot's time, ~0.7 s of every export.
    width = 6 * len(datasets)
    fig.subplots_adjust(left=0.8 / width, right=1 - 0.2 / width, bottom=0.09, top=0.95, wspace=0.25, hspace=0.4)
    fig.savefig(path)
    plt.close(fig)


def _hourly_grid_md(hourly: list[dict[str, Any]]) -> str:
    grid = {(h["weekday"], h["hour"]): h["chats"] for h in hourly}
    lines = ["| weekday | " + " | ".join(f"{h:02d}" for h in range(24)) + " |", "|---|" + "---:|" * 24]
    for day in WEEKDAYS:
        lines.append(f"| {day[:3]} | " + " | ".join(str(grid.get((day, h), 0)) for h in range(24)) + " |")
    return "\n".join(lines) + "\n"


def draw_heatmap(hourly: list[dict[str, Any]], path: Path, timezone: str) -> None:
    """The weekday × hour heatmap PNG."""
    # Imported here: matplotlib costs ~0.5 s of start-up that only this function needs, and its
    # backend must be chosen before pyplot is imported.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    grid = np.zeros((7, 24))
    for h in hourly:
        grid[WEEKDAYS.index(h["weekday"]), h["hour"]] = h["chats"]
    fig, ax = plt.subplots(figsize=(12, 4.2), dpi=110)
    image = ax.imshow(grid, aspect="auto", cmap="viridis")
    ax.set_xticks(range(24), [f"{h:02d}" for h in range(24)])
    ax.set_yticks(range(7), [d[:3] for d in WEEKDAYS])
    ax.set_xlabel(f"hour of day ({timezone})")
    ax.set_ylabel("weekday")
    ax.set_title("Chats created by weekday and hour (local time)")
    fig.colorbar(image, ax=ax, label="chats")
    fig.subplots_adjust(left=0.06, right=1.0, bottom=0.13, top=0.91)  # fixed: see draw_quality_history
    fig.savefig(path)
    plt.close(fig)


def draw_resolved_per_day(days: list[dict[str, Any]], path: Path, timezone: str) -> None:
    """Resolved chats per local day as bars; partial first/last days in a lighter colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(12, 4.2), dpi=110)
    if days:
        dates = [dt.date.fromisoformat(d["date"]) if isinstance(d["date"], str) else d["date"] for d in days]
        colours = ["#9ecae1" if d["partial_day"] else "#3182bd" for d in days]
        import matplotlib.dates as mdates

        _bars(ax, mdates.date2num(dates), [d["chats"] for d in days], color=colours, width=0.9)
        ax.xaxis_date()
        fig.autofmt_xdate(bottom=0.24)  # room for the rotated dates and the axis label
    else:
        ax.text(0.5, 0.5, "no resolved chats", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(f"local resolution date ({timezone}); light bars = partial first/last day")
    ax.set_ylabel("resolved chats")
    ax.set_title("Resolved chats per local day")
    fig.subplots_adjust(left=0.07, right=0.98, top=0.91)  # fixed: see draw_quality_history
    fig.savefig(path)
    plt.close(fig)


def _day_sort(h: dict[str, Any]) -> tuple[int, int]:
    return WEEKDAYS.index(h["weekday"]), h["hour"]


def export_analysis(settings: Settings) -> dict[str, Any]:
    """Write a complete export set and publish it atomically; returns a summary."""
    with stage("export") as summary:
        doc = collect(settings)
        doc["hourly_distribution"].sort(key=_day_sort)
        days = doc.pop("_resolved_days")
        gid = settings.share_gid
        shared_dir(settings.share_dir, gid)
        versions = shared_dir(settings.share_dir / ".exports", gid)
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        target = versions / stamp
        work = versions / f".{stamp}.tmp"
        work.mkdir()
        (work / "analysis.json").write_text(json.dumps(doc, indent=2, default=str) + "\n")
        _write_csv(work / "resolved_per_day.csv", days, ["date", "chats", "partial_day"])
        _write_csv(work / "top_categories_by_chats.csv", doc["top_categories_by_chats"], ["category_id", "chats"])
        _write_csv(work / "lowest_resolution_rate.csv", doc["lowest_resolution_rate"], RATE_FIELDS)
        _write_csv(work / "fastest_resolution.csv", doc["fastest_resolution"], SPEED_FIELDS)
        _write_csv(work / "hourly_distribution.csv", doc["hourly_distribution"], ["weekday", "hour", "chats"])
        (work / "report.md").write_text(render_markdown(doc))
        draw_heatmap(doc["hourly_distribution"], work / "hourly_heatmap.png", settings.timezone)
        draw_resolved_per_day(days, work / "resolved_per_day.png", settings.timezone)
        draw_quality_history(doc["quality_history"], work / "quality_history.png")
        for path in work.iterdir():  # the analysts' group reads the set, nobody changes it
            share_file(path, gid, 0o440)
        os.chown(work, -1, gid)
        os.chmod(work, 0o2750)
        os.replace(work, target)
        _swap_link(settings.exports_dir, target)
        _prune(versions, keep=target)
        summary.update(files=len(list(target.iterdir())), batches=len(doc["batches"]), path=str(settings.exports_dir))
    return {"export": str(target), "batches": len(doc["batches"])}


def _swap_link(link: Path, target: Path) -> None:
    """Point ``link`` at ``target`` in one rename (readers see the old set or the new one)."""
    if link.exists() and not link.is_symlink():
        shutil.rmtree(link)  # a plain folder from an older layout
    tmp = link.with_name(f".{link.name}.link.tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(os.path.relpath(target, link.parent))
    os.replace(tmp, link)


def _prune(versions: Path, keep: Path, *, abandoned_after_s: float = 600.0) -> None:
    """Keep the newest KEEP_VERSIONS export sets; drop work folders a killed export left behind.

    A work folder (``.<stamp>.tmp``) is only removed once it is older than
    ``abandoned_after_s``, so an export still being written by another process is left alone.
    """
    old = sorted(p for p in versions.iterdir() if p.is_dir() and not p.name.startswith("."))
    for path in old[:-KEEP_VERSIONS]:
        if path != keep:
            shutil.rmtree(path, ignore_errors=True)
    cutoff = time.time() - abandoned_after_s
    for work in versions.glob(".*.tmp"):
        if work.is_dir() and work.stat().st_mtime < cutoff:
            log.info("export.abandoned_work_removed", path=str(work))
            shutil.rmtree(work, ignore_errors=True)


def _text_table(rows: list[dict[str, Any]], fields: list[str], *, numeric: set[str] = frozenset()) -> str:
    """An aligned plain-text table (numbers right-aligned) for a terminal."""
    if not rows:
        return "  (no rows)\n"
    cells = [[str(r.get(f, "")) for f in fields] for r in rows]
    widths = [max(len(f), *(len(c[i]) for c in cells)) for i, f in enumerate(fields)]

    def line(values: list[str]) -> str:
        return (
            "  "
            + "  ".join(v.rjust(w) if f in numeric else v.ljust(w) for v, w, f in zip(values, widths, fields)).rstrip()
        )

    return "\n".join([line(fields), line(["-" * w for w in widths]), *(line(c) for c in cells)]) + "\n"


def render_text(doc: dict[str, Any]) -> str:
    """The analysis document as plain text: headings underlined, tables aligned, no Markdown."""

    def heading(text: str) -> str:
        return f"\n{text}\n{'=' * len(text)}"

    rpd = doc["resolved_per_day"]
    days = [{"": k, **v} for k, v in rpd.items() if v]
    hourly = {(h["weekday"], h["hour"]): h["chats"] for h in doc["hourly_distribution"]}
    grid = [{"day": d[:3], **{f"{h:02d}": hourly.get((d, h), 0) for h in range(24)}} for d in WEEKDAYS]
    hours = [f"{h:02d}" for h in range(24)]
    parts = [
        "Chat volume analysis",
        f"generated {doc['generated_at']} · local time {doc['timezone']} · categories rolled up to "
        f"{doc['category_rollup']} · {len(doc['batches'])} batch(es)",
        heading("Resolved chats per day (local resolution date)"),
        _text_table(days, ["", "date", "chats", "partial_day"], numeric={"chats"}),
        heading("Median customer-initiated chats resolved per day"),
        f"  {doc['median_customer_initiated_resolved_per_day']}",
        heading("Ten most populous categories (customer-initiated, category not disabled)"),
        _text_table(doc["top_categories_by_chats"], ["category_id", "chats"], numeric={"chats"}),
        heading("Ten lowest resolution rates (%)"),
        _text_table(doc["lowest_resolution_rate"], RATE_FIELDS, numeric=set(RATE_FIELDS[1:])),
        "  " + _excluded_note(doc, "lowest_resolution_rate", "chats"),
        heading("Ten fastest mean resolution times (hours)"),
        _text_table(doc["fastest_resolution"], SPEED_FIELDS, numeric=set(SPEED_FIELDS[1:])),
        "  " + _excluded_note(doc, "fastest_resolution", "resolved chats"),
        heading("Chats by local weekday and hour"),
        _text_table(grid, ["day", *hours], numeric=set(hours)),
        heading("Data quality"),
        _text_table(_quality_rows(doc), QUALITY_FIELDS, numeric={"read", "loaded", "quarantined"}),
        "",
        render_quality_text(doc.get("quality_history") or {}),
    ]
    return "\n".join(parts)


def render_terminal(settings: Settings) -> str:
    """The latest export's tables as plain text for ``python -m pipeline report``."""
    path = settings.exports_dir / "analysis.json"
    if not path.exists():
        raise PipelineError(f"no export yet at {path}: run `python -m pipeline run` first")
    return render_text(json.loads(path.read_text()))
