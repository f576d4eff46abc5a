"""Drills for files, people and processes that misbehave (``make drill``).

A copy that stalls longer than the settle time under ``watch``; two ``pipeline run`` at once,
twenty times; an older export retried after a newer one of the same chats.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import uuid

import duckdb
import pytest

from pipeline.orchestration import runner
from pipeline.settings import load_settings
from pipeline.store import ledger
from tests.helpers import REPO, Service, chats_text, pipeline_cmd, read_ledger, wait_for, write

pytestmark = pytest.mark.drill

STALLING_WRITER = """
import sys, time
data = open(sys.argv[1], "rb").read()
with open(sys.argv[2], "wb") as out:
    out.write(data[: len(data) // 2]); out.flush()
    print("half", flush=True)
    time.sleep(3)  # 10x the service's settle time, the file kept open
    out.write(data[len(data) // 2 :])
"""


def test_a_copy_that_stalls_longer_than_the_settle_time_is_taken_whole(settings, tmp_path):
    source = write(tmp_path / "source.csv", chats_text(2000))
    with Service(settings) as service:
        writer = subprocess.Popen(
            [sys.executable, "-c", STALLING_WRITER, str(source), str(settings.landing / "stalled_chats.csv")],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert writer.stdout.readline().strip() == "half"
        writer.wait(timeout=30)
        wait_for(lambda: service.done("stalled_chats.csv"), timeout=300, what="the stalled copy done")
        assert service.stop() == 0
    [row] = read_ledger(settings)
    assert (row["rows_read"], row["rows_loaded"], row["rows_quarantined"]) == (2000, 2000, 0)
    [archived] = [p for p in settings.archive_dir.iterdir() if p.is_file()]
    assert (
        hashlib.sha256(archived.read_bytes()).hexdigest()
        == row["sha256"]
        == hashlib.sha256(source.read_bytes()).hexdigest()
    )


def test_two_runs_at_once_twenty_times_always_exactly_once(tmp_path):
    for attempt in range(20):
        settings = load_settings(landing=tmp_path / str(attempt) / "landing", warehouse=tmp_path / str(attempt) / "wh")
        write(settings.landing / "shared_chats.csv", chats_text(30, offset=attempt * 100))
        cmd = pipeline_cmd(settings, "run")
        procs = [
            subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
        ]
        codes = [p.wait(timeout=600) for p in procs]
        assert codes == [0, 0], (attempt, [p.stderr.read()[-1500:] for p in procs])
        assert [(r["status"], r["rows_loaded"]) for r in read_ledger(settings)] == [(ledger.DONE, 30)], attempt
        assert not settings.failed_dir.exists() or not list(settings.failed_dir.iterdir()), attempt


def _export(chat_id: str, resolved: bool) -> str:
    resolved_at = "2023-03-01 12:00:00" if resolved else ""
    return (
        "id,chat_category_id,created_at,is_customer_initiated,resolved_at\n"
        f"{chat_id},,2023-03-01 10:00:00,true,{resolved_at}\n"
    )


def test_an_older_export_retried_after_a_newer_one_does_not_win(settings):
    chat = str(uuid.uuid4())
    older, newer = _export(chat, resolved=False), _export(chat, resolved=True)
    write(settings.landing / "monday_export.csv", older)  # matches no dataset pattern: rejected
    [first] = runner.run(settings, settled=True)
    assert first.status == ledger.REJECTED
    write(settings.landing / "tuesday_chats.csv", newer)
    assert [o.status for o in runner.run(settings, settled=True)] == [ledger.DONE]
    write(settings.landing / "monday_chats.csv", older)  # the same bytes, renamed: its retry
    assert [o.status for o in runner.run(settings, settled=True)] == [ledger.DONE]
    with duckdb.connect(str(settings.warehouse_db), read_only=True) as con:
        latest = con.execute(
            "select resolved_at is not null from staging.stg_support__chats where chat_id = ?", [chat]
        ).fetchone()
    assert latest == (True,), "the resolved state (newer export) must stay the latest version"
    seq = {r["file"]: r["seq"] for r in read_ledger(settings)}
    assert seq["monday_chats.csv"] < seq["tuesday_chats.csv"]
