"""End to end: generated files through the real chain (DuckDB, Soda, dbt, Luigi), numbers checked
against an independent computation in plain Python (csv + zoneinfo), plus luigid and resume tests."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest

from pipeline.generate import generate
from pipeline.orchestration.runner import run as run_pending
from pipeline.settings import load_settings
from tests.helpers import REPO, pipeline_cmd, write
from tests.helpers import luigi_api as _api

TZ = ZoneInfo("Australia/Melbourne")
MIN_GROUP_CHATS = 30  # luigi.cfg [pipeline] min_group_chats
TRUE = {"true", "t", "1", "yes"}
FALSE = {"false", "f", "0", "no"}


# --------------------------------------------------------------------------- independent model
def _round2(value: float) -> float:
    """Two decimals, half away from zero, as DuckDB's round() does (Python's round() halves to even)."""
    return float(Decimal(repr(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _ts(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def _bool(text: str) -> bool | None:
    text = text.strip().lower()
    return True if text in TRUE else False if text in FALSE else None


def expected_analysis(folder: Path) -> dict:
    cats = {}
    with open(folder / "categories.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            parent = row["parent_id"].strip().lower()
            cats[row["id"].lower()] = {
                "parent": None if parent in ("", "null") else parent,
                "disabled": _bool(row["disabled"]) if row["disabled"].strip() else None,
            }

    def disabled(cid: str) -> bool:
        seen = 0
        while cid is not None and seen < 50:
            if cats[cid]["disabled"] is not None:
                return cats[cid]["disabled"]
            cid, seen = cats[cid]["parent"], seen + 1
        return False

    def group(cid: str) -> str:
        return cats[cid]["parent"] or cid

    chats = []
    with open(folder / "chats.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            created = _ts(row["created_at"])
            resolved = _ts(row["resolved_at"]) if row["resolved_at"].strip() else None
            cat = row["chat_category_id"].lower() or None
            chats.append(
                {
                    "created": created,
                    "resolved": resolved,
                    "cat": cat,
                    "customer": _bool(row["is_customer_initiated"]) if row["is_customer_initiated"] else None,
                }
            )

    local = lambda ts: ts.astimezone(TZ)  # noqa: E731
    per_day = Counter(local(c["resolved"]).date() for c in chats if c["resolved"])
    first = min(local(c["created"]).date() for c in chats)
    last = max(max(local(c["created"]).date(), local(c["resolved"]).date() if c["resolved"] else first) for c in chats)
    lowest = min(per_day.items(), key=lambda kv: (kv[1], kv[0]))
    highest = min(per_day.items(), key=lambda kv: (-kv[1], kv[0]))
    customer_days = Counter(local(c["resolved"]).date() for c in chats if c["resolved"] and c["customer"] is True)

    volume = Counter(
        group(c["cat"]) for c in chats if c["customer"] is True and c["cat"] in cats and not disabled(c["cat"])
    )
    totals, resolved, hours = Counter(), Counter(), defaultdict(list)
    for c in chats:
        if c["cat"] in cats:
            g = group(c["cat"])
            totals[g] += 1
            if c["resolved"]:
                resolved[g] += 1
                hours[g].append((c["resolved"] - c["created"]).total_seconds() / 3600)
    # rankings use only groups with at least MIN_GROUP_CHATS chats (resolved chats for the times)
    rates = sorted(
        ((g, _round2(resolved[g] / totals[g] * 100)) for g in totals if totals[g] >= MIN_GROUP_CHATS),
        key=lambda kv: (kv[1], kv[0]),
    )
    speed = sorted(
        ((g, _round2(statistics.fmean(h))) for g, h in hours.items() if len(h) >= MIN_GROUP_CHATS),
        key=lambda kv: (kv[1], kv[0]),
    )
    hourly = Counter((local(c["created"]).strftime("%A"), local(c["created"]).hour) for c in chats)

    def day(kv):
        return {"date": kv[0].isoformat(), "chats": kv[1], "partial_day": kv[0] in (first, last)}

    return {
        "resolved_per_day": {"lowest": day(lowest), "highest": day(highest)},
        "median_customer_initiated_resolved_per_day": float(statistics.median(customer_days.values())),
        "top_categories_by_chats": [
            {"category_id": g, "chats": n} for g, n in sorted(volume.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        ],
        "lowest_resolution_rate": [
            {"category_id": g, "resolution_rate_pct": r, "total_chats": totals[g], "resolved_chats": resolved[g]}
            for g, r in rates[:10]
        ],
        "fastest_resolution": [
            {"category_id": g, "avg_resolution_hours": h, "resolved_chats": len(hours[g])} for g, h in speed[:10]
        ],
        "ranking_sample": {
            "min_group_chats": MIN_GROUP_CHATS,
            "lowest_resolution_rate": {
                "groups_ranked": len(rates),
                "groups_excluded": len(totals) - len(rates),
                "chats_excluded": sum(n for n in totals.values() if n < MIN_GROUP_CHATS),
            },
            "fastest_resolution": {
                "groups_ranked": len(speed),
                "groups_excluded": len(hours) - len(speed),
                "chats_excluded": sum(len(h) for h in hours.values() if len(h) < MIN_GROUP_CHATS),
            },
        },
        "hourly": hourly,
    }


# --------------------------------------------------------------------------- the chain
@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    root = tmp_path_factory.mktemp("chain")
    generated = root / "generated"
    generate(generated, chats=4000, categories=460, seed=21, defect_rate=0.0, messages=True)
    settings = load_settings(landing=root / "landing", warehouse=root / "warehouse")
    settings.landing.mkdir()
    for name in ("categories.csv", "chats.csv"):
        shutil.copy(generated / name, settings.landing / f"de_test_{name}")
    outcomes = run_pending(settings)
    return settings, generated, outcomes


def test_every_batch_succeeds_and_files_are_archived(chain):
    settings, _, outcomes = chain
    assert [(o.file, o.status) for o in outcomes] == [("de_test_categories.csv", "done"), ("de_test_chats.csv", "done")]
    assert not list(settings.landing.glob("*.csv"))
    assert len(list(settings.archive_dir.glob("*__de_test_*.csv"))) == 2


def test_exported_numbers_match_an_independent_computation(chain):
    settings, generated, _ = chain
    doc = json.loads((settings.exports_dir / "analysis.json").read_text())
    want = expected_analysis(generated)
    assert set(doc) == {
        "generated_at",
        "timezone",
        "category_rollup",
        "batches",
        "resolved_per_day",
        "median_customer_initiated_resolved_per_day",
        "top_categories_by_chats",
        "lowest_resolution_rate",
        "fastest_resolution",
        "ranking_sample",
        "hourly_distribution",
        "data_quality",
    }
    assert doc["timezone"] == "Australia/Melbourne" and doc["category_rollup"] == "parent"
    assert [b["batch_id"] for b in doc["batches"]] == [o.batch_id for o in chain[2]]
    for key in (
        "resolved_per_day",
        "median_customer_initiated_resolved_per_day",
        "top_categories_by_chats",
        "lowest_resolution_rate",
        "fastest_resolution",
        "ranking_sample",
    ):
        assert doc[key] == want[key], key
    assert want["ranking_sample"]["lowest_resolution_rate"]["groups_excluded"] > 0, "the minimum must matter here"
    got_hourly = {(h["weekday"], h["hour"]): h["chats"] for h in doc["hourly_distribution"]}
    assert len(got_hourly) == 168
    assert {k: v for k, v in got_hourly.items() if v} == dict(want["hourly"])


def test_export_set_is_complete_and_readable(chain):
    settings, _, _ = chain
    names = {p.name for p in settings.exports_dir.iterdir()}
    assert {
        "analysis.json",
        "report.md",
        "hourly_heatmap.png",
        "resolved_per_day.png",
        "resolved_per_day.csv",
        "top_categories_by_chats.csv",
        "lowest_resolution_rate.csv",
        "fastest_resolution.csv",
        "hourly_distribution.csv",
    } <= names
    assert (settings.exports_dir / "hourly_heatmap.png").read_bytes()[:4] == b"\x89PNG"
    report = (settings.exports_dir / "report.md").read_text()
    assert "## Ten lowest resolution rates" in report and "| category_id | chats |" in report
    assert "| category_id | resolution_rate_pct | resolved_chats | total_chats |" in report
    assert "smaller group(s)" in report and "(setting `min_group_chats`)" in report
    assert (settings.exports_dir / "resolved_per_day.png").read_bytes()[:4] == b"\x89PNG"
    with open(settings.exports_dir / "hourly_distribution.csv") as fh:
        assert sum(1 for _ in fh) == 169
    assert settings.exports_dir.is_symlink(), "published by an atomic symlink swap"


def test_soda_reports_are_written_per_batch(chain):
    settings, _, outcomes = chain
    for o in outcomes:
        md = settings.reports_dir / "soda" / f"{o.batch_id}.md"
        data = json.loads((settings.reports_dir / "soda" / f"{o.batch_id}.json").read_text())
        assert md.exists() and data


def test_rerunning_a_finished_chain_does_nothing(chain):
    settings, _, outcomes = chain
    markers = {p: p.stat().st_mtime_ns for p in settings.state_dir.rglob("*.json")}
    archived = next(settings.archive_dir.glob("*__de_test_chats.csv"))
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "luigi"),
            "--module",
            "pipeline.orchestration.tasks",
            "ProcessFile",
            "--path",
            str(settings.landing / "de_test_chats.csv"),
            "--landing",
            str(settings.landing),
            "--warehouse",
            str(settings.warehouse),
            "--local-scheduler",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert {p: p.stat().st_mtime_ns for p in settings.state_dir.rglob("*.json")} == markers
    assert archived.exists()


# --------------------------------------------------------------------------- gate failure
def test_soda_failure_stops_the_batch_before_dbt_and_keeps_published_data(chain, tmp_path):
    settings, _, outcomes = chain
    with duckdb.connect(str(settings.warehouse_db), read_only=True) as con:
        before = con.execute("select count(*) from raw.categories").fetchone()[0]
        marts_before = con.execute("select count(*), sum(chats) from marts.category_chat_volume").fetchone()
    # 1 good row, 11 with an invalid id: 92% of the file is quarantined, over the 5% threshold
    rows = "".join(f"not-a-uuid-{i},,true\n" for i in range(11)) + "00000001-1111-4000-8000-000000000000,,\n"
    write(settings.landing / "bad_categories.csv", "id,parent_id,disabled\n" + rows)
    [outcome] = run_pending(settings)
    assert outcome.status == "failed"
    assert "categories quarantined share of records (%) (measured 91.67 %, fail > 5 %)" in outcome.error
    with duckdb.connect(str(settings.warehouse_db), read_only=True) as con:
        assert con.execute("select count(*) from raw.categories").fetchone()[0] == before
        assert con.execute("select count(*) from audit.categories").fetchone()[0] == 0
        assert con.execute("select count(*), sum(chats) from marts.category_chat_volume").fetchone() == marts_before
    assert not (settings.state_dir / outcome.batch_id / "dbt_build.json").exists()
    assert (settings.failed_dir / f"{outcome.batch_id}__bad_categories.csv.error.json").exists()


# --------------------------------------------------------------------------- luigid
def test_a_worker_against_a_real_luigid_reports_done_tasks(luigid, settings):
    generate(settings.landing, chats=500, categories=60, seed=4)
    proc = subprocess.run(
        [
            *pipeline_cmd(settings, "run"),
            "--scheduler-url",
            f"http://127.0.0.1:{luigid}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    done = _api(luigid, "task_list", {"status": "DONE", "upstream_status": "", "search": ""})
    families = Counter(task["name"] for task in done.values())
    # Per batch: its own file, ingest and gate. The warehouse-wide stages appear once per batch
    # (as members) plus once as the one batched run Luigi made of them (both batch ids).
    assert families == {
        "LandedFile": 2,
        "Ingest": 2,
        "QualityGate": 2,
        "DbtBuild": 3,
        "Redact": 3,
        "ExportAnalysis": 3,
        "ProcessFile": 2,
    }
    batch_ids = {task["params"]["batch_id"] for task in done.values() if task["name"] == "Ingest"}
    batched = [task["params"]["batch_id"] for task in done.values() if task["name"] == "DbtBuild"]
    assert ",".join(sorted(batch_ids)) in batched
    # task history (SQLAlchemy < 2) recorded every task's DONE event
    with sqlite3.connect(settings.landing.parent / "history.db") as con:
        recorded = dict(
            con.execute(
                "select t.name, count(*) from tasks t join task_events e on e.task_id = t.id "
                "where e.event_name = 'DONE' group by t.name"
            ).fetchall()
        )
    assert recorded.get("Ingest") == 2 and recorded.get("QualityGate") == 2
    assert recorded.get("DbtBuild") == 1 and recorded.get("ExportAnalysis") == 1  # the one batched run


def test_prune_removes_work_folders_of_killed_exports_once_abandoned(tmp_path):
    """A kill during export leaves ``.<stamp>.tmp``; the next export removes it once it is old."""
    from pipeline.stages import export

    versions = tmp_path / ".exports"
    sets = [versions / f"2026112{i}T000000Z" for i in range(5)]
    abandoned, in_progress = versions / ".20261120T000000Z.tmp", versions / ".20261126T000000Z.tmp"
    for folder in (*sets, abandoned, in_progress):
        folder.mkdir(parents=True)
    an_hour_ago = time.time() - 3600
    os.utime(abandoned, (an_hour_ago, an_hour_ago))
    export._prune(versions, keep=sets[-1])
    left = sorted(p.name for p in versions.iterdir())
    assert abandoned.name not in left and in_progress.name in left
    assert [p.name for p in sets[-export.KEEP_VERSIONS :]] == [n for n in left if not n.startswith(".")]
