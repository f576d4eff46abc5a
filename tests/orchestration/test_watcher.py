"""The watcher with a real watchdog observer on a temporary landing folder, driving the real chain."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from dataclasses import replace

import duckdb
import pytest
import structlog

from pipeline.generate import generate
from pipeline.store import ledger
from tests.helpers import Service, chats_text, luigi_api, read_ledger, running, wait_for, write


@pytest.fixture
def fast(settings):
    return replace(settings, settle_seconds=0.3, reconcile_seconds=1.0)


def test_single_file_is_processed_once(fast):
    with running(fast):
        write(fast.landing / "day1_chats.csv", chats_text(20))
        rows = wait_for(lambda: [r for r in read_ledger(fast) if r["status"] == "done"], what="batch done")
    assert [(r["file"], r["rows_loaded"]) for r in read_ledger(fast)] == [("day1_chats.csv", 20)]
    assert (fast.exports_dir / "analysis.json").exists()
    assert rows[0]["stage"] == "exported"


def test_file_written_slowly_is_ingested_only_when_complete(fast):
    text = chats_text(300)
    chunks = [text[i : i + 2000] for i in range(0, len(text), 2000)]
    with running(fast):
        with open(fast.landing / "slow_chats.csv", "w") as fh:
            for chunk in chunks:  # pauses shorter than the settle time
                fh.write(chunk)
                fh.flush()
                time.sleep(0.1)
        wait_for(lambda: any(r["status"] == "done" for r in read_ledger(fast)), what="batch done")
    assert [(r["rows_read"], r["rows_loaded"]) for r in read_ledger(fast)] == [(300, 300)]


def test_duplicate_content_moved_in_and_invalid_files(fast, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    with running(fast) as watcher:
        write(fast.landing / "a_chats.csv", chats_text(10))
        wait_for(lambda: any(r["status"] == "done" for r in read_ledger(fast)), what="first batch")
        write(fast.landing / "copy_of_a_chats.csv", chats_text(10))  # same content, new name
        write(fast.landing / "broken_chats.csv", b"\x00\x01binary\x00")  # invalid file
        write(outside / "b_chats.csv", chats_text(5, offset=100))
        os.rename(outside / "b_chats.csv", fast.landing / "b_chats.csv")  # moved in
        wait_for(
            lambda: len(read_ledger(fast)) == 4 and all(r["status"] != ledger.RUNNING for r in read_ledger(fast)),
            what="all four files recorded",
        )
        assert watcher.processed, "the service kept running"
    by_file = {r["file"]: r for r in read_ledger(fast)}
    assert by_file["a_chats.csv"]["status"] == "done"
    assert by_file["copy_of_a_chats.csv"]["status"] == "duplicate"
    assert by_file["copy_of_a_chats.csv"]["duplicate_of"] == by_file["a_chats.csv"]["batch_id"]
    assert by_file["broken_chats.csv"]["status"] == "rejected"
    broken = by_file["broken_chats.csv"]["batch_id"]
    assert (fast.failed_dir / f"{broken}__broken_chats.csv.error.json").exists()
    assert by_file["b_chats.csv"]["status"] == "done" and by_file["b_chats.csv"]["rows_loaded"] == 5
    with duckdb.connect(str(fast.warehouse_db)) as con:
        assert con.execute("select count(*) from raw.chats").fetchone()[0] == 15


def test_restart_processes_files_that_arrived_while_down(fast):
    write(fast.landing / "categories.csv", "id,parent_id,disabled\n00000000-0000-4000-8000-0000000000c1,,false\n")
    write(fast.landing / "w_chats.csv", chats_text(7))
    with running(fast):
        wait_for(lambda: len([r for r in read_ledger(fast) if r["status"] == "done"]) == 2, what="both batches")
    files = [r["file"] for r in read_ledger(fast)]
    assert files == ["categories.csv", "w_chats.csv"], "categories go before chats"


@pytest.mark.slow
@pytest.mark.parametrize("n", [40, pytest.param(200, marks=pytest.mark.drill)])
def test_burst_of_files_each_processed_exactly_once(fast, n):
    """A burst dropped at once (40 in ``make test``; the 200 of the original drill in ``make drill``)."""
    names = [f"burst_{i:03d}_chats.csv" for i in range(n)]
    with running(fast) as watcher:
        for i, name in enumerate(names):
            write(fast.landing / f".{name}.part", chats_text(3, offset=i * 3))
        for name in names:  # appear at once, as an SFTP job's renames would
            os.rename(fast.landing / f".{name}.part", fast.landing / name)
        wait_for(
            lambda: len([r for r in read_ledger(fast) if r["status"] == "done"]) == n,
            timeout=900,
            what=f"{n} batches done",
        )
    rows = read_ledger(fast)
    assert sorted(r["file"] for r in rows) == names
    assert all(r["rows_loaded"] == 3 for r in rows)
    with duckdb.connect(str(fast.warehouse_db)) as con:
        assert con.execute("select count(*), count(distinct id) from raw.chats").fetchone() == (3 * n, 3 * n)
    assert len(watcher.processed) == n
    builds = [json.loads(p.read_text()) for p in fast.state_dir.glob("*/dbt_build.json")]
    runs = {tuple(b["batch_ids"]) for b in builds}  # one marker per batch, naming the run's batches
    assert len(builds) == n and sum(len(run) for run in runs) == n
    assert len(runs) <= 10, f"waiting batches share one dbt build; {len(runs)} builds for {n} files"


def _counts(settings) -> tuple:
    with duckdb.connect(str(settings.warehouse_db), read_only=True) as con:
        return con.execute("""
            select (select count(*) from raw.chats), (select count(*) from raw.categories),
                   (select count(*) from meta.quarantine),
                   (select count(*) from marts.hourly_distribution where chats > 0),
                   (select sum(chats) from marts.resolved_chats_per_day)""").fetchone() + (
            sum(ledger.is_done(b) for b in ledger.all_batches(con)),
        )


@pytest.mark.slow
@pytest.mark.parametrize(
    "kill_at",
    # ~35 s each: make test kills during the dbt build; the other two points run with make drill
    # (which also kills at 20 seeded points and in the three exact commit windows)
    [
        pytest.param("ingest.transaction_started", marks=pytest.mark.drill),
        "dbt_build.start",
        pytest.param("export.start", marks=pytest.mark.drill),
    ],
)
def test_kill_9_mid_stage_then_restart_matches_an_undisturbed_run(settings, tmp_path, kill_at):
    src = tmp_path / "gen"
    generate(src, chats=20_000, categories=460, seed=5, defect_rate=0.01, messages=True)

    reference = replace(settings, landing=tmp_path / "ref_landing", warehouse=tmp_path / "ref_wh")
    reference.landing.mkdir()
    for name in ("categories.csv", "chats.csv"):
        shutil.copy(src / name, reference.landing / name)
    with Service(reference) as service:
        wait_for(lambda: service.done("categories.csv", "chats.csv"), timeout=300, what="reference run")
        assert service.stop() == 0

    for name in ("categories.csv", "chats.csv"):
        shutil.copy(src / name, settings.landing / name)
    with Service(settings) as service:
        wait_for(
            # ingest runs per file; dbt build and export once for both files (batched)
            lambda: any(
                e.get("event") == kill_at and "chats.csv" in (e.get("file") or "").split(",") for e in service.events
            ),
            timeout=300,
            what=kill_at,
        )
        service.proc.kill()  # kill -9 in the middle of that stage
        assert service.proc.wait() == -signal.SIGKILL
    with Service(settings) as service:
        wait_for(lambda: service.done("chats.csv"), timeout=300, what="restarted run")
        assert service.stop() == 0
    assert _counts(settings) == _counts(reference)


def test_the_service_freezes_its_warm_up_objects_out_of_the_collector(settings):
    import gc

    from pipeline.orchestration.watcher import GC_THRESHOLDS

    with Service(settings) as service:
        [ready] = wait_for(lambda: [e for e in service.events if e.get("event") == "watch.ready"], what="ready")
        assert service.stop() == 0
    # the warm-up's objects (dbt's parsed manifest, the gazetteers, matplotlib): ~258k here, where
    # the interpreter with the pipeline imported and nothing warmed holds fewer than 100k
    assert ready["gc_frozen_objects"] > 150_000
    assert gc.get_freeze_count() == 0 and gc.get_threshold() != GC_THRESHOLDS  # in-process watchers leave it alone


def test_watcher_against_a_real_luigid_shows_the_batch_tasks_done(fast, luigid):
    with running(fast, scheduler_url=f"http://127.0.0.1:{luigid}"):
        write(fast.landing / "l_chats.csv", chats_text(12))
        [row] = wait_for(lambda: [r for r in read_ledger(fast) if r["status"] == "done"], what="batch done")
    done = luigi_api(luigid, "task_list", {"status": "DONE", "upstream_status": "", "search": row["batch_id"]})
    assert {t["name"] for t in done.values()} >= {"Ingest", "QualityGate", "DbtBuild", "Redact", "ExportAnalysis"}


def test_replay_rebuilds_identical_marts_from_the_archive(fast, tmp_path):
    from pipeline.orchestration.replay import replay

    generate(fast.landing, chats=800, categories=60, seed=9, defect_rate=0.02)
    run_pending_ok(fast)
    write(fast.landing / "later_chats.csv", chats_text(30))  # a later batch updates nothing, adds rows
    run_pending_ok(fast)
    result = replay(fast, tmp_path / "rebuilt")
    assert result["files"] == 3 and result["failed"] == []
    assert result["identical"], (result["live"], result["replayed"])
    assert set(result["live"]) >= {"category_chat_volume", "hourly_distribution", "resolved_chats_per_day"}


def run_pending_ok(settings) -> None:
    from pipeline.orchestration.runner import run as run_pending

    assert all(o.status == "done" for o in run_pending(settings))


def test_a_file_renamed_in_is_taken_without_waiting_out_the_settle_time(settings):
    """Written under a hidden name, then renamed: complete at once (a 60 s settle would time the test out)."""
    slow = replace(settings, settle_seconds=60.0, reconcile_seconds=1.0)
    with structlog.testing.capture_logs() as logs, running(slow):
        wait_for(lambda: any(e["event"] == "watch.started" for e in logs), what="the observer watching")
        write(slow.landing / ".day1_chats.csv.part", chats_text(20))
        os.rename(slow.landing / ".day1_chats.csv.part", slow.landing / "day1_chats.csv")
        wait_for(lambda: any(r["status"] == "done" for r in read_ledger(slow)), what="batch done", timeout=45)
    assert [(r["file"], r["rows_loaded"]) for r in read_ledger(slow)] == [("day1_chats.csv", 20)]


def test_files_renamed_in_together_wake_the_service_and_share_one_run(settings):
    """An event wakes the loop (no waiting out a 30 s poll interval), and the burst's files are
    taken together: one dbt build for both."""
    slow = replace(settings, settle_seconds=60.0, reconcile_seconds=60.0)
    with structlog.testing.capture_logs() as logs, running(slow, poll_interval=30.0):
        wait_for(lambda: any(e["event"] == "watch.ready" for e in logs), what="the service ready", timeout=60)
        time.sleep(1.0)  # past the start-up scan: only an event can bring the files in now
        write(
            slow.landing / ".p_categories.csv.part",
            "id,parent_id,disabled\n00000000-0000-4000-8000-000000000001,,false\n",
        )
        write(slow.landing / ".p_chats.csv.part", chats_text(5))
        os.rename(slow.landing / ".p_categories.csv.part", slow.landing / "p_categories.csv")
        os.rename(slow.landing / ".p_chats.csv.part", slow.landing / "p_chats.csv")
        wait_for(
            lambda: len([r for r in read_ledger(slow) if r["status"] == "done"]) == 2, what="both done", timeout=25
        )
    builds = [e for e in logs if e["event"] == "dbt_build.start"]
    assert [e["batches"] for e in builds] == [2]


def test_a_file_written_in_place_or_written_after_its_rename_waits_for_the_settle_time(settings):
    from pipeline.orchestration.watcher import Watcher

    watcher = Watcher(replace(settings, settle_seconds=60.0))
    settings.landing.mkdir(parents=True, exist_ok=True)
    for name in ("in_place_chats.csv", "renamed_chats.csv", "appended_chats.csv"):
        write(settings.landing / name, chats_text(5))
    watcher.saw(settings.landing / "in_place_chats.csv", "closed")
    watcher.saw(settings.landing / "renamed_chats.csv", "moved_in")
    watcher.saw(settings.landing / "appended_chats.csv", "moved_in")
    watcher.saw(settings.landing / "appended_chats.csv", "modified")
    assert watcher.settled() == [settings.landing / "renamed_chats.csv"]
    assert watcher.settled() == [settings.landing / "renamed_chats.csv"]  # still stable: still ready


def test_the_service_pays_its_one_off_costs_before_it_says_ready(fast):
    from pipeline.stages import transform

    transform._MANIFEST.clear()
    with structlog.testing.capture_logs() as logs, running(fast):
        ready = wait_for(lambda: [e for e in logs if e["event"] == "watch.ready"], what="ready")
        # the project is parsed for this warehouse's settings before any file arrived
        assert list(transform._MANIFEST) == [transform._manifest_key(fast)]
    events = [e["event"] for e in logs]
    assert events.index("watch.started") < events.index("watch.ready")
    assert ready[0]["warm_up_s"] > 0 and "runner.warm_up_failed" not in events


def test_a_warm_up_that_fails_is_logged_and_the_service_still_serves(fast, tmp_path):
    broken = tmp_path / "no-dbt-project"
    broken.mkdir()
    with structlog.testing.capture_logs() as logs, running(replace(fast, dbt_project_dir=broken)):
        wait_for(lambda: any(e["event"] == "watch.ready" for e in logs), what="ready")
        write(fast.landing / "categories.csv", "id,parent_id,disabled\n00000000-0000-4000-8000-0000000000c1,,false\n")
        wait_for(lambda: any(r["status"] != ledger.RUNNING for r in read_ledger(fast)), what="the batch ended")
    # the service kept serving (the batch's tasks load their settings themselves: the real project)
    assert [(r["file"], r["status"]) for r in read_ledger(fast)] == [("categories.csv", "done")]
    failed = [e for e in logs if e["event"] == "runner.warm_up_failed"]
    assert [e["part"] for e in failed] == ["dbt"]
    assert failed[0]["error"].startswith("dbt parse failed: ")
