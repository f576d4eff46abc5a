"""The command line as users run it: ``python -m pipeline …`` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from pipeline.cli import build_parser
from pipeline.store import ledger
from tests.helpers import REPO, categories_text, chats_text, hold_lock, run_in_terminal, wait_for, write

COMMANDS = ["generate", "run", "watch", "replay", "status", "report", "docs", "demo", "retry", "scan", "quality"]


def cli(*args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    proc = cli(command, "--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith(f"usage: pipeline {command}")


def test_console_script_is_installed():
    script = os.path.join(os.path.dirname(sys.executable), "pipeline")
    proc = subprocess.run([script, "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and set(COMMANDS) <= set(proc.stdout.replace(",", " ").split())


def test_parser_knows_every_documented_command():
    choices = build_parser()._subparsers._group_actions[0].choices  # noqa: SLF001
    assert set(COMMANDS) <= set(choices)


def test_the_cli_has_no_benchmark_commands():
    """Benchmarks live in the top-level bench/ package (``make bench``), not in the product's CLI."""
    choices = build_parser()._subparsers._group_actions[0].choices  # noqa: SLF001
    assert not [name for name in choices if "bench" in name]


def test_run_then_status_json(tmp_path):
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse"
    proc = cli("generate", "--out", str(landing), "--chats", "300", "--categories", "40", "--defect-rate", "0.05")
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((landing / "manifest.json").read_text())
    # paths from the environment, as documented
    env = {"PIPELINE_LANDING": str(landing), "PIPELINE_WAREHOUSE": str(warehouse)}
    proc = cli("run", env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "results:" in proc.stdout

    status = json.loads(cli("status", "--json", env=env).stdout)
    assert [b["dataset"] for b in status] == ["categories", "chats"]
    for batch in status:
        assert {
            "batch_id",
            "file",
            "dataset",
            "sha256",
            "status",
            "rows_read",
            "rows_loaded",
            "rows_quarantined",
        } <= set(batch)
        spec = manifest["files"][batch["dataset"]]
        assert batch["status"] == "done"
        assert batch["rows_read"] == spec["rows"] == batch["rows_loaded"] + batch["rows_quarantined"]
        assert batch["rows_loaded"] == spec["valid_rows"]
    table = cli("status", env=env).stdout
    assert "categories" in table and "chats" in table and "done" in table
    report = cli("report", env=env)
    assert report.returncode == 0 and "Ten most populous categories" in report.stdout


def test_run_exits_non_zero_with_a_one_line_reason(tmp_path):
    landing = tmp_path / "landing"
    write(landing / "broken_chats.csv", b"id,message\n1,hi\n")
    proc = cli("run", "--landing", str(landing), "--warehouse", str(tmp_path / "wh"))
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: 1 of 1 batch(es) did not succeed; first: broken_chats.csv: rejected:")
    assert "required column(s) missing" in last


def test_run_with_a_missing_file_is_a_sentence_not_a_traceback(tmp_path):
    proc = cli("run", "--landing", str(tmp_path), "--warehouse", str(tmp_path / "wh"), str(tmp_path / "nope.csv"))
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: no such file: {tmp_path / 'nope.csv'}"
    assert "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- helpers of the operator tests
def paths_env(tmp_path) -> tuple:
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse"
    landing.mkdir(exist_ok=True)
    return landing, warehouse, {"PIPELINE_LANDING": str(landing), "PIPELINE_WAREHOUSE": str(warehouse)}


def ledger_of(env: dict) -> list[dict]:
    proc = cli("status", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


# --------------------------------------------------------------------------- settings and arguments
@pytest.mark.parametrize(
    ("env", "args", "sentence"),
    [
        (
            {"PIPELINE_TIMEZONE": "Mars/Base"},
            ["status"],
            "error: setting timezone (PIPELINE_TIMEZONE) is 'Mars/Base', which is not a known IANA time zone",
        ),
        (
            {"PIPELINE_TIMEZONE": "Australia/Melborne"},
            ["run"],
            "error: setting timezone (PIPELINE_TIMEZONE) is 'Australia/Melborne', which is not a known IANA",
        ),
        (
            {"PIPELINE_DUCKDB_THREADS": "abc"},
            ["status"],
            "error: setting duckdb_threads (PIPELINE_DUCKDB_THREADS) must be a whole number, not 'abc'",
        ),
        (
            {"PIPELINE_QUARANTINE_FAIL_PCT": "lots"},
            ["status"],
            "error: setting quarantine_fail_pct (PIPELINE_QUARANTINE_FAIL_PCT) must be a number, not 'lots'",
        ),
        ({}, ["--log-level", "BOGUS", "status"], "argument --log-level: must be one of DEBUG, INFO, WARNING, ERROR"),
        ({}, ["generate", "--out", "{tmp}/g", "--defect-rate", "5"], "argument --defect-rate: must be a fraction"),
        ({}, ["generate", "--out", "{tmp}/g", "--chats", "-5"], "argument --chats: must be at least 1, not -5"),
        (
            {},
            ["run", "--landing", "{tmp}/typo"],
            "error: the landing folder {tmp}/typo does not exist (from --landing)",
        ),
        ({}, ["status", "--warehouse", "{tmp}/typo"], "error: the warehouse folder {tmp}/typo does not exist"),
        ({}, ["watch", "--landing", "{tmp}/typo"], "error: the landing folder {tmp}/typo does not exist"),
        ({"PIPELINE_PSEUDONYM_KEY": "short"}, ["run"], "error: PIPELINE_PSEUDONYM_KEY must be at least 16 characters"),
    ],
)
def test_bad_settings_and_arguments_are_one_sentence_and_exit_2(tmp_path, env, args, sentence):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    proc = cli(*args, env={**env, "PIPELINE_WAREHOUSE": str(tmp_path / "wh")} if "status" in args else env, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert sentence.replace("{tmp}", str(tmp_path)) in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "typo").exists(), "a mistyped folder is never created"


def test_quality_with_an_unreadable_history_or_too_many_batches_is_one_sentence(tmp_path):
    landing, warehouse, env = paths_env(tmp_path)
    history = warehouse / "reports" / "quality_history.json"
    history.parent.mkdir(parents=True)
    history.write_text('{"last": 20, "batches": [')  # cut short
    proc = cli("quality", env=env, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"error: {history} cannot be read: not valid JSON (")
    assert proc.stderr.rstrip().endswith("the next batch's quality gate writes it again from the warehouse")
    proc = cli("quality", "--last", "21", env=env, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr == (
        "error: --last 21 asks for more than the 20 batches per dataset the history keeps "
        "(setting quality_history_batches)\n"
    )


# --------------------------------------------------------------------------- the gate, end to end
def test_gate_withholds_a_mostly_quarantined_file_and_passes_inherited_disabled(tmp_path):
    landing, warehouse, env = paths_env(tmp_path)
    write(landing / "cats_categories.csv", categories_text(25, empty_disabled=20))  # allowed: inherit
    broken = "".join(f"not-an-id-{i},,2023-03-01 10:00:00,true,,\n" for i in range(90))
    write(landing / "mostly_broken_chats.csv", chats_text(10) + broken)  # 90 of 100 records quarantined
    proc = cli("run", env=env)
    assert proc.returncode == 1, proc.stderr[-3000:]
    status = {b["file"]: b for b in ledger_of(env)}
    assert status["cats_categories.csv"]["status"] == "done"
    chats = status["mostly_broken_chats.csv"]
    assert chats["status"] == "failed" and chats["error_code"] == "quality_gate_failed"
    assert "chats quarantined share of records (%) (measured 90 %, fail > 5 %)" in proc.stderr
    report = (warehouse / "reports" / "soda" / f"{chats['batch_id']}.md").read_text()
    assert "| chats quarantined share of records (%) | fail | 90 % | warn > 1 %, fail > 5 % |" in report

    # the operator decides the file is acceptable after all: raise the threshold, retry the batch
    proc = cli("retry", chats["batch_id"], env={**env, "PIPELINE_QUARANTINE_FAIL_PCT": "95"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (
        f"{chats['batch_id']}: re-queued {chats['batch_id']}__mostly_broken_chats.csv as mostly_broken_chats.csv"
        in (proc.stdout)
    )
    after = [b for b in ledger_of(env) if b["sha256"] == chats["sha256"]]
    assert [(b["batch_id"], b["status"], b["seq"]) for b in after] == [(chats["batch_id"], "done", chats["seq"])]
    assert not list((landing / "failed").iterdir())

    proc = cli("retry", "--failed", env=env)
    assert proc.returncode == 0 and "nothing to retry: no failed or rejected batches" in proc.stdout


def test_retry_of_a_rejected_file_after_fixing_the_setting(tmp_path):
    landing, _, env = paths_env(tmp_path)
    write(landing / "monday_export.csv", chats_text(5))  # matches no dataset pattern
    proc = cli("run", env=env)
    assert proc.returncode == 1 and "rejected: file name matches no dataset pattern" in proc.stderr
    [batch] = ledger_of(env)
    assert (landing / "failed" / f"{batch['batch_id']}__monday_export.csv").exists()

    assert cli("retry", "b0000000000000000", env=env).returncode == 2  # unknown batch: a sentence, exit 2
    fixed = {**env, "PIPELINE_CHATS_PATTERNS": "*chats*.csv, *export*.csv"}
    proc = cli("retry", "--failed", env=fixed)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"done       {batch['batch_id']}" in proc.stdout
    assert [(b["batch_id"], b["status"]) for b in ledger_of(env)] == [(batch["batch_id"], "done")]
    # the same content again is recognised; retrying a done batch is a no-op with a sentence
    proc = cli("retry", batch["batch_id"], env=fixed)
    assert proc.returncode == 0 and f"{batch['batch_id']}: done, nothing to retry" in proc.stdout
    assert len(ledger_of(env)) == 1


# --------------------------------------------------------------------------- files
def test_unsupported_files_go_to_failed_once_and_run_file_copies_in(tmp_path):
    landing, _, env = paths_env(tmp_path)
    write(landing / "chats_export.tsv", "id\tcreated_at\n")
    write(landing / "chats.xlsx", b"PK\x03\x04")
    write(landing / "manifest.json", "{}")  # not data: left alone
    mine = write(tmp_path / "elsewhere" / "my_chats.csv", chats_text(3))
    proc = cli("run", str(mine), env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert mine.exists(), "the user's own file stays where it is"
    assert f"copied {mine} into {landing / 'my_chats.csv'}" in proc.stdout
    failed = sorted(p.name for p in (landing / "failed").iterdir())
    assert failed == [
        "unregistered__chats.xlsx",
        "unregistered__chats.xlsx.error.json",
        "unregistered__chats_export.tsv",
        "unregistered__chats_export.tsv.error.json",
    ]
    error = json.loads((landing / "failed" / "unregistered__chats_export.tsv.error.json").read_text())
    assert error["error_code"] == "unsupported_file_type"
    events = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    moved = [e for e in events if e.get("event") == "landing.unsupported_file"]
    assert sorted(e["file"] for e in moved) == ["chats.xlsx", "chats_export.tsv"]
    assert (landing / "manifest.json").exists()
    proc = cli("run", env=env)
    assert "landing.unsupported_file" not in proc.stderr  # logged once: they are gone


# --------------------------------------------------------------------------- no tracebacks
def test_an_expected_reject_is_a_warning_without_traceback_on_a_terminal_and_structured_in_json(tmp_path):
    landing, _, env = paths_env(tmp_path)
    write(landing / "notes.csv", chats_text(2))  # unknown_dataset
    rc, stderr = run_in_terminal(
        [sys.executable, "-m", "pipeline", "run"], cwd=REPO, env={**os.environ, **env}, timeout=300
    )
    assert rc == 1
    assert "Traceback" not in stderr and 'File "' not in stderr
    assert "error: 1 of 1 batch(es) did not succeed; first: notes.csv: rejected:" in stderr
    luigi_lines = [line for line in stderr.splitlines() if "failed" in line and "Ingest(" in line]
    assert luigi_lines and all("warning" in line and "error" not in line.split("]")[0] for line in luigi_lines)

    write(landing / "notes2.csv", chats_text(3))
    proc = cli("--log-json", "run", env=env)
    assert "<traceback object" not in proc.stderr
    events = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    assert any(e.get("logger") == "luigi-interface" for e in events)
    for event in events:
        if event.get("logger") == "luigi-interface" and "failed" in event["event"]:
            assert event["level"] == "warning" and "file name matches no dataset pattern" in event["event"]


# --------------------------------------------------------------------------- status while work runs
def test_status_answers_within_a_second_while_another_process_holds_the_warehouse(tmp_path):
    landing, warehouse, env = paths_env(tmp_path)
    write(landing / "a_chats.csv", chats_text(3))
    assert cli("run", env=env).returncode == 0
    holder = hold_lock(warehouse / "warehouse.duckdb", 30)
    try:
        started = time.monotonic()
        proc = cli("status", env=env, timeout=20)
        took = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode == 0, proc.stderr
    assert took < 1.0, f"status took {took:.2f}s"
    assert "a_chats.csv" in proc.stdout and "done" in proc.stdout
    assert "note: the warehouse is busy (a batch is being processed): ledger as of" in proc.stderr


@pytest.mark.drill
def test_status_answers_within_a_second_all_through_a_one_million_chat_batch(tmp_path):
    """The issue's case: `pipeline run` works on 1M chats while `status` is asked every half second."""
    landing, warehouse, env = paths_env(tmp_path)
    assert cli("generate", "--out", str(tmp_path / "big"), "--chats", "1000000", "--no-messages").returncode == 0
    for name in ("categories.csv", "chats.csv"):
        os.replace(tmp_path / "big" / name, landing / name)
    run = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "run"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **env},
    )
    took, busy = [], 0
    try:
        wait_for(lambda: ledger.snapshot_path(warehouse / "warehouse.duckdb").exists(), what="the first ledger row")
        while run.poll() is None:
            started = time.monotonic()
            proc = cli("status", env=env, timeout=60)
            took.append(time.monotonic() - started)
            assert proc.returncode == 0, proc.stderr
            busy += "the warehouse is busy" in proc.stderr
            time.sleep(0.5)
    finally:
        run.wait(timeout=1800)
    assert run.returncode == 0
    assert busy >= 3, f"status was asked only {busy} time(s) while the writer held the warehouse"
    assert max(took) < 1.0, f"slowest status: {max(took):.2f}s of {len(took)}"


# --------------------------------------------------------------------------- by hand
def test_scan_of_a_published_batch_and_the_text_report(tmp_path):
    landing, warehouse, env = paths_env(tmp_path)
    write(landing / "a_chats.csv", chats_text(40))
    assert cli("run", env=env).returncode == 0
    [batch] = ledger_of(env)
    proc = cli("scan", batch["batch_id"], env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"chats batch {batch['batch_id']} passes the checks" in proc.stdout
    assert "chats batch is not empty" in proc.stdout and "40 rows" in proc.stdout
    assert (warehouse / "reports" / "soda" / f"{batch['batch_id']}.rescan.md").exists()

    report = cli("report", env=env)
    assert report.returncode == 0
    assert "| --- |" not in report.stdout and "|---|" not in report.stdout, "tables for a terminal, not Markdown"
    assert "Data quality\n============" in report.stdout
    assert batch["batch_id"] in report.stdout and "passed" in report.stdout


def test_luigi_module_prints_its_execution_summary(tmp_path):
    landing, warehouse, env = paths_env(tmp_path)
    write(landing / "a_chats.csv", chats_text(3))
    luigi = os.path.join(os.path.dirname(sys.executable), "luigi")
    proc = subprocess.run(
        [luigi, "--module", "pipeline.orchestration.tasks", "ProcessLanding", "--local-scheduler"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **env},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "===== Luigi Execution Summary =====" in proc.stderr
    assert "This progress looks :)" in proc.stderr


def test_an_unexpected_stage_failure_is_one_line_on_a_terminal_and_a_structured_traceback_in_json(tmp_path):
    landing, _, env = paths_env(tmp_path)
    (tmp_path / "empty-dbt").mkdir()
    env["PIPELINE_DBT_DIR"] = str(tmp_path / "empty-dbt")  # dbt build breaks: not an expected reject
    write(landing / "a_chats.csv", chats_text(3))
    proc = cli("--log-json", "run", env=env)
    assert proc.returncode == 1
    assert "<traceback object" not in proc.stderr
    events = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    [failed] = [e for e in events if e.get("logger") == "luigi-interface" and "DbtBuild(" in e["event"]]
    assert failed["level"] == "error"
    assert failed["exception"][0]["exc_type"] and failed["exception"][0]["frames"]
    assert (
        proc.stderr.strip().splitlines()[-1].startswith("error: 1 of 1 batch(es) did not succeed; first: a_chats.csv")
    )

    rc, stderr = run_in_terminal(
        [sys.executable, "-m", "pipeline", "run"], cwd=REPO, env={**os.environ, **env}, timeout=300
    )
    assert rc == 1
    assert "Traceback" not in stderr and 'File "' not in stderr
    assert any("DbtBuild(" in line and "error" in line for line in stderr.splitlines())
