"""The runner: every entry point finishes what was started, takes only complete files, and two
processes on one warehouse process each file exactly once."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pipeline.orchestration import runner
from pipeline.orchestration.tasks import ProcessFile
from pipeline.stages.ingest import ingest_file
from pipeline.store import ledger
from tests.helpers import REPO, chats_text, pipeline_cmd, read_ledger, write


def _run(settings, *files: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        pipeline_cmd(settings, "run", *files),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_run_with_nothing_waiting_finishes_an_unfinished_batch(settings):
    """Ingested (archived) but the chain never ran: ``run`` used to say "nothing to do" and exit 0."""
    ingest_file(settings, write(settings.landing / "half_chats.csv", chats_text(4)))
    assert [r["status"] for r in read_ledger(settings)] == [ledger.RUNNING]
    proc = _run(settings)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "nothing to do" not in proc.stdout
    [row] = read_ledger(settings)
    assert (row["status"], row["stage"]) == (ledger.DONE, "exported")
    assert (settings.exports_dir / "analysis.json").exists()


def test_a_file_rewritten_after_it_was_queued_is_taken_again_not_stranded(settings):
    path = write(settings.landing / "moving_chats.csv", chats_text(3))
    stale = runner.resolve_batch(settings, path)
    write(path, chats_text(5, offset=50))  # rewritten in place after it was hashed
    common = {"landing": str(settings.landing), "warehouse": str(settings.warehouse)}
    runner.build([ProcessFile(path=str(path), batch_id=stale, **common)])
    assert path.exists(), "nothing of it was loaded: it waits in landing"
    assert [r for r in read_ledger(settings) if r["batch_id"] == stale] == []
    [outcome] = runner.run(settings, settled=True)  # the next run takes the new content
    assert outcome.status == ledger.DONE
    assert [(r["rows_loaded"], r["status"]) for r in read_ledger(settings)] == [(5, ledger.DONE)]


SLOW_WRITER = """
import sys, time
lines = open(sys.argv[1]).read().splitlines(keepends=True)
with open(sys.argv[2], "w") as out:
    out.writelines(lines[: len(lines) // 2]); out.flush()
    print("half", flush=True)
    time.sleep(3)  # longer than the settle time, the file kept open
    out.writelines(lines[len(lines) // 2 :])
"""


def test_run_never_takes_a_copy_still_being_written(settings, tmp_path):
    source = write(tmp_path / "source.csv", chats_text(2000))
    writer = subprocess.Popen(
        [sys.executable, "-c", SLOW_WRITER, str(source), str(settings.landing / "slow_chats.csv")],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout.readline().strip() == "half"
    outcomes = runner.run(settings)
    writer.wait(timeout=30)
    assert [o.status for o in outcomes] == [ledger.DONE]
    [row] = read_ledger(settings)
    assert (row["rows_read"], row["rows_loaded"], row["rows_quarantined"]) == (2000, 2000, 0)


@pytest.mark.slow
@pytest.mark.parametrize("attempt", range(3))
def test_two_runs_at_once_process_a_file_exactly_once(settings, attempt):
    """Two ``pipeline run`` processes on one file: one batch, done, nothing in failed/."""
    write(settings.landing / "shared_chats.csv", chats_text(50, offset=attempt * 100))
    procs = [
        subprocess.Popen(
            pipeline_cmd(settings, "run"),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    assert [rc for rc, _ in results] == [0, 0], [err[-1500:] for _, err in results]
    rows = read_ledger(settings)
    assert [(r["status"], r["rows_loaded"]) for r in rows] == [(ledger.DONE, 50)]
    assert not settings.failed_dir.exists() or list(settings.failed_dir.iterdir()) == []
    assert len([p for p in settings.archive_dir.iterdir() if p.is_file()]) == 1


def test_outcomes_name_every_file_and_every_resumed_batch(settings):
    ingest_file(settings, write(settings.landing / "earlier_chats.csv", chats_text(2)))
    write(settings.landing / "later_chats.csv", chats_text(3, offset=10))
    outcomes = runner.run(settings, settled=True)
    assert sorted((o.file, o.status) for o in outcomes) == [
        ("earlier_chats.csv", ledger.DONE),
        ("later_chats.csv", ledger.DONE),
    ]
    markers = [json.loads(p.read_text()) for p in settings.state_dir.glob("*/dbt_build.json")]
    assert [sorted(m["batch_ids"]) for m in markers] == [sorted(o.batch_id for o in outcomes)] * 2  # one build


def test_an_ingested_batch_whose_archived_file_is_gone_says_so(settings):
    """Resumed without its Ingest marker and without its file: the error must not claim the batch
    was never ingested when the ledger says it was."""
    result = ingest_file(settings, write(settings.landing / "lost_chats.csv", chats_text(3)))
    assert result.status == "ingested"
    result.archived_to.unlink()
    outcomes = runner.run(settings, [])
    assert [(o.file, o.status) for o in outcomes] == [("lost_chats.csv", "failed")]
    assert outcomes[0].error == (
        f"{result.archived_to} is gone; batch {result.batch_id} was ingested from it: restore the file there"
    )


def test_a_stage_this_process_ran_runs_again_once_the_ledger_sends_the_batch_back(settings):
    """``complete()`` trusts a stage this process just ran only within that Luigi build: a batch the
    ledger sends back to an earlier stage afterwards (a failure during dbt, a ``retry``) runs again
    in the same process (the watcher's), not "already complete" from the build before."""
    import duckdb

    [first] = runner.run(settings, [write(settings.landing / "again_chats.csv", chats_text(4))], settled=True)
    assert first.status == ledger.DONE
    marker = settings.state_dir / first.batch_id / "dbt_build.json"
    built_at = json.loads(marker.read_text())["finished_at"]
    with duckdb.connect(str(settings.warehouse_db)) as con:
        con.execute(
            "update meta.batches set status = ?, stage = 'published' where batch_id = ?",
            [ledger.FAILED, first.batch_id],
        )
    [resumed] = runner.run(settings, [], settled=True)
    assert (resumed.batch_id, resumed.status) == (first.batch_id, ledger.DONE)
    assert json.loads(marker.read_text())["finished_at"] != built_at  # dbt ran again
    [row] = read_ledger(settings)
    assert (row["status"], row["stage"]) == (ledger.DONE, "exported")
